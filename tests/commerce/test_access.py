"""Who may open which commerce page, for every role, through real URLs.

The world: acme publishes a product with a free and a paid tier; ``customer`` has bought
the paid tier (paid), another customer has an order awaiting payment. Customers see only
their own subscriptions and invoices; the publisher's owners and editors its sales (only
owners refund); the store's admins everything, and the rest of the store team nothing
more than any user. A thing a role may not know exists answers 404, a known page it may
not use 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from portside.accounts.models import StoreRole
from portside.commerce import services
from tests.access import ROLES, Row, World, check, outcomes
from tests.commerce.world import billed, build_store
from tests.factories import TEST_ORIGIN, make_user

_P = "acme/acme-database"
ANYONE = outcomes(default=200)
# A customer's own subscription: who took it and the store's admins see it; admins may
# not change it; nobody else learns it exists.
_OWN = outcomes(default=404, customer=200, admin=200)
_OWN_CHANGE = outcomes(default=404, customer=302, admin=403)
# An invoice: its customer, the publisher's owners and editors, the store's admins.
_INVOICE = outcomes(default=404, customer=200, editor=200, owner=200, admin=200)
# A publisher's sales: owners, editors and admins; viewers and the store team know the
# organisation but may not look; outsiders get 404.
_SALES = outcomes(default=403, customer=404, other_member=404, editor=200, owner=200, admin=200)
_REFUND = outcomes(default=403, customer=404, other_member=404, owner=200, admin=200)
_REFUND_POST = outcomes(default=403, customer=404, other_member=404, owner=302, admin=302)
# The store team's pages: admins only.
_STAFF = outcomes(default=403, admin=200)
_STAFF_POST = outcomes(default=403, admin=302)

ROWS = [
    # Taking a free tier: any signed-in user, for themself.
    Row("GET", f"/products/{_P}/tiers/{{free_tier}}/get", ANYONE),
    Row(
        "POST",
        f"/products/{_P}/tiers/{{free_tier}}/get",
        outcomes(default=302),
        data={"accept_licence": "on"},
    ),
    # ... for an organisation: its owners only; others do not learn it exists.
    Row(
        "POST",
        f"/products/{_P}/tiers/{{free_tier}}/get",
        outcomes(default=404, viewer=403, editor=403, owner=302),
        data={"accept_licence": "on", "holder": "acme"},
    ),
    Row("GET", f"/products/{_P}/tiers/{{paid_tier}}/get", outcomes(default=302)),
    Row("GET", f"/products/{_P}/tiers/999999/get", outcomes(default=404)),
    Row("GET", "/products/acme/ghost/tiers/{free_tier}/get", outcomes(default=404)),
    # The checkout: anyone signed in, for themself or an organisation they own.
    Row("GET", f"/checkout/{_P}/{{paid_tier}}/", ANYONE),
    Row(
        "GET",
        f"/checkout/{_P}/{{paid_tier}}/?holder=acme",
        outcomes(default=404, viewer=403, editor=403, owner=200),
    ),
    Row("GET", f"/checkout/{_P}/999999/", outcomes(default=404)),
    Row("GET", f"/checkout/{_P}/{{free_tier}}/", outcomes(default=302)),
    Row(
        "POST",
        f"/checkout/{_P}/{{paid_tier}}/",
        outcomes(default=302),
        data={"action": "details", "name": "Someone", "country": "DE"},
    ),
    Row(
        "POST",
        f"/checkout/{_P}/{{paid_tier}}/",
        outcomes(default=400),
        data={"action": "confirm", "signature": "0" * 32},  # no licence accepted
    ),
    Row(
        "POST",
        f"/checkout/{_P}/{{paid_tier}}/",
        outcomes(default=404, viewer=403, editor=403, owner=400),
        data={"action": "confirm", "holder": "acme", "signature": "0" * 32},
    ),
    # The library and billing: everyone's own.
    Row("GET", "/library/", ANYONE),
    Row("GET", "/library/{sub}/", _OWN),
    Row("GET", "/library/999999/", outcomes(default=404)),
    Row("POST", "/library/{sub}/", _OWN_CHANGE, data={"notifications": "off"}),
    Row("GET", "/library/{sub}/cancel", outcomes(default=404, customer=200, admin=403)),
    Row("POST", "/library/{sub}/cancel", _OWN_CHANGE),
    Row("GET", "/billing/", ANYONE),
    Row("GET", "/billing/invoices/{invoice}/", _INVOICE),
    Row("GET", "/billing/invoices/{invoice}/pdf", _INVOICE),
    Row("GET", "/billing/invoices/PS-1999-999999/", outcomes(default=404)),
    # Paying by card: the customer who placed the order only (a paid order, or one paid
    # by instructions, has nothing to pay there and goes to its invoice).
    Row("GET", "/billing/orders/{order}/pay", outcomes(default=404, customer=302)),
    Row("GET", "/billing/orders/{order}/return", outcomes(default=404, customer=302)),
    Row("GET", "/billing/orders/999999/pay", outcomes(default=404)),
    # A publisher's sales.
    Row("GET", "/orgs/acme/sales/", _SALES),
    Row(
        "GET",
        "/orgs/globex/sales/",
        outcomes(default=404, other_member=200, admin=200, moderator=403, security=403),
    ),
    Row("GET", "/orgs/nobody/sales/", outcomes(default=404)),
    Row("GET", "/orgs/acme/sales/orders/{order}/refund", _REFUND),
    Row(
        "POST",
        "/orgs/acme/sales/orders/{order}/refund",
        _REFUND_POST,
        data={"amount": "1.00", "reason": "goodwill"},
    ),
    Row(
        "GET",
        "/orgs/globex/sales/orders/{order}/refund",
        outcomes(default=404, other_member=404, admin=404, moderator=403, security=403),
    ),
    # Publishers confirm payments only when the store allows it (it does not here).
    Row(
        "POST",
        "/orgs/acme/sales/orders/{open_order}/paid",
        outcomes(default=403, customer=404, other_member=404, admin=302),
    ),
    # The store team's pages.
    Row("GET", "/staff/commerce/", _STAFF),
    Row("GET", "/staff/commerce/?status=open&publisher=acme&page=1", _STAFF),
    Row("GET", "/staff/commerce/orders/{order}/", _STAFF),
    Row("GET", "/staff/commerce/orders/999999/", outcomes(default=403, admin=404)),
    Row("POST", "/staff/commerce/orders/{open_order}/paid", _STAFF_POST, data={"reference": "T1"}),
    Row("GET", "/staff/commerce/orders/{order}/refund", _STAFF),
    Row(
        "POST",
        "/staff/commerce/orders/{order}/refund",
        _STAFF_POST,
        data={"amount": "1.00", "reason": "goodwill"},
    ),
    Row("GET", "/staff/commerce/tax-rates/", _STAFF),
    Row(
        "POST",
        "/staff/commerce/tax-rates/",
        _STAFF_POST,
        data={"country": "AT", "rate": "20", "starts_on": "2026-01-01", "name": "USt"},
    ),
    Row("GET", "/staff/commerce/revenue-share/", _STAFF),
    Row(
        "POST",
        "/staff/commerce/revenue-share/",
        _STAFF_POST,
        data={"action": "share", "publisher": "acme", "share": "15"},
    ),
    Row(
        "POST",
        "/staff/commerce/revenue-share/",
        _STAFF_POST,
        data={"action": "payout", "publisher": "acme", "currency": "EUR", "amount": "1.00"},
    ),
    Row("GET", "/staff/commerce/ledger/", _STAFF),
]


def build_commerce_world() -> World:
    """The roles of ``tests.access`` in the store of ``tests.commerce.world``."""
    store = build_store()
    pub = store.pub
    buyer = make_user("customer")
    users: dict[str, Any] = {
        "anonymous": None,
        "customer": buyer,
        "other_member": pub.other,
        "viewer": pub.viewer,
        "editor": pub.editor,
        "owner": pub.owner,
        "moderator": pub.moderator,
        "security": make_user("sec", store_role=StoreRole.SECURITY),
        "admin": pub.admin,
    }

    def buy(user: Any) -> Any:
        offer = services.quote(
            listing=store.listing, tier_id=store.paid_tier, profile=billed(user, "DE")
        )
        return services.checkout(
            listing=store.listing, tier_id=store.paid_tier, user=user, accept_licence=True,
            signature=offer.signature, origin=TEST_ORIGIN,
        )  # fmt: skip

    order = buy(buyer)
    services.mark_paid(order=order, acting=pub.admin, origin=TEST_ORIGIN)
    waiting = buy(make_user("waiting"))
    return World(
        users=users,
        ids={
            "free_tier": store.free_tier,
            "paid_tier": store.paid_tier,
            "sub": order.subscription_id,
            "invoice": order.invoice.number,
            "order": order.pk,
            "open_order": waiting.pk,
        },
    )


class _Undo(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_access(row: Row) -> None:
    """Each role in a savepoint of its own over one world: what one role's request
    changed (a refund, a cancellation) is undone before the next role asks."""
    world = build_commerce_world()
    failures = []
    for role in ROLES:
        try:
            with transaction.atomic():
                try:
                    check(Client(), world, row, role)
                except AssertionError as exc:
                    failures.append(str(exc))
                raise _Undo
        except _Undo:
            pass
    assert not failures, "\n".join(failures)


def test_every_commerce_page_has_a_row() -> None:
    from django.urls import resolve

    from portside.commerce.urls import urlpatterns

    covered = set()
    for row in ROWS:
        path = row.path.split("?")[0]
        for key in ("free_tier", "paid_tier", "sub", "order", "open_order"):
            path = path.replace("{" + key + "}", "1")
        covered.add(resolve(path.replace("{invoice}", "PS-2026-000001")).url_name)
    names = {p.name for p in urlpatterns} - {"stripe_webhook"}
    assert names <= covered, sorted(names - covered)
