"""Periods ending: renewals charged by the worker, retries, lapses and reminders.

The worker calls :func:`run_due` (hourly, and on demand). For each subscription whose
paid period has ended:

- cancelled at period end, or its listing revoked for overdue security fixes: it ends
  (``cancelled``), with no charge;
- otherwise a renewal order is opened (with its invoice and ledger charge) and the
  provider charges it: paid, the next period starts; pending (an invoice to pay by
  transfer) or failed, the subscription is ``past_due`` and stays entitled while the
  payment is retried ``PORTSIDE_RENEWAL_RETRY_DAYS`` after the period's end (1, 3 and 7
  days by default), the customer mailed each time; after the last try it lapses and the
  open order is voided.

Each subscription is handled in its own transaction under a row lock, so two workers (or
a worker and a customer cancelling) never both act on one: the second sees the state the
first left.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F

from portside.audit import services as audit
from portside.catalog.models import ListingState
from portside.commerce import billing, mail, money, providers, services
from portside.commerce.models import (
    Order,
    OrderKind,
    OrderStatus,
    Subscription,
    SubscriptionStatus,
)
from portside.core import clock
from portside.core.origin import Origin

logger = logging.getLogger(__name__)
WORKER = Origin(user_agent="portside-worker")


@dataclass
class Outcome:
    renewed: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lapsed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)


def _audit(action: str, target: Subscription | Order, **details: str) -> None:
    sub = target if isinstance(target, Subscription) else target.subscription
    audit.record("system", action, target, organization=sub.product.organization, **details)


def due(now: dt.datetime) -> list[int]:
    return list(
        Subscription.objects.filter(
            status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE],
            billing_period__in=["monthly", "yearly"],
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
    )


def run_due(now: dt.datetime | None = None) -> Outcome:
    now = now or clock.now()
    outcome = Outcome()
    for pk in due(now):
        try:
            _one(pk, outcome)
        except Exception:  # one customer's problem must not stop everyone's renewal
            logger.exception("renewal of subscription %s failed", pk)
    outcome.reminded = remind(now)
    return outcome


def _one(pk: int, outcome: Outcome) -> None:
    provider = providers.get()
    charge: Order | None = None
    with transaction.atomic():
        sub = (
            Subscription.objects.select_for_update()
            .select_related("product__organization", "listing")
            .get(pk=pk)
        )
        now = clock.now()
        if (
            sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
            or sub.next_attempt_at is None
            or sub.next_attempt_at > now
        ):
            return  # another worker, a payment or a cancellation got there first
        if sub.cancel_at_period_end:
            services._end(sub, SubscriptionStatus.CANCELLED, "cancelled at the end of the period")
            _audit("commerce:subscription:ended", sub, reason="cancelled")
            outcome.cancelled.append(pk)
            transaction.on_commit(partial(mail.ended, sub.pk))
            return
        if sub.listing.state == ListingState.REVOKED:
            # Nobody is charged again for a listing revoked for overdue security fixes.
            services._end(sub, SubscriptionStatus.CANCELLED, "the listing was revoked")
            _audit("commerce:subscription:ended", sub, reason="listing revoked")
            outcome.cancelled.append(pk)
            transaction.on_commit(partial(mail.ended, sub.pk))
            return
        open_order = sub.orders.filter(kind=OrderKind.RENEWAL, status=OrderStatus.OPEN).first()
        period_end = sub.current_period_end or now
        if open_order is None:
            profile = billing.profile_of(user=sub.user, organization=sub.organization)
            if profile is None:
                services._end(sub, SubscriptionStatus.LAPSED, "no billing details to renew with")
                outcome.lapsed.append(pk)
                transaction.on_commit(partial(mail.ended, sub.pk))
                return
            decision = billing.decide(profile)
            q = money.quote(
                sub.price_minor,
                sub.currency,
                tax_bp=decision.rate_bp,
                share_bp=services.share_bp(sub.product.organization),
                reverse_charge=decision.reverse_charge,
            )
            open_order = services._open_order(
                sub, q, decision, profile, OrderKind.RENEWAL, provider.name
            )
            _audit("commerce:order:renewal_opened", open_order)
        attempt = sub.renewal_attempts
        if attempt >= len(settings.COMMERCE_RETRY_DAYS):
            services._void(open_order, reason="renewal not paid")
            services._end(sub, SubscriptionStatus.LAPSED, "renewal not paid")
            _audit("commerce:subscription:lapsed", sub)
            outcome.lapsed.append(pk)
            transaction.on_commit(partial(mail.ended, sub.pk))
            return
        # The next try is the first scheduled one still ahead (a worker that was down for
        # days does not spend the missed tries one hour after another); with none left,
        # the next run lets the subscription lapse.
        slots = [period_end + dt.timedelta(days=d) for d in settings.COMMERCE_RETRY_DAYS]
        upcoming = [slot for slot in slots if slot > now]
        sub.renewal_attempts = attempt + 1 if upcoming else len(slots)
        sub.status = SubscriptionStatus.PAST_DUE
        sub.next_attempt_at = upcoming[0] if upcoming else now
        # Entitled while the payment is retried; the last try decides.
        sub.access_until = slots[-1] if slots else now
        sub.save()
        charge = open_order
    result = provider.charge_renewal(charge)
    services.apply_payment_result(order=charge, result=result, acting="system", origin=WORKER)
    charge.refresh_from_db()
    if charge.status == OrderStatus.PAID:
        outcome.renewed.append(pk)
    elif result.status == "pending":
        outcome.pending.append(pk)
        if sub.renewal_attempts == 1:
            transaction.on_commit(partial(mail.invoice_issued, charge.pk))
        else:
            transaction.on_commit(partial(mail.payment_failed, charge.pk))
    else:
        outcome.failed.append(pk)


def remind(now: dt.datetime) -> list[int]:
    """Mail customers whose paid period ends within ``PORTSIDE_RENEWAL_REMINDER_DAYS``,
    once per period (the audit row of the reminder is the record that it was sent)."""
    horizon = now + dt.timedelta(days=settings.COMMERCE_REMINDER_DAYS)
    candidates = Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE,
        billing_period__in=["monthly", "yearly"],
        cancel_at_period_end=False,
        current_period_end__gt=now,
        current_period_end__lte=horizon,
    ).exclude(reminded_for=F("current_period_end"))
    sent = []
    for sub in candidates.select_related("product__organization"):
        with transaction.atomic():
            updated = (
                Subscription.objects.filter(pk=sub.pk, current_period_end=sub.current_period_end)
                .exclude(reminded_for=F("current_period_end"))
                .update(reminded_for=F("current_period_end"))
            )
            if not updated:
                continue
            _audit("commerce:subscription:reminded", sub)
            transaction.on_commit(partial(mail.renewal_reminder, sub.pk))
        sent.append(sub.pk)
    return sent
