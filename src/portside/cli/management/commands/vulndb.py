"""`portside vulndb`: fill the vulnerability database that scans match against.

`sync` fetches the configured feeds (``PORTSIDE_VULNDB_SOURCES``; by default osv.dev for
every cataloged ecosystem, the Debian tracker, Alpine's secdb and NVD), or reads them from
a mirror folder with ``--from``; `import KIND PATH` reads one local copy of a feed;
`status` lists what is imported. When anything changed, the store's stored inventories are
matched again (skipped with ``--no-rematch``, or when the store's database is not set up:
the command line can fill a database for `portside scan` alone).
"""

from __future__ import annotations

import datetime as dt
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from portside.cli.base import PortsideCommand
from portside.core import clock
from portside.vulndb.errors import VulnDBError
from portside.vulndb.importers import import_alpine, import_debian, import_nvd, import_osv
from portside.vulndb.importers.naming import default_name
from portside.vulndb.store import VulnStore
from portside.vulndb.sync import absent, failures

IMPORTERS = {"osv": import_osv, "nvd": import_nvd, "debian": import_debian, "alpine": import_alpine}


def _count(number: int, word: str) -> str:
    """``1 record``, ``2 records``, ``1,024 records``."""
    return f"{number:,} {word}{'' if number == 1 else 's'}"


def _ago(stamp: str, now: dt.datetime) -> str:
    """``2026-12-01 10:00 UTC (4 days ago)`` from a stored ISO time."""
    when = clock.parse_stored(stamp)
    if when is None:
        return stamp or "never"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 3600:
        age = f"{seconds // 60} min ago"
    elif seconds < 2 * 86400:
        age = f"{seconds // 3600} h ago"
    else:
        age = f"{seconds // 86400} days ago"
    return f"{clock.utc_minutes(stamp)} ({age})"


