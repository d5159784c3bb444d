"""Customers' pulls become pull records once, however often the event is delivered."""

from __future__ import annotations

from typing import Any

from portside.commerce import services, subscribers
from portside.commerce.models import PullRecord
from portside.core import clock
from tests.commerce.world import Store, customer
from tests.factories import TEST_ORIGIN


def test_a_repeated_delivery_records_each_pull_once(store: Store) -> None:
    carol = customer()
    services.take_free_tier(
        listing=store.listing,
        tier_id=store.free_tier,
        user=carol,
        accept_licence=True,
        origin=TEST_ORIGIN,
    )
    at = clock.now().isoformat()
    pull: dict[str, Any] = {
        "manifest_id": 1,
        "repository": store.pub.repository.name,
        "digest": store.pub.digest,
        "tag": "1.0",
        "user_id": carol.pk,
        "pulled_at": at,
    }
    later = dict(pull, pulled_at=clock.now().replace(year=2030).isoformat())
    subscribers.record_customer_pulls(pulls=[pull])
    subscribers.record_customer_pulls(pulls=[pull, later])  # delivered again, with one more
    rows = PullRecord.objects.filter(user_id=carol.pk).order_by("pulled_at")
    assert [(r.tag, r.pulled_at.year) for r in rows] == [("1.0", clock.now().year), ("1.0", 2030)]
    assert rows[0].subscription_id is not None
