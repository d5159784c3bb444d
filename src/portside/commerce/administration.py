"""The store team's use cases of commerce: tax rates, revenue shares, payouts and
revoking a subscription. Each is for the store's admins, audited, in one transaction."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.audit import services as audit
from portside.commerce import billing, ledger, money, providers
from portside.commerce.models import (
    ENDED_STATUSES,
    PublisherTerms,
    Subscription,
    SubscriptionStatus,
)
from portside.commerce.services import _end
from portside.core import clock
from portside.core.errors import Conflict, PermissionDenied, ValidationFailed
from portside.core.origin import Origin


def set_tax_rate(
    *, country: str, percent: str, starts_on: Any, name: str, acting: User, origin: Origin
) -> billing.TaxRate:
    if not permissions.can_manage_commerce(acting):
        raise PermissionDenied("Only the store's admins manage tax rates.")
    country = billing.clean_country(country)
    try:
        bp = money.percent_to_bp(percent)
    except money.MoneyError as exc:
        raise ValidationFailed(exc.message, field="rate") from None
    name = str(name or "VAT").strip()[:60] or "VAT"
    with transaction.atomic():
        try:
            rate, _ = billing.TaxRate.objects.update_or_create(
                country=country,
                starts_on=starts_on,
                defaults={
                    "rate_bp": bp,
                    "name": name,
                    "created_at": clock.now(),
                    "created_by": acting,
                },
            )
        except IntegrityError:
            raise Conflict("A rate for that country and day exists.") from None
        audit.record(
            acting,
            "commerce:tax_rate:set",
            rate,
            country=country,
            rate=money.bp_label(bp),
            starts_on=str(starts_on),
            **origin.audit_fields(),
        )
    return rate


def set_revenue_share(
    *, publisher: Organization, percent: str | None, acting: User, origin: Origin
) -> int:
    """Override the store's share for one publisher (None goes back to the default)."""
    if not permissions.can_manage_commerce(acting):
        raise PermissionDenied("Only the store's admins set revenue shares.")
    with transaction.atomic():
        if percent in (None, ""):
            PublisherTerms.objects.filter(organization=publisher).delete()
            bp = settings.COMMERCE_REVENUE_SHARE_BP
        else:
            try:
                bp = money.percent_to_bp(str(percent), field="share")
            except money.MoneyError as exc:
                raise ValidationFailed(exc.message, field="share") from None
            PublisherTerms.objects.update_or_create(
                organization=publisher,
                defaults={"share_bp": bp, "updated_at": clock.now(), "updated_by": acting},
            )
        audit.record(
            acting,
            "commerce:revenue_share:set",
            publisher,
            organization=publisher,
            share=money.bp_label(bp),
            default=percent in (None, ""),
            **origin.audit_fields(),
        )
    return bp


def record_payout(
    *,
    publisher: Organization,
    currency: str,
    amount_minor: int,
    memo: str,
    acting: User,
    origin: Origin,
) -> None:
    if not permissions.can_manage_commerce(acting):
        raise PermissionDenied("Only the store's admins record payouts.")
    owed = ledger.owed_to(publisher.pk).get(currency, 0)
    if amount_minor <= 0 or amount_minor > owed:
        raise ValidationFailed(
            "A payout is more than zero and at most what is owed "
            f"({money.format_amount(owed, currency)}).",
            field="amount",
        )
    with transaction.atomic():
        ledger.post_payout(publisher.pk, currency, amount_minor, providers.get().name, memo)
        audit.record(
            acting,
            "commerce:payout:recorded",
            publisher,
            organization=publisher,
            amount=money.format_amount(amount_minor, currency),
            memo=memo[:200],
            **origin.audit_fields(),
        )


def revoke(*, subscription: Subscription, reason: str, acting: User, origin: Origin) -> None:
    if not permissions.can_manage_commerce(acting):
        raise PermissionDenied("Only the store's admins revoke subscriptions.")
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status in ENDED_STATUSES:
            return
        _end(sub, SubscriptionStatus.REVOKED, reason or "revoked by the store")
        audit.record(
            acting, "commerce:subscription:revoked", sub, organization=sub.product.organization,
            reason=reason[:300], **origin.audit_fields(),
        )  # fmt: skip
