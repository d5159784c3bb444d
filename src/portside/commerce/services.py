"""Use cases of commerce: taking a tier, paying, renewing, cancelling and refunding.

Every function takes the acting user and origin explicitly, asks ``accounts.permissions``,
writes its rows, ledger entries and audit row in one transaction, and sends mail after
commit (``commerce.mail``). Amounts are integer minor units throughout; the price of a
tier is always read again from the listing's live revision, never taken from a form.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.audit import services as audit
from portside.catalog.models import Listing, ListingState
from portside.commerce import billing, ledger, mail, money, providers
from portside.commerce.entitlements import REVISIONS, FrozenTier
from portside.commerce.models import (
    ENDED_STATUSES,
    ENTITLED_STATUSES,
    IdempotencyKey,
    Invoice,
    LicenceAcceptance,
    Order,
    OrderKind,
    OrderStatus,
    PublisherTerms,
    Refund,
    Subscription,
    SubscriptionStatus,
)
from portside.core import clock
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.core.origin import Origin

logger = logging.getLogger(__name__)


# --- offers and quotes ------------------------------------------------------------------------


def live_tier(listing: Listing, tier_id: int) -> FrozenTier:
    """The tier ``tier_id`` as the live revision offers it; NotFound otherwise (a tier id
    changed in a form, a tier the publisher has withdrawn)."""
    if listing.state != ListingState.LIVE:
        raise NotFound("This product is not offered any more.")
    revision = REVISIONS.get(listing.revision_id)
    for tier in revision.tiers:
        if tier.id == tier_id:
            return tier
    raise NotFound("This product has no such tier.", field="tier")


def tier_price(tier: FrozenTier) -> int:
    return money.to_minor(tier.price, tier.currency, field="price")


def share_bp(publisher: Organization) -> int:
    terms = PublisherTerms.objects.filter(organization=publisher).first()
    return terms.share_bp if terms else settings.COMMERCE_REVENUE_SHARE_BP


@dataclass(frozen=True)
class Checkout:
    """What the checkout page shows and what confirming it charges."""

    listing: Listing
    tier: FrozenTier
    quote: money.Quote
    tax: billing.TaxDecision

    @property
    def signature(self) -> str:
        """Binds a confirmation to what was shown: the revision, tier, amounts and tax."""
        data = [
            self.listing.pk,
            self.listing.revision_id,
            self.tier.id,
            self.quote.currency,
            self.quote.net,
            self.quote.tax,
            self.tax.country,
            self.tax.reverse_charge,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:32]


def quote(*, listing: Listing, tier_id: int, profile: billing.BillingProfile | None) -> Checkout:
    tier = live_tier(listing, tier_id)
    net = tier_price(tier)
    if profile is None:
        decision = billing.TaxDecision("", 0, False)
    else:
        decision = billing.decide(profile)
    q = money.quote(
        net,
        tier.currency,
        tax_bp=decision.rate_bp,
        share_bp=share_bp(listing.product.organization),
        reverse_charge=decision.reverse_charge,
    )
    return Checkout(listing, tier, q, decision)


# --- idempotency --------------------------------------------------------------------------------


def _fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _replayed(user: User, scope: str, key: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The result kept for ``key``, if the same request was made with it before; a key
    reused for another request is a conflict."""
    if not key:
        return None
    if len(key) > 255:
        raise ValidationFailed(
            "An idempotency key is at most 255 characters.", field="idempotency_key"
        )
    found = IdempotencyKey.objects.filter(user=user, scope=scope, key=key).first()
    if found is None:
        return None
    if found.fingerprint != _fingerprint(params):
        raise Conflict(
            "This idempotency key was used for another request.", field="idempotency_key"
        )
    return found.result


def _remember(
    user: User, scope: str, key: str, params: dict[str, Any], result: dict[str, Any]
) -> None:
    if key:
        IdempotencyKey.objects.create(
            user=user,
            scope=scope,
            key=key,
            fingerprint=_fingerprint(params),
            result=result,
            created_at=clock.now(),
        )


# --- billing details ---------------------------------------------------------------------------


