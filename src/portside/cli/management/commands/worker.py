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

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_scheduler"]:
            SchedulerThread().start()
        call_command(
            "db_worker",
            interval=options["interval"],
            queue_name="*",
            verbosity=options["verbosity"],
            reload=False,
        )
