"""Paying by card in the browser: the checkout sends the customer to the payment page,
which hands Stripe.js the order's client secret under a policy that lets only Stripe in;
Stripe sends the customer back and the store asks Stripe how the payment stands."""

from __future__ import annotations

from typing import Any

import stripe
from django.test import Client

from portside.commerce import services
from portside.commerce.models import Order, OrderStatus
from tests.commerce.test_stripe import (  # noqa: F401  (fixtures)
    _loopback_only,
    dashboard,
    localstripe,
    pay,
)
from tests.commerce.world import Store, billed, customer
from tests.factories import TEST_ORIGIN


def _place(store: Store, client: Client, user: Any) -> Order:
    offer = services.quote(
        listing=store.listing,
        tier_id=store.paid_tier,
        profile=services.billing.profile_of(user=user, organization=None),
    )
    response = client.post(
        f"/checkout/acme/{store.product.slug}/{store.paid_tier}/",
        {
            "action": "confirm",
            "accept_licence": "on",
            "signature": offer.signature,
            "idempotency_key": "pay-page-1",
        },
    )
    order = Order.objects.get(subscription__user=user)
    assert response.status_code == 302
    assert response["Location"] == f"/billing/orders/{order.pk}/pay"
    return order


def test_a_card_payment_from_checkout_to_paid(
    store: Store,
    dashboard: stripe.StripeClient,  # noqa: F811  (the fixture imported above)
    client: Client,
) -> None:
    carol = customer()
    billed(carol, "DE")
    client.force_login(carol)
    order = _place(store, client, carol)
    page = client.get(f"/billing/orders/{order.pk}/pay")
    assert page.status_code == 200
    html = page.content.decode()
    secret = dashboard.v1.payment_intents.retrieve(order.provider_ref).client_secret
    assert f'data-secret="{secret}"' in html and 'data-key="pk_test_portside"' in html
    assert f'data-return="http://127.0.0.1:8000/billing/orders/{order.pk}/return"' in html
    policy = page["Content-Security-Policy"]
    assert "script-src 'self' https://js.stripe.com" in policy
    assert "frame-src https://js.stripe.com https://hooks.stripe.com" in policy
    # Only the payment page lets Stripe in.
    assert "stripe" not in client.get("/library/")["Content-Security-Policy"]
    # Back before paying: still open, sent back to the invoice, the page still offered.
    back = client.get(f"/billing/orders/{order.pk}/return")
    assert back.status_code == 302 and "/billing/invoices/" in back["Location"]
    invoice = client.get(back["Location"]).content.decode()
    assert f"/billing/orders/{order.pk}/pay" in invoice
    # Stripe.js confirms the card in the browser, then Stripe sends the customer back.
    pay(dashboard, order.provider_ref)
    back = client.get(f"/billing/orders/{order.pk}/return")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert client.get(back["Location"]).content.decode().count("Pay by card") == 0
    # Nothing left to pay: the payment page goes to the invoice.
    assert client.get(f"/billing/orders/{order.pk}/pay").status_code == 302


def test_a_declined_card_comes_back_to_the_payment_page(
    store: Store,
    dashboard: stripe.StripeClient,  # noqa: F811  (the fixture imported above)
    client: Client,
) -> None:
    carol = customer()
    billed(carol, "DE")
    client.force_login(carol)
    order = _place(store, client, carol)
    try:
        pay(dashboard, order.provider_ref, number="4000000000000341")
    except stripe.CardError:
        pass
    back = client.get(f"/billing/orders/{order.pk}/return")
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert back["Location"] in (
        f"/billing/orders/{order.pk}/pay",
        f"/billing/invoices/{order.invoice.number}/",
    )


def test_only_the_customer_reaches_the_payment_page(
    store: Store,
    dashboard: stripe.StripeClient,  # noqa: F811  (the fixture imported above)
    client: Client,
) -> None:
    carol = customer()
    billed(carol, "DE")
    client.force_login(carol)
    order = _place(store, client, carol)
    for other in (customer("mallory"), store.pub.owner, store.pub.admin):
        stranger = Client()
        stranger.force_login(other)
        assert stranger.get(f"/billing/orders/{order.pk}/pay").status_code == 404
        assert stranger.get(f"/billing/orders/{order.pk}/return").status_code == 404
    assert Client().get(f"/billing/orders/{order.pk}/pay").status_code == 302  # sign in


def test_a_manual_order_has_nothing_to_pay_here(store: Store, client: Client) -> None:
    carol = customer()
    billed(carol, "DE")
    client.force_login(carol)
    offer = services.quote(
        listing=store.listing, tier_id=store.paid_tier,
        profile=services.billing.profile_of(user=carol, organization=None),
    )  # fmt: skip
    order = services.checkout(
        listing=store.listing, tier_id=store.paid_tier, user=carol, accept_licence=True,
        signature=offer.signature, origin=TEST_ORIGIN,
    )  # fmt: skip
    response = client.get(f"/billing/orders/{order.pk}/pay")
    assert response.status_code == 302
    assert response["Location"] == f"/billing/invoices/{order.invoice.number}/"


def test_the_api_gives_the_card_payment_page_of_an_open_order(
    store: Store,
    dashboard: stripe.StripeClient,  # noqa: F811  (the fixture imported above)
    client: Client,
) -> None:
    carol = customer()
    billed(carol, "DE")
    client.force_login(carol)
    order = _place(store, client, carol)
    body = client.get(f"/api/v1/commerce/orders/{order.pk}").json()
    assert body["payment_url"] == f"http://127.0.0.1:8000/billing/orders/{order.pk}/pay"
