"""SLA clocks, holds and revocations, with time moved by the injected clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from portside.audit.models import AuditEvent
from portside.catalog import services as catalog
from portside.catalog.models import Listing, ListingState
from portside.catalog.search import SearchCard
from portside.commerce import entitlements
from portside.commerce import services as commerce
from portside.core import clock
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.policy import clocks, services
from portside.policy.models import Clock, ClockState, HoldAction, HoldEvent, StopReason
from portside.scanning import services as scanning
from portside.scanning.models import Finding
from tests.commerce.world import build_store
from tests.factories import TEST_ORIGIN
from tests.policy.world import CRITICAL, MAJOR, MINOR, delivering, retag, scanned

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def time():
    with clock.frozen(START) as frozen:
        yield frozen


@pytest.fixture
def store(time):
    return build_store()


def _open(store):
    return {
        c.advisory_id: c
        for c in Clock.objects.filter(product=store.product).exclude(state="stopped")
    }


def _listing(store) -> Listing:
    return Listing.objects.get(product=store.product)


def test_critical_and_major_findings_start_clocks_with_their_windows_and_minor_none(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL, MAJOR, MINOR])
    running = _open(store)
    assert set(running) == {"CVE-2026-0001", "CVE-2026-0002"}
    critical, major = running["CVE-2026-0001"], running["CVE-2026-0002"]
    assert critical.started_at == START and critical.due_at == START + dt.timedelta(hours=72)
    assert major.due_at == START + dt.timedelta(days=7)
    assert critical.severity == "critical" and critical.state == ClockState.RUNNING
    # Both listed tags point at the one image: one clock, two places.
    assert sorted(p["tag"] for p in critical.affected) == ["1.0", "2.0"]
    assert critical.affected[0]["fixed"] == ["9.9"]
    # The same scan announced again starts nothing new.
    scanned(store.pub.repository, store.pub.digest, [CRITICAL, MAJOR, MINOR])
    assert Clock.objects.filter(product=store.product).count() == 2


def test_reminders_at_half_time_and_a_day_before_then_hold_at_72_hours(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    assert services.sweep()["reminded"] == 0
    time.advance(hours=36)
    assert services.sweep()["reminded"] == 1
    assert _open(store)["CVE-2026-0001"].reminders == 1
    assert services.sweep()["reminded"] == 0  # not twice
    time.advance(hours=12)  # 24 hours before the deadline
    assert services.sweep()["reminded"] == 1
    assert _open(store)["CVE-2026-0001"].reminders == 2
    time.advance(hours=23, minutes=59)
    assert services.sweep()["held"] == 0
    assert _listing(store).security_hold_since is None
    time.advance(minutes=1)
    done = services.sweep()
    assert done["overdue"] == 1 and done["held"] == 1
    listing = _listing(store)
    assert listing.security_hold_since == START + dt.timedelta(hours=72)
    assert listing.state == ListingState.LIVE  # still listed, with the label
    card = SearchCard.objects.get(entry_id=listing.pk).card
    assert card["security_hold_since"] == listing.security_hold_since.isoformat()
    assert HoldEvent.objects.filter(product=store.product, action=HoldAction.HELD).count() == 1
    assert AuditEvent.objects.filter(action="policy:listing:held").count() == 1
    assert services.sweep()["held"] == 0  # a hold is placed once


def test_a_major_finding_holds_after_seven_days(store, time):
    scanned(store.pub.repository, store.pub.digest, [MAJOR])
    time.advance(days=7)
    time.advance(seconds=-1)
    assert services.sweep()["held"] == 0
    time.advance(seconds=1)
    assert services.sweep()["held"] == 1


def test_the_hold_lifts_when_a_fixed_image_is_pushed_to_the_listed_tags_and_scanned(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL, MINOR])
    time.advance(hours=80)
    services.sweep()
    assert _listing(store).security_hold_since is not None
    # The fixed image is pushed to one tag only: the other still carries the finding.
    fixed = retag(store.pub.repository, "1.0", seed="fixed")
    scanned(store.pub.repository, fixed, [MINOR])
    c = _open(store)["CVE-2026-0001"]
    assert [p["tag"] for p in c.affected] == ["2.0"]
    assert _listing(store).security_hold_since is not None
    # Pushed to the second tag but not scanned yet: the clock keeps running.
    retag(store.pub.repository, "2.0", seed="fixed")
    scanned(store.pub.repository, fixed, [MINOR])
    stopped = Clock.objects.get(pk=c.pk)
    assert stopped.state == ClockState.STOPPED and stopped.stop_reason == StopReason.FIXED
    listing = _listing(store)
    assert listing.security_hold_since is None
    assert SearchCard.objects.get(entry_id=listing.pk).card["security_hold_since"] is None
    assert [e.action for e in HoldEvent.objects.filter(product=store.product)] == [
        HoldAction.HELD,
        HoldAction.LIFTED,
    ]


def test_an_image_not_scanned_yet_keeps_the_clock_running(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    retag(store.pub.repository, "1.0", "2.0", seed="maybe-fixed")
    assert _open(store)["CVE-2026-0001"].state == ClockState.RUNNING


def test_a_finding_that_appears_on_rematch_starts_its_own_clock(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=10)
    # The vulnerability data changed: the stored inventory now matches one more.
    scanned(store.pub.repository, store.pub.digest, [CRITICAL, MAJOR])
    running = _open(store)
    assert running["CVE-2026-0001"].started_at == START
    assert running["CVE-2026-0002"].started_at == START + dt.timedelta(hours=10)
    assert running["CVE-2026-0002"].due_at == START + dt.timedelta(hours=10, days=7)


def test_reclassification_moves_the_deadline_and_below_major_stops_the_clock(store, time):
    scan = scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    finding = Finding.objects.get(scan=scan)
    security = store.pub.admin
    time.advance(hours=70)
    with delivering():
        scanning.reclassify(
            finding=finding,
            severity="major",
            reason="needs local access",
            user=security,
            origin=TEST_ORIGIN,
        )
    c = _open(store)["CVE-2026-0001"]
    assert c.severity == "major" and c.due_at == START + dt.timedelta(days=7)
    time.advance(hours=10)  # past 72 hours: no hold, the deadline moved
    assert services.sweep()["held"] == 0
    with delivering():
        scanning.reclassify(
            finding=finding,
            severity="minor",
            reason="not reachable",
            user=security,
            origin=TEST_ORIGIN,
        )
    assert Clock.objects.get(pk=c.pk).stop_reason == StopReason.RECLASSIFIED


def test_reclassified_up_to_critical_after_its_window_is_overdue_at_once(store, time):
    scan = scanned(store.pub.repository, store.pub.digest, [MAJOR])
    time.advance(hours=100)
    with delivering():
        scanning.reclassify(
            finding=Finding.objects.get(scan=scan),
            severity="critical",
            reason="remote code execution",
            user=store.pub.admin,
            origin=TEST_ORIGIN,
        )
    c = _open(store)["CVE-2026-0002"]
    assert c.state == ClockState.OVERDUE and c.overdue_at == START + dt.timedelta(hours=72)
    assert services.sweep()["held"] == 1
    assert _listing(store).security_hold_since == START + dt.timedelta(hours=72)


def test_withdrawing_the_listing_stops_its_clocks_and_lifts_the_hold(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=73)
    services.sweep()
    with delivering():
        catalog.unpublish(product=store.product, acting=store.pub.owner, origin=TEST_ORIGIN)
    assert not _open(store)
    assert Clock.objects.get(product=store.product).stop_reason == StopReason.UNLISTED


def test_a_hold_of_thirty_days_revokes_and_customers_keep_pulling_thirty_more(
    store, time, settings
):
    carol = _customer_with_free_tier(store)
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=72)
    services.sweep()
    time.advance(days=30, seconds=-1)
    assert services.sweep()["revoked"] == 0
    time.advance(seconds=1)
    assert services.sweep()["revoked"] == 1
    listing = _listing(store)
    assert listing.state == ListingState.REVOKED
    assert listing.access_ends_at == clock.now() + dt.timedelta(days=30)
    assert not SearchCard.objects.filter(entry_id=listing.pk).exists()  # gone from search
    repo = store.pub.repository.name
    assert "1.0" in entitlements.covered_tags(carol.pk, store.pub.org.pk, repo)
    with pytest.raises(NotFound):  # no new subscriptions
        commerce.take_free_tier(
            listing=listing,
            tier_id=store.free_tier,
            user=store.pub.other,
            accept_licence=True,
            origin=TEST_ORIGIN,
        )
    time.advance(days=30)
    assert entitlements.covered_tags(carol.pk, store.pub.org.pk, repo) == frozenset()
    # A fix after the revocation does not bring the listing back by itself.
    fixed = retag(store.pub.repository, "1.0", "2.0", seed="fixed")
    scanned(store.pub.repository, fixed, [])
    assert _listing(store).state == ListingState.REVOKED


def test_customers_stop_at_once_when_the_store_says_so(store, time, settings):
    settings.SLA_REVOKED_PULL_DAYS = 0
    carol = _customer_with_free_tier(store)
    services.revoke(
        product=store.product, reason="malware", acting=store.pub.admin, origin=TEST_ORIGIN
    )
    repo = store.pub.repository.name
    assert entitlements.covered_tags(carol.pk, store.pub.org.pk, repo) == frozenset()


def test_only_the_security_team_revokes_reinstates_and_lifts_with_a_reason(store, time):
    with pytest.raises(PermissionDenied):
        services.revoke(
            product=store.product, reason="x", acting=store.pub.moderator, origin=TEST_ORIGIN
        )
    with pytest.raises(PermissionDenied):
        services.revoke(
            product=store.product, reason="x", acting=store.pub.owner, origin=TEST_ORIGIN
        )
    with pytest.raises(ValidationFailed):
        services.revoke(
            product=store.product, reason="  ", acting=store.pub.admin, origin=TEST_ORIGIN
        )
    with pytest.raises(Conflict):
        services.reinstate(
            product=store.product, reason="why", acting=store.pub.admin, origin=TEST_ORIGIN
        )
    with pytest.raises(Conflict):
        services.lift_hold(
            product=store.product, reason="why", acting=store.pub.admin, origin=TEST_ORIGIN
        )


def test_reinstating_gives_the_overdue_findings_a_new_deadline(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=72)
    services.sweep()
    time.advance(days=30)
    services.sweep()
    assert _listing(store).state == ListingState.REVOKED
    services.reinstate(
        product=store.product,
        reason="fix agreed with the publisher",
        acting=store.pub.admin,
        origin=TEST_ORIGIN,
    )
    listing = _listing(store)
    assert listing.state == ListingState.LIVE and listing.security_hold_since is None
    assert SearchCard.objects.filter(entry_id=listing.pk).exists()
    c = _open(store)["CVE-2026-0001"]
    assert c.state == ClockState.RUNNING and c.due_at == clock.now() + dt.timedelta(hours=72)
    assert services.sweep()["held"] == 0
    assert AuditEvent.objects.filter(action="policy:listing:reinstated").count() == 1
    assert [e.action for e in HoldEvent.objects.filter(product=store.product)] == [
        HoldAction.HELD,
        HoldAction.REVOKED,
        HoldAction.REINSTATED,
    ]


def test_lifting_a_hold_by_hand_extends_the_overdue_deadlines(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=73)
    services.sweep()
    services.lift_hold(
        product=store.product,
        reason="vendor fix due Friday",
        acting=store.pub.admin,
        origin=TEST_ORIGIN,
    )
    assert _listing(store).security_hold_since is None
    assert _open(store)["CVE-2026-0001"].due_at == clock.now() + dt.timedelta(hours=72)
    assert AuditEvent.objects.filter(action="policy:hold:extended").count() == 1


def test_reconcile_is_idempotent_and_counts_what_it_did(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    assert clocks.reconcile(store.product.pk) == {"started": 0, "moved": 0, "stopped": 0}
    with transaction.atomic():
        assert clocks.reconcile(store.product.pk)["started"] == 0
    assert clocks.products_listing(store.pub.repository.name) == [store.product.pk]
    assert clocks.products_listing("nobody/nothing") == []


def _customer_with_free_tier(store):
    carol = store.pub.customer
    commerce.take_free_tier(
        listing=_listing(store),
        tier_id=store.free_tier,
        user=carol,
        accept_licence=True,
        origin=TEST_ORIGIN,
    )
    return carol


def test_an_approved_not_affected_statement_stops_the_clock_until_it_expires(store, time):
    from portside.policy.models import VexStatement

    scanned(store.pub.repository, store.pub.digest, [{**CRITICAL, "aliases": ["GHSA-xxxx"]}])
    statement = VexStatement.objects.create(
        product=store.product,
        organization_id=store.pub.org.pk,
        advisory_id="ghsa-XXXX",  # an alias, in another case
        status="not_affected",
        justification="vulnerable_code_not_in_execute_path",
        review="pending",
        created_at=clock.now(),
        expires_at=START + dt.timedelta(days=10),
    )
    clocks.reconcile(store.product.pk)
    assert _open(store)  # pending: not yet
    statement.review = "approved"
    statement.save()
    clocks.reconcile(store.product.pk)
    assert Clock.objects.get(product=store.product).stop_reason == StopReason.NOT_AFFECTED
    time.advance(days=10)
    with delivering():
        assert services.sweep()["lapsed"] == 1
    renewed = _open(store)["CVE-2026-0001"]
    assert renewed.started_at == clock.now()
    assert services.sweep()["lapsed"] == 0  # noted once


def test_a_revoked_listings_hold_is_not_lifted_by_hand(store, time):
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=72)
    services.sweep()
    time.advance(days=30)
    services.sweep()
    with pytest.raises(Conflict, match="reinstate"):
        services.lift_hold(
            product=store.product, reason="why", acting=store.pub.admin, origin=TEST_ORIGIN
        )
    assert _open(store)["CVE-2026-0001"].state == ClockState.OVERDUE  # nothing moved
