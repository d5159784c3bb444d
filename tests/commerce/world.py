"""A store with a live product to buy: the publishing world of the moderation tests, its
product published with a free tier (tag 1.0) and a paid monthly tier (1.0 and 2.0), and
tax rates for a few countries. Built through the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from portside.catalog import services as catalog
from portside.catalog.models import Listing
from portside.commerce import billing
from portside.commerce.models import TaxRate
from portside.core import clock
from tests.factories import TEST_ORIGIN, make_user
from tests.moderation.world import PublishingWorld, build_publishing_world


@dataclass
class Store:
    pub: PublishingWorld
    listing: Listing
    free_tier: int
    paid_tier: int

    @property
    def product(self) -> Any:
        return self.listing.product

    def tier_id(self, name: str) -> int:
        return self.product.tiers.get(name=name).pk


def publish(pub: PublishingWorld, product: Any) -> Listing:
    revision = catalog.freeze_revision(product=product, acting=pub.owner)
    return catalog.publish_revision(revision=revision, acting=pub.admin, origin=TEST_ORIGIN)


def build_store() -> Store:
    pub = build_publishing_world()
    product = pub.ready_product()
    listing = publish(pub, product)
    now = clock.now()
    for country, bp in [("DE", 1900), ("FR", 2000), ("IE", 2300), ("US", 0)]:
        TaxRate.objects.create(
            country=country, rate_bp=bp, starts_on=dt.date(2020, 1, 1), created_at=now
        )
    return Store(
        pub=pub,
        listing=listing,
        free_tier=product.tiers.get(name="Community").pk,
        paid_tier=product.tiers.get(name="Business").pk,
    )


def billed(user: Any, country: str = "DE", tax_id: str = "", organization: Any = None) -> Any:
    return billing.save_profile(
        user=user,
        organization=organization,
        name=f"{user.username} GmbH",
        country=country,
        tax_id=tax_id,
        address="Hauptstrasse 1\nBerlin",
    )


def customer(name: str = "carol") -> Any:
    return make_user(name)


def pay(store: Store, user: Any) -> None:
    """``user`` takes the store's paid tier: billed, quoted, checked out and paid."""
    from portside.commerce import services as commerce

    billed(user)
    offer = commerce.quote(
        listing=store.listing,
        tier_id=store.paid_tier,
        profile=billing.profile_of(user=user, organization=None),
    )
    order = commerce.checkout(
        listing=store.listing,
        tier_id=store.paid_tier,
        user=user,
        accept_licence=True,
        signature=offer.signature,
        origin=TEST_ORIGIN,
    )
    commerce.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
