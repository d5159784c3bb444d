from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.conf import settings

from portside.cli.base import PortsideCommand
from portside.registry import gc


class Command(PortsideCommand):
    help = "Registry maintenance: gc removes unreferenced blobs and stale uploads"

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        collect = sub.add_parser(
            "gc", help="remove blobs no manifest references, and stale uploads"
        )
        collect.add_argument(
            "--dry-run", action="store_true", help="list what would go; change nothing"
        )
        collect.add_argument(
            "--grace-hours",
            type=float,
            default=settings.REGISTRY_UPLOAD_GRACE_HOURS,
            help="keep anything touched more recently than this (default: %(default)s)",
        )
        collect.add_argument(
            "--delete-orphans",
            action="store_true",
            help="also delete stored objects the database does not know",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["grace_hours"] < 1:
            self.stderr.write("--grace-hours below 1 would endanger pushes in flight")
            raise SystemExit(2)
        report = gc.collect(
            grace=dt.timedelta(hours=options["grace_hours"]),
            dry_run=options["dry_run"],
            delete_orphans=options["delete_orphans"],
        )
        verb = "would remove" if options["dry_run"] else "removed"
        for digest, size in report.blobs:
            self.stdout.write(f"blob {digest} {size}")
        for upload_id in report.uploads:
            self.stdout.write(f"upload {upload_id}")
        for digest in report.orphan_objects:
            self.stdout.write(f"orphan {digest}")
        self.stderr.write(
            f"{verb} {len(report.blobs)} blobs ({report.freed_bytes} bytes) and "
            f"{len(report.uploads)} uploads; {len(report.orphan_objects)} stored objects "
            "unknown to the database"
            + (" (deleted)" if options["delete_orphans"] and not options["dry_run"] else "")
        )
