"""Use cases of scanning: request a scan, run it, match every stored inventory again,
reclassify a finding, forget the scans of a deleted image, refresh a scan's SBOMs, and
recover the runs a dead worker left.

The analysis itself is ``portside.scanner`` (reading the image from the registry's blob
store) and the matching ``portside.vulndb``; this module keeps their results and the
times findings were first seen and resolved, which the SLA clocks start from. Running
and recovery are in ``running``, storing a match in ``results``, the SBOM files in
``sbom``; they write in short transactions, never one for a whole scan.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction

from portside.accounts import permissions
from portside.audit import services as audit
from portside.core import clock, events
from portside.core.errors import NotFound, PermissionDenied, ValidationFailed
from portside.core.origin import Origin
from portside.registry.models import Manifest, Repository
from portside.scanner.model import inventory_from_dict
from portside.scanning import results
from portside.scanning import sbom as documents
from portside.scanning.models import (
    SEVERITY_ORDER,
    Finding,
    Scan,
    ScanStatus,
    Severity,
)
from portside.scanning.results import open_vulndb, vulndb_path
from portside.scanning.running import DatabaseLayerCache, run, sweep
from portside.vulndb.store import VulnStore

__all__ = [
    "DatabaseLayerCache",
    "findings_by_severity",
    "forget_image",
    "is_scannable",
    "open_vulndb",
    "packages_by_layer",
    "reclassify",
    "refresh_sboms",
    "rematch",
    "rematch_all",
    "request_scan",
    "run",
    "sweep",
    "vulndb_path",
]

logger = logging.getLogger(__name__)

IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)


# --- requesting ------------------------------------------------------------------------------


def is_scannable(manifest: Manifest) -> bool:
    """Image manifests are scanned; indexes (their images are pushed and scanned one by
    one), artifacts (signatures, SBOMs) and anything else are not."""
    try:
        document = json.loads(bytes(manifest.content))
    except ValueError:
        return False
    if not isinstance(document, dict) or document.get("artifactType"):
        return False
    config = document.get("config")
    return isinstance(config, dict) and config.get("mediaType") in IMAGE_CONFIG_TYPES


def request_scan(
    *, repository: Repository, digest: str, user: Any, origin: Origin | None = None
) -> Scan:
    """Queue a scan of the image ``digest`` in ``repository`` (again, if it was scanned).
    ``user`` None is the store itself (a scan on push)."""
    if user is not None and not permissions.can_request_scan(user, repository.organization):
        raise PermissionDenied("Only the organisation's owners and editors may scan its images.")
    manifest = Manifest.objects.filter(repository=repository, digest=digest).first()
    if manifest is None:
        raise NotFound(f"{repository.name} has no image {digest}.")
    if not is_scannable(manifest):
        raise ValidationFailed(f"{digest} is not an image manifest; only images are scanned.")
    now = clock.now()
    with transaction.atomic():
        scan, _ = Scan.objects.update_or_create(
            repository=repository,
            digest=digest,
            defaults={
                "status": ScanStatus.QUEUED,
                "error": "",
                "requested_at": now,
                "requested_by_id": getattr(user, "pk", None),
                "attempts": 0,
                "heartbeat_at": None,
            },
        )
        if user is not None:
            audit.record(
                user,
                "scanning:scan:requested",
                scan,
                organization=repository.organization,
                repository=repository.name,
                digest=digest,
                **(origin.audit_fields() if origin else {}),
            )
        from portside.scanning.tasks import run_scan

        transaction.on_commit(partial(run_scan.enqueue, scan_id=scan.pk))
    return scan


# --- matching again ------------------------------------------------------------------------


def rematch(scan: Scan, *, vulndb: VulnStore | None = None) -> int:
    """Match a done scan's stored inventory again (the vulnerability data changed),
    without reading the image; its findings are written in batches and switched in one
    short transaction. Returns how many findings are new (0 when the scan was re-run or
    re-matched meanwhile: that result stands)."""
    results.discard_pending(scan.pk)  # rows an interrupted re-match left
    planned = results.plan(scan, inventory_from_dict(scan.inventory), vulndb=vulndb)
    results.write(planned)
    fields = {"warnings": results.warnings_with(scan.warnings, planned)}
    with transaction.atomic():
        switched = results.switch(planned, condition={"status": ScanStatus.DONE}, fields=fields)
        # The CycloneDX document lists the findings and says whether anything was matched:
        # written again when either changes (not for newer feeds that changed nothing).
        if switched and (planned.changes or bool(planned.feeds) != bool(scan.feeds)):
            from portside.scanning.tasks import refresh_sboms as refresh

            transaction.on_commit(partial(refresh.enqueue, scan_id=scan.pk))
        if switched and planned.changes:
            events.emit(
                "scanning:findings:rematched",
                scan_id=scan.pk,
                repository=scan.repository.name,
                digest=scan.digest,
                new=len(planned.new),
            )
    if not switched:
        results.discard_pending(scan.pk)
        return 0
    return len(planned.new)


def rematch_all() -> dict[str, int]:
    """Match every stored inventory again (after the vulnerability data changed), without
    reading any image, one scan at a time. Returns how many scans were matched and how
    many findings are new."""
    if not vulndb_path().exists():
        return {"scans": 0, "new_findings": 0}
    scans = new = 0
    db = open_vulndb()
    try:
        ids = list(
            Scan.objects.filter(status=ScanStatus.DONE).order_by("pk").values_list("pk", flat=True)
        )
        for pk in ids:
            scan = Scan.objects.filter(pk=pk, status=ScanStatus.DONE).first()
            if scan is None:  # re-requested or deleted meanwhile
                continue
            new += rematch(scan, vulndb=db)
            scans += 1
    finally:
        db.close()
    return {"scans": scans, "new_findings": new}


def refresh_sboms(*, scan_id: int, kinds: Sequence[str] = ("cyclonedx", "spdx")) -> bool:
    """Write a done scan's SBOM documents again from its stored inventory and open
    findings (the worker does, after its vulnerabilities changed or when a document is
    missing). Kinds whose document is stored and whose content cannot have changed are
    skipped: the SPDX document lists no vulnerabilities. Returns whether the scan names
    new documents."""
    scan = Scan.objects.select_related("repository").filter(pk=scan_id).first()
    if scan is None or scan.status != ScanStatus.DONE:
        return False
    wanted = [kind for kind in kinds if kind == "cyclonedx" or not documents.exists(scan.sbom_spdx)]
    if not wanted:
        return False
    open_findings = list(scan.findings.filter(resolved_at__isnull=True))
    inventory = inventory_from_dict(scan.inventory)
    names = documents.produce(scan, inventory, open_findings, kinds=wanted)
    previous = [getattr(scan, documents.FIELDS[kind]) for kind in wanted]
    updated = Scan.objects.filter(
        pk=scan.pk, status=ScanStatus.DONE, match_count=scan.match_count
    ).update(**{documents.FIELDS[kind]: name for kind, name in names.items()})
    documents.discard(previous if updated else names.values())
    return bool(updated)


def forget_image(*, repository: str, digest: str, reason: str) -> int:
    """Delete the scans of an image that is gone, with an audit row for each; findings
    go first, a batch per transaction. Returns how many scans were deleted."""
    deleted = 0
    scans = Scan.objects.filter(repository__name=repository, digest=digest)
    for scan in scans.select_related("repository__organization"):
        results.delete_findings(scan.pk)
        names = [scan.sbom_cyclonedx, scan.sbom_spdx]
        with transaction.atomic():
            if not Scan.objects.filter(pk=scan.pk).delete()[0]:
                continue  # deleted by a delivery of the same event a moment ago
            audit.record(
                None,
                "scanning:scan:deleted",
                scan,
                organization=scan.repository.organization,
                repository=repository,
                digest=digest,
                status=scan.status,
                reason=reason,
            )
            transaction.on_commit(partial(documents.discard, names))
        deleted += 1
    return deleted


# --- the security team -------------------------------------------------------------------


def reclassify(
    *, finding: Finding, severity: str, reason: str, user: Any, origin: Origin
) -> Finding:
    """The security team sets a finding's class, with a reason, overriding the score's."""
    if not permissions.can_reclassify_findings(user):
        raise PermissionDenied("Only the security team may reclassify findings.")
    if severity not in Severity.values:
        raise ValidationFailed(f"Unknown severity {severity!r}.", field="severity")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Say why the finding is reclassified.", field="reason")
    with transaction.atomic():
        previous = finding.effective_severity
        finding.reclassified = severity
        finding.reclassified_reason = reason[:2000]
        finding.reclassified_by_id = user.pk
        finding.reclassified_at = clock.now()
        finding.save()
        scan = finding.scan
        _count(scan)
        scan.save(update_fields=[s.value for s in SEVERITY_ORDER])
        audit.record(
            user,
            "scanning:finding:reclassified",
            finding,
            organization=scan.repository.organization,
            repository=scan.repository.name,
            digest=scan.digest,
            advisory=finding.advisory_id,
            previous=previous,
            severity=severity,
            reason=reason[:500],
            **origin.audit_fields(),
        )
        events.emit(
            "scanning:finding:reclassified",
            scan_id=scan.pk,
            finding_id=finding.pk,
            repository=scan.repository.name,
            digest=scan.digest,
            severity=severity,
        )
        if scan.status == ScanStatus.DONE:
            from portside.scanning.tasks import refresh_sboms as refresh

            transaction.on_commit(partial(refresh.enqueue, scan_id=scan.pk, kinds=["cyclonedx"]))
    return finding


def _count(scan: Scan) -> None:
    counts = dict.fromkeys((s.value for s in SEVERITY_ORDER), 0)
    for finding in scan.findings.filter(resolved_at__isnull=True):
        counts[finding.effective_severity] += 1
    for name, value in counts.items():
        setattr(scan, name, value)


def findings_by_severity(scan: Scan) -> list[tuple[str, list[Finding]]]:
    """Open findings grouped by class, most severe first."""
    groups: dict[str, list[Finding]] = {s.value: [] for s in SEVERITY_ORDER}
    for finding in scan.findings.filter(resolved_at__isnull=True).order_by("-score", "advisory_id"):
        groups[finding.effective_severity].append(finding)
    return [(name, items) for name, items in groups.items() if items]


def packages_by_layer(scan: Scan) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    layers = list(scan.inventory.get("layers") or [])
    packages = list(scan.inventory.get("packages") or [])
    by_digest: dict[str, list[dict[str, Any]]] = {layer["digest"]: [] for layer in layers}
    loose: list[dict[str, Any]] = []
    for package in packages:
        by_digest.get(package.get("layer", ""), loose).append(package)
    grouped = [(layer, by_digest[layer["digest"]]) for layer in layers]
    if loose:
        grouped.append(({"index": "?", "digest": "", "created_by": "(layer unknown)"}, loose))
    return grouped
