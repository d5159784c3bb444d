"""The commerce API end to end: a customer takes a free tier, sets billing details, is
quoted and orders a paid tier; the store team confirms the payment; the publisher sees the
sale and refunds it. Then what it refuses: forged ids, bad amounts, tampered signatures,
reused idempotency keys, other people's orders, and what its OpenAPI document says."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from portside.commerce import ledger
from portside.commerce.models import (
    IdempotencyKey,
    Invoice,
    Order,
    PublisherTerms,
    Refund,
    Subscription,
    TaxRate,
)
from tests.api_publishing.helpers import Api, ok, problem
from tests.commerce.world import Store, billed, customer
from tests.factories import make_org

PRODUCT = "acme/acme-database"
KEY = "Idempotency-Key"


class Shop(Api):
    """The API client of tests/api_publishing, with an ``Idempotency-Key`` when asked."""

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        key: str | None = None,
    ) -> HttpResponse:
        saved = dict(self.headers)
        if key is not None:
            self.headers["HTTP_IDEMPOTENCY_KEY"] = key
        try:
            return super().send(method, path, body, raw=raw, content_type=content_type)
        finally:
            self.headers = saved


@pytest.fixture
def carol(store: Store) -> Any:
    return customer("carol")


def _shop(client: Client, user: Any, scopes: tuple[str, ...] = ("read", "write")) -> Shop:
    return Shop(client, user, scopes)


def _ordered(store: Store, shop: Shop, key: str = "order-1", **extra: Any) -> dict[str, Any]:
    quote = ok(
        shop.post("/commerce/quotes", {"product": PRODUCT, "tier": store.paid_tier, **extra})
    )
    body = {
        "product": PRODUCT,
        "tier": store.paid_tier,
        "accept_licence": True,
        "signature": quote["signature"],
        **extra,
    }
    return ok(shop.post("/commerce/orders", body, key=key), 201)


# --- the whole loop -----------------------------------------------------------------------------


def test_the_whole_loop(client: Client, store: Store, carol: Any) -> None:
    shop = _shop(client, carol)
    owner = _shop(client, store.pub.owner)
    admin = _shop(client, store.pub.admin)

    # A free tier, with the licence accepted: its tag may be pulled at once.
    free = ok(
        shop.post(
            "/commerce/subscriptions",
            {"product": PRODUCT, "tier": store.free_tier, "accept_licence": True},
        ),
        201,
    )
    assert free["status"] == "active" and free["entitled"] and free["free"]
    assert free["product"] == {
        "organization": "acme",
        "slug": "acme-database",
        "name": "Acme Database",
    }
    assert free["holder"] == {"kind": "user", "name": "carol"}
    assert free["covered"] == [{"repository": "acme/db", "tags": ["1.0"]}]
    assert free["pulls"] == [
        {"reference": "acme/db:1.0", "command": "docker pull testserver/acme/db:1.0"}
    ]
    # Taking it again answers the running subscription.
    again = shop.post(
        "/commerce/subscriptions",
        {"product": PRODUCT, "tier": store.free_tier, "accept_licence": True},
    )
    assert ok(again, 201)["id"] == free["id"]

    # Billing details: none yet, a refused VAT id, then valid ones.
    problem(shop.get("/commerce/billing-profile"), 404)
    refused = problem(
        shop.put(
            "/commerce/billing-profile",
            {"name": "Carol GmbH", "country": "DE", "tax_id": "DE136695977"},
        ),
        422,
    )
    assert refused["field"] == "tax_id"
    profile = ok(
        shop.put(
            "/commerce/billing-profile",
            {"name": "Carol GmbH", "country": "de", "address": "Hauptstrasse 1"},
        )
    )
    assert profile["country"] == "DE" and profile["tax_rate"] == "19"
    assert ok(shop.get("/commerce/billing-profile"))["name"] == "Carol GmbH"

    # The quote: 49.00 EUR net, 19% VAT.
    quote = ok(shop.post("/commerce/quotes", {"product": PRODUCT, "tier": store.paid_tier}))
    assert (quote["net_minor"], quote["tax_minor"], quote["total_minor"]) == (4900, 931, 5831)
    assert (quote["net"], quote["tax"], quote["total"]) == ("49.00", "9.31", "58.31")
    assert quote["currency"] == "EUR" and quote["tax_rate"] == "19"
    assert quote["tax_rate_bp"] == 1900 and not quote["reverse_charge"]
    assert quote["billed"] and len(quote["signature"]) == 32

    # The order, as quoted: open until paid, with its invoice.
    order = _ordered(store, shop)
    assert order["status"] == "open" and order["total"] == "58.31"
    assert order["invoice_number"].startswith("PS-")
    invoice = order["invoice"]
    assert invoice["number"] == order["invoice_number"]
    assert (invoice["net_minor"], invoice["tax_minor"], invoice["total_minor"]) == (
        4900,
        931,
        5831,
    )
    assert invoice["total"] == "58.31" and invoice["tax_label"] == "VAT 19%"
    assert invoice["buyer"]["name"] == "Carol GmbH"
    assert invoice["lines"][0]["net"] == "49.00"
    assert order["payment_instructions"].startswith("Pay EUR 58.31 by bank transfer")
    assert order["payment_url"] == ""  # paid by instructions, not on a card page
    assert order["invoice_number"] in order["payment_instructions"]
    mine = ok(shop.get("/commerce/orders"))
    assert [o["id"] for o in mine["items"]] == [order["id"]] and mine["count"] == 1
    assert ok(shop.get(f"/commerce/orders/{order['id']}"))["invoice"] == invoice
    pending = ok(shop.get(f"/commerce/subscriptions/{order['subscription_id']}"))
    assert pending["status"] == "pending" and pending["pulls"] == []
    assert pending["covered"] == [{"repository": "acme/db", "tags": ["1.0", "2.0"]}]
    assert ok(shop.get("/commerce/subscriptions"))["count"] == 2

    # The publisher sees the sale; nothing is owed to them until the customer pays.
    sales = ok(owner.get("/orgs/acme/sales"))
    assert [s["id"] for s in sales["orders"]["items"]] == [order["id"]]
    sale = sales["orders"]["items"][0]
    assert sale["customer"] == "carol" and sale["customer_country"] == "DE"
    assert (sale["store_share_minor"], sale["publisher_share"]) == (980, "39.20")
    assert sales["owed"] == []
    tiers = {t["tier_name"]: t for t in sales["tiers"]}
    assert tiers["Community"]["entitled"] == 1 and tiers["Business"]["counts"] == {"pending": 1}

    # The store team confirms the payment; twice, or replayed, changes nothing.
    path = f"/commerce/staff/orders/{order['id']}/paid"
    paid = ok(admin.post(path, {"reference": "bank 42"}, key="pay-1"))
    assert paid["status"] == "paid" and paid["provider_ref"] == "bank 42"
    assert ok(admin.post(path, {"reference": "bank 42"}, key="pay-1")) == paid
    assert ok(admin.post(path))["status"] == "paid"
    assert problem(admin.post(path, {"reference": "other"}, key="pay-1"), 409)["field"] == KEY
    assert ledger.owed_to(store.pub.org.pk) == {"EUR": 3920}
    active = ok(shop.get(f"/commerce/subscriptions/{order['subscription_id']}"))
    assert active["status"] == "active" and active["entitled"]
    assert [p["reference"] for p in active["pulls"]] == ["acme/db:1.0", "acme/db:2.0"]
    owed = ok(owner.get("/orgs/acme/sales"))["owed"]
    assert owed == [{"currency": "EUR", "amount_minor": 3920, "amount": "39.20"}]

    # The publisher refunds part, replays the request, then refunds what is left.
    refund_path = f"/orgs/acme/sales/orders/{order['id']}/refund"
    part = ok(owner.post(refund_path, {"amount": "10.50", "reason": "goodwill"}, key="r-1"), 201)
    assert (part["amount_minor"], part["amount"], part["currency"]) == (1050, "10.50", "EUR")
    replay = owner.post(refund_path, {"amount": "10.50", "reason": "goodwill"}, key="r-1")
    assert ok(replay, 201) == part
    assert Refund.objects.count() == 1
    conflict = problem(owner.post(refund_path, {"amount": "1", "reason": "x"}, key="r-1"), 409)
    assert conflict["field"] == KEY
    rest = ok(owner.post(refund_path, {"reason": "cancelled the project"}, key="r-2"), 201)
    assert rest["amount_minor"] == 5831 - 1050
    ended = ok(shop.get(f"/commerce/subscriptions/{order['subscription_id']}"))
    assert ended["status"] == "refunded" and ended["pulls"] == [] and not ended["entitled"]
    detail = ok(shop.get(f"/commerce/orders/{order['id']}"))
    assert detail["refunded"] == "58.31" and detail["payment_instructions"] == ""
    assert [r["amount"] for r in detail["invoice"]["refunds"]] == ["10.50", "47.81"]
    sales = ok(owner.get("/orgs/acme/sales"))
    assert sales["owed"] == [] and len(sales["refunds"]) == 2

    # The store team's view: every order, and a ledger that adds up.
    staff = ok(admin.get("/commerce/staff/orders", publisher="acme", customer="carol"))
    assert [o["id"] for o in staff["items"]] == [order["id"]]
    assert staff["items"][0]["billing"]["name"] == "Carol GmbH"
    assert ok(admin.get("/commerce/staff/orders", customer="nobody"))["count"] == 0
    books = ok(admin.get("/commerce/staff/ledger"))
    assert books["verification"] == {"ok": True, "problems": []}
    labels = {b["label"] for b in books["balances"]}
    assert "Publisher payable: acme" in labels

    # Cancelling the free tier ends it at once.
    cancelled = ok(shop.post(f"/commerce/subscriptions/{free['id']}/cancel"))
    assert cancelled["status"] == "cancelled" and cancelled["pulls"] == []


def test_an_organisation_buys_through_its_owner(client: Client, store: Store) -> None:
    boss, clerk = customer("boss-of-initech"), customer("clerk")
    org = make_org("initech", boss, members={"viewer": clerk})
    billed(boss, "FR", tax_id="FR40303265045", organization=org)
    shop, viewer = _shop(client, boss), _shop(client, clerk)
    quote = ok(
        shop.post(
            "/commerce/quotes",
            {"product": PRODUCT, "tier": store.paid_tier, "organization": "initech"},
        )
    )
    assert quote["reverse_charge"] and quote["tax_minor"] == 0 and quote["total"] == "49.00"
    order = _ordered(store, shop, organization="initech")
    assert order["holder"] == {"kind": "organization", "name": "initech"}
    assert order["invoice"]["note"].startswith("Reverse charge")
    # Members see the organisation's subscription and order, but only owners act.
    assert ok(viewer.get(f"/commerce/orders/{order['id']}"))["id"] == order["id"]
    assert ok(viewer.get("/commerce/subscriptions"))["count"] == 1
    problem(viewer.post(f"/commerce/subscriptions/{order['subscription_id']}/cancel"), 403)
    problem(viewer.get("/commerce/billing-profile", organization="initech"), 403)
    refused = viewer.post(
        "/commerce/subscriptions",
        {
            "product": PRODUCT,
            "tier": store.free_tier,
            "organization": "initech",
            "accept_licence": True,
        },
    )
    problem(refused, 403)
    # An organisation the caller does not belong to is unknown to them.
    stranger = _shop(client, customer("stranger"))
    unknown = problem(stranger.get("/commerce/billing-profile", organization="initech"), 404)
    assert unknown["field"] == "organization"
    taken = stranger.post(
        "/commerce/subscriptions",
        {
            "product": PRODUCT,
            "tier": store.free_tier,
            "organization": "initech",
            "accept_licence": True,
        },
    )
    assert problem(taken, 404)["field"] == "organization"
    cancelled = ok(shop.post(f"/commerce/subscriptions/{order['subscription_id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert ok(shop.get(f"/commerce/orders/{order['id']}"))["status"] == "void"


def test_rates_read_as_percentages(client: Client, store: Store, carol: Any) -> None:
    billed(carol, "FR")
    order = _ordered(store, _shop(client, carol))
    assert (order["tax_rate"], order["tax_rate_bp"], order["tax"]) == ("20", 2000, "9.80")
    assert order["invoice"]["tax_label"] == "VAT 20%"
    billed(carol, "JP")  # no rate kept for Japan: no tax
    quote = ok(
        _shop(client, carol).post("/commerce/quotes", {"product": PRODUCT, "tier": store.paid_tier})
    )
    assert (quote["tax_rate"], quote["tax_name"], quote["total"]) == ("0", "Tax", "49.00")


# --- idempotency --------------------------------------------------------------------------------


def test_a_double_post_with_the_same_key_charges_once(
    client: Client, store: Store, carol: Any
) -> None:
    billed(carol)
    shop = _shop(client, carol)
    quote = ok(shop.post("/commerce/quotes", {"product": PRODUCT, "tier": store.paid_tier}))
    body = {
        "product": PRODUCT,
        "tier": store.paid_tier,
        "accept_licence": True,
        "signature": quote["signature"],
    }
    first = shop.post("/commerce/orders", body, key="same-key")
    second = shop.post("/commerce/orders", body, key="same-key")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Order.objects.count() == Invoice.objects.count() == 1
    # The same key with another body is a conflict, and charges nothing.
    other = {**body, "signature": "0" * 32}
    assert problem(shop.post("/commerce/orders", other, key="same-key"), 409)["field"] == KEY
    assert Order.objects.count() == 1
    # Without a key, nothing is ordered.
    missing = problem(shop.post("/commerce/orders", body), 422)
    assert missing["field"] == KEY
    too_long = problem(shop.post("/commerce/orders", body, key="k" * 256), 422)
    assert too_long["field"] == KEY
    assert problem(shop.post("/commerce/orders", body, key="a\tb"), 422)["field"] == KEY
    assert Order.objects.count() == 1
    # Keys belong to their user: another customer's same key is their own.
    dave = customer("dave")
    billed(dave)
    ok(_shop(client, dave).post("/commerce/orders", body, key="same-key"), 201)
    assert Order.objects.count() == 2


def test_replayed_free_tiers_and_cancellations(client: Client, store: Store, carol: Any) -> None:
    shop = _shop(client, carol)
    body = {"product": PRODUCT, "tier": store.free_tier, "accept_licence": True}
    first = ok(shop.post("/commerce/subscriptions", body, key="free-1"), 201)
    assert ok(shop.post("/commerce/subscriptions", body, key="free-1"), 201) == first
    path = f"/commerce/subscriptions/{first['id']}/cancel"
    cancelled = ok(shop.post(path, key="cancel-1"))
    assert ok(shop.post(path, key="cancel-1")) == cancelled
    again = shop.post("/commerce/subscriptions", {**body, "tier": store.paid_tier}, key="free-1")
    assert problem(again, 409)["field"] == KEY
    assert IdempotencyKey.objects.filter(user=carol).count() == 2


# --- refusals -----------------------------------------------------------------------------------


def test_hostile_input_to_the_customer_endpoints(client: Client, store: Store, carol: Any) -> None:
    billed(carol)
    shop = _shop(client, carol)
    take = "/commerce/subscriptions"
    forged = problem(
        shop.post(take, {"product": PRODUCT, "tier": 999_999, "accept_licence": True}), 404
    )
    assert forged["field"] == "tier"
    huge = shop.post(take, {"product": PRODUCT, "tier": 10**30, "accept_licence": True})
    assert problem(huge, 422)["field"] == "tier"
    as_text = shop.post(take, {"product": PRODUCT, "tier": str(store.free_tier)})
    assert problem(as_text, 422)["field"] == "tier"
    paid = shop.post(take, {"product": PRODUCT, "tier": store.paid_tier, "accept_licence": True})
    assert problem(paid, 422)["field"] == "tier"
    no_licence = shop.post(
        take, {"product": PRODUCT, "tier": store.free_tier, "accept_licence": False}
    )
    assert problem(no_licence, 422)["field"] == "accept_licence"
    bad_name = shop.post(take, {"product": "acme", "tier": 1, "accept_licence": True})
    assert problem(bad_name, 422)["field"] == "product"
    unknown = shop.post(take, {"product": "acme/nope", "tier": 1, "accept_licence": True})
    assert problem(unknown, 404)["field"] == "product"
    extra = shop.post(
        take,
        {"product": PRODUCT, "tier": store.free_tier, "accept_licence": True, "price": "0"},
    )
    assert problem(extra, 422)["field"] == "price"
    assert not Subscription.objects.exists()

    # Garbage instead of JSON, and JSON that is not an object.
    problem(shop.post(take, raw=b'{"product": "acme', content_type="application/json"), 400)
    problem(shop.post("/commerce/orders", raw=b"\xff\xfe", content_type="application/json"), 400)
    assert "field" not in problem(shop.post("/commerce/quotes", ["acme"]), 422)

    # A tampered signature charges nothing.
    tampered = {
        "product": PRODUCT,
        "tier": store.paid_tier,
        "accept_licence": True,
        "signature": "f" * 32,
    }
    changed = problem(shop.post("/commerce/orders", tampered, key="t-1"), 409)
    assert changed["field"] == "signature"
    assert not Order.objects.exists() and not Invoice.objects.exists()
    # A price changed since the quote (a new tax rate) is a conflict too.
    quote = ok(shop.post("/commerce/quotes", {"product": PRODUCT, "tier": store.paid_tier}))
    TaxRate.objects.filter(country="DE").update(rate_bp=700)
    stale = {**tampered, "signature": quote["signature"]}
    assert problem(shop.post("/commerce/orders", stale, key="t-2"), 409)["field"] == "signature"
    assert not Order.objects.exists()

    # Invalid billing details name their field.
    for body, field in [
        ({"name": "C", "country": "XX"}, "country"),
        ({"name": "C", "country": "FR", "tax_id": "FR00000000000"}, "tax_id"),
        ({"name": " ", "country": "DE"}, "name"),
        ({"name": "C", "country": "DE", "tax_id": 123}, "tax_id"),
        ({"country": "DE"}, "name"),
    ]:
        assert problem(shop.put("/commerce/billing-profile", body), 422)["field"] == field
    differ = shop.put(
        "/commerce/billing-profile?organization=a",
        {"name": "C", "country": "DE", "organization": "b"},
    )
    assert problem(differ, 422)["field"] == "organization"

    # Pages past any sense are refused, not computed.
    for params, field in [
        ({"page": 10**6}, "page"),
        ({"page": "9" * 5000}, "page"),
        ({"page": 0}, "page"),
        ({"per_page": 1000}, "per_page"),
        ({"status": "stolen"}, "status"),
    ]:
        assert problem(shop.get("/commerce/orders", **params), 422)["field"] == field
    assert problem(shop.get("/commerce/subscriptions", page=-1), 422)["field"] == "page"
    assert ok(shop.get("/commerce/orders", page=10_000))["items"] == []
    problem(shop.get("/commerce/orders/999999999999999999999999"), 404)
    problem(shop.get("/commerce/subscriptions/abc"), 422)


def test_hostile_amounts_and_rates(client: Client, store: Store, carol: Any) -> None:
    billed(carol)
    order = _ordered(store, _shop(client, carol))
    admin, owner = _shop(client, store.pub.admin), _shop(client, store.pub.owner)
    ok(admin.post(f"/commerce/staff/orders/{order['id']}/paid"))
    path = f"/orgs/acme/sales/orders/{order['id']}/refund"
    for amount in ["1.001", "-5", "0", "abc", "NaN", "Infinity", "1e3", "58.32", "1" * 30, " "]:
        refused = problem(owner.post(path, {"amount": amount, "reason": "x"}), 422)
        assert refused["field"] == "amount", amount
    assert problem(owner.post(path, {"amount": 10, "reason": "x"}), 422)["field"] == "amount"
    assert problem(owner.post(path, {"amount": "1.00", "reason": " "}), 422)["field"] == "reason"
    assert problem(owner.post(path, {"amount": "1.00"}), 422)["field"] == "reason"
    assert not Refund.objects.exists()
    problem(owner.post("/orgs/acme/sales/orders/999999/refund", {"reason": "x"}), 404)

    rates = "/commerce/staff/tax-rates"
    for body, field in [
        ({"country": "DE", "rate": "19 EUR", "starts_on": "2027-01-01"}, "rate"),
        ({"country": "DE", "rate": "EUR", "starts_on": "2027-01-01"}, "rate"),
        ({"country": "DE", "rate": "7.555", "starts_on": "2027-01-01"}, "rate"),
        ({"country": "DE", "rate": "-1", "starts_on": "2027-01-01"}, "rate"),
        ({"country": "DE", "rate": "101", "starts_on": "2027-01-01"}, "rate"),
        ({"country": "DE", "rate": 19, "starts_on": "2027-01-01"}, "rate"),
        ({"country": "XX", "rate": "19", "starts_on": "2027-01-01"}, "country"),
        ({"country": "DE", "rate": "19", "starts_on": "soon"}, "starts_on"),
        ({"country": "DE", "rate": "19", "starts_on": "2027-02-30"}, "starts_on"),
    ]:
        assert problem(admin.post(rates, body), 422)["field"] == field, body
    assert TaxRate.objects.count() == 4
    made = ok(admin.post(rates, {"country": "at", "rate": "7.5", "starts_on": "2020-01-01"}), 201)
    assert (made["country"], made["rate"], made["rate_bp"], made["in_force"]) == (
        "AT",
        "7.5",
        750,
        True,
    )
    later = ok(admin.post(rates, {"country": "AT", "rate": "20", "starts_on": "2999-01-01"}), 201)
    assert not later["in_force"]
    listed = ok(admin.get(rates, country="AT"))
    assert [(r["rate"], r["in_force"]) for r in listed] == [("20", False), ("7.5", True)]
    assert problem(admin.get(rates, country="AUT"), 422)["field"] == "country"

    shares = "/commerce/staff/revenue-shares/acme"
    for share in ["abc", "-1", "100.5", "12.345"]:
        assert problem(admin.put(shares, {"share": share}), 422)["field"] == "share", share
    assert problem(admin.put(shares, {"share": 15}), 422)["field"] == "share"
    assert problem(admin.put(shares, {}), 422)["field"] == "share"
    assert ok(admin.put(shares, {"share": "15"}))["share_bp"] == 1500
    assert PublisherTerms.objects.get().share_bp == 1500
    back = ok(admin.put(shares, {"share": None}))
    assert back["default"] and not PublisherTerms.objects.exists()
    problem(admin.put("/commerce/staff/revenue-shares/nobody", {"share": "1"}), 404)
    filtered = admin.get("/commerce/staff/orders", currency="XXX")
    assert problem(filtered, 422)["field"] == "currency"


# --- who sees what ------------------------------------------------------------------------------


def test_a_customer_never_sees_another_customers_orders(
    client: Client, store: Store, carol: Any
) -> None:
    billed(carol)
    order = _ordered(store, _shop(client, carol))
    dave = customer("dave")
    billed(dave)
    other = _shop(client, dave)
    assert problem(other.get(f"/commerce/orders/{order['id']}"), 404)["detail"] == (
        "No such order."
    )
    problem(other.get(f"/commerce/subscriptions/{order['subscription_id']}"), 404)
    problem(other.post(f"/commerce/subscriptions/{order['subscription_id']}/cancel"), 404)
    assert ok(other.get("/commerce/orders"))["count"] == 0
    assert ok(other.get("/commerce/subscriptions"))["count"] == 0
    # Nor does the publisher's owner, as a customer; they see it as a sale.
    owner = _shop(client, store.pub.owner)
    problem(owner.get(f"/commerce/orders/{order['id']}"), 404)
    assert ok(owner.get("/orgs/acme/sales"))["orders"]["count"] == 1


def test_a_publisher_sees_only_their_own_sales(client: Client, store: Store, carol: Any) -> None:
    billed(carol)
    order = _ordered(store, _shop(client, carol))
    ok(_shop(client, store.pub.admin).post(f"/commerce/staff/orders/{order['id']}/paid"))
    rival = _shop(client, store.pub.other)  # owner of globex
    problem(rival.get("/orgs/acme/sales"), 404)
    theirs = ok(rival.get("/orgs/globex/sales"))
    assert theirs["orders"]["count"] == 0 and theirs["owed"] == [] and theirs["tiers"] == []
    refund = rival.post(f"/orgs/globex/sales/orders/{order['id']}/refund", {"reason": "mine now"})
    problem(refund, 404)
    problem(rival.post(f"/orgs/acme/sales/orders/{order['id']}/refund", {"reason": "x"}), 404)
    viewer = _shop(client, store.pub.viewer)
    problem(viewer.get("/orgs/acme/sales"), 403)
    editor = _shop(client, store.pub.editor)
    assert ok(editor.get("/orgs/acme/sales"))["orders"]["count"] == 1
    problem(editor.post(f"/orgs/acme/sales/orders/{order['id']}/refund", {"reason": "x"}), 403)
    assert not Refund.objects.exists()


def test_tokens_need_the_scope_of_the_operation(client: Client, store: Store, carol: Any) -> None:
    billed(carol)
    reader = _shop(client, carol, scopes=("read",))
    assert ok(reader.get("/commerce/orders"))["count"] == 0
    assert ok(reader.post("/commerce/quotes", {"product": PRODUCT, "tier": store.paid_tier}))
    body = {"product": PRODUCT, "tier": store.free_tier, "accept_licence": True}
    assert "write" in problem(reader.post("/commerce/subscriptions", body), 403)["detail"]
    writer = _shop(client, carol, scopes=("write",))
    problem(writer.get("/commerce/orders"), 403)
    nobody = Shop(client, None)
    refused = nobody.get("/commerce/orders")
    assert problem(refused, 401) and refused["WWW-Authenticate"].startswith("Bearer")


def test_lists_do_not_grow_a_query_per_row(client: Client, store: Store, carol: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    shop = _shop(client, carol)
    lists = [
        (shop, "/commerce/orders"),
        (shop, "/commerce/subscriptions"),
        (_shop(client, store.pub.admin), "/commerce/staff/orders"),
        (_shop(client, store.pub.owner), "/orgs/acme/sales"),
    ]

    def buy(name: str) -> None:
        billed(carol, organization=make_org(name, carol))
        free = {"product": PRODUCT, "tier": store.free_tier, "accept_licence": True}
        ok(shop.post("/commerce/subscriptions", {**free, "organization": name}), 201)
        _ordered(store, shop, key=f"order-{name}", organization=name)

    def counted() -> list[int]:
        sizes = []
        for api, path in lists:
            with CaptureQueriesContext(connection) as queries:
                ok(api.get(path))
            sizes.append(len(queries))
        return sizes

    buy("one")
    counted()  # the revision's parsed tiers are cached from the first read on
    before = counted()
    for name in ("two", "three", "four"):
        buy(name)
    assert ok(shop.get("/commerce/subscriptions"))["count"] == 8
    assert counted() == before


# --- the OpenAPI document -----------------------------------------------------------------------

C = "/api/v1/commerce"
OPERATIONS = {
    C + "/subscriptions": {"get", "post"},
    C + "/subscriptions/{subscription_id}": {"get"},
    C + "/subscriptions/{subscription_id}/cancel": {"post"},
    C + "/billing-profile": {"get", "put"},
    C + "/quotes": {"post"},
    C + "/orders": {"get", "post"},
    C + "/orders/{order_id}": {"get"},
    "/api/v1/orgs/{org}/sales": {"get"},
    "/api/v1/orgs/{org}/sales/orders/{order_id}/refund": {"post"},
    C + "/staff/orders": {"get"},
    C + "/staff/orders/{order_id}/paid": {"post"},
    C + "/staff/tax-rates": {"get", "post"},
    C + "/staff/revenue-shares/{org}": {"put"},
    C + "/staff/ledger": {"get"},
}
# Requests that move money (or may void an order) take an Idempotency-Key; ordering needs one.
KEYED = {
    (C + "/subscriptions", "post"): False,
    (C + "/subscriptions/{subscription_id}/cancel", "post"): False,
    (C + "/orders", "post"): True,
    ("/api/v1/orgs/{org}/sales/orders/{order_id}/refund", "post"): False,
    (C + "/staff/orders/{order_id}/paid", "post"): False,
}
BODIES = {
    (C + "/subscriptions", "post"): "TakeTierIn",
    (C + "/billing-profile", "put"): "BillingProfileIn",
    (C + "/quotes", "post"): "QuoteIn",
    (C + "/orders", "post"): "CheckoutIn",
    ("/api/v1/orgs/{org}/sales/orders/{order_id}/refund", "post"): "RefundIn",
    (C + "/staff/orders/{order_id}/paid", "post"): "MarkPaidIn",
    (C + "/staff/tax-rates", "post"): "TaxRateIn",
    (C + "/staff/revenue-shares/{org}", "put"): "RevenueShareIn",
}


def test_the_openapi_document_describes_every_operation(client: Client, db: Any) -> None:
    document = ok(client.get("/api/openapi.json"))
    paths = document["paths"]
    mine = {
        path: {m for m, op in operations.items() if "commerce" in op.get("tags", [])}
        for path, operations in paths.items()
    }
    assert {p: m for p, m in mine.items() if m} == OPERATIONS
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, methods in OPERATIONS.items():
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"], (path, method)
            responses = operation["responses"]
            successes = [code for code in responses if code.startswith("2")]
            assert len(successes) == 1, (path, method)
            assert responses[successes[0]]["content"]["application/json"]["schema"]
            for code in ("401", "403", "404", "422"):
                schema = responses[code]["content"]["application/problem+json"]["schema"]
                assert schema == problem_ref, (path, method, code)
            moves = method != "get" and path != C + "/quotes"
            if moves:
                assert {"400", "409", "413"} <= set(responses), (path, method)
            headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
            if (path, method) in KEYED:
                header = headers["Idempotency-Key"]
                assert header["required"] is KEYED[(path, method)], (path, method)
                assert header["schema"]["maxLength"] == 255
            else:
                assert "Idempotency-Key" not in headers, (path, method)
    for (path, method), name in BODIES.items():
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        if "anyOf" in body:  # an optional body
            body = next(s for s in body["anyOf"] if "$ref" in s)
        assert body == {"$ref": f"#/components/schemas/{name}"}, (path, method)
        assert document["components"]["schemas"][name]["additionalProperties"] is False, name
    order = document["components"]["schemas"]["OrderOut"]["properties"]
    for field in ("total_minor", "total", "currency", "invoice_number"):
        assert field in order, field
    assert order["total"]["type"] == "string" and order["total_minor"]["type"] == "integer"
    refund = document["components"]["schemas"]["RefundIn"]["properties"]
    assert {"type": "string", "maxLength": 40} in refund["amount"]["anyOf"]


def test_no_commerce_schema_shares_a_component_name() -> None:
    """The schemas live in ``commerce/api_schemas.py``, which the publishing API's check
    of component names (it reads modules named ``*.api``) does not see: checked here."""
    import importlib
    import inspect
    import pkgutil

    from ninja import Schema

    import portside

    owners: dict[str, set[str]] = {}
    for info in pkgutil.walk_packages(portside.__path__, "portside."):
        if not info.name.endswith((".api", ".api_schemas")):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Schema):
                owners.setdefault(name, set()).add(value.__module__)
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert shared == {}
    assert "CheckoutIn" in owners
