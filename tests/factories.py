"""Factories for tests: they go through the services, as the product does."""

from __future__ import annotations

from itertools import count

from allauth.account.models import EmailAddress

from portside.accounts import services
from portside.accounts.models import Membership, Organization, User
from portside.core import clock
from portside.core.origin import Origin

PASSWORD = "a-long-test-password-42"
TEST_ORIGIN = Origin(ip_address="127.0.0.1", user_agent="pytest")
_seq = count(1)


def make_user(
    username: str | None = None, *, store_role: str = "", email: str | None = None
) -> User:
    username = username or f"user{next(_seq)}"
    user = User.objects.create_user(
        username=username,
        email=email or f"{username}@example.com",
        password=PASSWORD,
        store_role=store_role,
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def make_org(name: str, owner: User, *, members: dict[str, User] | None = None) -> Organization:
    org = services.create_organization(name=name, owner=owner, acting=owner, origin=TEST_ORIGIN)
    for role, user in (members or {}).items():
        Membership.objects.create(organization=org, user=user, role=role, created_at=clock.now())
    return org
