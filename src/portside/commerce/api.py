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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status
from ninja.security import SessionAuth

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.api.auth import TokenAuth, read_auth
from portside.api.problems import READ_ERRORS, WRITE_ERRORS, Problem, input_problems
from portside.catalog.models import Listing, Product
from portside.commerce import billing, documents, entitlements, ledger, money, providers, services
from portside.commerce.api_schemas import (
    BillingProfileIn,
    BillingProfileOut,
    CheckoutIn,
    CommerceProduct,
    CoveredRepository,
    Holder,
    InvoiceLineOut,
    InvoiceOut,
    InvoiceRefundOut,
    LedgerAccountOut,
    LedgerCheck,
    LedgerOut,
    MarkPaidIn,
    OrderDetailOut,
    OrderFilters,
    OrderOut,
    OrderPage,
    OrderRef,
    OwedAmount,
    Paged,
    PullCommand,
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
from portside.core.errors import NotFound, PermissionDenied, PortsideError, ValidationFailed
from portside.core.origin import from_request

router = Router(tags=["commerce"])
router.add_decorator(input_problems, mode="view")
_WRITE = [TokenAuth("write"), SessionAuth()]
# A quote changes nothing (it is a POST only to carry its body): the read scope will do.
QUOTE_ERRORS: dict[int | str, Any] = {**READ_ERRORS, 400: Problem, 413: Problem}


# --- idempotency --------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255


def idempotency_doc(*, required: bool) -> dict[str, Any]:
    """The ``Idempotency-Key`` header of an operation, for its OpenAPI description."""
    return {
        "parameters": [
            {
                "in": "header",
                "name": IDEMPOTENCY_HEADER,
                "required": required,
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                "description": "A key of your choosing, unique per request you mean (a UUID). "
                "Sent again with the same request, the first answer is repeated and nothing "
                "happens twice; sent with another request, the answer is 409.",
            }
        ]
    }


def idempotency_key(request: HttpRequest, *, required: bool) -> str:
    """The request's ``Idempotency-Key``: printable ASCII, at most 255 characters;
    empty when absent and not required."""
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        if required:
            raise ValidationFailed(
                f"Send an {IDEMPOTENCY_HEADER} header (a UUID, say) so that a retried "
                "request is not carried out twice.",
                field=IDEMPOTENCY_HEADER,
            )
        return ""
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(
            f"An {IDEMPOTENCY_HEADER} is at most {MAX_IDEMPOTENCY_KEY} characters.",
            field=IDEMPOTENCY_HEADER,
        )
    if not all(" " <= ch <= "~" for ch in key):
        raise ValidationFailed(
            f"An {IDEMPOTENCY_HEADER} is printable ASCII.", field=IDEMPOTENCY_HEADER
        )
    return key


@contextmanager
def _keyed() -> Iterator[None]:
    """A service's refusal of the key names the header the client sent it in."""
    try:
        yield
    except PortsideError as exc:
        if exc.field == "idempotency_key":
            exc.field = IDEMPOTENCY_HEADER
        raise


def at_most_once[T](key: str, run: Callable[[], T]) -> T:
    """Run ``run``, which keeps ``key`` as it acts; if another request with the same key
    kept it first (both were in flight at once), run again: now the kept answer is
    replayed instead of acting twice."""
    with _keyed():
        try:
            return run()
        except IntegrityError:
            if not key:
                raise
        return run()


def remembered(
    user: User,
    scope: str,
    key: str,
    params: dict[str, Any],
    act: Callable[[], int],
) -> int:
    """Act once per ``key`` (kept in ``IdempotencyKey`` under ``scope``, as the services
    keep theirs): ``act`` returns the id of what it made or changed, kept with the key; the
    same key and ``params`` again return that id without acting, other ``params`` are a
    409. Without a key, ``act`` simply runs."""

    def run() -> int:
        with transaction.atomic():
            kept = services._replayed(user, scope, key, params)
            if kept is not None:
                return int(kept["id"])
            made = act()
            services._remember(user, scope, key, params, {"id": made})
            return made

    return at_most_once(key, run)


# --- lookups ------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # every operation here requires authentication
    return user


def _listing(product: str) -> Listing:
    """The listing of ORGANISATION/SLUG (the services refuse one that is not live)."""
    organization, _, slug = product.strip().partition("/")
    if not organization or not slug or "/" in slug:
        raise ValidationFailed(
            "A product as ORGANISATION/SLUG, such as acme/acme-database.", field="product"
        )
    listing = (
        Listing.objects.select_related("revision", "product__organization")
        .filter(product__organization__name=organization, product__slug=slug)
        .first()
    )
    if listing is None:
        raise NotFound("No such product.", field="product")
    return listing


def _organization(request: HttpRequest, name: str | None) -> Organization | None:
    """An organisation named by the caller: None for none; 404 for one the caller may not
    know exists."""
    if name is None or name == "":
        return None
    found = Organization.objects.filter(name=name).first()
    if found is None or not permissions.can_view_organization(request.user, found):
        raise NotFound("No such organisation.", field="organization")
    return found


def _buyer(request: HttpRequest, name: str | None) -> Organization | None:
    organization = _organization(request, name)
    if not permissions.can_buy_for(request.user, organization):
        raise PermissionDenied("Only the organisation's owners buy for it and see its billing.")
    return organization


def _mine(user: User) -> QuerySet[Subscription]:
    return Subscription.objects.filter(
        pk__in=Subscription.objects.filter(entitlements.holder_q(user.pk)).values("pk")
    )


def _subscription(request: HttpRequest, subscription_id: int) -> Subscription:
    found = (
        Subscription.objects.select_related(
            "product__organization", "listing", "organization", "user"
        )
        .filter(pk=subscription_id)
        .first()
    )
    if found is None or not permissions.can_view_subscription(request.user, found):
        raise NotFound("No such subscription.")
    return found


_ORDER_RELATED = (
    "subscription__product__organization",
    "subscription__listing",
    "subscription__organization",
    "subscription__user",
    "publisher",
    "invoice",
)


def _order(request: HttpRequest, order_id: int) -> Order:
    found = Order.objects.select_related(*_ORDER_RELATED).filter(pk=order_id).first()
    if found is None or not permissions.can_view_subscription(request.user, found.subscription):
        raise NotFound("No such order.")
    return found


def _publisher(request: HttpRequest, org: str) -> Organization:
    """A publisher whose sales the caller may see: 404 if they may not know it, 403 if
    they know it but may not see its sales."""
    found = Organization.objects.filter(name=org).first()
    if found is None or not permissions.can_view_organization(request.user, found):
        raise NotFound("No such organisation.")
    if not permissions.can_view_sales(request.user, found):
        raise PermissionDenied("Only the publisher's owners and editors see its sales.")
    return found


def _staff(request: HttpRequest) -> User:
    user = _user(request)
    if not permissions.can_manage_commerce(user):
        raise PermissionDenied("Only the store's admins manage commerce.")
    return user


def _page(qs: QuerySet[Any], paging: Paged) -> tuple[int, list[Any]]:
    start = (paging.page - 1) * paging.per_page
    return qs.count(), list(qs[start : start + paging.per_page])


def _one_of(value: str, allowed: list[str], field: str) -> str:
    if value and value not in allowed:
        raise ValidationFailed(f"One of: {', '.join(allowed)}.", field=field)
    return value


# --- rendering ----------------------------------------------------------------------------------


def _amount(minor: int, currency: str) -> str:
    return format(money.to_decimal(minor, currency), "f")


def _percent(bp: int) -> str:
    """Basis points as a percentage: 1900 is "19", 750 is "7.5", 2000 is "20"."""
    return format((Decimal(bp) / 100).normalize(), "f")


def _product(product: Product, revision_id: int) -> CommerceProduct:
    """A product as customers know it: named as its listing's revision names it."""
    revision = entitlements.REVISIONS.get(revision_id)
    return CommerceProduct(
        organization=product.organization.name,
        slug=product.slug,
        name=revision.name or product.name,
    )


def _holder(sub: Subscription) -> Holder:
    if sub.organization_id is not None:
        return Holder(kind="organization", name=sub.holder_name)
    return Holder(kind="user", name=sub.holder_name)


def _invoice_number(order: Order) -> str | None:
    return order.invoice.number if hasattr(order, "invoice") else None


def _order_ref(order: Order) -> OrderRef:
    return OrderRef(
        id=order.pk,
        kind=order.kind,
        status=order.status,
        currency=order.currency,
        total_minor=order.total_minor,
        total=_amount(order.total_minor, order.currency),
        created_at=order.created_at,
        paid_at=order.paid_at,
        invoice_number=_invoice_number(order),
    )


def _subscription_fields(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.pk,
        "product": _product(sub.product, sub.listing.revision_id),
        "tier_id": sub.tier_id,
        "tier_name": sub.tier_name,
        "holder": _holder(sub),
        "taken_by": sub.user.username,
        "status": sub.status,
        "status_label": SubscriptionStatus(sub.status).label,
        "entitled": entitlements.is_entitled(sub),
        "free": sub.is_free,
        "currency": sub.currency,
        "price_minor": sub.price_minor,
        "price": _amount(sub.price_minor, sub.currency),
        "billing_period": sub.billing_period,
        "created_at": sub.created_at,
        "started_at": sub.started_at,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "access_until": sub.access_until,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "cancelled_at": sub.cancelled_at,
        "ended_at": sub.ended_at,
        "end_reason": sub.end_reason,
        "notifications": sub.notifications,
    }


def _subscription_detail(request: HttpRequest, sub: Subscription) -> SubscriptionDetailOut:
    sub = Subscription.objects.select_related(
        "product__organization", "listing", "organization", "user"
    ).get(pk=sub.pk)
    tier = entitlements.coverage(sub)
    covered = [
        CoveredRepository(repository=repository, tags=list(tags))
        for repository, tags in sorted(tier.access.items())
    ]
    pulls = []
    if entitlements.is_entitled(sub):
        host = request.get_host()
        for item in covered:
            for tag in item.tags:
                reference = f"{item.repository}:{tag}"
                pulls.append(
                    PullCommand(reference=reference, command=f"docker pull {host}/{reference}")
                )
    orders = sub.orders.select_related("invoice").order_by("-created_at", "-pk")[:100]
    return SubscriptionDetailOut(
        **_subscription_fields(sub),
        covered=covered,
        pulls=pulls,
        orders=[_order_ref(o) for o in orders],
    )


def _order_fields(order: Order) -> dict[str, Any]:
    sub = order.subscription
    c = order.currency
    return {
        "id": order.pk,
        "kind": order.kind,
        "status": order.status,
        "status_label": OrderStatus(order.status).label,
        "product": _product(sub.product, sub.listing.revision_id),
        "tier_name": sub.tier_name,
        "subscription_id": sub.pk,
        "holder": _holder(sub),
        "currency": c,
        "net_minor": order.net_minor,
        "net": _amount(order.net_minor, c),
        "tax_minor": order.tax_minor,
        "tax": _amount(order.tax_minor, c),
        "total_minor": order.total_minor,
        "total": _amount(order.total_minor, c),
        "tax_rate": _percent(order.tax_bp),
        "tax_rate_bp": order.tax_bp,
        "tax_country": order.tax_country,
        "reverse_charge": order.reverse_charge,
        "refunded_minor": order.refunded_minor,
        "refunded": _amount(order.refunded_minor, c),
        "provider": order.provider,
        "period_start": order.period_start,
        "period_end": order.period_end,
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "failure": order.failure,
        "invoice_number": _invoice_number(order),
    }


def _invoice(order: Order) -> InvoiceOut | None:
    if not hasattr(order, "invoice"):
        return None
    invoice = order.invoice
    shown = documents.view(invoice)
    doc = invoice.document
    c = str(doc["currency"])
    return InvoiceOut(
        number=invoice.number,
        issued_at=invoice.issued_at,
        seller=shown["seller"],
        publisher=shown["publisher"],
        buyer=shown["buyer"],
        lines=[
            InvoiceLineOut(
                description=str(line.get("description", "")),
                period=str(line.get("period", "")),
                net_minor=int(line.get("net_minor", 0)),
                net=_amount(int(line.get("net_minor", 0)), c),
            )
            for line in doc.get("lines") or []
        ],
        currency=c,
        net_minor=int(doc["net_minor"]),
        net=_amount(int(doc["net_minor"]), c),
        tax_label=f"{doc.get('tax_name') or 'Tax'} {_percent(int(doc.get('tax_bp') or 0))}%",
        tax_rate_bp=int(doc.get("tax_bp") or 0),
        tax_minor=int(doc["tax_minor"]),
        tax=_amount(int(doc["tax_minor"]), c),
        total_minor=int(doc["total_minor"]),
        total=_amount(int(doc["total_minor"]), c),
        note=shown["note"],
        refunds=[
            InvoiceRefundOut(
                kind=r.kind,
                amount_minor=r.amount_minor,
                amount=_amount(r.amount_minor, c),
                reason=r.reason,
                created_at=r.created_at,
            )
            for r in order.refunds.all()
        ],
    )


def _order_detail(order: Order) -> OrderDetailOut:
    order = Order.objects.select_related(*_ORDER_RELATED).get(pk=order.pk)
    instructions = ""
    if order.status == OrderStatus.OPEN:
        instructions = providers.by_name(order.provider).instructions(order)
    return OrderDetailOut(
        **_order_fields(order), invoice=_invoice(order), payment_instructions=instructions
    )


def _sale_fields(order: Order) -> dict[str, Any]:
    sub = order.subscription
    c = order.currency
    publisher_share = order.net_minor - order.store_share_minor
    return {
        "id": order.pk,
        "kind": order.kind,
        "status": order.status,
        "product": _product(sub.product, sub.listing.revision_id),
        "tier_name": sub.tier_name,
        "customer": sub.holder_name,
        "customer_country": str((order.billing or {}).get("country", "")),
        "currency": c,
        "net_minor": order.net_minor,
        "net": _amount(order.net_minor, c),
        "tax_minor": order.tax_minor,
        "tax": _amount(order.tax_minor, c),
        "total_minor": order.total_minor,
        "total": _amount(order.total_minor, c),
        "store_share_minor": order.store_share_minor,
        "store_share": _amount(order.store_share_minor, c),
        "publisher_share_minor": publisher_share,
        "publisher_share": _amount(publisher_share, c),
        "refunded_minor": order.refunded_minor,
        "refunded": _amount(order.refunded_minor, c),
        "refundable_minor": order.refundable_minor,
        "refundable": _amount(order.refundable_minor, c),
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "invoice_number": _invoice_number(order),
    }


def _staff_order(order: Order) -> StaffOrderOut:
    return StaffOrderOut(
        **_sale_fields(order),
        publisher=order.publisher.name,
        subscription_id=order.subscription_id,
        provider=order.provider,
        provider_ref=order.provider_ref,
        billing=dict(order.billing or {}),
        failure=order.failure,
    )


def _refund_out(refund: Refund) -> RefundOut:
    c = refund.order.currency
    return RefundOut(
        id=refund.pk,
        order_id=refund.order_id,
        kind=refund.kind,
        currency=c,
        amount_minor=refund.amount_minor,
        amount=_amount(refund.amount_minor, c),
        net_minor=refund.net_minor,
        tax_minor=refund.tax_minor,
        store_share_minor=refund.store_share_minor,
        reason=refund.reason,
        created_at=refund.created_at,
        created_by=refund.created_by.username if refund.created_by else None,
    )


def _profile_out(profile: billing.BillingProfile) -> BillingProfileOut:
    decision = billing.decide(profile)
    return BillingProfileOut(
        organization=profile.organization.name if profile.organization else None,
        name=profile.name,
        address=profile.address,
        country=profile.country,
        tax_id=profile.tax_id,
        updated_at=profile.updated_at,
        tax_rate=_percent(decision.rate_bp),
        tax_rate_bp=decision.rate_bp,
        reverse_charge=decision.reverse_charge,
    )


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
    profile = billing.save_profile(
        user=_user(request),
        organization=buyer,
        name=body.name,
        country=body.country,
        tax_id=body.tax_id,
        address=body.address,
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
    rate = services.set_tax_rate(
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
    bp = services.set_revenue_share(
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
