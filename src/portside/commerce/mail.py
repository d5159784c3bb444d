"""The customers' mail: receipt, invoice, renewal reminder, failed payment, cancellation,
refund, the end of a subscription. Each is sent after the transaction that caused it
commits (callers use ``transaction.on_commit``), takes ids and loads what it needs, and
links to the page concerned. A mail that cannot be sent is logged; the change stands."""

from __future__ import annotations

import logging

from django.core.mail import EmailMessage
from django.urls import reverse

from portside.accounts.models import Membership, OrgRole
from portside.commerce import money
from portside.commerce.entitlements import absolute
from portside.commerce.models import Order, Refund, Subscription

logger = logging.getLogger(__name__)


def recipients(sub: Subscription) -> list[str]:
    """Who hears about a subscription: who took it, and the customer organisation's owners."""
    to = {sub.user.email} if sub.user.email else set()
    if sub.organization_id:
        owners = Membership.objects.filter(
            organization_id=sub.organization_id, role=OrgRole.OWNER
        ).select_related("user")
        to.update(m.user.email for m in owners if m.user.email)
    return sorted(to)


def _send(
    subject: str, body: str, to: list[str], attachments: tuple[tuple[str, bytes, str], ...] = ()
) -> None:
    if not to:
        return
    try:
        message = EmailMessage(subject=f"[Portside] {subject}", body=body, to=to)
        for name, content, mimetype in attachments:
            message.attach(name, content, mimetype)
        message.send()
    except Exception:
        logger.exception("could not send mail %r to %s", subject, ", ".join(to))


def _library(sub: Subscription) -> str:
    return absolute(reverse("library_subscription", args=[sub.pk]))


def _invoice_url(order: Order) -> str:
    return absolute(reverse("invoice_detail", args=[order.invoice.number]))


def _product(sub: Subscription) -> str:
    return f"{sub.product.name} ({sub.tier_name})"


def _pdf(order: Order) -> tuple[tuple[str, bytes, str], ...]:
    from portside.commerce.documents import invoice_pdf

    try:
        return ((f"{order.invoice.number}.pdf", invoice_pdf(order.invoice), "application/pdf"),)
    except Exception:
        logger.exception("could not render the PDF of invoice %s", order.invoice.number)
        return ()


def subscription_started(subscription_id: int) -> None:
    sub = Subscription.objects.select_related("product", "user").get(pk=subscription_id)
    _send(
        f"You have {_product(sub)}",
        f"{sub.holder_name} now has the {sub.tier_name} tier of {sub.product.name}.\n\n"
        f"The commands to sign in and pull are on your library page:\n{_library(sub)}\n",
        recipients(sub),
    )


def invoice_issued(order_id: int) -> None:
    order = Order.objects.select_related(
        "subscription__product", "subscription__user", "invoice"
    ).get(pk=order_id)
    sub = order.subscription
    from portside.commerce import providers

    instructions = providers.by_name(order.provider).instructions(order)
    total = money.format_amount(order.total_minor, order.currency)
    _send(
        f"Invoice {order.invoice.number}: {total} for {_product(sub)}",
        f"Invoice {order.invoice.number} for {_product(sub)} is {total}.\n\n"
        f"{instructions}\n\nThe invoice: {_invoice_url(order)}\n",
        recipients(sub),
        _pdf(order),
    )


def receipt(order_id: int) -> None:
    order = Order.objects.select_related(
        "subscription__product", "subscription__user", "invoice"
    ).get(pk=order_id)
    sub = order.subscription
    total = money.format_amount(order.total_minor, order.currency)
    until = f" until {sub.current_period_end.date().isoformat()}" if sub.current_period_end else ""
    _send(
        f"Receipt for {_product(sub)}: {total} paid",
        f"We received {total} for invoice {order.invoice.number}.\n"
        f"{sub.holder_name} has the {sub.tier_name} tier of {sub.product.name}{until}.\n\n"
        f"Pull commands: {_library(sub)}\nThe invoice: {_invoice_url(order)}\n",
        recipients(sub),
        _pdf(order),
    )


def payment_failed(order_id: int) -> None:
    order = Order.objects.select_related(
        "subscription__product", "subscription__user", "invoice"
    ).get(pk=order_id)
    sub = order.subscription
    total = money.format_amount(order.total_minor, order.currency)
    when = sub.access_until.date().isoformat() if sub.access_until else "soon"
    _send(
        f"Payment needed for {_product(sub)}",
        f"The payment of {total} for {_product(sub)} has not arrived"
        f"{': ' + order.failure if order.failure else ''}.\n"
        f"Without it the subscription ends on {when}.\n\n"
        f"The invoice: {_invoice_url(order)}\nYour subscription: {_library(sub)}\n",
        recipients(sub),
    )


def renewal_reminder(subscription_id: int) -> None:
    sub = Subscription.objects.select_related("product", "user").get(pk=subscription_id)
    price = money.format_amount(sub.price_minor, sub.currency)
    when = sub.current_period_end.date().isoformat() if sub.current_period_end else ""
    _send(
        f"{_product(sub)} renews on {when}",
        f"{_product(sub)} renews on {when} for {price} plus any tax.\n"
        f"To stop it, cancel before then: {_library(sub)}\n",
        recipients(sub),
    )


def cancelled(subscription_id: int) -> None:
    sub = Subscription.objects.select_related("product", "user").get(pk=subscription_id)
    if sub.cancel_at_period_end and sub.current_period_end:
        text = (
            f"{_product(sub)} is cancelled: it will not renew, and you can pull until "
            f"{sub.current_period_end.date().isoformat()}."
        )
    else:
        text = f"{_product(sub)} is cancelled and has ended."
    _send(f"{_product(sub)} cancelled", f"{text}\n\n{_library(sub)}\n", recipients(sub))


def ended(subscription_id: int) -> None:
    sub = Subscription.objects.select_related("product", "user").get(pk=subscription_id)
    _send(
        f"{_product(sub)} has ended",
        f"{_product(sub)} has ended ({sub.get_status_display().lower()}: {sub.end_reason}).\n"
        f"Pulls of its images are refused from now on. To take it again: "
        + absolute(
            reverse("product_detail", args=[sub.product.organization.name, sub.product.slug])
        )
        + "\n",
        recipients(sub),
    )


def refunded(refund_id: int) -> None:
    made = Refund.objects.select_related("order__subscription__product", "order__invoice").get(
        pk=refund_id
    )
    order = made.order
    sub = order.subscription
    amount = money.format_amount(made.amount_minor, order.currency)
    ended_text = " The subscription has ended." if order.refunded_minor == order.total_minor else ""
    _send(
        f"Refund of {amount} for {_product(sub)}",
        f"{amount} of invoice {order.invoice.number} is refunded: {made.reason}.{ended_text}\n\n"
        f"The invoice: {_invoice_url(order)}\n",
        recipients(sub),
    )
