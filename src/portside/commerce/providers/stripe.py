"""Stripe: card payments through PaymentIntents, confirmed by the customer in the browser,
recorded by signed webhooks; renewals charged off-session with the saved card.

Checkout (``start``)
    1. The holder's Stripe customer is found or made. The store keeps no column for it:
       the customer of the newest PaymentIntent of an earlier Stripe order of the same
       holder (a user buying for themself, or an organisation) is reused; the first time,
       a customer is created with metadata ``portside_holder`` (``user:ID`` or ``org:ID``).
    2. A PaymentIntent is created for the order's total (minor units, lowercase currency)
       on that customer, with metadata ``portside_order`` and the card option
       ``setup_future_usage=off_session`` (a card the customer pays with is saved on the
       customer, for renewals; the other payment methods are those the Stripe dashboard
       enables). It is not confirmed: the order stays open with the PaymentIntent id in
       ``provider_ref``, and ``start`` answers ``pending`` with the client secret.
    3. The payment page mounts Stripe.js (the Payment Element) with that client secret
       (:meth:`StripeProvider.client_secret` gives it again for an open order) and the
       customer confirms there, with 3-D Secure when the bank asks. Card data never reach
       the store. A declined card leaves the PaymentIntent waiting for another card, so the
       customer can try again on the same page.
    4. Stripe reports the outcome with the signed ``payment_intent.succeeded`` (or
       ``payment_intent.payment_failed``) webhook, which pays the order and starts the
       period. The page the customer comes back to may apply
       :meth:`StripeProvider.payment_status` at once; the webhook, before or after, then
       changes nothing.

    Why this way: it is how Stripe asks card payments with strong customer authentication
    to be taken, it needs no Checkout Session or Price objects mirroring the store's own
    catalogue, and each step is a plain PaymentIntent call, which localstripe implements,
    so the whole flow is tested end to end.

Renewals (``charge_renewal``)
    An off-session PaymentIntent, confirmed at once, on the customer of the subscription's
    last paid PaymentIntent, with the customer's default payment method (set when the
    customer changes cards) or else the card that last paid. It answers ``paid`` or
    ``failed`` there and then; the webhook that follows changes nothing.

Refunds (``refund``)
    A Refund of the order's PaymentIntent; a refusal raises ``RefundFailed``.

Webhooks (:func:`handle_webhook`)
    The ``Stripe-Signature`` header is verified with ``PORTSIDE_STRIPE_WEBHOOK_SECRET``
    (five minutes' tolerance); anything unsigned, forged or stale is answered 400 and
    changes nothing. A verified event of a handled type is stored once in ``WebhookEvent``
    (a replay of the same event id is acknowledged and ignored) and applied in the same
    transaction, so an event either is stored and applied or neither:

    - ``payment_intent.succeeded``: the order named by the metadata is paid, if the amount
      and currency are the order's (a mismatch is logged and ignored);
    - ``payment_intent.payment_failed``: the failure is recorded on the open order, unless
      the store recorded the same failure when it charged (a renewal);
    - ``charge.dispute.created``: a chargeback is recorded, once per dispute;
    - ``charge.refunded``: refunds made through the store are already recorded (their
      Stripe ids are on the store's refunds); any other refund of the payment, made in the
      Stripe dashboard, is reported in the log and the answer, because the services cannot
      record a refund the store did not send (see ``_unrecorded_refund``).

    Delivery order does not matter: a payment already recorded is not recorded again and a
    failure after a success is ignored. Other event types are acknowledged and ignored.

Idempotency
    Every create carries the key ``portside-order-<order id>-<kind>``: ``customer``,
    ``payment``, ``renewal-<attempt>`` (each retry of a renewal is a new attempt) and
    ``refund-<refunds so far>``, so a call retried after a lost answer never charges or
    refunds twice.

The provider talks to Stripe through its own ``StripeClient`` (no global state of the
``stripe`` module), at ``PORTSIDE_STRIPE_API_BASE`` when set. Secrets are never logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from stripe.params import CustomerCreateParams

from portside.commerce.models import Order, OrderStatus, Subscription, WebhookEvent
from portside.commerce.providers.base import PaymentResult, RefundFailed
from portside.core import clock
from portside.core.errors import ConfigurationError, PortsideError
from portside.core.origin import Origin

logger = logging.getLogger(__name__)

NAME = "stripe"
#: Seconds a webhook's signed timestamp may be old.
TOLERANCE = 300
WEBHOOK_ORIGIN = Origin(user_agent="stripe-webhook")
#: The actor of what webhooks record (typed loosely: the services name non-person actors).
ACTOR: Any = "stripe"
# PaymentIntent states in which the customer still has something to do on the payment page.
_AWAITING_CUSTOMER = {"requires_payment_method", "requires_confirmation", "requires_action"}
HANDLED_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.dispute.created",
    }
)


def idempotency_key(order: Order, kind: str) -> str:
    return f"portside-order-{order.pk}-{kind}"


def _id(value: Any) -> str:
    """The id of an expandable field: a string, an object with an id, or nothing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(getattr(value, "id", "") or "")