def save_billing_details(
    *,
    user: User,
    organization: Organization | None,
    name: str,
    country: str,
    tax_id: str = "",
    address: str = "",
    origin: Origin,
) -> billing.BillingProfile:
    """Who is billed: the user's own details, or an organisation's (its owners only)."""
    _holder_check(user, organization)
    with transaction.atomic():
        profile = billing.save_profile(
            user=user,
            organization=organization,
            name=name,
            country=country,
            tax_id=tax_id,
            address=address,
        )
        audit.record(
            user,
            "commerce:billing_profile:saved",
            profile,
            organization=organization,
            country=profile.country,
            tax_id=profile.tax_id,
            **origin.audit_fields(),
        )
    return profile


# --- taking a tier -------------------------------------------------------------------------------


def _holder_check(user: User, organization: Organization | None) -> None:
    if not permissions.can_buy_for(user, organization):
        raise PermissionDenied("Only the organisation's owners take tiers for it.")


def _current(
    listing: Listing, tier: FrozenTier, user: User, organization: Organization | None
) -> Subscription | None:
    """The holder's subscription to this tier that is running or waiting for payment."""
    qs = Subscription.objects.filter(product_id=listing.product_id, tier_id=tier.id or 0).exclude(
        status__in=ENDED_STATUSES
    )
    if organization is not None:
        qs = qs.filter(organization=organization)
    else:
        qs = qs.filter(user=user, organization__isnull=True)
    return qs.first()


def _new_subscription(
    *,
    listing: Listing,
    tier: FrozenTier,
    user: User,
    organization: Organization | None,
    status: str,
) -> Subscription:
    now = clock.now()
    return Subscription.objects.create(
        product_id=listing.product_id,
        listing=listing,
        tier_id=tier.id,
        tier_name=tier.name,
        tier_snapshot={
            "id": tier.id,
            "name": tier.name,
            "description": tier.description,
            "price": tier.price,
            "currency": tier.currency,
            "billing_period": tier.billing_period,
            "access": [{"repository": r, "tags": list(t)} for r, t in tier.access.items()],
        },
        revision_number=listing.revision.number,
        user=user,
        organization=organization,
        status=status,
        currency=tier.currency,
        price_minor=tier_price(tier),
        billing_period=tier.billing_period,
        created_at=now,
    )


def _accept_licence(
    subscription: Subscription, listing: Listing, user: User, origin: Origin
) -> None:
    revision = REVISIONS.get(listing.revision_id)
    LicenceAcceptance.objects.create(
        subscription=subscription,
        user=user,
        license_url=revision.license_url,
        revision_number=listing.revision.number,
        accepted_at=clock.now(),
        ip_address=origin.ip_address,
        user_agent=origin.user_agent[:300],
    )


def _require_licence(accept_licence: bool) -> None:
    if not accept_licence:
        raise ValidationFailed("Accept the licence agreement to continue.", field="accept_licence")


def take_free_tier(
    *,
    listing: Listing,
    tier_id: int,
    user: User,
    organization: Organization | None = None,
    accept_licence: bool,
    origin: Origin,
) -> Subscription:
    """Subscribe to a free tier. Taking the same tier again returns the running one."""
    _holder_check(user, organization)
    tier = live_tier(listing, tier_id)
    if tier_price(tier) != 0:
        raise ValidationFailed("This tier is paid: go through the checkout.", field="tier")
    _require_licence(accept_licence)
    with transaction.atomic():
        existing = _current(listing, tier, user, organization)
        if existing is not None:
            return existing
        sub = _new_subscription(
            listing=listing, tier=tier, user=user, organization=organization,
            status=SubscriptionStatus.ACTIVE,
        )  # fmt: skip
        sub.started_at = clock.now()
        sub.save(update_fields=["started_at"])
        _accept_licence(sub, listing, user, origin)
        audit.record(
            user,
            "commerce:subscription:started",
            sub,
            organization=listing.product.organization,
            product=str(listing.product),
            tier=tier.name,
            customer=sub.holder_name,
            price="free",
            **origin.audit_fields(),
        )
        transaction.on_commit(partial(mail.subscription_started, sub.pk))
    return sub


