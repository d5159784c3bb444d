"""`portside scan` as a management command (``call_command("scan", ...)``, ``portside help
scan``): the work is ``portside.cli.scan``'s, which ``portside scan`` runs without Django."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portside.cli import scan
from portside.cli.base import PortsideCommand


class Command(PortsideCommand):
    help = scan.HELP
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: ArgumentParser) -> None:
        scan.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = scan.run(options, self.stdout, self.stderr)  # type: ignore[arg-type]
        except scan.ScanUsageError as exc:
            raise CommandError(str(exc)) from None
        if status:
            sys.exit(status)
