"""Storing what a match found, without holding the database for long.

A run of a scan and a re-match store their findings the same way, in three steps:

1. :func:`plan`, outside any transaction: match the inventory against the vulnerability
   database and compare with the stored findings. New findings start their clock now,
   findings seen again keep their first time, findings no longer matched will be resolved.
2. :func:`write`, in short transactions of ``conf.write_batch()`` rows each: insert the
   new findings as ``pending`` rows (hidden by ``Finding.objects``), rewrite findings whose
   advisory changed, mark the ones seen again with this match's number.
3. :func:`switch`, one short transaction (inside the caller's, with the scan's own row):
   the pending rows become visible, findings seen again are open, the others resolved,
   and the scan's counts move, all at once. It only happens if the scan is still the one
   planned for (no other match was stored meanwhile, and the caller's own condition:
   still this run's, still done); otherwise nothing is switched and the pending rows are
   discarded.

On SQLite the whole database has one writer at a time, so every other write of the store
(pushes, sign-ins, tokens) waits at most for one batch, never for a whole scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from portside.core import clock
from portside.scanner.model import Inventory
from portside.scanning import conf
from portside.scanning.models import SEVERITY_ORDER, Finding, Scan, ScanInventory
from portside.vulndb import matcher
from portside.vulndb.store import VulnStore

# What a changed advisory rewrites in a finding's row.
_REWRITTEN = (
    "advisory_id",
    "aliases",
    "purl",
    "layer_digest",
    "severity",
    "score",
    "vector",
    "score_source",
    "fixed_versions",
    "fix_status",
    "fix_note",
    "summary",
    "urls",
    "data_source",
    "last_seen_at",
    "seen_in",
)


def vulndb_path() -> Path:
    return Path(settings.VULNDB_PATH)


def open_vulndb(*, readonly: bool = True) -> VulnStore:
    return VulnStore.open(vulndb_path(), readonly=readonly)


@dataclass
class Plan:
    """What one match will store, worked out before anything is written."""

    scan_id: int
    generation: int  # the scan's match_count once this match is stored
    now: dt.datetime
    new: list[Finding] = field(default_factory=list)
    changed: list[Finding] = field(default_factory=list)
    seen_again: list[int] = field(default_factory=list)
    open: list[Finding] = field(default_factory=list)  # the open findings afterwards
    unmatched: list[dict[str, str]] = field(default_factory=list)  # packages not matched
    resolving: int = 0  # open findings this match no longer finds
    #: the feeds matched against (``SourceInfo.summary``); empty: no vulnerability data
    feeds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((s.value for s in SEVERITY_ORDER), 0)
        for finding in self.open:
            counts[finding.effective_severity] += 1
        return counts

    @property
    def changes(self) -> bool:
        """Whether the open findings differ from before (new, changed or resolved ones)."""
        return bool(self.new or self.changed or self.resolving)


def plan(scan: Scan, inventory: Inventory, *, vulndb: VulnStore | None = None) -> Plan:
    """Match ``inventory`` and compare with the scan's stored findings; nothing is written.

    A finding is the same one when it is about the same package and any of its ids is
    shared: an advisory that later gains a CVE alias keeps its row and its clock.
    """
    now = clock.now()
    result = Plan(scan_id=scan.pk, generation=scan.match_count + 1, now=now)
    found, unmatched, result.feeds = _match(inventory, vulndb)
    result.unmatched = [
        {
            "package": u.package_name,
            "version": u.package_version,
            "type": u.package_type,
            "reason": u.reason,
        }
        for u in unmatched[:500]
    ]
    by_id: dict[tuple[str, str, str, str], Finding] = {}
    was_open: set[int] = set()
    for finding in Finding.objects.filter(scan_id=scan.pk):
        if finding.resolved_at is None:
            was_open.add(finding.pk)
        for ident in (finding.advisory_id, *finding.aliases):
            by_id[(finding.package_type, finding.package_name, finding.package_version, ident)] = (
                finding
            )
    kept: set[int] = set()
    for item in found:
        package = (item.package_type, item.package_name[:255], item.package_version[:255])
        current = next(
            (
                by_id[(*package, i)]
                for i in (item.advisory_id, *item.aliases)
                if (*package, i) in by_id
            ),
            None,
        )
        if current is not None and (current.pk is None or current.pk in kept):
            continue  # the same finding twice in one match
        values = {
            "aliases": list(item.aliases),
            "purl": item.package_purl[:1024],
            "layer_digest": item.layer,
            "severity": str(getattr(item.severity, "value", item.severity)),
            "score": None if item.cvss_score is None else Decimal(str(item.cvss_score)),
            "vector": item.cvss_vector[:255],
            "score_source": item.score_source,
            "fixed_versions": list(item.fixed_versions),
            "fix_status": "" if item.fixed_versions else item.distro_status[:32],
            "fix_note": "" if item.fixed_versions else item.distro_note,
            "summary": item.summary,
            "urls": list(item.references)[:50],
            "data_source": ",".join(item.data_sources)[:64],
        }
        if current is None:
            finding = Finding(
                scan_id=scan.pk,
                advisory_id=item.advisory_id,
                package_type=package[0],
                package_name=package[1],
                package_version=package[2],
                first_seen_at=now,
                last_seen_at=now,
                pending=True,
                seen_in=result.generation,
                **values,
            )
            result.new.append(finding)
            result.open.append(finding)
            for ident in (item.advisory_id, *item.aliases):
                by_id[(*package, ident)] = finding
            continue
        kept.add(current.pk)
        changed = current.advisory_id != item.advisory_id or any(
            getattr(current, name) != value for name, value in values.items()
        )
        current.advisory_id = item.advisory_id
        for name, value in values.items():
            setattr(current, name, value)
        current.last_seen_at, current.seen_in = now, result.generation
        if changed:  # the advisory changed: the row is rewritten
            result.changed.append(current)
        else:  # the usual case: only seen again
            result.seen_again.append(current.pk)
        result.open.append(current)
    result.resolving = len(was_open - kept)
    return result


def _match(
    inventory: Inventory, vulndb: VulnStore | None
) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
    """The findings, the packages not matched and the feeds matched against; no feed at
    all means nothing was matched, which a scan must say rather than "no vulnerabilities"."""
    if vulndb is None and not vulndb_path().exists():
        return [], [], []
    db = vulndb or open_vulndb()
    try:
        feeds = [source.summary() for source in db.sources()]
        if not feeds:
            return [], [], []
        matched = matcher.match(inventory.packages, inventory.distro, db)
        return list(matched), list(matched.unmatched), feeds
    finally:
        if vulndb is None:
            db.close()


def _chunks[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write(result: Plan) -> None:
    """The plan's rows, a batch per transaction; none of it is visible until
    :func:`switch`, except a changed advisory's new text on a finding already shown."""
    size = conf.write_batch()
    for batch in _chunks(result.new, size):
        with transaction.atomic():
            Finding.every_row.bulk_create(batch)
    for batch in _chunks(result.changed, size):
        with transaction.atomic():
            Finding.every_row.bulk_update(batch, _REWRITTEN)
    for ids in _chunks(result.seen_again, size):
        with transaction.atomic():
            Finding.every_row.filter(pk__in=ids).update(
                last_seen_at=result.now, seen_in=result.generation
            )


