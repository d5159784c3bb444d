from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portside.accounts import services
from portside.accounts.models import StoreRole, User
from portside.cli.base import PortsideCommand
from portside.core.origin import CLI


class Command(PortsideCommand):
    help = "Manage users: portside user create NAME --email E [--role R] --password-stdin"

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a user with a verified email address")
        create.add_argument("name")
        create.add_argument("--email", required=True)
        create.add_argument("--role", choices=[r for r in StoreRole.values if r], default="")
        create.add_argument("--password-stdin", action="store_true")
        role = sub.add_parser("role", help="set or clear a user's store-team role")
        role.add_argument("name")
        role.add_argument("role", choices=[*(r for r in StoreRole.values if r), "none"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            password = self.read_password(options)
            user = services.create_user(
                username=options["name"],
                email=options["email"],
                password=password,
                store_role=options["role"],
                acting="cli",
                origin=CLI,
            )
            role = f" ({user.store_role})" if user.store_role else ""
            self.stdout.write(f"created user {user.username}{role}")
        else:
            found = User.objects.filter(username=options["name"]).first()
            if found is None:
                raise CommandError(f"no user named {options['name']!r}")
            user = found
            role = "" if options["role"] == "none" else options["role"]
            services.set_store_role(user=user, store_role=role, acting="cli", origin=CLI)
            self.stdout.write(f"{user.username}: store role {role or 'none'}")
