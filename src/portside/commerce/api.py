"""Commerce in the JSON API under /api/v1/: customers' subscriptions, billing details,
quotes and orders; publishers' sales and refunds; the store team's orders, tax rates,
revenue shares and ledger.

The same rules as the pages: a customer's subscriptions and orders are seen by who took
them, the members of the customer organisation and the store's admins, and anyone else
gets 404; a publisher's sales by its owners and editors (its other members and the store
team get 403, everyone else 404); the store team's part by the store's admins. The
services decide and these views translate; every refusal is ``application/problem+json``.

Every request that moves money takes an ``Idempotency-Key`` header (required to place an
order): the same key with the same request answers what the first one did, with the same
status; the same key with another request is a 409. Keys are kept per user and operation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status
from ninja.security import SessionAuth

from portside.accounts.models import Organization
from portside.api.auth import TokenAuth, read_auth
from portside.api.problems import READ_ERRORS, WRITE_ERRORS, Problem, input_problems
from portside.commerce import administration, billing, ledger, money, services
from portside.commerce.api_schemas import (
    BillingProfileIn,
    BillingProfileOut,
    CheckoutIn,
    LedgerAccountOut,
    LedgerCheck,
    LedgerOut,
    MarkPaidIn,
    OrderDetailOut,
    OrderFilters,
    OrderOut,
    OrderPage,
    OwedAmount,
    QuoteIn,
    QuoteOut,
    RefundIn,
    RefundOut,
    RevenueShareIn,
    RevenueShareOut,
    SaleOut,
    SalePage,
    SaleRefundOut,
    SalesOut,
    StaffOrderFilters,
    StaffOrderOut,
    StaffOrderPage,
    SubscriptionDetailOut,
    SubscriptionFilters,
    SubscriptionOut,
    SubscriptionPage,
    TakeTierIn,
    TaxRateFilters,
    TaxRateIn,
    TaxRateOut,
    TierSales,
)
from portside.commerce.api_support import (
    _ORDER_RELATED,
    _amount,
    _buyer,
    _listing,
    _mine,
    _one_of,
    _order,
    _order_detail,
    _order_fields,
    _organization,
    _page,
    _percent,
    _product,
    _profile_out,
    _publisher,
    _refund_out,
    _sale_fields,
    _staff,
    _staff_order,
    _subscription,
    _subscription_detail,
    _subscription_fields,
    _user,
    at_most_once,
    idempotency_doc,
    idempotency_key,
    remembered,
)
from portside.commerce.models import (
    ENTITLED_STATUSES,
    Account,
    LedgerBalance,
    Order,
    OrderStatus,
    Refund,
    Subscription,
    SubscriptionStatus,
    TaxRate,
)
from portside.core import clock
from portside.core.errors import NotFound, ValidationFailed
from portside.core.origin import from_request

router = Router(tags=["commerce"])
router.add_decorator(input_problems, mode="view")
_WRITE = [TokenAuth("write"), SessionAuth()]
# A quote changes nothing (it is a POST only to carry its body): the read scope will do.
QUOTE_ERRORS: dict[int | str, Any] = {**READ_ERRORS, 400: Problem, 413: Problem}


# --- subscriptions ------------------------------------------------------------------------------


@router.get(
    "/commerce/subscriptions",
    response={200: SubscriptionPage, **READ_ERRORS},
    auth=read_auth(),
    summary="Your subscriptions and your organisations', newest first",
)
def subscription_list(request: HttpRequest, filters: Query[SubscriptionFilters]) -> Any:
    status = _one_of(filters.status, list(SubscriptionStatus.values), "status")
    qs = _mine(_user(request)).select_related(
        "product__organization", "listing", "organization", "user"
    )
    if status:
        qs = qs.filter(status=status)
    count, items = _page(qs.order_by("-created_at", "-pk"), filters)
    return SubscriptionPage(
        count=count,
        page=filters.page,
        per_page=filters.per_page,
        items=[SubscriptionOut(**_subscription_fields(s)) for s in items],
    )


@router.get(
    "/commerce/subscriptions/{subscription_id}",
    response={200: SubscriptionDetailOut, **READ_ERRORS},
    auth=read_auth(),
    summary="A subscription: what it covers, what its holder may pull, its orders",
)
def subscription_detail(request: HttpRequest, subscription_id: int) -> Any:
    return _subscription_detail(request, _subscription(request, subscription_id))


@router.post(
    "/commerce/subscriptions",
    response={201: SubscriptionDetailOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Take a free tier (the running subscription if the holder has it already)",
    openapi_extra=idempotency_doc(required=False),
)
def subscription_take(request: HttpRequest, body: TakeTierIn) -> Any:
    user = _user(request)
    key = idempotency_key(request, required=False)
    listing = _listing(body.product)
    organization = _organization(request, body.organization)
    params = {
        "listing": listing.pk,
        "tier": body.tier,
        "organization": organization.pk if organization else None,
    }

    def take() -> int:
        return services.take_free_tier(
            listing=listing,
            tier_id=body.tier,
            user=user,
            organization=organization,
            accept_licence=body.accept_licence,
            origin=from_request(request),
        ).pk

    pk = remembered(user, "api:take_tier", key, params, take)
    return Status(201, _subscription_detail(request, Subscription.objects.get(pk=pk)))


@router.post(
    "/commerce/subscriptions/{subscription_id}/cancel",
    response={200: SubscriptionDetailOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Cancel: a free tier or an unpaid order at once, a paid period at its end",
    openapi_extra=idempotency_doc(required=False),
)
def subscription_cancel(request: HttpRequest, subscription_id: int) -> Any:
    user = _user(request)
    key = idempotency_key(request, required=False)
    sub = _subscription(request, subscription_id)

    def cancel() -> int:
        return services.cancel(subscription=sub, acting=user, origin=from_request(request)).pk

    pk = remembered(user, "api:cancel", key, {"subscription": sub.pk}, cancel)
    return _subscription_detail(request, Subscription.objects.get(pk=pk))


# --- billing details ----------------------------------------------------------------------------


@router.get(
    "/commerce/billing-profile",
    response={200: BillingProfileOut, **READ_ERRORS},
    auth=read_auth(),
    summary="Your billing details, or an organisation's (its owners)",
)
def billing_profile(request: HttpRequest, organization: Query[str | None] = None) -> Any:
    buyer = _buyer(request, organization)
    profile = billing.profile_of(user=_user(request), organization=buyer)
    if profile is None:
        raise NotFound("No billing details yet.")
    return _profile_out(profile)


@router.put(
    "/commerce/billing-profile",
    response={200: BillingProfileOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Set your billing details, or an organisation's (its owners)",
)
def billing_profile_set(
    request: HttpRequest, body: BillingProfileIn, organization: Query[str | None] = None
) -> Any:
    if organization and body.organization and organization != body.organization:
        raise ValidationFailed(
            "The organisation in the query and in the body differ.", field="organization"
        )
    buyer = _buyer(request, organization or body.organization)
    profile = services.save_billing_details(
        user=_user(request),
        organization=buyer,
        name=body.name,
        country=body.country,
        tax_id=body.tax_id,
        address=body.address,
        origin=from_request(request),
    )
    return _profile_out(profile)


# --- quotes and orders --------------------------------------------------------------------------


@router.post(
    "/commerce/quotes",
    response={200: QuoteOut, **QUOTE_ERRORS},
    auth=read_auth(),
    summary="What a tier costs the holder now, with tax, and the signature to order it",
)
def quote(request: HttpRequest, body: QuoteIn) -> Any:
    listing = _listing(body.product)
    buyer = _buyer(request, body.organization)
    profile = billing.profile_of(user=_user(request), organization=buyer)
    offer = services.quote(listing=listing, tier_id=body.tier, profile=profile)
    q = offer.quote
    return QuoteOut(
        product=_product(listing.product, listing.revision_id),
        tier_id=body.tier,
        tier_name=offer.tier.name,
        billing_period=offer.tier.billing_period,
        currency=q.currency,
        net_minor=q.net,
        net=_amount(q.net, q.currency),
        tax_minor=q.tax,
        tax=_amount(q.tax, q.currency),
        total_minor=q.total,
        total=_amount(q.total, q.currency),
        tax_rate=_percent(q.tax_bp),
        tax_rate_bp=q.tax_bp,
        tax_name=offer.tax.name,
        tax_country=offer.tax.country,
        reverse_charge=q.reverse_charge,
        billed=profile is not None,
        signature=offer.signature,
    )


@router.post(
    "/commerce/orders",
    response={201: OrderDetailOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Order a paid tier as quoted (an Idempotency-Key is required)",
    openapi_extra=idempotency_doc(required=True),
)
def order_create(request: HttpRequest, body: CheckoutIn) -> Any:
    user = _user(request)
    key = idempotency_key(request, required=True)
    listing = _listing(body.product)
    organization = _organization(request, body.organization)
    order = at_most_once(
        key,
        lambda: services.checkout(
            listing=listing,
            tier_id=body.tier,
            user=user,
            organization=organization,
            accept_licence=body.accept_licence,
            signature=body.signature,
            idempotency_key=key,
            origin=from_request(request),
        ),
    )
    return Status(201, _order_detail(order))


@router.get(
    "/commerce/orders",
    response={200: OrderPage, **READ_ERRORS},
    auth=read_auth(),
    summary="Your orders and your organisations', newest first",
)
def order_list(request: HttpRequest, filters: Query[OrderFilters]) -> Any:
    status = _one_of(filters.status, list(OrderStatus.values), "status")
    qs = Order.objects.filter(subscription__in=_mine(_user(request))).select_related(
        *_ORDER_RELATED
    )
    if status:
        qs = qs.filter(status=status)
    count, items = _page(qs.order_by("-created_at", "-pk"), filters)
    return OrderPage(
        count=count,
        page=filters.page,
        per_page=filters.per_page,
        items=[OrderOut(**_order_fields(o)) for o in items],
    )


@router.get(
    "/commerce/orders/{order_id}",
    response={200: OrderDetailOut, **READ_ERRORS},
    auth=read_auth(),
    summary="An order with its invoice's figures",
)
def order_detail(request: HttpRequest, order_id: int) -> Any:
    return _order_detail(_order(request, order_id))


# --- publishers ---------------------------------------------------------------------------------


@router.get(
    "/orgs/{org}/sales",
    response={200: SalesOut, **READ_ERRORS},
    auth=read_auth(),
    summary="A publisher's orders, subscriptions per tier, refunds and what it is owed",
)
def sales(request: HttpRequest, org: str, filters: Query[OrderFilters]) -> Any:
    publisher = _publisher(request, org)
    status = _one_of(filters.status, list(OrderStatus.values), "status")
    orders = Order.objects.filter(publisher=publisher).select_related(*_ORDER_RELATED)
    if status:
        orders = orders.filter(status=status)
    count, items = _page(orders.order_by("-created_at", "-pk"), filters)
    counts: dict[tuple[str, str, int | None, str], dict[str, int]] = defaultdict(dict)
    rows = (
        Subscription.objects.filter(product__organization=publisher)
        .values_list("product__slug", "product__name", "tier_id", "tier_name", "status")
        .annotate(n=Count("pk"))
        .order_by("product__slug", "tier_name", "status")
    )
    for slug, name, tier_id, tier_name, status_, n in rows:
        tier = counts[(slug, name, tier_id, tier_name)]
        tier[status_] = tier.get(status_, 0) + n
    refunds = (
        Refund.objects.filter(order__publisher=publisher)
        .select_related("order")
        .order_by("-created_at", "-pk")[:100]
    )
    return SalesOut(
        organization=publisher.name,
        owed=[
            OwedAmount(currency=c, amount_minor=amount, amount=_amount(amount, c))
            for c, amount in sorted(ledger.owed_to(publisher.pk).items())
        ],
        tiers=[
            TierSales(
                product=slug,
                product_name=name,
                tier_id=tier_id,
                tier_name=tier_name,
                entitled=sum(by_status.get(s, 0) for s in ENTITLED_STATUSES),
                counts=by_status,
            )
            for (slug, name, tier_id, tier_name), by_status in counts.items()
        ],
        refunds=[
            SaleRefundOut(
                id=r.pk,
                order_id=r.order_id,
                kind=r.kind,
                currency=r.order.currency,
                amount_minor=r.amount_minor,
                amount=_amount(r.amount_minor, r.order.currency),
                reason=r.reason,
                created_at=r.created_at,
            )
            for r in refunds
        ],
        orders=SalePage(
            count=count,
            page=filters.page,
            per_page=filters.per_page,
            items=[SaleOut(**_sale_fields(o)) for o in items],
        ),
    )


@router.post(
    "/orgs/{org}/sales/orders/{order_id}/refund",
    response={201: RefundOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Refund a paid order, in part or all that is left (owners)",
    openapi_extra=idempotency_doc(required=False),
)
def sale_refund(request: HttpRequest, org: str, order_id: int, body: RefundIn) -> Any:
    user = _user(request)
    key = idempotency_key(request, required=False)
    publisher = _publisher(request, org)
    order = Order.objects.filter(publisher=publisher, pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    amount = None
    if body.amount is not None:
        try:
            amount = money.to_minor(body.amount, order.currency, field="amount")
        except money.MoneyError as exc:
            raise ValidationFailed(exc.message, field="amount") from None
    made = at_most_once(
        key,
        lambda: services.refund(
            order=order,
            amount_minor=amount,
            reason=body.reason,
            acting=user,
            origin=from_request(request),
            idempotency_key=key,
        ),
    )
    return Status(
        201, _refund_out(Refund.objects.select_related("order", "created_by").get(pk=made.pk))
    )


# --- the store team -----------------------------------------------------------------------------


@router.get(
    "/commerce/staff/orders",
    response={200: StaffOrderPage, **READ_ERRORS},
    auth=read_auth(),
    summary="Every order of the store, newest first (the store's admins)",
)
def staff_orders(request: HttpRequest, filters: Query[StaffOrderFilters]) -> Any:
    _staff(request)
    status = _one_of(filters.status, list(OrderStatus.values), "status")
    currency = _one_of(filters.currency, list(money.EXPONENTS), "currency")
    qs = Order.objects.select_related(*_ORDER_RELATED)
    if status:
        qs = qs.filter(status=status)
    if currency:
        qs = qs.filter(currency=currency)
    if filters.publisher:
        qs = qs.filter(publisher__name=filters.publisher)
    if filters.provider:
        qs = qs.filter(provider=filters.provider)
    if filters.customer:
        qs = qs.filter(
            Q(subscription__organization__name=filters.customer)
            | Q(
                subscription__organization__isnull=True,
                subscription__user__username=filters.customer,
            )
        )
    count, items = _page(qs.order_by("-created_at", "-pk"), filters)
    return StaffOrderPage(
        count=count,
        page=filters.page,
        per_page=filters.per_page,
        items=[_staff_order(o) for o in items],
    )


@router.post(
    "/commerce/staff/orders/{order_id}/paid",
    response={200: StaffOrderOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Confirm the payment of an order (a second confirmation changes nothing)",
    openapi_extra=idempotency_doc(required=False),
)
def staff_mark_paid(request: HttpRequest, order_id: int, body: MarkPaidIn | None = None) -> Any:
    user = _staff(request)
    key = idempotency_key(request, required=False)
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound("No such order.")
    reference = body.reference.strip() if body else ""

    def pay() -> int:
        return services.mark_paid(
            order=order, acting=user, origin=from_request(request), reference=reference
        ).pk

    pk = remembered(user, "api:mark_paid", key, {"order": order.pk, "reference": reference}, pay)
    return _staff_order(Order.objects.select_related(*_ORDER_RELATED).get(pk=pk))


@router.get(
    "/commerce/staff/tax-rates",
    response={200: list[TaxRateOut], **READ_ERRORS},
    auth=read_auth(),
    summary="The tax rates, by country and newest first (the store's admins)",
)
def tax_rates(request: HttpRequest, filters: Query[TaxRateFilters]) -> Any:
    _staff(request)
    rates = TaxRate.objects.select_related("created_by").order_by("country", "-starts_on")
    if filters.country:
        rates = rates.filter(country=filters.country.upper())
    today = clock.now().date()
    in_force = {
        country: rate.pk
        for country in {r.country for r in rates}
        if (rate := billing.rate_on(country, today)) is not None
    }
    return [_tax_rate_out(r, in_force.get(r.country) == r.pk) for r in rates]


def _tax_rate_out(rate: TaxRate, in_force: bool) -> TaxRateOut:
    return TaxRateOut(
        id=rate.pk,
        country=rate.country,
        rate=_percent(rate.rate_bp),
        rate_bp=rate.rate_bp,
        name=rate.name,
        starts_on=rate.starts_on,
        in_force=in_force,
        created_at=rate.created_at,
        created_by=rate.created_by.username if rate.created_by else None,
    )


@router.post(
    "/commerce/staff/tax-rates",
    response={201: TaxRateOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Set a country's rate from a day on (replacing one set for the same day)",
)
def tax_rate_set(request: HttpRequest, body: TaxRateIn) -> Any:
    user = _staff(request)
    try:
        starts_on = dt.date.fromisoformat(body.starts_on.strip())
    except ValueError:
        raise ValidationFailed("A day as YYYY-MM-DD.", field="starts_on") from None
    rate = administration.set_tax_rate(
        country=body.country,
        percent=body.rate,
        starts_on=starts_on,
        name=body.name,
        acting=user,
        origin=from_request(request),
    )
    current = billing.rate_on(rate.country, clock.now().date())
    return Status(201, _tax_rate_out(rate, current is not None and current.pk == rate.pk))


@router.put(
    "/commerce/staff/revenue-shares/{org}",
    response={200: RevenueShareOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Set the store's share of one publisher's sales (null for the default)",
)
def revenue_share_set(request: HttpRequest, org: str, body: RevenueShareIn) -> Any:
    user = _staff(request)
    publisher = Organization.objects.filter(name=org).first()
    if publisher is None:
        raise NotFound("No such organisation.")
    bp = administration.set_revenue_share(
        publisher=publisher, percent=body.share, acting=user, origin=from_request(request)
    )
    return RevenueShareOut(
        organization=publisher.name,
        share=_percent(bp),
        share_bp=bp,
        default=body.share in (None, ""),
    )


@router.get(
    "/commerce/staff/ledger",
    response={200: LedgerOut, **READ_ERRORS},
    auth=read_auth(),
    summary="Every account's balance, and whether the ledger adds up (the store's admins)",
)
def ledger_balances(request: HttpRequest) -> Any:
    _staff(request)
    balances = list(LedgerBalance.objects.order_by("account", "party", "currency"))
    publishers = dict(
        Organization.objects.filter(
            pk__in=[
                int(b.party)
                for b in balances
                if b.account in PUBLISHER_ACCOUNTS and b.party.isdigit()
            ]
        ).values_list("pk", "name")
    )
    verification = ledger.verify()
    return LedgerOut(
        balances=[
            LedgerAccountOut(
                account=b.account,
                party=b.party,
                label=_party_label(b, publishers),
                currency=b.currency,
                balance_minor=b.balance_minor,
                balance=_amount(b.balance_minor, b.currency),
            )
            for b in balances
        ],
        verification=LedgerCheck(ok=verification.ok, problems=verification.problems),
    )


PUBLISHER_ACCOUNTS = (Account.PUBLISHER_PAYABLE, Account.PUBLISHER_PENDING)


def _party_label(balance: LedgerBalance, publishers: dict[int, str]) -> str:
    account = Account(balance.account).label
    if balance.account in PUBLISHER_ACCOUNTS and balance.party.isdigit():
        return f"{account}: {publishers.get(int(balance.party), balance.party)}"
    return f"{account}: {balance.party}" if balance.party else account
