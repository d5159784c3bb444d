"""The store team's commerce pages: every order, confirming manual payments, refunds, tax
rates, revenue shares and payouts, and the ledger with its check.

Only the store's admins (``permissions.can_manage_commerce``) open them; other signed-in
users get 403, since the pages' existence is no secret. Each action is a service call,
which asks the same question again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Organization, User
from portside.commerce import administration, ledger, money, services
from portside.commerce.forms import (
    COUNTRY_NAMES,
    ORDER_STATUSES,
    MarkPaidForm,
    PayoutForm,
    ShareForm,
    TaxRateForm,
)
from portside.commerce.models import (
    Account,
    LedgerBalance,
    LedgerTransaction,
    Order,
    OrderStatus,
    PublisherTerms,
    TaxRate,
)
from portside.commerce.sales_views import refund_page
from portside.commerce.views import forbidden, order_rows
from portside.core.errors import PermissionDenied, PortsideError
from portside.core.origin import from_request


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # behind login_required
    return user


def _staff(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Store admins only: 403 for other signed-in users, the sign-in page for visitors."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not permissions.can_manage_commerce(request.user):
            return forbidden(request, "Orders, tax and payouts are managed by the store's admins.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


@_staff
@require_safe
def staff_orders(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    publisher = request.GET.get("publisher", "").strip()[:39]
    orders = Order.objects.select_related(
        "subscription__product", "subscription__organization", "subscription__user", "invoice",
        "publisher",
    ).order_by("-created_at", "-pk")  # fmt: skip
    if status in OrderStatus.values:
        orders = orders.filter(status=status)
    else:
        status = ""
    if publisher:
        orders = orders.filter(publisher__name=publisher)
    page = Paginator(orders, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "commerce/staff_orders.html",
        {
            "page": page,
            "orders": order_rows(page.object_list),
            "status": status,
            "publisher": publisher,
            "statuses": ORDER_STATUSES,
            "open_count": Order.objects.filter(status=OrderStatus.OPEN).count(),
        },
    )


def _order(pk: int) -> Order:
    return get_object_or_404(
        Order.objects.select_related(
            "subscription__product", "subscription__organization", "subscription__user",
            "invoice", "publisher",
        ),
        pk=pk,
    )  # fmt: skip


class _Parties:
    """Names for the ledger's parties: publishers and customers by id."""

    def __init__(self, parties: set[tuple[str, str]]) -> None:
        org_ids, user_ids = set(), set()
        for account, party in parties:
            if account == Account.PUBLISHER_PAYABLE and party.isdigit():
                org_ids.add(int(party))
            elif party.startswith("org:") and party[4:].isdigit():
                org_ids.add(int(party[4:]))
            elif party.startswith("user:") and party[5:].isdigit():
                user_ids.add(int(party[5:]))
        self.orgs = dict(Organization.objects.filter(pk__in=org_ids).values_list("pk", "name"))
        self.users = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))

    def label(self, account: str, party: str) -> str:
        if account == Account.PUBLISHER_PAYABLE and party.isdigit():
            return f"publisher {self.orgs.get(int(party), party)}"
        if party.startswith("org:") and party[4:].isdigit():
            return f"organisation {self.orgs.get(int(party[4:]), party)}"
        if party.startswith("user:") and party[5:].isdigit():
            return f"user {self.users.get(int(party[5:]), party)}"
        if account == Account.TAX_PAYABLE:
            return COUNTRY_NAMES.get(party, party) if party else "no country"
        return party


def _debit_credit(minor: int, currency: str) -> tuple[str, str]:
    amount = money.format_amount(abs(minor), currency)
    return (amount, "") if minor > 0 else ("", amount)