def _decline_message(message: str | None) -> str:
    return (message or "The card payment was declined.")[:300]


class StripeProvider:
    name = NAME
    pays_by_instructions = False

    def __init__(self, client: stripe.StripeClient, webhook_secret: str) -> None:
        self._client = client
        self._webhook_secret = webhook_secret

    def __repr__(self) -> str:
        return "StripeProvider()"

    @classmethod
    def from_settings(cls) -> StripeProvider:
        key = settings.STRIPE_SECRET_KEY
        webhook_secret = settings.STRIPE_WEBHOOK_SECRET
        missing = [
            name
            for name, value in (
                ("PORTSIDE_STRIPE_SECRET_KEY", key),
                ("PORTSIDE_STRIPE_WEBHOOK_SECRET", webhook_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"The Stripe payment provider needs {' and '.join(missing)}: the secret API "
                "key and the signing secret of the webhook endpoint, from the Stripe dashboard."
            )
        if not key.startswith(("sk_", "rk_")):
            raise ConfigurationError(
                "PORTSIDE_STRIPE_SECRET_KEY is not a secret or restricted key (sk_... or "
                "rk_...); the publishable key (pk_...) belongs in the browser only."
            )
        if not webhook_secret.startswith("whsec_"):
            raise ConfigurationError(
                "PORTSIDE_STRIPE_WEBHOOK_SECRET is not a webhook signing secret (whsec_...)."
            )
        if not settings.STRIPE_PUBLISHABLE_KEY.startswith("pk_"):
            raise ConfigurationError(
                "PORTSIDE_STRIPE_PUBLISHABLE_KEY must be the publishable key (pk_...): the "
                "payment page gives it to Stripe.js in the customer's browser."
            )
        api_base = None
        base = settings.STRIPE_API_BASE
        if base:
            parts = urlsplit(base)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    "PORTSIDE_STRIPE_API_BASE must be an http(s) URL such as "
                    "https://api.stripe.com."
                )
            if parts.scheme != "https" and key.startswith(("sk_live_", "rk_live_")):
                raise ConfigurationError(
                    "PORTSIDE_STRIPE_API_BASE must be https with a live key: the key would "
                    "travel in clear text."
                )
            api_base = base.rstrip("/")
        client = stripe.StripeClient(
            key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,
        )
        return cls(client, webhook_secret)

    # --- taking the first payment ----------------------------------------------------------

    def start(self, order: Order) -> PaymentResult:
        try:
            customer = self._customer_for(order)
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": order.total_minor,
                    "currency": order.currency.lower(),
                    "customer": customer,
                    "payment_method_options": {"card": {"setup_future_usage": "off_session"}},
                    "metadata": _metadata(order),
                },
                options={"idempotency_key": idempotency_key(order, "payment")},
            )
        except stripe.StripeError as exc:
            logger.warning(
                "Stripe refused to start the payment of order %s: %s %s",
                order.pk,
                type(exc).__name__,
                exc.code or exc.http_status,
            )
            return PaymentResult(
                "failed", message="The card payment could not be started; please try again."
            )
        _remember_intent(order, intent.id)
        return PaymentResult(
            "pending",
            reference=intent.id,
            message="awaiting the card payment",
            client_secret=intent.client_secret or "",
        )

    def _customer_for(self, order: Order) -> str:
        """The holder's Stripe customer: the one an earlier Stripe order of the holder was
        paid by, or a new one."""
        sub = order.subscription
        if sub.organization_id is not None:
            holder = Q(subscription__organization_id=sub.organization_id)
            label = f"org:{sub.organization_id}"
        else:
            holder = Q(subscription__user_id=sub.user_id, subscription__organization__isnull=True)
            label = f"user:{sub.user_id}"
        earlier = (
            Order.objects.filter(holder, provider=NAME, provider_ref__startswith="pi_")
            .exclude(pk=order.pk)
            .order_by(F("paid_at").desc(nulls_last=True), "-pk")
            .values_list("provider_ref", flat=True)
            .first()
        )
        if earlier:
            try:
                intent = self._client.v1.payment_intents.retrieve(earlier)
            except stripe.InvalidRequestError:
                intent = None  # another Stripe account or mode: start afresh
            if intent is not None and _id(intent.customer):
                return _id(intent.customer)
        params: CustomerCreateParams = {
            "name": str(order.billing.get("name") or sub.holder_name)[:200],
            "metadata": {"portside_holder": label},
        }
        if sub.user.email:
            params["email"] = sub.user.email
        if order.billing.get("country"):
            params["address"] = {"country": str(order.billing["country"])}
        customer = self._client.v1.customers.create(
            params=params,
            options={"idempotency_key": idempotency_key(order, "customer")},
        )
        return customer.id

    def client_secret(self, order: Order) -> str:
        """The client secret for the payment page of an open order, or "" when there is
        nothing left for the customer to do there."""
        if order.status != OrderStatus.OPEN or not order.provider_ref.startswith("pi_"):
            return ""
        intent = self._client.v1.payment_intents.retrieve(order.provider_ref)
        if intent.status not in _AWAITING_CUSTOMER:
            return ""
        return intent.client_secret or ""

    def payment_status(self, order: Order) -> PaymentResult:
        """How the order's payment stands at Stripe now, for the page the customer comes
        back to (``services.apply_payment_result`` it; the webhook then changes nothing)."""
        if not order.provider_ref.startswith("pi_"):
            return PaymentResult("pending", message="no card payment started")
        intent = self._client.v1.payment_intents.retrieve(order.provider_ref)
        if intent.status == "succeeded" and _matches(intent, order):
            return PaymentResult("paid", reference=intent.id)
        error = intent.last_payment_error
        if intent.status == "requires_payment_method" and error is not None:
            return PaymentResult(
                "failed", reference=intent.id, message=_decline_message(error.message)
            )
        return PaymentResult(
            "pending", reference=intent.id, message=f"card payment {intent.status}"
        )

    # --- renewals --------------------------------------------------------------------------

    def charge_renewal(self, order: Order) -> PaymentResult:
        previous = (
            Order.objects.filter(
                subscription_id=order.subscription_id,
                provider=NAME,
                status=OrderStatus.PAID,
                provider_ref__startswith="pi_",
            )
            .exclude(pk=order.pk)
            .order_by(F("paid_at").desc(nulls_last=True), "-pk")
            .values_list("provider_ref", flat=True)
            .first()
        )
        if not previous:
            return PaymentResult("failed", message="No card is saved for this subscription.")
        attempt = (
            Subscription.objects.filter(pk=order.subscription_id)
            .values_list("renewal_attempts", flat=True)
            .get()
        )
        try:
            paid_by = self._client.v1.payment_intents.retrieve(
                previous, params={"expand": ["customer"]}
            )
            customer = paid_by.customer
            if not _id(customer) or getattr(customer, "deleted", False):
                return PaymentResult(
                    "failed", message="The Stripe customer of this subscription is gone."
                )
            # The card the customer chose last (the default), else the one that paid.
            settings_of = getattr(customer, "invoice_settings", None)
            method = _id(getattr(settings_of, "default_payment_method", None))
            method = method or _id(paid_by.payment_method)
            if not method:
                return PaymentResult("failed", message="No card is saved for this subscription.")
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": order.total_minor,
                    "currency": order.currency.lower(),
                    "customer": _id(customer),
                    "payment_method": method,
                    "confirm": True,
                    "off_session": True,
                    "metadata": _metadata(order),
                },
                options={"idempotency_key": idempotency_key(order, f"renewal-{attempt}")},
            )
        except stripe.CardError as exc:
            intent_id = _id(exc.error.payment_intent) if exc.error is not None else ""
            if intent_id:
                _remember_intent(order, intent_id)
            logger.info("renewal of order %s declined by Stripe (%s)", order.pk, exc.code)
            return PaymentResult(
                "failed", reference=intent_id, message=_decline_message(exc.user_message)
            )
        except stripe.StripeError as exc:
            # Not known to be declined (a network or API error): the order stays open, the
            # next attempt tries again, and a payment that did go through arrives by webhook.
            logger.warning(
                "renewal of order %s not charged: Stripe answered %s %s",
                order.pk,
                type(exc).__name__,
                exc.code or exc.http_status,
            )
            return PaymentResult("failed", message="The card could not be charged just now.")
        _remember_intent(order, intent.id)
        if intent.status == "succeeded":
            return PaymentResult("paid", reference=intent.id)
        if intent.status == "processing":
            return PaymentResult("pending", reference=intent.id, message="card payment processing")
        error = intent.last_payment_error
        return PaymentResult(
            "failed",
            reference=intent.id,
            message=_decline_message(error.message if error is not None else None),
        )

    # --- refunds and instructions -----------------------------------------------------------

    def refund(self, order: Order, amount_minor: int) -> str:
        if not order.provider_ref.startswith("pi_"):
            raise RefundFailed("This order has no Stripe payment to refund.")
        count = order.refunds.count()
        try:
            made = self._client.v1.refunds.create(
                params={
                    "payment_intent": order.provider_ref,
                    "amount": amount_minor,
                    "metadata": {"portside_order": str(order.pk)},
                },
                options={"idempotency_key": idempotency_key(order, f"refund-{count}")},
            )
        except stripe.StripeError as exc:
            logger.warning(
                "Stripe refused a refund of order %s: %s %s",
                order.pk,
                type(exc).__name__,
                exc.code or exc.http_status,
            )
            raise RefundFailed(
                f"Stripe refused the refund: {exc.user_message or 'no reason given'}"
            ) from None
        if made.status in ("failed", "canceled"):
            raise RefundFailed(f"Stripe did not send the refund back ({made.status}).")
        return made.id

    def instructions(self, order: Order) -> str:
        if order.status != OrderStatus.OPEN:
            return ""
        return (
            "Pay by card on the order's payment page; the subscription starts as soon as "
            "the card payment is confirmed."
        )

    def void(self, order: Order) -> None:
        """Cancel the PaymentIntent of an order the store withdrew, so a customer who kept
        the payment page open cannot pay it any more (a payment already made stays and
        is refunded by the store team)."""
        if not order.provider_ref.startswith("pi_"):
            return
        try:
            self._client.v1.payment_intents.cancel(order.provider_ref)
        except stripe.StripeError as exc:
            logger.warning(
                "Stripe did not cancel the payment of void order %s: %s %s",
                order.pk,
                type(exc).__name__,
                exc.code or exc.http_status,
            )

    # --- webhooks ---------------------------------------------------------------------------

    def verified_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event of a webhook whose signature is good and recent; ``WebhookRefused``
        otherwise."""
        if not signature:
            raise WebhookRefused("missing Stripe-Signature header")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRefused("payload is not UTF-8") from None
        try:
            stripe.WebhookSignature.verify_header(
                text, signature, self._webhook_secret, tolerance=TOLERANCE
            )
        except stripe.SignatureVerificationError:
            raise WebhookRefused("invalid signature") from None
        try:
            event = json.loads(text)
        except ValueError:
            raise WebhookRefused("payload is not JSON") from None
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not isinstance(event.get("type"), str)
            or not isinstance((event.get("data") or {}).get("object"), dict)
        ):
            raise WebhookRefused("payload is not a Stripe event")
        return event


class WebhookRefused(Exception):
    """A webhook that is not verifiably Stripe's; answered 400."""