def checkout(
    *,
    listing: Listing,
    tier_id: int,
    user: User,
    organization: Organization | None = None,
    accept_licence: bool,
    signature: str,
    idempotency_key: str = "",
    origin: Origin,
) -> Order:
    """Confirm the purchase of a paid tier as the checkout page showed it: ``signature``
    is ``Checkout.signature`` of what the customer saw; if the price, tax or tier changed
    since, nothing is charged and the customer is asked to look again. The same
    ``idempotency_key`` again returns the same order."""
    _holder_check(user, organization)
    params = {
        "listing": listing.pk,
        "tier": tier_id,
        "organization": organization.pk if organization else None,
        "signature": signature,
    }
    replay = _replayed(user, "checkout", idempotency_key, params)
    if replay is not None:
        return Order.objects.get(pk=replay["order"])
    _require_licence(accept_licence)
    profile = billing.profile_of(user=user, organization=organization)
    if profile is None:
        raise ValidationFailed("Fill in the billing details first.", field="country")
    offer = quote(listing=listing, tier_id=tier_id, profile=profile)
    if offer.quote.net == 0:
        raise ValidationFailed("This tier is free: take it from the product page.", field="tier")
    if signature != offer.signature:
        raise Conflict(
            "The price, tax or tier changed since the checkout page was shown: look at the "
            "new total and confirm again.",
            field="signature",
        )
    provider = providers.get()
    try:
        order = _place(
            listing, offer, user, organization, profile, provider.name, origin,
            idempotency_key, params,
        )  # fmt: skip
    except IntegrityError:
        # The same key, sent twice at once: the other request placed the order.
        replay = _replayed(user, "checkout", idempotency_key, params)
        if replay is None:
            raise
        return Order.objects.get(pk=replay["order"])
    result = provider.start(order)
    apply_payment_result(order=order, result=result, acting=user, origin=origin)
    order.refresh_from_db()
    if order.status == OrderStatus.OPEN:
        transaction.on_commit(partial(mail.invoice_issued, order.pk))
    return order


def _place(
    listing: Listing,
    offer: Checkout,
    user: User,
    organization: Organization | None,
    profile: billing.BillingProfile,
    provider_name: str,
    origin: Origin,
    idempotency_key: str,
    params: dict[str, Any],
) -> Order:
    with transaction.atomic():
        sub = _current(listing, offer.tier, user, organization)
        if sub is not None and sub.status != SubscriptionStatus.PENDING:
            raise Conflict(
                f"{sub.holder_name} already has the {offer.tier.name} tier.", field="tier"
            )
        if sub is None:
            sub = _new_subscription(
                listing=listing, tier=offer.tier, user=user, organization=organization,
                status=SubscriptionStatus.PENDING,
            )  # fmt: skip
        else:
            for stale in sub.orders.filter(status=OrderStatus.OPEN):
                _void(stale, reason="replaced by a new checkout")
        _accept_licence(sub, listing, user, origin)
        order = _open_order(sub, offer.quote, offer.tax, profile, OrderKind.INITIAL, provider_name)
        audit.record(
            user,
            "commerce:order:placed",
            order,
            organization=listing.product.organization,
            product=str(listing.product),
            tier=offer.tier.name,
            customer=sub.holder_name,
            total=money.format_amount(order.total_minor, order.currency),
            tax=money.format_amount(order.tax_minor, order.currency),
            reverse_charge=order.reverse_charge,
            **origin.audit_fields(),
        )
        _remember(user, "checkout", idempotency_key, params, {"order": order.pk})
    return order


