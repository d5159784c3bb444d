"""What the storefront shows of a live listing, shared by the pages and the API.

Everything comes from the live revision's frozen manifest (``Revision.manifest``) and the
listing itself; the product's working copy, its drafts and its sources never reach a
customer. A tier's pull commands name the repositories and tags the tier grants.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from typing import Any

from django.urls import reverse

from portside.catalog import search
from portside.catalog.models import Listing, Platform
from portside.core import clock, markdown, media

PERIODS = {"free": "", "one_time": " one-time", "monthly": " per month", "yearly": " per year"}
# ISO 4217 currencies without minor units.
_WHOLE = {"JPY", "KRW", "ISK", "CLP", "VND"}


def price_label(price: Any, currency: str, billing_period: str) -> str:
    """``Free``, or the amount with its currency and billing period (``USD 9.00 per month``)."""
    try:
        amount = Decimal(str(price))
    except (InvalidOperation, ValueError):
        return ""
    if not amount.is_finite():
        return ""
    if amount == 0:
        return "Free"
    places = 0 if currency in _WHOLE else 2
    return f"{currency} {amount:,.{places}f}{PERIODS.get(billing_period, '')}"


def _from_price(tiers: list[dict[str, Any]]) -> str:
    """``Free``, ``From USD 9.00 per month`` or ``Free, or from ...`` for a result card."""
    free, paid = False, []
    for tier in tiers:
        try:
            amount = Decimal(str(tier.get("price") or "0"))
        except (InvalidOperation, ValueError):
            continue
        if amount == 0:
            free = True
        elif amount.is_finite():
            paid.append((amount, tier))
    if not paid:
        return "Free" if free else ""
    currency = paid[0][1].get("currency", "")
    same = [p for p in paid if p[1].get("currency", "") == currency]
    amount, tier = min(same, key=lambda p: p[0])
    label = price_label(amount, currency, tier.get("billing_period", ""))
    return f"Free, or from {label}" if free else f"From {label}"


class _RenderedMarkdown:
    """The HTML of the Markdown most recently shown, keyed by a digest of the text, so a
    changed text is rendered afresh; bounded by count and by the size of what it keeps."""

    def __init__(self, entries: int = 2048, max_chars: int = 20_000) -> None:
        self.entries = entries
        self.max_chars = max_chars
        self._items: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def html(self, text: str) -> str:
        key = hashlib.blake2b(text.encode(), digest_size=16).digest()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        rendered = markdown.render(text)
        if len(text) <= self.max_chars:
            with self._lock:
                self._items[key] = rendered
                while len(self._items) > self.entries:
                    self._items.popitem(last=False)
        return rendered


RENDERED = _RenderedMarkdown()


def product_url(organization: str, slug: str) -> str:
    return reverse("product_detail", args=[organization, slug])


def card(hit: search.Hit) -> dict[str, Any]:
    """A search result as the templates and the API show it."""
    data = hit.card
    category = data.get("category")
    return {
        "organization": data["organization"],
        "slug": data["slug"],
        "name": data["name"],
        "url": product_url(data["organization"], data["slug"]),
        "publisher": data.get("publisher") or data["organization"],
        "publisher_url": reverse("publisher_detail", args=[data["organization"]]),
        "icon_url": media.url(data.get("icon") or ""),
        "short_description": data.get("short_description", ""),
        "category": (
            {
                "slug": category["slug"],
                "name": category["name"],
                "url": reverse("category_detail", args=[category["slug"]]),
            }
            if category
            else None
        ),
        "search_tags": list(data.get("search_tags") or []),
        "certified": hit.certified,
        "security_hold_since": clock.parse_stored(data.get("security_hold_since")),
        "free": bool(data.get("free")),
        "paid": bool(data.get("paid")),
        "price": _from_price(data.get("tiers") or []),
        "pulls": hit.pulls,
        "score": hit.score,
    }


def live_listing(organization: str, slug: str) -> Listing | None:
    return (
        Listing.objects.live()
        .select_related("revision", "product__organization")
        .filter(product__organization__name=organization, product__slug=slug)
        .first()
    )


def _hours(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        hours = int(value)
    except (TypeError, ValueError):
        return ""
    return "1 hour" if hours == 1 else f"{hours} hours"


def product(listing: Listing, *, host: str) -> dict[str, Any]:
    """Every item of the live revision's manifest, ready to show; ``host`` is the
    registry host customers pull from."""
    m = listing.revision.manifest or {}
    organization = listing.product.organization.name
    publisher = m.get("publisher") or {}
    sla = m.get("sla") or {}
    category = m.get("category") or None
    platforms = dict(Platform.choices)

    def _html(item: str) -> str:
        return RENDERED.html(str(m.get(item) or ""))

    tiers = []
    for tier in m.get("tiers") or []:
        pulls = []
        for access in tier.get("access") or []:
            repository = str(access.get("repository") or "")
            for tag in access.get("tags") or []:
                reference = f"{repository}:{tag}"
                pulls.append({"reference": reference, "command": f"docker pull {host}/{reference}"})
        tiers.append(
            {
                "name": str(tier.get("name") or ""),
                "description": str(tier.get("description") or ""),
                "price": str(tier.get("price") or "0"),
                "currency": str(tier.get("currency") or ""),
                "billing_period": str(tier.get("billing_period") or ""),
                "price_label": price_label(
                    tier.get("price") or "0",
                    str(tier.get("currency") or ""),
                    str(tier.get("billing_period") or ""),
                ),
                "pulls": pulls,
            }
        )
    return {
        "organization": organization,
        "slug": listing.product.slug,
        "url": product_url(organization, listing.product.slug),
        "name": str(m.get("name") or listing.product.name),
        "icon_url": media.url(str(m.get("icon") or "")),
        "publisher": {
            "organization": organization,
            "name": str(publisher.get("name") or organization),
            "website": str(publisher.get("website") or ""),
            "url": reverse("publisher_detail", args=[organization]),
        },
        "short_description": str(m.get("short_description") or ""),
        "long_description": str(m.get("long_description") or ""),
        "long_description_html": _html("long_description"),
        "category": (
            {
                "slug": str(category.get("slug")),
                "name": str(category.get("name")),
                "url": reverse("category_detail", args=[str(category.get("slug"))]),
            }
            if isinstance(category, dict) and category.get("slug")
            else None
        ),
        "search_tags": [str(t) for t in m.get("search_tags") or []],
        "screenshots": [
            {"url": media.url(str(s.get("image") or "")), "caption": str(s.get("caption") or "")}
            for s in m.get("screenshots") or []
            if s.get("image")
        ],
        "support_url": str(m.get("support_url") or ""),
        "support_email": str(m.get("support_email") or ""),
        "self_help": str(m.get("self_help") or ""),
        "self_help_html": _html("self_help"),
        "install_instructions": str(m.get("install_instructions") or ""),
        "install_instructions_html": _html("install_instructions"),
        "license_url": str(m.get("license_url") or ""),
        "sla": {
            "hours": str(sla.get("hours") or ""),
            "critical": _hours(sla.get("critical_hours")),
            "major": _hours(sla.get("major_hours")),
            "minor": _hours(sla.get("minor_hours")),
        },
        "platforms": [
            {"value": str(p), "label": platforms.get(str(p), str(p))}
            for p in m.get("platforms") or []
        ],
        "publisher_support": bool(m.get("publisher_support")),
        "certified": listing.certified,
        "security_hold_since": listing.security_hold_since,
        "published_at": listing.published_at,
        "first_published_at": listing.first_published_at,
        "pulls": listing.pulls,
        "tiers": tiers,
    }


def publisher(organization: str) -> dict[str, Any] | None:
    """The public profile of a publisher with at least one live listing, else ``None``."""
    from portside.accounts.models import Organization
    from portside.publishers.models import PublisherProfile

    org = Organization.objects.filter(name=organization).first()
    if org is None or not Listing.objects.of_publisher(org).exists():
        return None
    profile = PublisherProfile.objects.filter(organization=org).first()
    return {
        "organization": org.name,
        "name": (profile.legal_name if profile else "") or org.display_name or org.name,
        "legal_name": profile.legal_name if profile else "",
        "website": profile.website if profile else "",
        "logo_url": media.url(profile.logo) if profile else "",
        "story_html": markdown.render(profile.story) if profile else "",
        "url": reverse("publisher_detail", args=[org.name]),
    }
