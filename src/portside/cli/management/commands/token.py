from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portside.accounts import services
from portside.accounts.models import AccessToken, TokenScope, User
from portside.cli.base import PortsideCommand
from portside.core import clock
from portside.core.origin import CLI


def _state(token: AccessToken, now: dt.datetime) -> str:
    """What the token is worth now: a revoked or expired token no longer works."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return "active"


class Command(PortsideCommand):
    help = "Manage personal access tokens: create (prints the token once), list, revoke"

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token for user NAME; prints it once")
        create.add_argument("user")
        create.add_argument("--name", default="command line")
        create.add_argument(
            "--scopes", nargs="+", choices=TokenScope.values, default=[TokenScope.READ]
        )
        create.add_argument("--expires-days", type=int, default=None)
        listing = sub.add_parser("list", help="list a user's tokens")
        listing.add_argument("user")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("user")
        revoke.add_argument("prefix")

    def _user(self, name: str) -> User:
        user = User.objects.filter(username=name).first()
        if user is None:
            raise CommandError(f"no user named {name!r}")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["user"])
        if options["action"] == "create":
            token, secret = services.create_token(
                user=user,
                name=options["name"],
                scopes=options["scopes"],
                expires_days=options["expires_days"],
                acting="cli",
                origin=CLI,
            )
            self.stderr.write(
                f"token {token.name!r} for {user.username}, scopes {' '.join(token.scopes)}, "
                f"expires {token.expires_at:%Y-%m-%d}; it is shown only now:"
            )
            self.stdout.write(secret)
        elif options["action"] == "list":
            now = clock.now()
            for t in AccessToken.objects.filter(user=user):
                scopes = ",".join(t.scopes)
                expires = f"expires {t.expires_at:%Y-%m-%d}"
                self.stdout.write(f"{t.prefix}  {t.name}  {scopes}  {expires}  {_state(t, now)}")
        else:
            found = AccessToken.objects.filter(user=user, prefix=options["prefix"]).first()
            if found is None:
                raise CommandError(f"no token with prefix {options['prefix']!r}")
            services.revoke_token(token=found, acting="cli", origin=CLI)
            self.stdout.write(f"revoked {found.name}")
