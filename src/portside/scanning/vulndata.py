"""Keeping the vulnerability data current: the configured feeds synced, one after another,
and every stored image matched again when any of them changed.

`portside vulndb sync` and the worker's schedule (``PORTSIDE_VULNDB_SYNC_HOURS``) both call
:func:`sync_feeds`. A feed that fails is reported and the others go on: an unreachable
NVD must not keep a new Debian advisory from the scans.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from portside.vulndb.errors import Unreachable, VulnDBError
from portside.vulndb.feeds import configured
from portside.vulndb.store import VulnStore
from portside.vulndb.sync import Feed, Options, SyncResult, sync

logger = logging.getLogger(__name__)


@dataclass
class Report:
    done: list[SyncResult] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (feed, reason)
    unreachable: list[str] = field(default_factory=list)  # failed: no answer from the server
    rematched: dict[str, int] | None = None

    @property
    def changed(self) -> bool:
        return any(r.status == "imported" for r in self.done)


def feeds(*, offline: bool = False) -> list[Feed]:
    """The configured feeds (raises :class:`VulnDBError` for a setting it cannot read); at
    their public URLs when read from a mirror folder, which keeps them under those."""
    mirror = "" if offline else settings.VULNDB_MIRROR
    return configured(settings.VULNDB_SOURCES, mirror=mirror)


def sync_feeds(
    *,
    force: bool = False,
    offline: Path | None = None,
    rematch: bool = True,
    only: list[str] | None = None,
    say: Callable[[str], None] | None = None,
    options: Options | None = None,
) -> Report:
    """Sync every configured feed (or those named in ``only``), then match the stored
    images again if anything changed. ``say`` hears a line per feed as it is done."""
    quiet = say is None  # the worker's run: failures are logged as warnings below
    say = say or logger.info
    chosen = feeds(offline=offline is not None)
    if only:
        unknown = set(only) - {f.name for f in chosen}
        if unknown:
            raise VulnDBError(
                f"no configured feed named {', '.join(sorted(unknown))}; the feeds are "
                + ", ".join(f.name for f in chosen)
            )
        chosen = [f for f in chosen if f.name in only]
    options = options or Options(nvd_api_key=settings.NVD_API_KEY, offline=offline)
    report = Report()
    path = Path(settings.VULNDB_PATH)
    store = VulnStore.open(path)
    try:
        for feed in chosen:
            try:
                result = sync(store, feed, force=force, options=options)
            except VulnDBError as exc:
                report.failed.append((feed.name, exc.message))
                if isinstance(exc, Unreachable):
                    report.unreachable.append(feed.name)
                if quiet:
                    logger.warning("vulnerability feed %s: %s", feed.name, exc.message)
                else:  # said once, on the command's output
                    say(f"{feed.name}: failed: {exc.message}")
                continue
            report.done.append(result)
            records = result.result.records if result.result else 0
            detail = f" ({records:,} record{'' if records == 1 else 's'})" if result.result else ""
            say(f"{feed.name}: {result.status}{detail}")
            for note in result.notes:
                say(f"  {note}")
    finally:
        store.close()
    if report.changed and rematch:
        from portside.scanning.services import rematch_all

        report.rematched = rematch_all()
    return report


@dataclass(frozen=True)
class FeedState:
    """One configured feed as the store team sees it."""

    name: str
    kind: str
    url: str
    records: int | None  # None: never imported
    updated: str
    checked: str
    failed_at: str
    failure: str


def overview() -> list[FeedState]:
    """Every configured feed, and any feed still in the database that is no longer
    configured, with what was imported and the last failure."""
    from portside.vulndb.sync import failures

    path = Path(settings.VULNDB_PATH)
    sources: dict[str, Any] = {}
    failed: dict[str, tuple[str, str]] = {}
    if path.exists():
        store = VulnStore.open(path, readonly=True)
        try:
            sources = {info.name: info for info in store.sources()}
            failed = failures(store)
        finally:
            store.close()
    try:
        chosen = {feed.name: (feed.kind, feed.url) for feed in feeds()}
    except VulnDBError:
        chosen = {}
    names = [*chosen, *(name for name in sources if name not in chosen)]
    rows = []
    for name in names:
        info = sources.get(name)
        kind, url = chosen.get(name, (info.kind if info else "", info.origin if info else ""))
        when, why = failed.get(name, ("", ""))
        rows.append(
            FeedState(
                name=name,
                kind=kind,
                url=url,
                records=info.records if info else None,
                updated=info.imported_at if info else "",
                checked=info.checked_at if info else "",
                failed_at=when,
                failure=why,
            )
        )
    return rows


def request_sync(*, acting: Any, origin: Any = None) -> None:
    """Queue a sync of every feed now (the store team's "Sync now"); audited."""
    from django.db import transaction

    from portside.audit import services as audit
    from portside.scanning.tasks import sync_vulndb

    with transaction.atomic():
        audit.record(
            acting,
            "scanning:vulndb:sync_requested",
            **(origin.audit_fields() if origin else {}),
        )
        transaction.on_commit(sync_vulndb.enqueue)
