"""Pages of commerce for customers: taking a free tier, the checkout, the library with
its pull commands, billing and invoices.

The views translate between HTTP and ``commerce.services``: prices, tax, who may buy,
cancel or refund are decided there (and in ``accounts.permissions``), never here. A
subscription, an invoice or a publisher's sales that the user may not see answer 404, so
their existence stays private; a known thing the user may not change answers 403. A
publisher's sales are in ``sales_views``, the store team's pages in ``staff_views``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Membership, Organization, User
from portside.catalog.models import Listing
from portside.commerce import billing, documents, entitlements, money, providers, services
from portside.commerce.entitlements import FrozenTier
from portside.commerce.forms import COUNTRY_NAMES, BillingForm, ConfirmForm, HolderForm
from portside.commerce.models import (
    ENDED_STATUSES,
    ENTITLED_STATUSES,
    Invoice,
    Order,
    OrderStatus,
    Refund,
    Subscription,
    SubscriptionStatus,
)
from portside.core.errors import Conflict, NotFound, PermissionDenied, PortsideError
from portside.core.origin import from_request

PERIODS = {"free": "free", "one_time": "one-time", "monthly": "per month", "yearly": "per year"}


def _me(request: HttpRequest) -> User:
    """The signed-in user (views using it are behind ``login_required``)."""
    user = request.user
    assert isinstance(user, User)
    return user


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)


# --- offers ---------------------------------------------------------------------------------


def _listing(org: str, slug: str) -> Listing:
    """The product's live listing; 404 for anything else, as on the storefront."""
    listing = (
        Listing.objects.live()
        .select_related("revision", "product__organization")
        .filter(product__organization__name=org, product__slug=slug)
        .first()
    )
    if listing is None:
        raise Http404("No such product.")
    return listing


def _tier(listing: Listing, tier_id: int) -> FrozenTier:
    try:
        return services.live_tier(listing, tier_id)
    except NotFound:
        raise Http404("This product has no such tier.") from None


def _holder(user: User, name: str) -> Organization | None:
    """The organisation a tier is taken for (None: the user), among the user's own; an
    organisation the user does not belong to is not named to them (404)."""
    name = str(name or "").strip()
    if not name:
        return None
    membership = (
        Membership.objects.filter(user=user, organization__name=name)
        .select_related("organization")
        .first()
    )
    if membership is None:
        raise Http404("No such organisation.")
    return membership.organization


def _licence_url(listing: Listing) -> str:
    return entitlements.REVISIONS.get(listing.revision_id).license_url


def _running(listing: Listing, tier: FrozenTier, user: User) -> Subscription | None:
    """A subscription to this tier that the user already pulls under (theirs or an
    organisation's), to point to instead of taking the tier again."""
    return (
        Subscription.objects.filter(entitlements.holder_q(user.pk))
        .filter(product_id=listing.product_id, tier_id=tier.id or 0)
        .filter(status__in=ENTITLED_STATUSES)
        .order_by("-created_at")
        .first()
    )


def _price(tier: FrozenTier) -> str:
    minor = services.tier_price(tier)
    if minor == 0:
        return "Free"
    return f"{money.format_amount(minor, tier.currency)} {PERIODS.get(tier.billing_period, '')}"


@login_required
@require_http_methods(["GET", "POST"])
def take_tier(request: HttpRequest, org: str, slug: str, tier: int) -> HttpResponse:
    listing = _listing(org, slug)
    offered = _tier(listing, tier)
    if services.tier_price(offered) != 0:
        return redirect("checkout", org=org, slug=slug, tier=tier)
    me = _me(request)
    form = HolderForm(request.POST if request.method == "POST" else None, user=me)
    if request.method == "POST":
        holder = _holder(me, request.POST.get("holder", ""))
        try:
            sub = services.take_free_tier(
                listing=listing,
                tier_id=tier,
                user=me,
                organization=holder,
                accept_licence=request.POST.get("accept_licence") in ("on", "true", "1"),
                origin=from_request(request),
            )
        except PermissionDenied as exc:
            return forbidden(request, exc.message)
        except NotFound:
            raise Http404("This product has no such tier.") from None
        except PortsideError as exc:
            form.is_valid()
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                f"{sub.holder_name} has the {sub.tier_name} tier of {listing.product.name}.",
            )
            return redirect("library_subscription", pk=sub.pk)
    return render(
        request,
        "commerce/take_tier.html",
        {
            "listing": listing,
            "product": listing.product,
            "tier": offered,
            "price": _price(offered),
            "licence_url": _licence_url(listing),
            "form": form,
            "running": _running(listing, offered, me),
        },
        status=400 if form.errors else 200,
    )


