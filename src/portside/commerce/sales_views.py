"""A publisher's sales: orders with their tax and the store's share, active subscriptions,
refunds, what the store owes, and recent pulls by customers; refunds and, when the store
allows it, confirming manual payments.

Members who may not see sales (viewers) get 403, everyone outside the organisation 404.
The refund page is shared with the store team's order page.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Organization, User
from portside.commerce import ledger, money, services
from portside.commerce.forms import MarkPaidForm, RefundForm
from portside.commerce.models import (
    ENDED_STATUSES,
    ENTITLED_STATUSES,
    Order,
    PullRecord,
    Refund,
    Subscription,
)
from portside.commerce.views import forbidden, order_rows, refund_rows
from portside.core.errors import Conflict, PermissionDenied, PortsideError
from portside.core.origin import from_request


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # behind login_required
    return user


def _publisher(request: HttpRequest, name: str) -> Organization:
    """The publisher's organisation, or 404 for anyone who may not see it."""
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_organization(request.user, org):
        raise Http404("No such organisation.")
    return org


def _sale(org: Organization, pk: int) -> Order:
    order = (
        Order.objects.select_related("subscription__product", "invoice", "publisher")
        .filter(pk=pk, publisher=org)
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


@login_required
@require_safe
def sales(request: HttpRequest, name: str) -> HttpResponse:
    org = _publisher(request, name)
    if not permissions.can_view_sales(request.user, org):
        return forbidden(request, "Sales are shown to the organisation's owners and editors.")
    orders = (
        Order.objects.filter(publisher=org)
        .select_related("subscription__product", "subscription__organization", "invoice")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(orders, 50).get_page(request.GET.get("page"))
    active = (
        Subscription.objects.filter(product__organization=org, status__in=ENTITLED_STATUSES)
        .values("product__name", "tier_name")
        .annotate(count=Count("pk"))
        .order_by("product__name", "tier_name")
    )
    refunds = (
        Refund.objects.filter(order__publisher=org)
        .select_related("order__invoice", "order__subscription__product")
        .order_by("-created_at", "-pk")[:50]
    )
    owed = [
        money.format_amount(amount, currency)
        for currency, amount in sorted(ledger.owed_to(org.pk).items())
    ]
    pulls = PullRecord.objects.filter(publisher_id=org.pk).select_related("product")
    return render(
        request,
        "commerce/sales.html",
        {
            "org": org,
            "page": page,
            "orders": order_rows(page.object_list),
            "active": active,
            "refunds": refund_rows(refunds),
            "owed": owed,
            "pulls": pulls.order_by("-pulled_at", "-pk")[:50],
            "can_refund": permissions.can_refund(request.user, org),
            "can_mark_paid": settings.COMMERCE_PUBLISHER_MARKS_PAID
            and permissions.can_mark_paid(request.user, org, publishers_may=True),
        },
    )


def refund_page(
    request: HttpRequest,
    order: Order,
    *,
    done_url: str,
    back_url: str,
    template: str = "commerce/refund.html",
) -> HttpResponse:
    """The confirmation page of a refund and its POST, shared by the publisher's and the
    store team's routes (each checks who may reach it first)."""
    left = money.format_amount(order.refundable_minor, order.currency)
    form = RefundForm(
        request.POST if request.method == "POST" else None,
        currency=order.currency,
        left=left,
        initial={"idempotency_key": uuid.uuid4().hex},
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                amount = form.amount_minor()
            except money.MoneyError as exc:
                form.add_error("amount", exc.message)
            else:
                try:
                    made = services.refund(
                        order=order,
                        amount_minor=amount,
                        reason=form.cleaned_data["reason"],
                        acting=_me(request),
                        origin=from_request(request),
                        idempotency_key=form.cleaned_data["idempotency_key"],
                    )
                except PermissionDenied as exc:
                    return forbidden(request, exc.message)
                except Conflict as exc:
                    form.add_error(None, exc.message)
                    status = 409
                except PortsideError as exc:
                    add_domain_error(form, exc)
                else:
                    refunded = money.format_amount(made.amount_minor, order.currency)
                    messages.success(request, f"Refunded {refunded} of order {order.pk}.")
                    return redirect(done_url)
        status = status if status != 200 else 400
    return render(
        request,
        template,
        {
            "order": order,
            "rows": order_rows([order]),
            "form": form,
            "left": left,
            "back_url": back_url,
            "full_ends": order.subscription.status not in ENDED_STATUSES,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def order_refund(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    org = _publisher(request, name)
    if not permissions.can_view_sales(request.user, org):
        return forbidden(request, "Sales are shown to the organisation's owners and editors.")
    order = _sale(org, pk)
    if not permissions.can_refund(request.user, org):
        return forbidden(request, "Only the organisation's owners refund orders.")
    url = reverse("sales", args=[org.name])
    return refund_page(request, order, done_url=url, back_url=url)


@login_required
@require_POST
def publisher_mark_paid(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    org = _publisher(request, name)
    if not permissions.can_view_sales(request.user, org):
        return forbidden(request, "Sales are shown to the organisation's owners and editors.")
    order = _sale(org, pk)
    form = MarkPaidForm(request.POST)
    reference = form.cleaned_data["reference"] if form.is_valid() else ""
    try:
        services.mark_paid(
            order=order, acting=_me(request), origin=from_request(request), reference=reference
        )
    except PermissionDenied as exc:
        return forbidden(request, exc.message)
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Order {order.pk} is paid; the subscription has started.")
    return redirect("sales", name=org.name)