def _metadata(order: Order) -> dict[str, str]:
    data = {"portside_order": str(order.pk)}
    number = getattr(getattr(order, "invoice", None), "number", "")
    if number:
        data["portside_invoice"] = number
    return data


def _remember_intent(order: Order, intent_id: str) -> None:
    """Keep the PaymentIntent of an open order, so the payment page, the webhooks and
    refunds find it (the services keep only the reference of a paid result)."""
    Order.objects.filter(pk=order.pk, status=OrderStatus.OPEN).update(provider_ref=intent_id)
    order.provider_ref = intent_id


def _matches(intent: Any, order: Order) -> bool:
    return bool(
        intent.amount == order.total_minor
        and str(intent.currency or "").lower() == order.currency.lower()
    )


# --- webhooks -------------------------------------------------------------------------------


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def handle_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store once and apply one Stripe webhook."""
    try:
        provider = StripeProvider.from_settings()
    except ConfigurationError as exc:
        logger.error("a Stripe webhook arrived but Stripe is not configured: %s", exc.message)
        return _error("stripe is not configured", 503)
    try:
        event = provider.verified_event(request.body, request.headers.get("Stripe-Signature"))
    except WebhookRefused as exc:
        logger.warning("Stripe webhook refused: %s", exc)
        return _error(str(exc), 400)
    if event["type"] not in HANDLED_EVENTS:
        return JsonResponse({"received": True, "result": "ignored"})
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    WebhookEvent.objects.create(
                        provider=NAME,
                        event_id=event["id"][:100],
                        type=event["type"][:100],
                        received_at=clock.now(),
                        payload=event,
                    )
            except IntegrityError:
                return JsonResponse({"received": True, "result": "duplicate"})
            result = _apply(provider, event)
    except Exception:
        # Nothing is kept: Stripe delivers the event again later.
        logger.exception("Stripe event %s (%s) could not be applied", event["id"], event["type"])
        return _error("not applied", 500)
    return JsonResponse({"received": True, "result": result})


def _apply(provider: StripeProvider, event: dict[str, Any]) -> str:
    obj: dict[str, Any] = event["data"]["object"]
    kind = event["type"]
    try:
        if kind == "payment_intent.succeeded":
            return _succeeded(obj)
        if kind == "payment_intent.payment_failed":
            return _failed(obj)
        if kind == "charge.refunded":
            return _refunded(provider, obj)
        if kind == "charge.dispute.created":
            return _disputed(provider, obj)
        return "ignored"
    except PortsideError as exc:
        # The store refuses the change (a voided order paid late, more charged back than
        # was paid): keep the event, tell the team, do not make Stripe retry in vain.
        logger.error("Stripe event %s (%s) not applied: %s", event["id"], kind, exc.message)
        return "refused"


def _order_of_intent(intent: dict[str, Any]) -> Order | None:
    metadata = intent.get("metadata") or {}
    number = str(metadata.get("portside_order") or "")
    if number.isdigit():
        order = Order.objects.filter(pk=int(number), provider=NAME).first()
        if order is not None:
            return order
    intent_id = _id(intent.get("id"))
    if not intent_id:
        return None
    return Order.objects.filter(provider=NAME, provider_ref=intent_id).first()


def _order_of_payment(intent_id: str) -> Order | None:
    if not intent_id:
        return None
    return Order.objects.filter(provider=NAME, provider_ref=intent_id).order_by("-pk").first()


def _succeeded(intent: dict[str, Any]) -> str:
    from portside.commerce import services

    intent_id = _id(intent.get("id"))
    order = _order_of_intent(intent)
    if order is None:
        logger.info("Stripe payment %s is not for an order of this store", intent_id)
        return "ignored"
    received = intent.get("amount_received", intent.get("amount"))
    if (
        intent.get("amount") != order.total_minor
        or received != order.total_minor
        or str(intent.get("currency") or "").lower() != order.currency.lower()
    ):
        logger.warning(
            "Stripe payment %s of %s %s does not match order %s (%s %s): ignored",
            intent_id,
            received,
            intent.get("currency"),
            order.pk,
            order.total_minor,
            order.currency,
        )
        return "mismatch"
    if order.status == OrderStatus.PAID:
        if order.provider_ref and order.provider_ref != intent_id:
            logger.error(
                "order %s was paid twice at Stripe (%s and %s): refund one of them",
                order.pk,
                order.provider_ref,
                intent_id,
            )
            return "paid twice"
        return "already paid"
    services.apply_payment_result(
        order=order,
        result=PaymentResult("paid", reference=intent_id),
        acting=ACTOR,
        origin=WEBHOOK_ORIGIN,
    )
    return "paid"


def _failed(intent: dict[str, Any]) -> str:
    from portside.commerce import services

    order = _order_of_intent(intent)
    if order is None:
        return "ignored"
    if order.status != OrderStatus.OPEN:
        return "ignored"  # paid (a success came first), voided or failed for good
    error = intent.get("last_payment_error") or {}
    reason = _decline_message(error.get("message") if isinstance(error, dict) else None)
    if order.failure == reason:
        return "already recorded"  # the store recorded it when it charged (a renewal)
    services.payment_failed(order=order, reason=reason)
    return "failed"


def _refunded(provider: StripeProvider, charge: dict[str, Any]) -> str:
    intent_id = _id(charge.get("payment_intent"))
    order = _order_of_payment(intent_id)
    if order is None:
        return "ignored"
    found = provider._client.v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
    # Under the order's lock, so a refund the store is making now is seen once it is kept.
    order = Order.objects.select_for_update().get(pk=order.pk)
    recorded = set(order.refunds.exclude(provider_ref="").values_list("provider_ref", flat=True))
    unrecorded = [r for r in found.auto_paging_iter() if r.status in ("succeeded", "pending")]
    unrecorded = [r for r in unrecorded if r.id not in recorded]
    for made in unrecorded:
        _unrecorded_refund(order, made.id, made.amount)
    return "recorded a refund made in Stripe" if unrecorded else "already recorded"


def _unrecorded_refund(order: Order, refund_id: str, amount_minor: int) -> None:
    """A refund made in the Stripe dashboard, not through the store: recorded as money
    the provider already sent back (its ledger entries, a full one ending the
    subscription), once per Stripe refund id."""
    from portside.commerce import services

    left = order.total_minor - order.refunded_minor
    if amount_minor <= 0 or left <= 0:
        logger.error(
            "Stripe refund %s of order %s is more than the store has left to refund",
            refund_id,
            order.pk,
        )
        return
    services.refund(
        order=order,
        amount_minor=min(amount_minor, left),
        reason=f"Refunded in Stripe ({refund_id})",
        acting=ACTOR,
        origin=WEBHOOK_ORIGIN,
        kind="provider_refund",
        reference=refund_id,
    )


def _disputed(provider: StripeProvider, dispute: dict[str, Any]) -> str:
    from portside.commerce import services

    dispute_id = _id(dispute.get("id"))
    intent_id = _id(dispute.get("payment_intent"))
    if not intent_id and dispute.get("charge"):
        charge = provider._client.v1.charges.retrieve(_id(dispute.get("charge")))
        intent_id = _id(charge.payment_intent)
    order = _order_of_payment(intent_id)
    if order is None or not dispute_id:
        return "ignored"
    if order.refunds.filter(kind="chargeback", provider_ref=dispute_id[:100]).exists():
        return "already recorded"
    if str(dispute.get("currency") or "").lower() != order.currency.lower():
        logger.warning("Stripe dispute %s is not in the currency of order %s", dispute_id, order.pk)
        return "mismatch"
    disputed = dispute.get("amount")
    if not isinstance(disputed, int) or disputed <= 0:
        return "ignored"
    amount = min(disputed, order.refundable_minor)
    if amount <= 0:
        logger.warning(
            "Stripe dispute %s of order %s: nothing left of the order to charge back",
            dispute_id,
            order.pk,
        )
        return "nothing to charge back"
    if amount < disputed:
        logger.warning(
            "Stripe dispute %s is for %s but only %s of order %s was not refunded",
            dispute_id,
            disputed,
            amount,
            order.pk,
        )
    services.refund(
        order=order,
        amount_minor=amount,
        reason=f"Stripe dispute {dispute_id}: {dispute.get('reason') or 'no reason given'}",
        acting=ACTOR,
        origin=WEBHOOK_ORIGIN,
        kind="chargeback",
        reference=dispute_id,
    )
    return "charged back"
