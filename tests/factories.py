"""Factories for tests: they go through the services, as the product does."""

from __future__ import annotations

import base64
import hashlib
from itertools import count

import pyotp
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP

from portside.accounts import services
from portside.accounts.models import Membership, Organization, User
from portside.core import clock
from portside.core.origin import Origin

PASSWORD = "a-long-test-password-42"
TEST_ORIGIN = Origin(ip_address="127.0.0.1", user_agent="pytest")
_seq = count(1)


def make_user(
    username: str | None = None,
    *,
    store_role: str = "",
    email: str | None = None,
    two_factor: bool | None = None,
) -> User:
    """A user with a verified email address. A store-team member (``store_role`` set)
    has two-factor authentication set up, as the store requires, unless ``two_factor``
    is False; anyone else has it only with ``two_factor=True``."""
    username = username or f"user{next(_seq)}"
    user = User.objects.create_user(
        username=username,
        email=email or f"{username}@example.com",
        password=PASSWORD,
        store_role=store_role,
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if bool(store_role) if two_factor is None else two_factor:
        enable_two_factor(user)
    return user


def totp_secret(user: User) -> str:
    """The authenticator secret :func:`enable_two_factor` gives ``user``: derived from
    the user name, so a test can compute the codes."""
    digest = hashlib.sha256(f"portside-test-totp:{user.username}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def enable_two_factor(user: User) -> None:
    """Set up an authenticator app (TOTP) for ``user``, as the 2FA set-up page does."""
    TOTP.activate(user, totp_secret(user))


def totp_code(user: User) -> str:
    """The code ``user``'s authenticator app shows now."""
    return str(pyotp.TOTP(totp_secret(user)).now())


def make_org(name: str, owner: User, *, members: dict[str, User] | None = None) -> Organization:
    org = services.create_organization(name=name, owner=owner, acting=owner, origin=TEST_ORIGIN)
    for role, user in (members or {}).items():
        Membership.objects.create(organization=org, user=user, role=role, created_at=clock.now())
    return org