def _open_order(
    sub: Subscription,
    q: money.Quote,
    tax: billing.TaxDecision,
    profile: billing.BillingProfile,
    kind: str,
    provider: str,
) -> Order:
    now = clock.now()
    start = sub.current_period_end if kind == OrderKind.RENEWAL and sub.current_period_end else now
    order = Order.objects.create(
        subscription=sub,
        kind=kind,
        status=OrderStatus.OPEN,
        publisher=sub.product.organization,
        currency=q.currency,
        net_minor=q.net,
        tax_minor=q.tax,
        total_minor=q.total,
        tax_bp=q.tax_bp,
        tax_country=tax.country,
        reverse_charge=q.reverse_charge,
        share_bp=q.share_bp,
        store_share_minor=q.store_share,
        billing=billing.snapshot(profile, tax),
        provider=provider,
        period_start=start,
        period_end=money.period_end(start, sub.billing_period),
        created_at=now,
    )
    _issue_invoice(order, tax)
    ledger.post_charge(order)
    return order


def _issue_invoice(order: Order, tax: billing.TaxDecision) -> Invoice:
    now = clock.now()
    year, sequence, number = billing.next_invoice_number(now)
    sub = order.subscription
    revision = REVISIONS.get(sub.listing.revision_id)
    period = ""
    if order.period_end is not None and order.period_start is not None:
        period = f"{order.period_start.date().isoformat()} to {order.period_end.date().isoformat()}"
    return Invoice.objects.create(
        order=order,
        number=number,
        year=year,
        sequence=sequence,
        issued_at=now,
        document={
            "seller": {
                "name": settings.COMMERCE_STORE_NAME,
                "address": settings.COMMERCE_STORE_ADDRESS,
                "country": settings.COMMERCE_STORE_COUNTRY,
                "tax_id": settings.COMMERCE_STORE_TAX_ID,
            },
            "publisher": sub.product.organization.name,
            "buyer": order.billing,
            "lines": [
                {
                    "description": f"{revision.name or sub.product.name}: {sub.tier_name} "
                    f"({dict(money_periods()).get(sub.billing_period, sub.billing_period)})",
                    "period": period,
                    "net_minor": order.net_minor,
                }
            ],
            "currency": order.currency,
            "net_minor": order.net_minor,
            "tax_bp": order.tax_bp,
            "tax_minor": order.tax_minor,
            "total_minor": order.total_minor,
            "tax_name": tax.name,
            "note": tax.note,
        },
    )


def money_periods() -> list[tuple[str, str]]:
    return [
        ("free", "free"),
        ("one_time", "one-time"),
        ("monthly", "monthly"),
        ("yearly", "yearly"),
    ]


# --- payments ------------------------------------------------------------------------------------


def apply_payment_result(
    *, order: Order, result: providers.PaymentResult, acting: Any, origin: Origin
) -> None:
    if result.status == "paid":
        _paid(order=order, acting=acting, origin=origin, reference=result.reference)
        return
    if result.reference:  # the provider's handle on a payment still to come, or refused
        Order.objects.filter(pk=order.pk, status=OrderStatus.OPEN).update(
            provider_ref=result.reference[:100]
        )
        order.provider_ref = result.reference[:100]
    if result.status == "failed":
        payment_failed(order=order, reason=result.message or "the payment was declined")


def mark_paid(*, order: Order, acting: User, origin: Origin, reference: str = "") -> Order:
    """Confirm a manual payment (the store's admins; the publisher's owners if allowed)."""
    if not permissions.can_mark_paid(
        acting, order.publisher, publishers_may=settings.COMMERCE_PUBLISHER_MARKS_PAID
    ):
        raise PermissionDenied("You may not confirm payments of this order.")
    return _paid(order=order, acting=acting, origin=origin, reference=reference)


def _paid(*, order: Order, acting: Any, origin: Origin, reference: str) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status == OrderStatus.PAID:
            return order  # a second confirmation (a replayed webhook) changes nothing
        if order.status == OrderStatus.VOID:
            raise Conflict("This order was voided; it cannot be paid.")
        now = clock.now()
        order.status = OrderStatus.PAID
        order.paid_at = now
        order.failure = ""
        if reference:
            order.provider_ref = reference[:100]
        order.save(update_fields=["status", "paid_at", "failure", "provider_ref"])
        ledger.post_payment(order)
        sub = Subscription.objects.select_for_update().get(pk=order.subscription_id)
        if sub.status in ENDED_STATUSES:
            # Paid after it ended (a late bank transfer): the money is kept and can be
            # refunded, but nothing restarts by itself.
            pass
        else:
            _start_period(sub, order)
        audit.record(
            acting,
            "commerce:order:paid",
            order,
            organization=order.publisher,
            total=money.format_amount(order.total_minor, order.currency),
            provider=order.provider,
            reference=order.provider_ref,
            **origin.audit_fields(),
        )
        transaction.on_commit(partial(mail.receipt, order.pk))
    return order