@_staff
@require_safe
def staff_order(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(pk)
    transactions = list(
        LedgerTransaction.objects.filter(order=order).prefetch_related("entries").order_by("pk")
    )
    parties = _Parties({(e.account, e.party) for t in transactions for e in t.entries.all()})
    accounts = dict(Account.choices)
    ledger_rows = [
        {
            "transaction": t,
            "entries": [
                {
                    "account": accounts.get(e.account, e.account),
                    "party": parties.label(e.account, e.party),
                    "amounts": _debit_credit(e.amount_minor, e.currency),
                }
                for e in t.entries.all()
            ],
        }
        for t in transactions
    ]
    return render(
        request,
        "commerce/staff_order.html",
        {
            "order": order,
            "row": order_rows([order])[0],
            "sub": order.subscription,
            "refunds": order.refunds.select_related("created_by"),
            "ledger": ledger_rows,
            "mark_paid_form": MarkPaidForm(),
        },
    )


@_staff
@require_POST
def staff_mark_paid(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(pk)
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
        messages.success(
            request, f"Order {order.pk} ({order.invoice.number}) is paid; the customer is mailed."
        )
    return redirect("staff_order", pk=order.pk)


@_staff
@require_http_methods(["GET", "POST"])
def staff_refund(request: HttpRequest, pk: int) -> HttpResponse:
    order = _order(pk)
    url = reverse("staff_order", args=[order.pk])
    return refund_page(request, order, done_url=url, back_url=url)


@_staff
@require_http_methods(["GET", "POST"])
def tax_rates(request: HttpRequest) -> HttpResponse:
    form = TaxRateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            rate = administration.set_tax_rate(
                country=form.cleaned_data["country"],
                percent=form.cleaned_data["rate"],
                starts_on=form.cleaned_data["starts_on"],
                name=form.cleaned_data["name"],
                acting=_me(request),
                origin=from_request(request),
            )
        except PermissionDenied as exc:
            return forbidden(request, exc.message)
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                f"{rate.name} of {COUNTRY_NAMES.get(rate.country, rate.country)} is "
                f"{money.bp_label(rate.rate_bp)} from {rate.starts_on.isoformat()}.",
            )
            return redirect("tax_rates")
    rates = [
        {
            "rate": r,
            "country": COUNTRY_NAMES.get(r.country, r.country),
            "percent": money.bp_label(r.rate_bp),
        }
        for r in TaxRate.objects.select_related("created_by").order_by("country", "-starts_on")
    ]
    return render(
        request,
        "commerce/tax_rates.html",
        {"rates": rates, "form": form, "store_country": settings.COMMERCE_STORE_COUNTRY},
        status=400 if form.errors else 200,
    )


def _publisher_named(name: str, form: Any) -> Organization | None:
    org = Organization.objects.filter(name=name.strip()).first()
    if org is None:
        form.add_error("publisher", "No organisation has this name.")
    return org


@_staff
@require_http_methods(["GET", "POST"])
def revenue_shares(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "") if request.method == "POST" else ""
    payable = LedgerBalance.objects.filter(account=Account.PUBLISHER_PAYABLE).exclude(
        balance_minor=0
    )
    currency = next(iter(payable.order_by("currency").values_list("currency", flat=True)), "EUR")
    # Both forms name a publisher: their ids differ, their field names do not.
    share_form = ShareForm(request.POST if action == "share" else None, auto_id="share_%s")
    payout_form = PayoutForm(
        request.POST if action == "payout" else None,
        auto_id="payout_%s",
        initial={"currency": currency},
    )
    if action == "share" and share_form.is_valid():
        org = _publisher_named(share_form.cleaned_data["publisher"], share_form)
        if org is not None:
            try:
                bp = administration.set_revenue_share(
                    publisher=org,
                    percent=share_form.cleaned_data["share"] or None,
                    acting=_me(request),
                    origin=from_request(request),
                )
            except PermissionDenied as exc:
                return forbidden(request, exc.message)
            except PortsideError as exc:
                add_domain_error(share_form, exc)
            else:
                messages.success(
                    request, f"The store's share of {org.name} is {money.bp_label(bp)}."
                )
                return redirect("revenue_shares")
    if action == "payout" and payout_form.is_valid():
        org = _publisher_named(payout_form.cleaned_data["publisher"], payout_form)
        currency = payout_form.cleaned_data["currency"]
        try:
            amount = money.to_minor(payout_form.cleaned_data["amount"], currency)
        except money.MoneyError as exc:
            payout_form.add_error("amount", exc.message)
            org = None
        if org is not None:
            try:
                administration.record_payout(
                    publisher=org,
                    currency=currency,
                    amount_minor=amount,
                    memo=payout_form.cleaned_data["memo"],
                    acting=_me(request),
                    origin=from_request(request),
                )
            except PermissionDenied as exc:
                return forbidden(request, exc.message)
            except PortsideError as exc:
                add_domain_error(payout_form, exc)
            else:
                messages.success(
                    request,
                    f"Payout of {money.format_amount(amount, currency)} to {org.name} recorded.",
                )
                return redirect("revenue_shares")
    terms = PublisherTerms.objects.select_related("organization", "updated_by").order_by(
        "organization__name"
    )
    parties = _Parties({(Account.PUBLISHER_PAYABLE, b.party) for b in payable})
    owed = [
        {
            "publisher": parties.label(Account.PUBLISHER_PAYABLE, b.party),
            "amount": money.format_amount(-b.balance_minor, b.currency),
        }
        for b in payable.order_by("party", "currency")
    ]
    return render(
        request,
        "commerce/revenue_shares.html",
        {
            "default": money.bp_label(settings.COMMERCE_REVENUE_SHARE_BP),
            "terms": [{"terms": t, "share": money.bp_label(t.share_bp)} for t in terms],
            "owed": owed,
            "share_form": share_form,
            "payout_form": payout_form,
        },
        status=400 if share_form.errors or payout_form.errors else 200,
    )


@_staff
@require_safe
def ledger_page(request: HttpRequest) -> HttpResponse:
    balances = list(LedgerBalance.objects.order_by("account", "party", "currency"))
    parties = _Parties({(b.account, b.party) for b in balances})
    accounts = dict(Account.choices)
    rows = [
        {
            "account": accounts.get(b.account, b.account),
            "party": parties.label(b.account, b.party),
            "currency": b.currency,
            "amounts": _debit_credit(b.balance_minor, b.currency),
        }
        for b in balances
        if b.balance_minor
    ]
    return render(
        request,
        "commerce/ledger.html",
        {
            "rows": rows,
            "check": ledger.verify(),
            "transactions": LedgerTransaction.objects.count(),
        },
    )
