"""Shared pieces of the command-line tools: domain errors become a message and exit 1."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from portside.core.errors import PortsideError


class PortsideCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except PortsideError as exc:
            raise CommandError(exc.message) from None

    def read_password(self, options: dict[str, Any]) -> str:
        if not options.get("password_stdin"):
            raise CommandError("pass the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