def _start_period(sub: Subscription, order: Order) -> None:
    now = clock.now()
    sub.status = SubscriptionStatus.ACTIVE
    sub.started_at = sub.started_at or now
    start = order.period_start or now
    if order.kind == OrderKind.INITIAL:
        start = now  # a period starts when the first payment arrives
    end = money.period_end(start, sub.billing_period)
    sub.current_period_start = start
    sub.current_period_end = end
    sub.access_until = end
    sub.renewal_attempts = 0
    sub.next_attempt_at = end
    sub.save()


def payment_failed(*, order: Order, reason: str) -> None:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != OrderStatus.OPEN:
            return
        order.failure = reason[:300]
        order.save(update_fields=["failure"])
        audit.record(
            "system",
            "commerce:order:payment_failed",
            order,
            organization=order.publisher,
            reason=reason[:300],
        )
        transaction.on_commit(partial(mail.payment_failed, order.pk))


def _void(order: Order, *, reason: str) -> None:
    order.status = OrderStatus.VOID
    order.failure = reason[:300]
    order.save(update_fields=["status", "failure"])
    ledger.post_void(order)
    # A payment the provider still holds open for it is withdrawn once this commits.
    transaction.on_commit(partial(_withdraw_payment, order.pk))


def _withdraw_payment(order_id: int) -> None:
    order = Order.objects.get(pk=order_id)
    try:
        providers.by_name(order.provider).void(order)
    except Exception:
        logger.exception("could not withdraw the open payment of order %s", order_id)


# --- cancelling ----------------------------------------------------------------------------------


def cancel(*, subscription: Subscription, acting: User, origin: Origin) -> Subscription:
    """Free tiers end at once; paid recurring ones at the end of the period already paid;
    an unpaid checkout is voided. A one-time purchase has nothing to cancel."""
    if not permissions.can_manage_subscription(acting, subscription):
        raise PermissionDenied("You may not cancel this subscription.")
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        now = clock.now()
        if sub.status in ENDED_STATUSES:
            return sub
        if sub.cancel_at_period_end:
            return sub
        if sub.status == SubscriptionStatus.PENDING or sub.price_minor == 0:
            for order in sub.orders.filter(status=OrderStatus.OPEN):
                _void(order, reason="cancelled by the customer")
            _end(sub, SubscriptionStatus.CANCELLED, "cancelled by the customer")
        elif sub.billing_period == "one_time":
            raise Conflict(
                "A one-time purchase does not renew, so there is nothing to cancel; ask the "
                "publisher for a refund instead.",
            )
        else:
            sub.cancel_at_period_end = True
            sub.cancelled_at = now
            sub.save(update_fields=["cancel_at_period_end", "cancelled_at"])
        audit.record(
            acting,
            "commerce:subscription:cancelled",
            sub,
            organization=sub.product.organization,
            effective=(
                sub.current_period_end.isoformat()
                if sub.cancel_at_period_end and sub.current_period_end
                else now.isoformat()
            ),
            **origin.audit_fields(),
        )
        transaction.on_commit(partial(mail.cancelled, sub.pk))
    return sub


def _end(sub: Subscription, status: str, reason: str) -> None:
    now = clock.now()
    sub.status = status
    sub.ended_at = now
    sub.end_reason = reason[:200]
    sub.access_until = now
    sub.next_attempt_at = None
    sub.save()


def set_notifications(
    *, subscription: Subscription, on: bool, acting: User, origin: Origin
) -> None:
    if not permissions.can_manage_subscription(acting, subscription):
        raise PermissionDenied("You may not change this subscription.")
    Subscription.objects.filter(pk=subscription.pk).update(notifications=on)


