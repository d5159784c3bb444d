"""``portside events``: the deliveries of domain events that are not done, and what to do
with those given up on."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portside.cli.base import PortsideCommand
from portside.core import events


class Command(PortsideCommand):
    help = "List event deliveries waiting, retrying, running or given up; retry or requeue them"

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser(
            "list", help="deliveries not done, newest first; exit 1 if any was given up on"
        )
        listing.add_argument("--limit", type=int, default=200)
        retry = sub.add_parser("retry", help="try a given-up delivery again, now")
        retry.add_argument("delivery_id")
        sub.add_parser("recover", help="requeue deliveries left running by a worker that died")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "retry":
            if not events.retry(options["delivery_id"], acting="cli"):
                raise CommandError(f"no given-up delivery {options['delivery_id']!r}")
            self.stdout.write(f"delivery {options['delivery_id']} queued again")
            return
        if action == "recover":
            self.stdout.write(f"{events.recover_stale()} deliveries queued again")
            return
        if not 1 <= options["limit"] <= 10_000:
            raise CommandError("--limit must be between 1 and 10000")
        found = events.deliveries(limit=options["limit"])
        if not found:
            self.stdout.write("no event deliveries pending or failed")
            return
        for d in found:
            when = f" next try {d.run_after:%Y-%m-%d %H:%M:%S}Z" if d.run_after else ""
            self.stdout.write(
                f"{d.state:<9} {d.id} {d.event} -> {d.subscriber} (try {d.attempt}){when}"
                + (f"\n          {d.error}" if d.error and d.state != "waiting" else "")
            )
        if any(d.state == "given up" for d in found):
            sys.exit(1)
