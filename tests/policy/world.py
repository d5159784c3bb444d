"""A live listing with scanned images and findings, for the SLA's tests: the commerce
store's product (tags 1.0 and 2.0 of one repository, both on one image), with scans and
findings written as a finished scan writes them, and the events a scan emits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.test import TestCase

from portside.core import clock, events
from portside.registry.models import Repository
from portside.scanning.models import Finding, Scan, ScanStatus
from tests.moderation.world import push_image


@contextmanager
def delivering() -> Iterator[None]:
    """Run what commits inside (the domain events' deliveries, and theirs in turn) when
    the block ends, as the worker would moments later: the test's own transaction never
    commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


def scanned(repository: Repository, digest: str, findings: list[dict[str, Any]]) -> Scan:
    """A done scan of ``digest`` whose open findings are exactly ``findings`` (each:
    advisory, package, severity; optional version, fixed, type, aliases); announced as a
    finished scan is."""
    now = clock.now()
    with delivering(), transaction.atomic():
        scan, _ = Scan.objects.update_or_create(
            repository=repository,
            digest=digest,
            defaults={
                "status": ScanStatus.DONE,
                "requested_at": now,
                "started_at": now,
                "finished_at": now,
                "matched_at": now,
            },
        )
        keep = []
        for item in findings:
            row, _ = Finding.objects.update_or_create(
                scan=scan,
                advisory_id=item["advisory"],
                package_type=item.get("type", "pypi"),
                package_name=item["package"],
                package_version=item.get("version", "1.0"),
                defaults={
                    "severity": item["severity"],
                    "aliases": item.get("aliases", []),
                    "fixed_versions": item.get("fixed", ["9.9"]),
                    "summary": "a flaw",
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "resolved_at": None,
                },
            )
            keep.append(row.pk)
        Finding.objects.filter(scan=scan, resolved_at__isnull=True).exclude(pk__in=keep).update(
            resolved_at=now
        )
        events.emit(
            "scanning:scan:finished", scan_id=scan.pk, repository=repository.name, digest=digest
        )
    return scan


def retag(repository: Repository, *tags: str, seed: str) -> str:
    """Push another image and point ``tags`` at it, as a client's push announces it."""
    digest = push_image(repository, *tags, seed=seed)
    with delivering(), transaction.atomic():
        for tag in tags:
            events.emit(
                "registry:manifest:pushed",
                manifest_id=0,
                repository=repository.name,
                digest=digest,
                tag=tag,
            )
    return digest


CRITICAL = {"advisory": "CVE-2026-0001", "package": "jinja2", "severity": "critical"}
MAJOR = {"advisory": "CVE-2026-0002", "package": "urllib3", "severity": "major"}
MINOR = {"advisory": "CVE-2026-0003", "package": "idna", "severity": "minor"}
