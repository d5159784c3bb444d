"""Taking tiers, checkout, payment, cancellation, refunds and the ledger, through the
services as the pages and the API call them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from portside.commerce import ledger, services
from portside.commerce.entitlements import covered_tags
from portside.commerce.models import (
    Invoice,
    LicenceAcceptance,
    OrderStatus,
    SubscriptionStatus,
)
from portside.core import clock
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.commerce.world import Store, billed, customer
from tests.factories import TEST_ORIGIN


def _checkout(store: Store, user: Any, **kw: Any) -> Any:
    offer = services.quote(
        listing=store.listing,
        tier_id=store.paid_tier,
        profile=services.billing.profile_of(user=user, organization=kw.get("organization")),
    )
    return services.checkout(
        listing=store.listing,
        tier_id=store.paid_tier,
        user=user,
        accept_licence=True,
        signature=offer.signature,
        origin=TEST_ORIGIN,
        **kw,
    )


def test_a_free_tier_needs_the_licence_and_entitles_its_tags(store: Store) -> None:
    carol = customer()
    with pytest.raises(ValidationFailed):
        services.take_free_tier(
            listing=store.listing, tier_id=store.free_tier, user=carol, accept_licence=False,
            origin=TEST_ORIGIN,
        )  # fmt: skip
    sub = services.take_free_tier(
        listing=store.listing, tier_id=store.free_tier, user=carol, accept_licence=True,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    assert sub.status == SubscriptionStatus.ACTIVE
    acceptance = LicenceAcceptance.objects.get(subscription=sub)
    assert acceptance.license_url == "https://acme.example.com/licence"
    assert acceptance.ip_address == "127.0.0.1"
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == {"1.0"}
    again = services.take_free_tier(
        listing=store.listing, tier_id=store.free_tier, user=carol, accept_licence=True,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    assert again.pk == sub.pk


def test_a_forged_tier_id_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        services.take_free_tier(
            listing=store.listing, tier_id=999999, user=customer(), accept_licence=True,
            origin=TEST_ORIGIN,
        )  # fmt: skip
    with pytest.raises(ValidationFailed):  # the paid tier cannot be taken as free
        services.take_free_tier(
            listing=store.listing, tier_id=store.paid_tier, user=customer("d"), accept_licence=True,
            origin=TEST_ORIGIN,
        )  # fmt: skip


def test_paid_checkout_with_tax_then_paid_by_the_store(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    order = _checkout(store, carol)
    assert order.status == OrderStatus.OPEN
    assert (order.net_minor, order.tax_minor, order.total_minor) == (4900, 931, 5831)
    assert order.store_share_minor == 980
    assert order.invoice.number.startswith("PS-")
    sub = order.subscription
    assert sub.status == SubscriptionStatus.PENDING
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == frozenset()
    with pytest.raises(PermissionDenied):
        services.mark_paid(order=order, acting=carol, origin=TEST_ORIGIN)
    services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.current_period_end is not None
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == {"1.0", "2.0"}
    assert ledger.verify().ok
    assert ledger.owed_to(store.pub.org.pk) == {"EUR": 4900 - 980}
    # A second confirmation changes nothing.
    services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
    assert ledger.owed_to(store.pub.org.pk) == {"EUR": 3920}


def test_reverse_charge_for_an_eu_business_in_another_state(store: Store) -> None:
    carol = customer()
    billed(carol, "FR", tax_id="FR40303265045")
    order = _checkout(store, carol)
    assert order.reverse_charge and order.tax_minor == 0 and order.total_minor == 4900
    assert "Reverse charge" in order.invoice.document["note"]


def test_invalid_vat_ids_are_refused(store: Store) -> None:
    with pytest.raises(ValidationFailed) as caught:
        billed(customer(), "DE", tax_id="DE136695977")
    assert caught.value.field == "tax_id"
    with pytest.raises(ValidationFailed):
        billed(customer("e"), "XX")


def test_a_changed_price_is_not_charged(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    with pytest.raises(Conflict):
        services.checkout(
            listing=store.listing, tier_id=store.paid_tier, user=carol, accept_licence=True,
            signature="0" * 32, origin=TEST_ORIGIN,
        )  # fmt: skip
    assert not Invoice.objects.exists()


def test_the_same_idempotency_key_charges_once(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    first = _checkout(store, carol, idempotency_key="k-1")
    second = _checkout(store, carol, idempotency_key="k-1")
    assert first.pk == second.pk
    assert Invoice.objects.count() == 1


def test_refunds_never_exceed_what_was_paid_and_a_full_one_ends_access(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    order = _checkout(store, carol)
    services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
    owner = store.pub.owner
    services.refund(
        order=order, amount_minor=1000, reason="goodwill", acting=owner, origin=TEST_ORIGIN
    )
    with pytest.raises(ValidationFailed):
        services.refund(
            order=order, amount_minor=5000, reason="too much", acting=owner, origin=TEST_ORIGIN
        )
    with pytest.raises(PermissionDenied):
        services.refund(order=order, amount_minor=1, reason="x", acting=carol, origin=TEST_ORIGIN)
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == {"1.0", "2.0"}
    services.refund(
        order=order, amount_minor=None, reason="unhappy", acting=owner, origin=TEST_ORIGIN
    )
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor
    order.subscription.refresh_from_db()
    assert order.subscription.status == SubscriptionStatus.REFUNDED
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == frozenset()
    assert ledger.verify().ok
    assert ledger.owed_to(store.pub.org.pk) == {}


def test_monthly_renewal_retries_then_lapses(store: Store, settings: Any) -> None:
    from portside.commerce import renewals

    carol = customer()
    billed(carol, "DE")
    start = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    with clock.frozen(start) as frozen:
        order = _checkout(store, carol)
        services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
        sub = order.subscription
        sub.refresh_from_db()
        assert sub.current_period_end == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
        frozen.advance(days=28)
        outcome = renewals.run_due()
        assert outcome.pending == [sub.pk]
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.PAST_DUE
        assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == {"1.0", "2.0"}
        frozen.advance(days=3)
        renewals.run_due()  # the second try
        frozen.advance(days=4, hours=1)
        assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == frozenset()
        renewals.run_due()  # the last try, a week after the period ended
        frozen.advance(hours=1)
        renewals.run_due()
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.LAPSED
        assert sub.orders.filter(status=OrderStatus.VOID).count() == 1
        assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == frozenset()
        assert ledger.verify().ok


def test_cancel_takes_effect_at_period_end(store: Store) -> None:
    from portside.commerce import renewals

    carol = customer()
    billed(carol, "DE")
    with clock.frozen(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)) as frozen:
        order = _checkout(store, carol)
        services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
        sub = services.cancel(subscription=order.subscription, acting=carol, origin=TEST_ORIGIN)
        assert sub.status == SubscriptionStatus.ACTIVE and sub.cancel_at_period_end
        frozen.advance(days=31)
        assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == frozenset()
        renewals.run_due()
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.CANCELLED
        assert sub.orders.count() == 1
