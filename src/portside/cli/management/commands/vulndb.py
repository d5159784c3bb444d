"""`portside vulndb`: fill the vulnerability database that scans match against.

`import SOURCE PATH` reads a local copy of a feed; `sync` downloads the feeds configured in
``PORTSIDE_VULNDB_SOURCES`` (``name=kind:URL`` or ``kind=URL`` pairs); `status` lists what
is imported. When anything changed, the store's stored inventories are matched again
(skipped with ``--no-rematch``, or when the store's database is not set up: the command
line can fill a database for `portside scan` alone).
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
from portside.vulndb.sync import KINDS, Feed, sync

IMPORTERS = {"osv": import_osv, "nvd": import_nvd, "debian": import_debian, "alpine": import_alpine}


def feeds(values: list[str]) -> list[Feed]:
    """``osv=https://...``, or ``pypa=osv:https://...`` to name the source."""
    found = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not rest:
            raise CommandError(f"PORTSIDE_VULNDB_SOURCES: {value!r} is not NAME=URL")
        kind = name
        if rest.split(":", 1)[0] in KINDS:
            kind, rest = rest.split(":", 1)
        try:
            found.append(Feed(name=name, kind=kind, url=rest))  # type: ignore[arg-type]
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
    return found


def _ago(stamp: str, now: dt.datetime) -> str:
    """``2026-12-01 10:00 UTC (4 days ago)`` from a stored ISO time."""
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp or "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 3600:
        age = f"{seconds // 60} min ago"
    elif seconds < 2 * 86400:
        age = f"{seconds // 3600} h ago"
    else:
        age = f"{seconds // 86400} days ago"
    return f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC ({age})"


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
        syn = sub.add_parser("sync", help="download and import the configured feeds")
        syn.add_argument("--force", action="store_true")
        syn.add_argument("--no-rematch", action="store_true")
        sub.add_parser("status", help="list the imported sources")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(settings.VULNDB_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            store = VulnStore.open(path)
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        changed = False
        try:
            if options["action"] == "status":
                self._status(store.sources(), path)
                return
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
                self.stdout.write(f"{source}: {verb} {result.records} records")
                changed = result.changed
            else:
                configured = feeds(settings.VULNDB_SOURCES)
                if not configured:
                    raise CommandError("no feeds configured: set PORTSIDE_VULNDB_SOURCES")
                for feed in configured:
                    done = sync(store, feed, force=options["force"])
                    records = done.result.records if done.result else 0
                    self.stdout.write(f"{feed.name}: {done.status} ({records} records)")
                    changed = changed or done.status == "imported"
        except VulnDBError as exc:
            raise CommandError(str(exc)) from None
        finally:
            store.close()
        if changed and not options["no_rematch"]:
            self._rematch()

    def _status(self, sources: list[Any], path: Path) -> None:
        """Each feed with its record count, its last import and its last check; the oldest
        of them last. No feed at all is an error: every scan would find nothing."""
        if not sources:
            self.stderr.write(
                f"no vulnerability data in {path}: scans match against nothing and find no "
                "vulnerabilities. Run `portside vulndb sync` (feeds in "
                "PORTSIDE_VULNDB_SOURCES) or `portside vulndb import`."
            )
            sys.exit(1)
        now = clock.now()
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
            f"{len(sources)} feed{'s' if len(sources) != 1 else ''}, {total:,} records; "
            f"the oldest data is {oldest.name}'s, "
            f"imported {_ago(oldest.imported_at, now)}"
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
            f"matched {done['scans']} stored images again: {done['new_findings']} new findings"
        )
