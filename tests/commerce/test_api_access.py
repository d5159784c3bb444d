"""Who may call which commerce API endpoint, for every role of tests/access.py.

Each row's path is the full path (tests/test_access_matrix.py checks that every route the
store answers has a row somewhere). The world is the store of tests/commerce/world.py: the
publisher acme (owner, editor, viewer), a customer holding a free and a paid subscription,
a rival (owner of globex, the "other member") with an order awaiting payment, the store
team, and billing details for everyone. Each row is sent as every role, by session and by
personal access token, and undone before the next role asks.
"""

from __future__ import annotations

import json
import re
from itertools import count
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from portside.accounts.models import StoreRole
from portside.commerce import services
from portside.commerce.billing import profile_of
from tests.access import ROLES, Row, World, check, outcomes
from tests.api_publishing.helpers import secret_for
from tests.commerce.world import Store, billed, build_store
from tests.factories import TEST_ORIGIN, make_user

pytestmark = pytest.mark.django_db

C = "/api/v1/commerce"
PRODUCT = "acme/acme-database"

ANYONE = outcomes(anonymous=401, default=200)
# A customer's own subscription or order: who took it and the store's admins.
CUSTOMERS = outcomes(anonymous=401, default=404, customer=200, admin=200)
# The subscription acme took for itself: its members see it.
ACME_HOLDS = outcomes(anonymous=401, default=404, owner=200, editor=200, viewer=200, admin=200)
# Acting for acme as a customer: its owners; other members and the store team know acme.
FOR_ACME = outcomes(
    anonymous=401,
    default=403,
    customer=404,
    other_member=404,
    owner=200,
)
SALES = outcomes(
    anonymous=401,
    default=403,
    customer=404,
    other_member=404,
    owner=200,
    editor=200,
    admin=200,
)
STAFF = outcomes(anonymous=401, default=403, admin=200)


def _with(table: dict[str, int | str], **changes: int | str) -> dict[str, int | str]:
    return {**table, **changes}


ROWS = [
    Row("GET", C + "/subscriptions", ANYONE),
    Row("GET", C + "/subscriptions/{sub_paid}", CUSTOMERS),
    Row("GET", C + "/subscriptions/{sub_acme}", ACME_HOLDS),
    Row(
        "POST",
        C + "/subscriptions",
        outcomes(anonymous=401, default=201),
        data={"product": PRODUCT, "tier": "{free_tier}", "accept_licence": True},
    ),
    Row(
        "POST",
        C + "/subscriptions",
        _with(FOR_ACME, owner=201),
        data={
            "product": PRODUCT,
            "tier": "{free_tier}",
            "organization": "acme",
            "accept_licence": True,
        },
    ),
    Row(
        "POST",
        C + "/subscriptions/{sub_free}/cancel",
        outcomes(anonymous=401, default=404, customer=200, admin=403),
    ),
    Row(
        "POST",
        C + "/subscriptions/{sub_acme}/cancel",
        _with(ACME_HOLDS, editor=403, viewer=403, admin=403),
    ),
    Row("GET", C + "/billing-profile", ANYONE),
    Row("GET", C + "/billing-profile?organization=acme", FOR_ACME),
    Row("PUT", C + "/billing-profile", ANYONE, data={"name": "Someone", "country": "DE"}),
    Row(
        "PUT",
        C + "/billing-profile?organization=acme",
        FOR_ACME,
        data={"name": "Acme Ltd", "country": "IE"},
    ),
    Row("POST", C + "/quotes", ANYONE, data={"product": PRODUCT, "tier": "{paid_tier}"}),
    Row(
        "POST",
        C + "/orders",
        # The customer holds this tier already.
        outcomes(anonymous=401, default=201, customer=409),
        data={
            "product": PRODUCT,
            "tier": "{paid_tier}",
            "accept_licence": True,
            "signature": "{signature}",
        },
    ),
    Row("GET", C + "/orders", ANYONE),
    Row("GET", C + "/orders/{order_paid}", CUSTOMERS),
    Row("GET", "/api/v1/orgs/acme/sales", SALES),
    Row(
        "GET",
        "/api/v1/orgs/globex/sales",
        outcomes(
            anonymous=401, default=404, other_member=200, moderator=403, security=403, admin=200
        ),
    ),
    Row(
        "POST",
        "/api/v1/orgs/acme/sales/orders/{order_paid}/refund",
        _with(SALES, owner=201, editor=403, admin=201),
        data={"reason": "The customer asked."},
    ),
    Row("GET", C + "/staff/orders", STAFF),
    Row("POST", C + "/staff/orders/{order_open}/paid", STAFF),
    Row("GET", C + "/staff/tax-rates", STAFF),
    Row(
        "POST",
        C + "/staff/tax-rates",
        _with(STAFF, admin=201),
        data={"country": "AT", "rate": "20", "starts_on": "2027-01-01"},
    ),
    Row("PUT", C + "/staff/revenue-shares/acme", STAFF, data={"share": "15"}),
    Row("GET", C + "/staff/ledger", STAFF),
    # The payment provider's webhook: an unsigned request is refused, whoever sends it.
    Row("POST", "/webhooks/stripe", outcomes(anonymous=400, default=400)),
]

