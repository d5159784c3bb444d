from __future__ import annotations

import datetime as dt
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portside.audit import services
from portside.cli.base import PortsideCommand


def _date(value: str) -> dt.datetime:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(PortsideCommand):
    help = "The audit trail: verify the hash chain, export rows, purge expired rows"

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="check the hash chain; exit 1 at the first broken link")
        export = sub.add_parser("export", help="write rows as CSV or JSON Lines")
        export.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
        export.add_argument("--output", "-o", default="-", help="a file, or - for stdout")
        export.add_argument("--action-filter", dest="action_filter", default="")
        export.add_argument("--actor", default="")
        export.add_argument("--organization", default="")
        export.add_argument("--since", type=str, default="")
        export.add_argument("--until", type=str, default="")
        sub.add_parser("purge", help="delete rows older than the retention period now")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "verify":
            result = services.verify()
            if result.ok:
                self.stdout.write(f"audit trail intact: {result.checked} rows checked")
                return
            self.stderr.write(
                f"audit trail broken at row {result.broken_id}: {result.reason} "
                f"({result.checked} rows before it are intact)"
            )
            sys.exit(1)
        if action == "purge":
            deleted = services.purge_expired()
            self.stdout.write(f"purged {deleted} rows older than {services.retention_days()} days")
            return
        flt = services.AuditFilter(
            action=options["action_filter"],
            actor=options["actor"],
            organization=options["organization"],
            since=_date(options["since"]) if options["since"] else None,
            # Inclusive, as in the web UI: --until 2026-01-31 keeps rows of that day.
            until=_date(options["until"]) + dt.timedelta(days=1) if options["until"] else None,
        )
        producer = services.export_csv if options["format"] == "csv" else services.export_jsonl
        if options["output"] == "-":
            for chunk in producer(flt):
                self.stdout.write(chunk, ending="")
        else:
            with open(options["output"], "w", encoding="utf-8", newline="") as fh:
                for chunk in producer(flt):
                    fh.write(chunk)
