"""A revoked listing's paid subscriptions are not renewed: nobody is charged again for a
product revoked for overdue security fixes."""

from __future__ import annotations

import datetime as dt

import pytest

from portside.commerce import renewals
from portside.commerce import services as commerce
from portside.commerce.models import Order, OrderKind, SubscriptionStatus
from portside.core import clock
from portside.policy import services
from tests.commerce.test_services import _checkout
from tests.commerce.world import billed, build_store, customer
from tests.factories import TEST_ORIGIN

pytestmark = pytest.mark.django_db


def test_a_revoked_listing_is_not_renewed():
    start = dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
    with clock.frozen(start) as frozen:
        store = build_store()
        carol = customer()
        billed(carol, "DE")
        order = _checkout(store, carol)
        commerce.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
        services.revoke(
            product=store.product,
            reason="malware found",
            acting=store.pub.admin,
            origin=TEST_ORIGIN,
        )
        frozen.advance(days=28)
        outcome = renewals.run_due()
        assert outcome.cancelled == [order.subscription_id]
        sub = order.subscription
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.CANCELLED
        assert sub.end_reason == "the listing was revoked"
        assert not Order.objects.filter(subscription=sub, kind=OrderKind.RENEWAL).exists()