# Body values that ``check`` formats as strings but the API takes as integers.
_INTEGERS = {"tier"}
_keys = count(1)


class JsonClient(Client):
    """``tests.access.check`` sends form data; the API takes JSON. Every write also
    carries a fresh ``Idempotency-Key`` (ordering requires one), and, when given a
    token, a Bearer credential (which the API prefers to the session)."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self.token = token

    def _headers(self, write: bool) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if write:
            headers["Idempotency-Key"] = f"access-{next(_keys)}"
        return headers

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        return super().get(path, data=data, headers=self._headers(False), **extra)

    def _json(self, method: str, path: str, data: Any) -> Any:
        body = {
            key: int(value) if key in _INTEGERS and isinstance(value, str) else value
            for key, value in (data or {}).items()
        }
        return self.generic(
            method,
            path,
            data=json.dumps(body),
            content_type="application/json",
            headers=self._headers(True),
        )

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        return self._json("POST", path, data)

    def put(self, path: str, data: Any = None, **extra: Any) -> Any:  # type: ignore[override]
        return self._json("PUT", path, data)


def build_commerce_world() -> World:
    store: Store = build_store()
    pub = store.pub
    admin = pub.admin
    users: dict[str, Any] = {
        "anonymous": None,
        "customer": pub.customer,
        "other_member": pub.other,
        "viewer": pub.viewer,
        "editor": pub.editor,
        "owner": pub.owner,
        "moderator": pub.moderator,
        "security": make_user("sec", store_role=StoreRole.SECURITY),
        "admin": admin,
    }
    for user in users.values():
        if user is not None:
            billed(user, "DE")
    billed(pub.owner, "IE", organization=pub.org)
    listing, shopper = store.listing, pub.customer

    def order(user: Any) -> Any:
        offer = services.quote(
            listing=listing,
            tier_id=store.paid_tier,
            profile=profile_of(user=user, organization=None),
        )
        return services.checkout(
            listing=listing, tier_id=store.paid_tier, user=user, accept_licence=True,
            signature=offer.signature, origin=TEST_ORIGIN,
        )  # fmt: skip

    free = services.take_free_tier(
        listing=listing, tier_id=store.free_tier, user=shopper, accept_licence=True,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    paid = order(shopper)
    services.mark_paid(order=paid, acting=admin, origin=TEST_ORIGIN)
    acme = services.take_free_tier(
        listing=listing, tier_id=store.free_tier, user=pub.owner, organization=pub.org,
        accept_licence=True, origin=TEST_ORIGIN,
    )  # fmt: skip
    waiting = order(pub.other)
    signature = services.quote(
        listing=listing, tier_id=store.paid_tier, profile=profile_of(user=admin, organization=None)
    ).signature
    return World(
        users=users,
        ids={
            "free_tier": store.free_tier,
            "paid_tier": store.paid_tier,
            "signature": signature,
            "sub_free": free.pk,
            "sub_paid": paid.subscription_id,
            "sub_acme": acme.pk,
            "order_paid": paid.pk,
            "order_open": waiting.pk,
        },
    )


class _Undo(Exception):
    pass


def _row_id(row: Row) -> str:
    data = f" {row.data.get('organization')}" if row.data.get("organization") else ""
    return row.id + data


@pytest.mark.parametrize("via", ["session", "token"])
@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_access(row: Row, via: str, settings: Any) -> None:
    # Stripe configured (no request leaves the machine): the webhook gets as far as the
    # signature, which an unsigned request lacks; unconfigured, it would answer 503.
    settings.STRIPE_SECRET_KEY = "sk_test_access_matrix"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_access_matrix"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_access_matrix"
    world = build_commerce_world()
    failures = []
    for role in ROLES:
        user = world.users[role]
        token = secret_for(user) if via == "token" and user is not None else ""
        try:
            with transaction.atomic():
                check(JsonClient(token), world, row, role)
                raise _Undo
        except _Undo:
            pass
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "; ".join(failures)


def test_every_commerce_operation_has_a_row() -> None:
    from portside.api.urls import api

    schema = api.get_openapi_schema()
    operations = {
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if "commerce" in operation.get("tags", [])
    }
    assert operations
    rows = {(row.method, re.sub(r"\{[a-z_]+\}", "1", row.path.split("?")[0])) for row in ROWS}
    for method, template in sorted(operations):
        pattern = re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)))
        assert any(m == method and pattern.fullmatch(p) for m, p in rows), (method, template)