def switch(result: Plan, *, condition: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Make the plan the scan's result: call inside a transaction. The scan's row is
    updated with ``fields`` (and this match's counts and number) only if it still
    matches ``condition`` and no other match was stored since :func:`plan`; returns
    whether it was."""
    updated = Scan.objects.filter(
        pk=result.scan_id, match_count=result.generation - 1, **condition
    ).update(
        match_count=result.generation,
        matched_at=result.now,
        feeds=result.feeds,
        **result.counts,
        **fields,
    )
    if not updated:
        return False
    rows = Finding.every_row.filter(scan_id=result.scan_id)
    rows.filter(pending=True).update(pending=False)
    rows.filter(seen_in=result.generation, resolved_at__isnull=False).update(resolved_at=None)
    rows.filter(resolved_at__isnull=True).exclude(seen_in=result.generation).update(
        resolved_at=result.now
    )
    return True


def discard_pending(scan_id: int) -> int:
    """Delete the pending rows a match left (it was interrupted, or lost its switch), a
    batch per transaction, and the inventories a run wrote but never switched to.
    Returns how many findings."""
    current = Scan.objects.filter(pk=scan_id).values_list("inventory_row", flat=True).first()
    orphans = ScanInventory.objects.filter(scan_id=scan_id)
    (orphans.exclude(pk=current) if current is not None else orphans).delete()
    size = conf.write_batch()
    removed = 0
    while True:
        ids = list(
            Finding.every_row.filter(scan_id=scan_id, pending=True).values_list("pk", flat=True)[
                :size
            ]
        )
        if not ids:
            return removed
        with transaction.atomic():
            removed += Finding.every_row.filter(pk__in=ids).delete()[0]


def delete_findings(scan_id: int) -> None:
    """Every finding of a scan, a batch per transaction (before the scan's own row)."""
    size = conf.write_batch()
    while ids := list(
        Finding.every_row.filter(scan_id=scan_id).values_list("pk", flat=True)[:size]
    ):
        with transaction.atomic():
            Finding.every_row.filter(pk__in=ids).delete()


def warnings_with(warnings: Iterable[dict[str, Any]], result: Plan) -> list[dict[str, Any]]:
    """The scan's warnings, with the packages this match could not match in place of
    the previous match's."""
    return [w for w in warnings if "package" not in w] + result.unmatched