# --- refunds -------------------------------------------------------------------------------------


REFUND_KINDS = ("refund", "chargeback", "provider_refund")


def refund(
    *,
    order: Order,
    amount_minor: int | None,
    reason: str,
    acting: Any,
    origin: Origin,
    idempotency_key: str = "",
    kind: str = "refund",
    reference: str = "",
) -> Refund:
    """Send money of a paid order back: all that is left (``amount_minor`` None) or part
    of it, never more than was paid less what was refunded. A full refund ends the
    subscription at once.

    ``kind`` ``refund`` is a refund the store sends (a store admin or the publisher's
    owner asks; the provider moves the money). ``chargeback`` and ``provider_refund``
    record money the provider already moved (a dispute, a refund made in the provider's
    own dashboard), named by the provider's ``reference``: nobody is asked and the
    provider is not called again."""
    if kind not in REFUND_KINDS:
        raise ValueError(f"unknown refund kind {kind!r}")
    if kind == "refund" and not permissions.can_refund(acting, order.publisher):
        raise PermissionDenied("You may not refund this order.")
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the order is refunded.", field="reason")
    params = {"order": order.pk, "amount": amount_minor, "kind": kind}
    replay = _replayed(acting, "refund", idempotency_key, params) if idempotency_key else None
    if replay is not None:
        return Refund.objects.get(pk=replay["refund"])
    provider = providers.by_name(order.provider)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != OrderStatus.PAID:
            raise Conflict("Only a paid order can be refunded.")
        amount = order.total_minor - order.refunded_minor if amount_minor is None else amount_minor
        before = _refunded_split(order)
        try:
            split = money.split_refund(_quote_of(order), before, amount)
        except money.MoneyError as exc:
            raise ValidationFailed(exc.message, field="amount") from None
        if kind == "refund":
            try:
                reference = provider.refund(order, split.total)
            except providers.RefundFailed as exc:
                raise Conflict(f"The payment provider refused the refund: {exc}") from None
        elif reference and order.refunds.filter(provider_ref=reference[:100]).exists():
            return order.refunds.get(provider_ref=reference[:100])  # already recorded
        made = Refund.objects.create(
            order=order,
            amount_minor=split.total,
            net_minor=split.net,
            tax_minor=split.tax,
            store_share_minor=split.store_share,
            reason=reason[:500],
            kind="chargeback" if kind == "chargeback" else "refund",
            created_at=clock.now(),
            created_by=acting if isinstance(acting, User) else None,
            provider_ref=reference[:100],
        )
        order.refunded_minor += split.total
        order.save(update_fields=["refunded_minor"])
        ledger.post_refund(order, made)
        full = order.refunded_minor == order.total_minor
        if full:
            sub = Subscription.objects.select_for_update().get(pk=order.subscription_id)
            if sub.status not in ENDED_STATUSES:
                _end(sub, SubscriptionStatus.REFUNDED, f"{kind}: {reason}")
        audit.record(
            acting,
            f"commerce:order:{'charged_back' if kind == 'chargeback' else 'refunded'}",
            order,
            organization=order.publisher,
            amount=money.format_amount(split.total, order.currency),
            full=full,
            reason=reason[:500],
            **origin.audit_fields(),
        )
        _remember(acting, "refund", idempotency_key, params, {"refund": made.pk})
        transaction.on_commit(partial(mail.refunded, made.pk))
    return made


def _quote_of(order: Order) -> money.Quote:
    return money.Quote(
        currency=order.currency,
        net=order.net_minor,
        tax_bp=order.tax_bp,
        tax=order.tax_minor,
        share_bp=order.share_bp,
        store_share=order.store_share_minor,
        reverse_charge=order.reverse_charge,
    )


def _refunded_split(order: Order) -> money.RefundSplit | None:
    total = None
    for r in order.refunds.all():
        total = money.add_refunds(
            total, money.RefundSplit(r.amount_minor, r.net_minor, r.tax_minor, r.store_share_minor)
        )
    return total


def is_running(sub: Subscription) -> bool:
    return sub.status in ENTITLED_STATUSES
