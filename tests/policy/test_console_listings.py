"""Held and revoked listings on the console: their history, and the team's revoke,
reinstate and lift-hold forms (reason required, retries harmless, moderators read only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from portside.audit.models import AuditEvent
from portside.catalog.models import Listing, ListingState
from portside.core import clock
from portside.policy.models import ClockState, HoldAction, HoldEvent
from tests.policy.console_world import ConsoleWorld, build_console_world, clock_for

pytestmark = pytest.mark.django_db
URL = "/staff/security/listings/"


@pytest.fixture
def world() -> ConsoleWorld:
    """The listing on hold for a week: one overdue clock and one running."""
    world = build_console_world()
    since = clock.now() - dt.timedelta(days=7)
    Listing.objects.filter(pk=world.store.listing.pk).update(security_hold_since=since)
    HoldEvent.objects.create(
        product=world.product, action=HoldAction.HELD, at=since, reason="CVE-2025-0002 overdue"
    )
    clock_for(world, "CVE-2025-0002", state=ClockState.OVERDUE, started=since - dt.timedelta(7))
    clock_for(world, "CVE-2025-0005")
    return world


def login(client: Client, user: Any) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def action(world: ConsoleWorld, name: str) -> str:
    return f"{URL}acme/{world.product.slug}/{name}"


def listing(world: ConsoleWorld) -> Listing:
    return Listing.objects.get(pk=world.store.listing.pk)


def test_a_held_listing_with_its_history(client: Client, world: ConsoleWorld) -> None:
    html = login(client, world.security).get(URL).content.decode()
    assert f"acme/{world.product.slug}" in html and "On hold" in html
    assert "Security fixes overdue since" in html
    assert "2 open clocks" in html
    assert "Put on hold" in html and "CVE-2025-0002 overdue" in html and "store's sweep" in html
    for name in ("revoke", "lift-hold"):
        assert action(world, name) in html
    assert action(world, "reinstate") not in html  # only a revoked listing is reinstated


def test_moderators_read_but_do_not_act(client: Client, world: ConsoleWorld) -> None:
    moderator = world.store.pub.moderator
    response = login(client, moderator).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"acme/{world.product.slug}" in html and "/revoke" not in html
    for name in ("revoke", "reinstate", "lift-hold"):
        assert client.post(action(world, name), {"reason": "x"}).status_code == 403
    assert listing(world).state == ListingState.LIVE


def test_revoke_then_reinstate(client: Client, world: ConsoleWorld) -> None:
    login(client, world.security)
    response = client.post(action(world, "revoke"), {"reason": "Fixes overdue for a week."})
    assert response.status_code == 302
    assert listing(world).state == ListingState.REVOKED
    assert AuditEvent.objects.filter(action="policy:listing:revoked").count() == 1
    # A retry finds it revoked and changes nothing.
    response = client.post(action(world, "revoke"), {"reason": "Fixes overdue for a week."})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="policy:listing:revoked").count() == 1
    html = client.get(URL).content.decode()
    assert "Revoked" in html and "Fixes overdue for a week." in html
    assert action(world, "reinstate") in html

    response = client.post(action(world, "reinstate"), {"reason": "Fixed upstream."})
    assert response.status_code == 302
    after = listing(world)
    assert after.state == ListingState.LIVE and after.security_hold_since is None
    assert [e.action for e in HoldEvent.objects.filter(product=world.product)] == [
        HoldAction.HELD, HoldAction.REVOKED, HoldAction.REINSTATED,
    ]  # fmt: skip
    # Reinstated and clear: no longer on the page; a retry changes nothing.
    client.post(action(world, "reinstate"), {"reason": "Fixed upstream."})
    assert AuditEvent.objects.filter(action="policy:listing:reinstated").count() == 1
    assert f'id="listing-{after.pk}"' not in client.get(URL).content.decode()


def test_lift_a_hold(client: Client, world: ConsoleWorld) -> None:
    login(client, world.security)
    response = client.post(action(world, "lift-hold"), {"reason": "Mitigated by config."})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="policy:hold:extended").count() == 1
    after = listing(world)
    assert after.state == ListingState.LIVE and after.security_hold_since is None
    assert HoldEvent.objects.filter(product=world.product, action=HoldAction.LIFTED).count() == 1
    # A retry finds no hold and changes nothing.
    client.post(action(world, "lift-hold"), {"reason": "Mitigated by config."})
    assert AuditEvent.objects.filter(action="policy:hold:extended").count() == 1


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
@pytest.mark.parametrize("name", ["revoke", "reinstate", "lift-hold"])
def test_a_reason_is_required(client: Client, world: ConsoleWorld, name: str, reason: str) -> None:
    login(client, world.security)
    response = client.post(action(world, name), {"reason": reason}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Give a reason" in text or "too long" in text
    after = listing(world)
    assert after.state == ListingState.LIVE and after.security_hold_since is not None
    assert not AuditEvent.objects.filter(action__startswith="policy:").exists()


@pytest.mark.parametrize(
    "path",
    [
        f"{URL}acme/{'s' * 5000}/revoke",
        f"{URL}{'o' * 5000}/slug/revoke",
        f"{URL}acme/no-such-product/reinstate",
    ],
)
def test_unknown_listings_are_404(client: Client, world: ConsoleWorld, path: str) -> None:
    login(client, world.security)
    assert client.post(path, {"reason": "why"}).status_code == 404


def test_hostile_page_numbers(client: Client, world: ConsoleWorld) -> None:
    login(client, world.security)
    for page in ["-1", "abc", "9" * 50, "1 OR 1=1"]:
        assert client.get(URL, {"page": page}).status_code == 200
