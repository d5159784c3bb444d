"""Paying an order in the browser with a provider that takes cards (Stripe).

The checkout places the order and, when the provider needs the customer to confirm a
payment (``stripe``), sends them here: the page mounts Stripe's own payment form (Stripe.js
from js.stripe.com, the only page whose Content Security Policy lets it in) with the
order's client secret; Stripe sends the customer back to ``order_return``, which asks
Stripe how the payment stands and applies it (the webhook that follows changes nothing).
A manual order has nothing to pay here: both pages go to its invoice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_safe

from portside.accounts import permissions
from portside.commerce import money, providers, services
from portside.commerce.entitlements import absolute
from portside.commerce.models import Order, OrderStatus
from portside.core.origin import from_request

STRIPE_JS = "https://js.stripe.com"
# Stripe.js runs from js.stripe.com, draws its card fields in frames of its own and talks
# to api.stripe.com; nothing else is added to the store's policy, and only on this page.
PAYMENT_CSP: dict[str, Any] = {
    **settings.SECURE_CSP,
    "script-src": [CSP.SELF, STRIPE_JS],
    "frame-src": [STRIPE_JS, "https://hooks.stripe.com"],
    "connect-src": [CSP.SELF, "https://api.stripe.com"],
}


def _order(request: HttpRequest, pk: int) -> Order:
    order = (
        Order.objects.select_related("subscription__product", "subscription__organization")
        .select_related("invoice", "publisher")
        .filter(pk=pk)
        .first()
    )
    # The customer's side only: the publisher and the store team see the invoice, and
    # have nothing to pay.
    if order is None or not permissions.can_manage_subscription(request.user, order.subscription):
        raise Http404("No such order.")
    return order


def _provider(order: Order) -> Any:
    provider = providers.by_name(order.provider)
    return provider if hasattr(provider, "client_secret") else None


@login_required
@require_safe
@csp_override(PAYMENT_CSP)
def order_pay(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(request, pk)
    provider = _provider(order)
    secret = provider.client_secret(order) if provider and order.status == OrderStatus.OPEN else ""
    if not secret:
        return redirect("invoice_detail", number=order.invoice.number)
    return render(
        request,
        "commerce/pay.html",
        {
            "order": order,
            "total": money.format_amount(order.total_minor, order.currency),
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "client_secret": secret,
            "return_url": absolute(reverse("order_return", args=[order.pk])),
        },
    )


@login_required
@require_safe
def order_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Where Stripe sends the customer back: the payment as Stripe has it now."""
    order = _order(request, pk)
    provider = _provider(order)
    if provider is not None and order.status == OrderStatus.OPEN:
        result = provider.payment_status(order)
        services.apply_payment_result(
            order=order, result=result, acting=request.user, origin=from_request(request)
        )
        order.refresh_from_db()
        if order.status == OrderStatus.PAID:
            messages.success(request, "Paid. The tier is in your library.")
        elif result.status == "failed":
            messages.error(request, f"The payment did not go through: {result.message}")
            return redirect("order_pay", pk=order.pk)
        else:
            messages.info(request, "The payment is being confirmed; this page shows it once it is.")
    return redirect("invoice_detail", number=order.invoice.number)
