"""What the commerce API's endpoints share: idempotency keys, lookups that answer 404
or 403 as the pages do, and the shapes of subscriptions, orders, invoices and sales."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.catalog.models import Listing, Product
from portside.commerce import billing, documents, entitlements, money, providers, services
from portside.commerce.api_schemas import (
    BillingProfileOut,
    CommerceProduct,
    CoveredRepository,
    Holder,
    InvoiceLineOut,
    InvoiceOut,
    InvoiceRefundOut,
    OrderDetailOut,
    OrderRef,
    Paged,
    PullCommand,
    RefundOut,
    StaffOrderOut,
    SubscriptionDetailOut,
)
from portside.commerce.models import (
    Order,
    OrderStatus,
    Refund,
    Subscription,
    SubscriptionStatus,
)
from portside.core.errors import NotFound, PermissionDenied, PortsideError, ValidationFailed

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
    """Basis points as a percentage without its sign: 1900 is "19", 750 is "7.5"."""
    return money.bp_label(bp).removesuffix("%")


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
    instructions = payment_url = ""
    if order.status == OrderStatus.OPEN:
        provider = providers.by_name(order.provider)
        instructions = provider.instructions(order)
        if not provider.pays_by_instructions:
            payment_url = entitlements.absolute(reverse("order_pay", args=[order.pk]))
    return OrderDetailOut(
        **_order_fields(order),
        invoice=_invoice(order),
        payment_instructions=instructions,
        payment_url=payment_url,
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