class Command(PortsideCommand):
    help = "Vulnerability data: import a local feed, sync the configured feeds, show status"
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="import a feed from a file or directory")
        imp.add_argument("source", choices=sorted(IMPORTERS))
        imp.add_argument("path", type=Path)
        imp.add_argument(
            "--name",
            help="the feed's name in the database (default: from what is imported, such as "
            "osv-pypi or alpine-v3.20-main)",
        )
        imp.add_argument("--force", action="store_true", help="import even if unchanged")
        imp.add_argument(
            "--replace",
            action="store_true",
            help="replace a feed of the same name imported from elsewhere, even if records go",
        )
        imp.add_argument("--no-rematch", action="store_true")
        syn = sub.add_parser("sync", help="fetch and import the configured feeds")
        syn.add_argument("--force", action="store_true", help="fetch and import even if unchanged")
        syn.add_argument("--no-rematch", action="store_true")
        syn.add_argument(
            "--from",
            dest="offline",
            type=Path,
            metavar="FOLDER",
            help="read the feeds from a mirror folder laid out as HOST/PATH instead of the network",
        )
        syn.add_argument(
            "--feed", action="append", metavar="NAME", help="sync only this feed (repeatable)"
        )
        sub.add_parser("status", help="list the imported sources")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "sync":
            self._sync(options)  # opens the database itself, once per sync
            return
        path = Path(settings.VULNDB_PATH)
        if options["action"] == "status":
            self._status_of(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            store = VulnStore.open(path)
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        changed = False
        try:
            if options["action"] == "import":
                if not options["path"].exists():
                    raise CommandError(f"{options['path']}: no such file or directory")
                given = options["path"]
                source = options["name"] or default_name(options["source"], given)
                result = IMPORTERS[options["source"]](
                    store,
                    given,
                    source=source,
                    force=options["force"],
                    replace=options["replace"],
                    origin=str(given.resolve()),
                )
                verb = "imported" if result.changed else "unchanged:"
                self.stdout.write(f"{source}: {verb} {_count(result.records, 'record')}")
                changed = result.changed
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        finally:
            store.close()
        if changed and not options["no_rematch"]:
            self._rematch()

    def _sync(self, options: dict[str, Any]) -> None:
        from portside.scanning.vulndata import sync_feeds

        offline = options["offline"]
        if offline is not None and not offline.is_dir():
            raise CommandError(f"{offline}: no such folder")
        try:
            report = sync_feeds(
                force=options["force"],
                offline=offline,
                rematch=False,
                only=options["feed"],
                say=self.stdout.write,
            )
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        if not report.done and not report.failed:
            raise CommandError("no feeds configured: set PORTSIDE_VULNDB_SOURCES")
        if report.changed and not options["no_rematch"]:
            self._rematch()
        if report.failed:
            total = len(report.done) + len(report.failed)
            message = f"{len(report.failed)} of {_count(total, 'feed')} failed: " + ", ".join(
                name for name, _ in report.failed
            )
            if not report.done and len(report.unreachable) == len(report.failed):
                message += "\n" + _unreachable_hint()
            raise CommandError(message)

    def _status_of(self, path: Path) -> None:
        """``status`` reads the database without creating it (or its folder): a missing
        or empty file is "no vulnerability data"."""
        if not path.is_file() or path.stat().st_size == 0:
            self._status([], path, {}, {})
            return
        try:
            store = VulnStore.open(path, readonly=True)
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        try:
            self._status(store.sources(), path, failures(store), absent(store))
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        finally:
            store.close()

    def _status(
        self,
        sources: list[Any],
        path: Path,
        failed: dict[str, tuple[str, str]],
        missing: dict[str, list[str]],
    ) -> None:
        """Each feed with its record count, its last import and its last check; the oldest
        of them last; the files a feed's server did not have (skipped); and the feeds
        whose last sync failed, and why. No feed at all is an error: every scan would find
        nothing."""
        now = clock.now()
        for name, (when, why) in failed.items():
            self.stderr.write(f"{name}: the last sync failed {_ago(when, now)}: {why}")
        if not sources:
            mirror = settings.VULNDB_MIRROR
            where = (
                f"fetched through the internal mirror PORTSIDE_VULNDB_MIRROR={mirror}"
                if mirror
                else "fetched from their public URLs, or from an internal mirror when "
                "PORTSIDE_VULNDB_MIRROR is set"
            )
            self.stderr.write(
                f"no vulnerability data in {path}: scans match against nothing and find no "
                "vulnerabilities. Run `portside vulndb sync` (the feeds are "
                f"PORTSIDE_VULNDB_SOURCES, {where}) or, without network, "
                "`portside vulndb sync --from FOLDER`."
            )
            sys.exit(1)
        rows = [("FEED", "KIND", "RECORDS", "IMPORTED", "CHECKED", "FROM")]
        for info in sources:
            rows.append(
                (
                    info.name,
                    info.kind,
                    f"{info.records:,}",
                    _ago(info.imported_at, now),
                    _ago(info.checked_at, now),
                    info.origin,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                + "  "
                + row[5]
            )
        oldest = min(sources, key=lambda info: info.imported_at)
        total = sum(info.records for info in sources)
        self.stdout.write(
            f"{_count(len(sources), 'feed')}, {_count(total, 'record')}; "
            f"the oldest data is {oldest.name}'s, "
            f"imported {_ago(oldest.imported_at, now)}"
        )
        for name, urls in missing.items():
            self.stdout.write(
                f"{name}: {_count(len(urls), 'file')} not on the server (404), skipped: "
                + ", ".join(urls)
            )

    def _rematch(self) -> None:
        from django.db import connection
        from django.db.utils import DatabaseError

        from portside.scanning.models import Scan
        from portside.scanning.services import rematch_all

        try:
            if Scan._meta.db_table not in connection.introspection.table_names():
                return
        except DatabaseError:
            return
        done = rematch_all()
        self.stdout.write(
            f"matched {_count(done['scans'], 'stored image')} again: "
            f"{_count(done['new_findings'], 'new finding')}"
        )


def _unreachable_hint() -> str:
    """What to check when no feed's server answered at all."""
    mirror = settings.VULNDB_MIRROR
    if mirror:
        check = (
            f"check that the mirror PORTSIDE_VULNDB_MIRROR={mirror} is up and reachable "
            "from this host"
        )
    else:
        check = "check this host's network access (DNS, firewall, proxy) to the feeds' servers"
    return (
        f"No feed's server answered: {check}. An air-gapped store syncs from a copy of "
        "the feeds with `portside vulndb sync --from FOLDER`."
    )
