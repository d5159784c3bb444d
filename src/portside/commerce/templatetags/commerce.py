"""Commerce for pages that other contexts render (the storefront's product page) without
those contexts importing commerce, and money filters for the commerce templates."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.urls import reverse

from portside.catalog.models import Listing
from portside.commerce import entitlements, money

register = template.Library()


@register.filter
def amount(minor: Any, currency: str) -> str:
    """``{{ order.total_minor|amount:order.currency }}`` is ``EUR 58.31``."""
    try:
        return money.format_amount(int(minor), str(currency))
    except (TypeError, ValueError):
        return ""


@register.filter
def percent(bp: Any) -> str:
    """``{{ order.tax_bp|percent }}``."""
    try:
        return money.bp_label(int(bp))
    except (TypeError, ValueError):
        return ""


def _free(tier: dict[str, Any]) -> bool:
    try:
        return Decimal(str(tier.get("price") or "0")) == 0
    except (InvalidOperation, ValueError):
        return False


_VERBS = {"one_time": "Buy", "monthly": "Subscribe", "yearly": "Subscribe"}


@register.simple_tag(takes_context=True)
def tier_actions(context: template.Context, product: dict[str, Any]) -> list[dict[str, Any]]:
    """The storefront's tiers of ``product``, each with what its button does: take a free
    tier, buy or subscribe to a paid one, or open the library entry of a tier the user
    already holds. The tier's id comes from the live revision's frozen manifest, in the
    same order; a revision frozen before tiers had ids offers no button."""
    tiers = list(product.get("tiers") or [])
    listing = (
        Listing.objects.live()
        .select_related("revision", "product")
        .filter(
            product__organization__name=product.get("organization"),
            product__slug=product.get("slug"),
        )
        .first()
    )
    if listing is None:
        return [{"tier": tier, "action": None} for tier in tiers]
    ids = [
        t.get("id") if isinstance(t, dict) and isinstance(t.get("id"), int) else None
        for t in (listing.revision.manifest or {}).get("tiers") or []
    ]
    held: dict[int, int] = {}
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        for h in entitlements.held(user.pk, publisher_id=listing.product.organization_id):
            if h.product_id == listing.product_id and h.tier.id is not None:
                held.setdefault(h.tier.id, h.subscription_id)
    org, slug = str(product.get("organization")), listing.product.slug
    out = []
    for index, tier in enumerate(tiers):
        tier_id = ids[index] if index < len(ids) else None
        action: dict[str, Any] | None = None
        if tier_id is not None and tier_id in held:
            action = {
                "label": "In your library",
                "url": reverse("library_subscription", args=[held[tier_id]]),
                "held": True,
            }
        elif tier_id is not None and _free(tier):
            action = {"label": "Get", "url": reverse("take_tier", args=[org, slug, tier_id])}
        elif tier_id is not None:
            action = {
                "label": _VERBS.get(str(tier.get("billing_period")), "Buy"),
                "url": reverse("checkout", args=[org, slug, tier_id]),
            }
        out.append({"tier": tier, "action": action})
    return out


@register.simple_tag(takes_context=True)
def customer_access(context: template.Context, product: dict[str, Any]) -> dict[str, Any]:
    """What the signed-in user may do with ``product`` as a customer. ``tiers`` are the
    product's tiers, each with its images marked ``entitled`` where the user may pull
    them now (under any tier of the same publisher, as the registry decides) and
    ``pullable`` when any is; ``holder`` is whether they hold a tier of this product
    (who reads its approved VEX statements). Nothing is entitled to anyone signed out."""
    request = context.get("request")
    user = getattr(request, "user", None)
    references: set[str] = set()
    holder = False
    if user is not None and user.is_authenticated:
        listing = (
            Listing.objects.live()
            .select_related("product")
            .filter(
                product__organization__name=product.get("organization"),
                product__slug=product.get("slug"),
            )
            .first()
        )
        if listing is not None:
            held = entitlements.held(user.pk, publisher_id=listing.product.organization_id)
            references = {
                f"{repository}:{tag}"
                for h in held
                for repository, tags in h.tier.access.items()
                for tag in tags
            }
            holder = any(h.product_id == listing.product_id for h in held)
    tiers = []
    for tier in product.get("tiers") or []:
        images = [
            {**image, "entitled": image.get("reference") in references}
            for image in tier.get("images") or []
        ]
        tiers.append(
            {"tier": tier, "images": images, "pullable": any(i["entitled"] for i in images)}
        )
    return {"tiers": tiers, "holder": holder}
