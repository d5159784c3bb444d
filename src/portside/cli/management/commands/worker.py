"""``portside worker``: runs background tasks and enqueues periodic jobs."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command

from portside.cli.base import PortsideCommand
from portside.core.schedule import SchedulerThread


class Command(PortsideCommand):
    help = "Run queued background tasks (and the periodic-job scheduler) until stopped"

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument("--no-scheduler", action="store_true")
        parser.add_argument(
            "--queue",
            default="*",
            help="run only these queues, comma-separated (default: all); the queues are "
            "default, events and vulndb (the vulnerability feeds' sync)",
        )
        parser.add_argument(
            "--exclude-queue", default="", help="run every queue but these, comma-separated"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_scheduler"]:
            SchedulerThread().start()
        call_command(
            "db_worker",
            interval=options["interval"],
            queue_name=options["queue"],
            exclude_queues=options["exclude_queue"],
            verbosity=options["verbosity"],
            reload=False,
        )
