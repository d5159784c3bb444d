"""The Stripe provider against localstripe (a Stripe API double on a loopback port).

The customer's browser is played by the test: it gives the PaymentIntent a card and
confirms it, as Stripe.js does with the client secret on the payment page. Webhooks are
the ones localstripe really sends, caught by a loopback receiver and replayed into the
store's endpoint through the Django test client; events localstripe does not send
(refunds, disputes) are made by hand and signed the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import http.server
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import stripe

from portside.audit.models import AuditEvent
from portside.commerce import ledger, providers, renewals, services
from portside.commerce.entitlements import covered_tags
from portside.commerce.models import (
    Order,
    OrderKind,
    OrderStatus,
    Refund,
    SubscriptionStatus,
    WebhookEvent,
)
from portside.commerce.providers.base import PaymentResult
from portside.commerce.providers.stripe import StripeProvider
from portside.core import clock
from portside.core.errors import ConfigurationError, Conflict
from tests.commerce.world import Store, billed, customer
from tests.factories import TEST_ORIGIN

SECRET_KEY = "sk_test_portside_0123456789"
WEBHOOK_SECRET = "whsec_portside_tests_0123456789"
VISA = "4242424242424242"
DECLINED = "4000000000000341"  # attaches to a customer; every charge is declined

# localstripe on a socket the test opened (no port race), keeping nothing on disk.
_SERVER = """
import socket, sys
from aiohttp import web
from localstripe import resources
from localstripe.server import app
resources.Store.dump_to_disk = lambda self: None
sock = socket.socket(fileno=int(sys.argv[1]))
web.run_app(app, sock=sock, print=None, access_log=None)
"""


@contextlib.contextmanager
def running_localstripe() -> Iterator[str]:
    """Start localstripe on a free loopback port; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(listener.fileno())],
        pass_fds=(listener.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    listener.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(
                f"{url}/v1/balance", headers={"Authorization": f"Bearer {SECRET_KEY}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                errors = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"localstripe did not start: {errors[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    with running_localstripe() as url:
        yield url


def stripe_settings(settings: Any, url: str) -> None:
    settings.COMMERCE_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_portside"
    settings.STRIPE_API_BASE = url
    providers._configured.cache_clear()


@pytest.fixture
def dashboard(store: Store, settings: Any, localstripe: str) -> Iterator[stripe.StripeClient]:
    """The store set to take payments by Stripe; yields a client of the same Stripe
    account, for what the customer's browser and the Stripe dashboard do."""
    stripe_settings(settings, localstripe)
    yield stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe})
    providers._configured.cache_clear()


# --- what happens outside the store ----------------------------------------------------------


def pay(client: stripe.StripeClient, intent_id: str, number: str = VISA) -> Any:
    """The customer's browser: a card for the PaymentIntent, then its confirmation."""
    method = new_card(client, number)
    client.v1.payment_intents.update(intent_id, params={"payment_method": method})
    return client.v1.payment_intents.confirm(intent_id)


def new_card(client: stripe.StripeClient, number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    return client.v1.payment_methods.create(params={"type": "card", "card": card}).id


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """A loopback endpoint localstripe delivers its webhooks to; keeps them as sent."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._changed:
                    receiver.deliveries.append(
                        Delivery(body, self.headers.get("Stripe-Signature", ""))
                    )
                    receiver._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait(self, kind: str, *, intent: str = "", order: int | None = None) -> Delivery:
        """The delivered event of type ``kind`` about PaymentIntent ``intent`` or for
        the order ``order``."""

        def matches(delivery: Delivery) -> bool:
            event = delivery.event
            obj = event["data"]["object"]
            if event["type"] != kind:
                return False
            if intent and obj.get("id") != intent:
                return False
            return order is None or (obj.get("metadata") or {}).get("portside_order") == str(order)

        deadline = time.monotonic() + 20
        with self._changed:
            while True:
                for delivery in self.deliveries:
                    if matches(delivery):
                        return delivery
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"localstripe sent no {kind} webhook")
                self._changed.wait(remaining)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhooks(localstripe: str) -> Iterator[Receiver]:
    receiver = Receiver()
    form = urllib.parse.urlencode({"url": receiver.url, "secret": WEBHOOK_SECRET}).encode()
    with urllib.request.urlopen(f"{localstripe}/_config/webhooks/portside-tests", data=form):
        pass
    yield receiver
    receiver.close()


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header: HMAC-SHA256 of "<timestamp>.<body>"."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def made_event(kind: str, obj: dict[str, Any]) -> bytes:
    """An event localstripe does not send, shaped as Stripe sends it."""
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "api_version": stripe.api_version,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def deliver(client: Any, body: bytes, signature: str | None) -> Any:
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return client.post("/webhooks/stripe", data=body, content_type="application/json", **headers)


def replay(client: Any, delivery: Delivery) -> Any:
    return deliver(client, delivery.body, delivery.signature)


# --- the store's side ------------------------------------------------------------------------


def checkout(store: Store, user: Any) -> Order:
    offer = services.quote(
        listing=store.listing,
        tier_id=store.paid_tier,
        profile=services.billing.profile_of(user=user, organization=None),
    )
    return services.checkout(
        listing=store.listing,
        tier_id=store.paid_tier,
        user=user,
        accept_licence=True,
        signature=offer.signature,
        origin=TEST_ORIGIN,
    )


def paid_checkout(store: Store, client: stripe.StripeClient, user: Any = None) -> Order:
    """A checkout paid by card, recorded as the page the customer comes back to does."""
    if user is None:
        user = customer()
        billed(user, "DE")
    order = checkout(store, user)
    pay(client, order.provider_ref)
    result = StripeProvider.from_settings().payment_status(order)
    assert result.status == "paid"
    services.apply_payment_result(order=order, result=result, acting=user, origin=TEST_ORIGIN)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    return order


def audit_count(action: str, order: Order) -> int:
    return AuditEvent.objects.filter(action=action, target_id=str(order.pk)).count()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may reach beyond loopback: no proxy, and a request to Stripe anywhere
    but 127.0.0.1 fails the test."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    original = stripe.RequestsClient.request

    def guarded(self: Any, method: str, url: str, *args: Any, **kw: Any) -> Any:
        host = urllib.parse.urlsplit(url).hostname
        assert host == "127.0.0.1", f"a request to Stripe left loopback: {host}"
        return original(self, method, url, *args, **kw)

    monkeypatch.setattr(stripe.RequestsClient, "request", guarded)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every request to Stripe: method, path and idempotency key."""
    seen: list[tuple[str, str, str]] = []
    original = stripe.RequestsClient.request

    def recording(self: Any, method: str, url: str, headers: Any, *args: Any, **kw: Any) -> Any:
        key = dict(headers or {}).get("Idempotency-Key", "")
        seen.append((method.upper(), urllib.parse.urlsplit(url).path, key))
        return original(self, method, url, headers, *args, **kw)

    monkeypatch.setattr(stripe.RequestsClient, "request", recording)
    return seen


def keys(sent: list[tuple[str, str, str]], path: str) -> list[str]:
    return [key for method, p, key in sent if method == "POST" and p == path]


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "secret", "base", "needle"),
    [
        ("", WEBHOOK_SECRET, "", "PORTSIDE_STRIPE_SECRET_KEY"),
        (SECRET_KEY, "", "", "PORTSIDE_STRIPE_WEBHOOK_SECRET"),
        ("", "", "", "PORTSIDE_STRIPE_SECRET_KEY and PORTSIDE_STRIPE_WEBHOOK_SECRET"),
        ("pk_test_publishable", WEBHOOK_SECRET, "", "publishable"),
        (SECRET_KEY, "not-a-signing-secret", "", "whsec_"),
        (SECRET_KEY, WEBHOOK_SECRET, "ftp://example.com", "http(s)"),
        ("sk_live_0123456789", WEBHOOK_SECRET, "http://stripe.example.com", "https"),
    ],
)
def test_the_provider_refuses_to_run_without_its_secrets(
    settings: Any, key: str, secret: str, base: str, needle: str
) -> None:
    settings.STRIPE_SECRET_KEY = key
    settings.STRIPE_WEBHOOK_SECRET = secret
    settings.STRIPE_API_BASE = base
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_portside"
    with pytest.raises(ConfigurationError) as caught:
        providers.by_name("stripe")
    assert needle in caught.value.message
    for value in (key, secret):
        if len(value) > 12:
            assert value not in caught.value.message


def test_the_provider_needs_the_publishable_key_for_the_payment_page(settings: Any) -> None:
    stripe_settings(settings, "")
    settings.STRIPE_PUBLISHABLE_KEY = SECRET_KEY  # a secret key where the public one goes
    with pytest.raises(ConfigurationError) as caught:
        providers.by_name("stripe")
    assert "PORTSIDE_STRIPE_PUBLISHABLE_KEY" in caught.value.message
    assert SECRET_KEY not in caught.value.message


def test_a_configured_provider_shows_no_secret(settings: Any) -> None:
    stripe_settings(settings, "")
    provider = providers.by_name("stripe")
    assert (provider.name, provider.pays_by_instructions) == ("stripe", False)
    assert SECRET_KEY not in repr(provider) and WEBHOOK_SECRET not in repr(provider)
    assert "client_secret" not in repr(PaymentResult("pending", client_secret="pi_1_secret_2"))


def test_a_webhook_while_stripe_is_not_configured_is_not_taken(client: Any, db: Any) -> None:
    body = made_event("payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"})
    response = deliver(client, body, sign(body))
    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()


# --- checkout --------------------------------------------------------------------------------


def test_a_paid_checkout_through_stripe(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any, sent: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    assert order.status == OrderStatus.OPEN and order.provider == "stripe"
    assert order.subscription.status == SubscriptionStatus.PENDING
    intent = dashboard.v1.payment_intents.retrieve(
        order.provider_ref, params={"expand": ["customer"]}
    )
    assert (intent.amount, intent.currency) == (5831, "eur")
    assert intent.metadata["portside_order"] == str(order.pk)
    assert intent.metadata["portside_invoice"] == order.invoice.number
    assert intent.customer.metadata["portside_holder"] == f"user:{carol.pk}"
    assert intent.customer.email == carol.email
    assert keys(sent, "/v1/customers") == [f"portside-order-{order.pk}-customer"]
    assert keys(sent, "/v1/payment_intents") == [f"portside-order-{order.pk}-payment"]
    provider = StripeProvider.from_settings()
    # The payment page takes the client secret for Stripe.js.
    assert provider.client_secret(order) == intent.client_secret
    assert "card" in provider.instructions(order)

    pay(dashboard, order.provider_ref)
    response = replay(client, webhooks.wait("payment_intent.succeeded", intent=intent.id))
    assert response.status_code == 200
    assert response.json() == {"received": True, "result": "paid"}
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.provider_ref == intent.id
    sub = order.subscription
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == {"1.0", "2.0"}
    assert ledger.verify().ok
    assert audit_count("commerce:order:paid", order) == 1
    assert AuditEvent.objects.get(action="commerce:order:paid").actor_name == "stripe"
    assert provider.client_secret(order) == ""
    assert provider.instructions(order) == ""


def test_a_returning_holder_is_the_same_stripe_customer(
    store: Store, dashboard: stripe.StripeClient, sent: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    first = paid_checkout(store, dashboard, carol)
    services.refund(
        order=first, amount_minor=None, reason="changed mind", acting=store.pub.owner,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    second = checkout(store, carol)
    assert second.subscription_id != first.subscription_id
    assert keys(sent, "/v1/customers") == [f"portside-order-{first.pk}-customer"]
    old = dashboard.v1.payment_intents.retrieve(first.provider_ref)
    new = dashboard.v1.payment_intents.retrieve(second.provider_ref)
    assert new.customer == old.customer


def test_a_declined_card_leaves_the_order_open(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    with pytest.raises(stripe.CardError) as declined:
        pay(dashboard, order.provider_ref, DECLINED)
    assert declined.value.code == "card_declined"
    failed = webhooks.wait("payment_intent.payment_failed", intent=order.provider_ref)
    response = replay(client, failed)
    assert response.json()["result"] == "failed"
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert order.failure == "Your card was declined."
    assert order.subscription.status == SubscriptionStatus.PENDING
    assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == frozenset()
    provider = StripeProvider.from_settings()
    assert provider.payment_status(order).status == "failed"
    # The customer may try another card on the same page.
    assert provider.client_secret(order).startswith(order.provider_ref)
    assert audit_count("commerce:order:payment_failed", order) == 1
    assert ledger.verify().ok


# --- webhooks --------------------------------------------------------------------------------


def test_a_replayed_webhook_is_applied_once(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    pay(dashboard, order.provider_ref)
    delivery = webhooks.wait("payment_intent.succeeded", intent=order.provider_ref)
    assert replay(client, delivery).json()["result"] == "paid"
    again = replay(client, delivery)
    assert again.status_code == 200
    assert again.json() == {"received": True, "result": "duplicate"}
    assert WebhookEvent.objects.filter(event_id=delivery.event["id"]).count() == 1
    assert audit_count("commerce:order:paid", order) == 1
    assert order.transactions.filter(kind="payment").count() == 1
    assert ledger.verify().ok


def _forged(body: bytes) -> str:
    return f"t={int(time.time())},v1={'0' * 64}"


def _wrong_secret(body: bytes) -> str:
    return sign(body, "whsec_someone_else")


def _stale(body: bytes) -> str:
    return sign(body, timestamp=int(time.time()) - 3600)


def _garbage(body: bytes) -> str:
    return "not a signature"


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        (_forged, "invalid signature"),
        (_wrong_secret, "invalid signature"),
        (_stale, "invalid signature"),
        (_garbage, "invalid signature"),
        (None, "missing Stripe-Signature header"),
    ],
    ids=["forged", "wrong-secret", "stale", "garbage", "missing"],
)
def test_unverified_webhooks_are_refused(
    store: Store,
    dashboard: stripe.StripeClient,
    client: Any,
    signature: Callable[[bytes], str] | None,
    error: str,
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    intent = dashboard.v1.payment_intents.retrieve(order.provider_ref).to_dict()
    intent["status"] = "succeeded"
    body = made_event("payment_intent.succeeded", intent)
    response = deliver(client, body, None if signature is None else signature(body))
    assert response.status_code == 400
    assert response.json() == {"error": error}
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert not WebhookEvent.objects.exists()
    # The same body signed with the endpoint's secret is taken.
    assert deliver(client, body, sign(body)).json()["result"] == "paid"


def test_a_body_changed_after_signing_is_refused(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    pay(dashboard, order.provider_ref)
    delivery = webhooks.wait("payment_intent.succeeded", intent=order.provider_ref)
    changed = delivery.body.replace(b'"amount": 5831', b'"amount": 5832')
    assert changed != delivery.body
    assert deliver(client, changed, delivery.signature).status_code == 400
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


def test_events_in_any_order_leave_one_state(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    with pytest.raises(stripe.CardError):
        pay(dashboard, order.provider_ref, DECLINED)
    failed = webhooks.wait("payment_intent.payment_failed", intent=order.provider_ref)
    # The customer pays with another card (localstripe cannot confirm a declined
    # PaymentIntent again, so the second try is a PaymentIntent of its own).
    retry = dashboard.v1.payment_intents.create(
        params={
            "amount": order.total_minor,
            "currency": "eur",
            "customer": dashboard.v1.payment_intents.retrieve(order.provider_ref).customer,
            "payment_method": new_card(dashboard, VISA),
            "confirm": True,
            "metadata": {"portside_order": str(order.pk)},
        }
    )
    succeeded = webhooks.wait("payment_intent.succeeded", intent=retry.id)
    # The success arrives first, then the older failure, then the success again.
    assert replay(client, succeeded).json()["result"] == "paid"
    assert replay(client, failed).json()["result"] == "ignored"
    assert replay(client, succeeded).json()["result"] == "duplicate"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.failure == ""
    assert order.provider_ref == retry.id
    assert order.subscription.status == SubscriptionStatus.ACTIVE
    assert audit_count("commerce:order:payment_failed", order) == 0
    assert ledger.verify().ok


def test_a_second_payment_of_a_paid_order_is_reported(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any, caplog: Any
) -> None:
    order = paid_checkout(store, dashboard)
    twice = dashboard.v1.payment_intents.create(
        params={
            "amount": order.total_minor,
            "currency": "eur",
            "payment_method": new_card(dashboard, VISA),
            "confirm": True,
            "metadata": {"portside_order": str(order.pk)},
        }
    )
    own = webhooks.wait("payment_intent.succeeded", intent=order.provider_ref)
    other = webhooks.wait("payment_intent.succeeded", intent=twice.id)
    assert replay(client, own).json()["result"] == "already paid"
    with caplog.at_level(logging.ERROR, logger="portside.commerce.providers.stripe"):
        assert replay(client, other).json()["result"] == "paid twice"
    assert twice.id in caplog.text
    assert order.transactions.filter(kind="payment").count() == 1


def test_a_voided_order_paid_late_is_reported_not_restarted(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any, caplog: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    stale = checkout(store, carol)
    fresh = checkout(store, carol)  # a second checkout voids the first order
    stale.refresh_from_db()
    assert stale.status == OrderStatus.VOID
    pay(dashboard, stale.provider_ref)  # paid in the tab still open on the old order
    delivery = webhooks.wait("payment_intent.succeeded", intent=stale.provider_ref)
    with caplog.at_level(logging.ERROR, logger="portside.commerce.providers.stripe"):
        response = replay(client, delivery)
    assert response.status_code == 200 and response.json()["result"] == "refused"
    assert "voided" in caplog.text
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == OrderStatus.VOID and fresh.status == OrderStatus.OPEN
    assert WebhookEvent.objects.filter(event_id=delivery.event["id"]).exists()
    assert ledger.verify().ok


def test_a_payment_of_another_amount_is_ignored(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    order = checkout(store, carol)
    wrong = dashboard.v1.payment_intents.create(
        params={
            "amount": 100,
            "currency": "eur",
            "payment_method": new_card(dashboard, VISA),
            "confirm": True,
            "metadata": {"portside_order": str(order.pk)},
        }
    )
    response = replay(client, webhooks.wait("payment_intent.succeeded", intent=wrong.id))
    assert response.status_code == 200 and response.json()["result"] == "mismatch"
    intent = dashboard.v1.payment_intents.retrieve(order.provider_ref).to_dict()
    intent.update(status="succeeded", currency="usd")
    body = made_event("payment_intent.succeeded", intent)
    assert deliver(client, body, sign(body)).json()["result"] == "mismatch"
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert order.subscription.status == SubscriptionStatus.PENDING


def test_payments_of_other_systems_and_unknown_events_are_ignored(
    dashboard: stripe.StripeClient, client: Any
) -> None:
    body = made_event(
        "payment_intent.succeeded",
        {"id": "pi_elsewhere", "object": "payment_intent", "amount": 100, "metadata": {}},
    )
    assert deliver(client, body, sign(body)).json()["result"] == "ignored"
    body = made_event("customer.created", {"id": "cus_1", "object": "customer"})
    response = deliver(client, body, sign(body))
    assert response.status_code == 200 and response.json()["result"] == "ignored"
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["payment_intent.succeeded"]


# --- renewals --------------------------------------------------------------------------------


def test_a_renewal_is_charged_off_session(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any, sent: Any
) -> None:
    with clock.frozen(dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)) as frozen:
        first = paid_checkout(store, dashboard)
        sub = first.subscription
        frozen.advance(days=28)
        outcome = renewals.run_due()
        assert outcome.renewed == [sub.pk]
        renewal = sub.orders.get(kind=OrderKind.RENEWAL)
        assert renewal.status == OrderStatus.PAID
        assert renewal.provider_ref.startswith("pi_") and renewal.provider_ref != first.provider_ref
        assert keys(sent, "/v1/payment_intents")[-1] == f"portside-order-{renewal.pk}-renewal-1"
        charged = dashboard.v1.payment_intents.retrieve(renewal.provider_ref)
        paid_by = dashboard.v1.payment_intents.retrieve(first.provider_ref)
        assert charged.customer == paid_by.customer
        assert charged.payment_method == paid_by.payment_method
        assert charged.metadata["portside_order"] == str(renewal.pk)
        assert charged.amount == renewal.total_minor
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.ACTIVE
        assert sub.current_period_end == dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC)
        # Stripe's webhook about it changes nothing.
        delivery = webhooks.wait("payment_intent.succeeded", intent=renewal.provider_ref)
        assert replay(client, delivery).json()["result"] == "already paid"
        assert audit_count("commerce:order:paid", renewal) == 1
        assert ledger.verify().ok


def test_a_failed_renewal_is_retried_with_a_new_attempt(
    store: Store, dashboard: stripe.StripeClient, webhooks: Receiver, client: Any, sent: Any
) -> None:
    with clock.frozen(dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)) as frozen:
        first = paid_checkout(store, dashboard)
        sub = first.subscription
        carol = sub.user
        holder = dashboard.v1.payment_intents.retrieve(first.provider_ref).customer
        # The customer changed to a card the bank declines.
        declining = new_card(dashboard, DECLINED)
        dashboard.v1.payment_methods.attach(declining, params={"customer": holder})
        dashboard.v1.customers.update(
            holder, params={"invoice_settings": {"default_payment_method": declining}}
        )
        frozen.advance(days=28)
        outcome = renewals.run_due()
        assert outcome.failed == [sub.pk]
        renewal = sub.orders.get(kind=OrderKind.RENEWAL)
        assert renewal.status == OrderStatus.OPEN
        assert renewal.failure == "Your card was declined."
        sub.refresh_from_db()
        assert sub.status == SubscriptionStatus.PAST_DUE
        assert covered_tags(carol.pk, store.pub.org.pk, "acme/db") == {"1.0", "2.0"}
        # Stripe's webhook about the decline was recorded already.
        failed = webhooks.wait("payment_intent.payment_failed", order=renewal.pk)
        assert replay(client, failed).json()["result"] == "already recorded"
        assert audit_count("commerce:order:payment_failed", renewal) == 1
        # The customer goes back to a good card; the next attempt is a new charge.
        good = new_card(dashboard, VISA)
        dashboard.v1.payment_methods.attach(good, params={"customer": holder})
        dashboard.v1.customers.update(
            holder, params={"invoice_settings": {"default_payment_method": good}}
        )
        frozen.advance(days=3)
        assert renewals.run_due().renewed == [sub.pk]
        renewal.refresh_from_db()
        assert renewal.status == OrderStatus.PAID and renewal.failure == ""
        assert keys(sent, "/v1/payment_intents")[-2:] == [
            f"portside-order-{renewal.pk}-renewal-1",
            f"portside-order-{renewal.pk}-renewal-2",
        ]
        assert ledger.verify().ok


def test_a_renewal_without_a_saved_card_fails(store: Store, dashboard: stripe.StripeClient) -> None:
    with clock.frozen(dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)) as frozen:
        carol = customer()
        billed(carol, "DE")
        order = checkout(store, carol)  # paid by bank transfer, confirmed by the store
        Order.objects.filter(pk=order.pk).update(provider_ref="")
        services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
        frozen.advance(days=28)
        assert renewals.run_due().failed == [order.subscription_id]
        renewal = order.subscription.orders.get(kind=OrderKind.RENEWAL)
        assert renewal.failure == "No card is saved for this subscription."


# --- refunds and chargebacks ------------------------------------------------------------------


def test_a_refund_through_the_store(
    store: Store, dashboard: stripe.StripeClient, client: Any, sent: Any
) -> None:
    order = paid_checkout(store, dashboard)
    made = services.refund(
        order=order, amount_minor=1000, reason="goodwill", acting=store.pub.owner,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    assert made.provider_ref.startswith("re_")
    at_stripe = dashboard.v1.refunds.list(params={"payment_intent": order.provider_ref})
    assert [(r.id, r.amount) for r in at_stripe.data] == [(made.provider_ref, 1000)]
    # Stripe's charge.refunded webhook about it changes nothing.
    charge = dashboard.v1.payment_intents.retrieve(order.provider_ref).latest_charge
    body = made_event(
        "charge.refunded",
        {
            "id": charge.id,
            "object": "charge",
            "payment_intent": order.provider_ref,
            "amount": order.total_minor,
            "amount_refunded": 1000,
            "currency": "eur",
            "refunded": False,
        },
    )
    assert deliver(client, body, sign(body)).json()["result"] == "already recorded"
    rest = services.refund(
        order=order, amount_minor=None, reason="unhappy", acting=store.pub.owner,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    assert keys(sent, "/v1/refunds") == [
        f"portside-order-{order.pk}-refund-0",
        f"portside-order-{order.pk}-refund-1",
    ]
    assert rest.amount_minor == order.total_minor - 1000
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor
    assert order.subscription.status == SubscriptionStatus.REFUNDED
    assert ledger.verify().ok


def test_a_refund_stripe_refuses_is_not_recorded(
    store: Store, dashboard: stripe.StripeClient
) -> None:
    order = paid_checkout(store, dashboard)
    Order.objects.filter(pk=order.pk).update(provider_ref="pi_unknown000000")
    order.refresh_from_db()
    with pytest.raises(Conflict, match="refused the refund"):
        services.refund(
            order=order, amount_minor=1000, reason="goodwill", acting=store.pub.owner,
            origin=TEST_ORIGIN,
        )  # fmt: skip
    order.refresh_from_db()
    assert order.refunded_minor == 0 and not Refund.objects.exists()
    assert ledger.verify().ok


def test_a_refund_made_in_the_stripe_dashboard_is_recorded_once(
    store: Store, dashboard: stripe.StripeClient, client: Any
) -> None:
    order = paid_checkout(store, dashboard)
    outside = dashboard.v1.refunds.create(
        params={"payment_intent": order.provider_ref, "amount": 500}
    )
    charge = dashboard.v1.payment_intents.retrieve(order.provider_ref).latest_charge
    body = made_event(
        "charge.refunded",
        {"id": charge.id, "object": "charge", "payment_intent": order.provider_ref},
    )
    response = deliver(client, body, sign(body))
    assert response.json()["result"] == "recorded a refund made in Stripe"
    order.refresh_from_db()
    assert order.refunded_minor == 500
    assert order.refunds.get().provider_ref == outside.id
    # Another event about the same charge (a second refund's, or a new event id for the
    # same one) does not record it again.
    again = made_event(
        "charge.refunded",
        {"id": charge.id, "object": "charge", "payment_intent": order.provider_ref},
    )
    assert deliver(client, again, sign(again)).json()["result"] == "already recorded"
    order.refresh_from_db()
    assert order.refunded_minor == 500
    assert ledger.verify().ok


def test_a_chargeback_is_recorded_once(
    store: Store, dashboard: stripe.StripeClient, client: Any
) -> None:
    order = paid_checkout(store, dashboard)
    charge = dashboard.v1.payment_intents.retrieve(order.provider_ref).latest_charge
    dispute = {
        "id": "dp_portside0001",
        "object": "dispute",
        "amount": order.total_minor,
        "currency": "eur",
        "charge": charge.id,
        "reason": "fraudulent",
        "status": "needs_response",
    }
    # An older API version names only the charge; the store asks Stripe for its payment.
    body = made_event("charge.dispute.created", dispute)
    response = deliver(client, body, sign(body))
    assert response.json()["result"] == "charged back"
    back = Refund.objects.get(order=order)
    assert back.kind == "chargeback" and back.amount_minor == order.total_minor
    assert "dp_portside0001" in back.reason
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor
    assert order.subscription.status == SubscriptionStatus.REFUNDED
    # The same dispute in another event is not charged back twice.
    body = made_event("charge.dispute.created", {**dispute, "payment_intent": order.provider_ref})
    assert deliver(client, body, sign(body)).json()["result"] == "already recorded"
    assert Refund.objects.filter(order=order).count() == 1
    assert ledger.verify().ok


def test_a_chargeback_after_a_partial_refund_takes_what_is_left(
    store: Store, dashboard: stripe.StripeClient, client: Any
) -> None:
    order = paid_checkout(store, dashboard)
    services.refund(
        order=order, amount_minor=1000, reason="goodwill", acting=store.pub.owner,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    body = made_event(
        "charge.dispute.created",
        {
            "id": "dp_portside0002",
            "object": "dispute",
            "amount": order.total_minor,
            "currency": "eur",
            "payment_intent": order.provider_ref,
            "reason": "product_not_received",
        },
    )
    assert deliver(client, body, sign(body)).json()["result"] == "charged back"
    order.refresh_from_db()
    assert order.refunded_minor == order.total_minor
    assert ledger.verify().ok