def _quote_lines(offer: services.Checkout | None) -> dict[str, Any]:
    if offer is None:
        return {}
    q = offer.quote

    def fmt(minor: int) -> str:
        return money.format_amount(minor, q.currency)

    return {
        "net": fmt(q.net),
        "tax": fmt(q.tax),
        "total": fmt(q.total),
        "rate": money.bp_label(q.tax_bp),
        "tax_name": offer.tax.name,
        "reverse_charge": q.reverse_charge,
        "note": offer.tax.note,
        "country": COUNTRY_NAMES.get(offer.tax.country, offer.tax.country),
        "period": PERIODS.get(offer.tier.billing_period, offer.tier.billing_period),
    }


def _checkout_page(
    request: HttpRequest,
    listing: Listing,
    tier: FrozenTier,
    holder: Organization | None,
    *,
    billing_form: BillingForm | None = None,
    confirm_form: ConfirmForm | None = None,
    conflict: str = "",
    status: int = 200,
) -> HttpResponse:
    me = _me(request)
    profile = billing.profile_of(user=me, organization=holder)
    try:
        offer = services.quote(listing=listing, tier_id=tier.id or 0, profile=profile)
    except NotFound:
        raise Http404("This product has no such tier.") from None
    if billing_form is None:
        initial = (
            {
                "name": profile.name,
                "address": profile.address,
                "country": profile.country,
                "tax_id": profile.tax_id,
            }
            if profile
            else {"name": holder.title if holder else (me.get_full_name() or me.username)}
        )
        billing_form = BillingForm(initial=initial)
    holder_form = HolderForm(initial={"holder": holder.name if holder else ""}, user=me)
    return render(
        request,
        "commerce/checkout.html",
        {
            "listing": listing,
            "product": listing.product,
            "tier": tier,
            "price": _price(tier),
            "licence_url": _licence_url(listing),
            "holder": holder,
            "holder_name": holder.name if holder else "",
            "holder_form": holder_form,
            "billing_form": billing_form,
            "confirm_form": confirm_form or ConfirmForm(),
            "profile": profile,
            "offer": offer if profile else None,
            "quote": _quote_lines(offer if profile else None),
            "signature": offer.signature,
            "idempotency_key": uuid.uuid4().hex,
            "conflict": conflict,
            "running": _running(listing, tier, me),
            "pays_by_instructions": getattr(providers.get(), "pays_by_instructions", False),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, org: str, slug: str, tier: int) -> HttpResponse:
    listing = _listing(org, slug)
    offered = _tier(listing, tier)
    if services.tier_price(offered) == 0:
        return redirect("take_tier", org=org, slug=slug, tier=tier)
    me = _me(request)
    data = request.POST if request.method == "POST" else request.GET
    holder = _holder(me, data.get("holder", ""))
    if not permissions.can_buy_for(me, holder):
        return forbidden(request, "Only the organisation's owners take tiers for it.")
    if request.method == "GET":
        return _checkout_page(request, listing, offered, holder)
    if request.POST.get("action") == "details":
        return _save_details(request, listing, offered, holder)
    return _confirm(request, listing, offered, holder)


def _checkout_url(org: str, slug: str, tier: int, holder: Organization | None) -> str:
    url = reverse("checkout", kwargs={"org": org, "slug": slug, "tier": tier})
    return f"{url}?holder={holder.name}" if holder else url


def _save_details(
    request: HttpRequest, listing: Listing, tier: FrozenTier, holder: Organization | None
) -> HttpResponse:
    form = BillingForm(request.POST)
    if form.is_valid():
        try:
            services.save_billing_details(
                user=_me(request),
                organization=holder,
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
                country=form.cleaned_data["country"],
                tax_id=form.cleaned_data["tax_id"],
                origin=from_request(request),
            )
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Billing details saved; the total below includes tax.")
            org = listing.product.organization.name
            return redirect(_checkout_url(org, listing.product.slug, tier.id or 0, holder))
    return _checkout_page(request, listing, tier, holder, billing_form=form, status=400)


def _confirm(
    request: HttpRequest, listing: Listing, tier: FrozenTier, holder: Organization | None
) -> HttpResponse:
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return _checkout_page(request, listing, tier, holder, confirm_form=form, status=400)
    try:
        order = services.checkout(
            listing=listing,
            tier_id=tier.id or 0,
            user=_me(request),
            organization=holder,
            accept_licence=form.cleaned_data["accept_licence"],
            signature=form.cleaned_data["signature"],
            idempotency_key=form.cleaned_data["idempotency_key"],
            origin=from_request(request),
        )
    except PermissionDenied as exc:
        return forbidden(request, exc.message)
    except NotFound:
        raise Http404("This product has no such tier.") from None
    except Conflict as exc:
        return _checkout_page(
            request, listing, tier, holder, confirm_form=form, conflict=exc.message, status=409
        )
    except PortsideError as exc:
        add_domain_error(form, exc)
        return _checkout_page(request, listing, tier, holder, confirm_form=form, status=400)
    total = money.format_amount(order.total_minor, order.currency)
    if order.status == OrderStatus.PAID:
        messages.success(request, f"Paid {total}. The tier is in your library.")
    else:
        messages.success(request, f"Order placed: invoice {order.invoice.number} for {total}.")
        if not providers.by_name(order.provider).pays_by_instructions:
            return redirect("order_pay", pk=order.pk)  # the card payment, in the browser
    return redirect("invoice_detail", number=order.invoice.number)


# --- the library --------------------------------------------------------------------------


def _date(value: Any) -> str:
    return value.date().isoformat() if value else ""


def _when(sub: Subscription) -> str:
    """The subscription's state in time: when it renews, ends or ended."""
    if sub.status == SubscriptionStatus.PENDING:
        return "Awaiting payment"
    if sub.status in ENDED_STATUSES:
        ended = f"Ended on {_date(sub.ended_at)}" if sub.ended_at else "Ended"
        return f"{ended} ({sub.end_reason})" if sub.end_reason else ended
    if sub.status == SubscriptionStatus.PAST_DUE:
        return f"Renewal unpaid; pulls work until {_date(sub.access_until)}"
    if sub.cancel_at_period_end and sub.current_period_end:
        return f"Ends on {_date(sub.current_period_end)}"
    if sub.current_period_end:
        return f"Renews on {_date(sub.current_period_end)}"
    if sub.billing_period == "one_time":
        return "Bought once; no end date"
    return "No end date"


def _dir_name(repository: str, tag: str) -> str:
    return f"{repository.replace('/', '-')}-{tag}"


def _pulls(tier: FrozenTier, host: str, insecure: bool) -> list[dict[str, Any]]:
    """The pull commands of every repository:tag the tier covers."""
    src_tls = " --src-tls-verify=false" if insecure else ""
    tls = " --tls-verify=false" if insecure else ""
    out = []
    for repository, tags in sorted(tier.access.items()):
        for tag in tags:
            ref = f"{host}/{repository}:{tag}"
            out.append(
                {
                    "reference": f"{repository}:{tag}",
                    "commands": [
                        f"docker pull {ref}",
                        f"skopeo copy{src_tls} docker://{ref} oci:./{_dir_name(repository, tag)}",
                        f"podman pull{tls} {ref}",
                    ],
                }
            )
    return out


def _logins(host: str, insecure: bool) -> list[str]:
    tls = " --tls-verify=false" if insecure else ""
    return [f"docker login {host}", f"skopeo login{tls} {host}", f"podman login{tls} {host}"]


def _entry(request: HttpRequest, sub: Subscription) -> dict[str, Any]:
    entitled = entitlements.is_entitled(sub)
    return {
        "sub": sub,
        "entitled": entitled,
        "when": _when(sub),
        "price": "Free"
        if sub.is_free
        else f"{money.format_amount(sub.price_minor, sub.currency)} "
        f"{PERIODS.get(sub.billing_period, '')}",
        "pulls": _pulls(entitlements.coverage(sub), request.get_host(), not request.is_secure())
        if entitled
        else [],
        "can_manage": permissions.can_manage_subscription(request.user, sub),
    }


def _subscriptions_of(user: User) -> Any:
    return (
        Subscription.objects.filter(entitlements.holder_q(user.pk))
        .select_related("product__organization", "listing", "organization", "user")
        .distinct()
    )


def _access_context(request: HttpRequest) -> dict[str, Any]:
    insecure = not request.is_secure()
    return {
        "host": request.get_host(),
        "insecure": insecure,
        "logins": _logins(request.get_host(), insecure),
        "username": _me(request).username,
    }


@login_required
@require_safe
def library(request: HttpRequest) -> HttpResponse:
    entries = [_entry(request, sub) for sub in _subscriptions_of(_me(request))]
    current = [e for e in entries if e["entitled"]]
    # Security notices are chosen per product: offered once, on its first tier listed.
    offered: set[int] = set()
    for e in current:
        e["notices_here"] = e["sub"].product_id not in offered
        offered.add(e["sub"].product_id)
    waiting = [e for e in entries if e["sub"].status == SubscriptionStatus.PENDING]
    past = [e for e in entries if e not in current and e not in waiting]
    return render(
        request,
        "commerce/library.html",
        {"current": current, "waiting": waiting, "past": past, **_access_context(request)},
    )


def _subscription(request: HttpRequest, pk: int) -> Subscription:
    sub = (
        Subscription.objects.select_related("product__organization", "listing", "organization")
        .filter(pk=pk)
        .first()
    )
    if sub is None or not permissions.can_view_subscription(request.user, sub):
        raise Http404("No such subscription.")
    return sub


def order_rows(orders: Any) -> list[dict[str, Any]]:
    """Orders with their amounts ready to show."""
    rows = []
    for order in orders:
        fmt = money.format_amount
        rows.append(
            {
                "order": order,
                "invoice": getattr(order, "invoice", None),
                "net": fmt(order.net_minor, order.currency),
                "tax": fmt(order.tax_minor, order.currency),
                "total": fmt(order.total_minor, order.currency),
                "share": fmt(order.store_share_minor, order.currency),
                "refunded": fmt(order.refunded_minor, order.currency)
                if order.refunded_minor
                else "",
                "refundable": fmt(order.refundable_minor, order.currency)
                if order.refundable_minor
                else "",
            }
        )
    return rows


def refund_rows(refunds: Any) -> list[dict[str, Any]]:
    return [
        {"refund": r, "amount": money.format_amount(r.amount_minor, r.order.currency)}
        for r in refunds
    ]


@login_required
@require_http_methods(["GET", "POST"])
def library_subscription(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _subscription(request, pk)
    if request.method == "POST":
        on = request.POST.get("notifications") == "on"
        try:
            services.set_notifications(
                subscription=sub, on=on, acting=_me(request), origin=from_request(request)
            )
        except PermissionDenied as exc:
            return forbidden(request, exc.message)
        messages.success(request, "Notifications turned " + ("on." if on else "off."))
        return redirect("library_subscription", pk=sub.pk)
    orders = sub.orders.select_related("invoice").order_by("-created_at", "-pk")
    return render(
        request,
        "commerce/subscription.html",
        {
            "e": _entry(request, sub),
            "sub": sub,
            "orders": order_rows(orders),
            "refunds": refund_rows(Refund.objects.filter(order__subscription=sub)),
            "acceptances": sub.acceptances.select_related("user").order_by("accepted_at"),
            "cancellable": _cancellable(sub),
            **_access_context(request),
        },
    )


def _cancellable(sub: Subscription) -> bool:
    """Whether a cancel button makes sense (the service decides again)."""
    if sub.status in ENDED_STATUSES or sub.cancel_at_period_end:
        return False
    return not (
        sub.status != SubscriptionStatus.PENDING
        and not sub.is_free
        and sub.billing_period == "one_time"
    )


@login_required
@require_http_methods(["GET", "POST"])
def subscription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _subscription(request, pk)
    if not permissions.can_manage_subscription(request.user, sub):
        return forbidden(request, "Only who took it, or the organisation's owners, cancel it.")
    if request.method == "POST":
        try:
            done = services.cancel(
                subscription=sub, acting=_me(request), origin=from_request(request)
            )
        except PermissionDenied as exc:
            return forbidden(request, exc.message)
        except PortsideError as exc:
            messages.error(request, exc.message)
        else:
            if done.cancel_at_period_end and done.current_period_end:
                messages.success(
                    request,
                    f"Cancelled: it will not renew, and pulls work until "
                    f"{_date(done.current_period_end)}.",
                )
            else:
                messages.success(request, "Cancelled: the subscription has ended.")
        return redirect("library_subscription", pk=sub.pk)
    return render(
        request,
        "commerce/cancel.html",
        {
            "sub": sub,
            "cancellable": _cancellable(sub),
            "ended": sub.status in ENDED_STATUSES,
            "open_orders": sub.orders.filter(status=OrderStatus.OPEN).select_related("invoice"),
            "period_end": sub.current_period_end,
        },
    )


# --- billing and invoices ------------------------------------------------------------------


@login_required
@require_safe
def billing_home(request: HttpRequest) -> HttpResponse:
    me = _me(request)
    subs = Subscription.objects.filter(entitlements.holder_q(me.pk)).values("pk")
    orders = (
        Order.objects.filter(subscription__in=subs)
        .select_related("subscription__product", "subscription__organization", "invoice")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(orders, 50).get_page(request.GET.get("page"))
    refunds = (
        Refund.objects.filter(order__subscription__in=subs)
        .select_related("order__invoice", "order__subscription__product")
        .order_by("-created_at", "-pk")[:50]
    )
    profile = billing.profile_of(user=me, organization=None)
    return render(
        request,
        "commerce/billing.html",
        {
            "page": page,
            "orders": order_rows(page.object_list),
            "refunds": refund_rows(refunds),
            "profile": profile,
            "country": COUNTRY_NAMES.get(profile.country, profile.country) if profile else "",
        },
    )


def may_view_order(user: Any, order: Order) -> bool:
    """Who sees an order's invoice: who may see its subscription, the publisher's owners
    and editors, and the store's admins."""
    return (
        permissions.can_view_subscription(user, order.subscription)
        or permissions.can_view_sales(user, order.publisher)
        or permissions.can_manage_commerce(user)
    )


def _invoice(request: HttpRequest, number: str) -> Invoice:
    invoice = (
        Invoice.objects.select_related(
            "order__subscription__product__organization",
            "order__subscription__organization",
            "order__publisher",
        )
        .filter(number=number)
        .first()
    )
    if invoice is None or not may_view_order(request.user, invoice.order):
        raise Http404("No such invoice.")
    return invoice


@login_required
@require_safe
def invoice_detail(request: HttpRequest, number: str) -> HttpResponse:
    invoice = _invoice(request, number)
    order = invoice.order
    instructions = ""
    if order.status == OrderStatus.OPEN:
        instructions = providers.by_name(order.provider).instructions(order)
    buyer = invoice.document.get("buyer") or {}
    doc = documents.view(invoice)
    return render(
        request,
        "commerce/invoice.html",
        {
            "invoice": invoice,
            "doc": doc,
            "order": order,
            "instructions": instructions,
            "pay_online": order.status == OrderStatus.OPEN
            and not providers.by_name(order.provider).pays_by_instructions
            and permissions.can_manage_subscription(request.user, order.subscription),
            "buyer_country": COUNTRY_NAMES.get(buyer.get("country", ""), buyer.get("country", "")),
            "seller_country": COUNTRY_NAMES.get(
                doc["seller"].get("country", ""), doc["seller"].get("country", "")
            ),
            "can_view_subscription": permissions.can_view_subscription(
                request.user, order.subscription
            ),
            "can_view_sales": permissions.can_view_sales(request.user, order.publisher),
            "is_staff": permissions.can_manage_commerce(request.user),
        },
    )


@login_required
@require_safe
def invoice_pdf(request: HttpRequest, number: str) -> HttpResponse:
    invoice = _invoice(request, number)
    response = HttpResponse(documents.invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
