from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portside.accounts import services
from portside.accounts.models import User
from portside.cli.base import PortsideCommand
from portside.core.origin import CLI


class Command(PortsideCommand):
    help = "Manage organisations: portside org create ORG --owner NAME"

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an organisation with NAME as its owner")
        create.add_argument("org")
        create.add_argument("--owner", required=True)
        create.add_argument("--display-name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = User.objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"no user named {options['owner']!r}")
        org = services.create_organization(
            name=options["org"],
            owner=owner,
            display_name=options["display_name"],
            acting="cli",
            origin=CLI,
        )
        self.stdout.write(f"created organisation {org.name} owned by {owner.username}")
