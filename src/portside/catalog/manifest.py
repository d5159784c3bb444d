"""The product manifest: validation of each item, the frozen form of a revision, and the
difference between two revisions.

A revision's manifest is plain JSON (``freeze``), so it can be shown, compared, indexed
and published without reading the product's working copy again. Its keys are listed in
``FIELDS`` with the label that the review thread and the diff use.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from portside.catalog.models import (
    MAX_SEARCH_TAGS,
    MAX_SHORT_DESCRIPTION,
    BillingPeriod,
    Platform,
    Product,
)
from portside.core.errors import ValidationFailed

SCHEMA = 1
MAX_NAME = 100
MAX_MARKDOWN = 50_000
MAX_PRICE = Decimal("1000000")
# ISO 4217 codes the store accepts for prices.
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "INR", "BRL")
_TAG = re.compile(r"\A[a-z0-9][a-z0-9+.-]{0,29}\Z")

# Every manifest item, in display order, with its label. Comments may point at these.
FIELDS: dict[str, str] = {
    "name": "Product name",
    "icon": "Icon",
    "short_description": "Short description",
    "category": "Category",
    "search_tags": "Search tags",
    "long_description": "Long description",
    "screenshots": "Screenshots",
    "support_url": "Support link",
    "support_email": "Support email",
    "self_help": "Self-help resources",
    "install_instructions": "Installation instructions",
    "license_url": "Licence agreement",
    "sla": "Support SLA",
    "platforms": "Platforms",
    "publisher_support": "Publisher support",
    "sources": "Sources",
    "tiers": "Tiers",
}


# --- single items ------------------------------------------------------------------------------


def clean_name(value: str) -> str:
    value = " ".join(str(value).split())
    if not value:
        raise ValidationFailed("A product needs a name.", field="name")
    if len(value) > MAX_NAME:
        raise ValidationFailed(f"At most {MAX_NAME} characters.", field="name")
    return value


def clean_short_description(value: str) -> str:
    value = " ".join(str(value).split())
    if len(value) > MAX_SHORT_DESCRIPTION:
        raise ValidationFailed(
            f"At most {MAX_SHORT_DESCRIPTION} characters; this one has {len(value)}.",
            field="short_description",
        )
    return value


def clean_url(value: str, *, field: str) -> str:
    value = str(value).strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("Give an http:// or https:// address.", field=field)
    if len(value) > 500 or any(c.isspace() for c in value):
        raise ValidationFailed("This address is not valid.", field=field)
    return value


def clean_email(value: str, *, field: str) -> str:
    value = str(value).strip()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationFailed("Enter a valid email address.", field=field) from None
    return value


def clean_markdown(value: str, *, field: str) -> str:
    value = str(value).replace("\x00", "").replace("\r\n", "\n")
    if len(value) > MAX_MARKDOWN:
        raise ValidationFailed(f"At most {MAX_MARKDOWN:,} characters.", field=field)
    return value


def clean_search_tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if not isinstance(value, list):
        raise ValidationFailed("Search tags are a list of words.", field="search_tags")
    tags: list[str] = []
    for raw in value:
        tag = str(raw).strip().lower()
        if not _TAG.match(tag):
            raise ValidationFailed(
                f"{str(raw)[:40]!r} is not a tag: lowercase letters, digits, '.', '+' and '-', "
                "at most 30 characters.",
                field="search_tags",
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_SEARCH_TAGS:
        raise ValidationFailed(f"At most {MAX_SEARCH_TAGS} search tags.", field="search_tags")
    return tags


def clean_platforms(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value] if value else []
    if not isinstance(value, list) or any(v not in Platform.values for v in value):
        raise ValidationFailed(
            f"Platforms are among {', '.join(Platform.values)}.", field="platforms"
        )
    return [p for p in Platform.values if p in value]


def clean_hours(value: Any, *, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        hours = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed("A whole number of hours.", field=field) from None
    if not 1 <= hours <= 24 * 90:
        raise ValidationFailed("Between 1 hour and 90 days.", field=field)
    return hours


def clean_price(value: Any) -> Decimal:
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed("A price such as 0, 9.99 or 120.", field="price") from None
    if not price.is_finite() or price < 0:
        raise ValidationFailed("A price is zero or more.", field="price")
    if price >= MAX_PRICE:
        raise ValidationFailed(f"A price is below {MAX_PRICE:,}.", field="price")
    if price != price.quantize(Decimal("0.01")):
        raise ValidationFailed("At most two decimal places.", field="price")
    return price.quantize(Decimal("0.01"))


def clean_currency(value: str) -> str:
    code = str(value).strip().upper()
    if code not in CURRENCIES:
        raise ValidationFailed(
            f"One of the store's currencies: {', '.join(CURRENCIES)}.", field="currency"
        )
    return code


def clean_billing(price: Decimal, period: str) -> str:
    if period not in BillingPeriod.values:
        raise ValidationFailed("Free, one-time, monthly or yearly.", field="billing_period")
    if price == 0 and period != BillingPeriod.FREE:
        raise ValidationFailed("A tier priced 0 is free.", field="billing_period")
    if price > 0 and period == BillingPeriod.FREE:
        raise ValidationFailed(
            "A paid tier is billed one-time, monthly or yearly.", field="billing_period"
        )
    return period


# --- eligibility and completeness -----------------------------------------------------------


def eligibility(product: Product) -> list[tuple[str, str]]:
    """Why the product's platforms keep it from being submitted: empty when they do not.

    Enterprise Edition products must offer publisher support; Community Edition products
    may, and are never certifiable; a product that runs on neither is not for this store.
    """
    platforms = set(product.platforms or [])
    if not platforms:
        return [
            (
                "platforms",
                "The product must run on Enterprise Edition (certified infrastructure) or "
                "Community Edition; it declares neither.",
            )
        ]
    if Platform.ENTERPRISE in platforms and not product.publisher_support:
        return [
            (
                "publisher_support",
                "A product for Enterprise Edition must offer publisher support.",
            )
        ]
    return []


def certifiable(product_or_manifest: Product | dict[str, Any]) -> bool:
    platforms = (
        product_or_manifest.get("platforms", [])
        if isinstance(product_or_manifest, dict)
        else product_or_manifest.platforms
    )
    return Platform.ENTERPRISE in (platforms or [])


def problems(product: Product) -> list[tuple[str, str]]:
    """Everything that keeps the working copy from being submitted, as (field, reason)."""
    found: list[tuple[str, str]] = list(eligibility(product))
    if not product.short_description:
        found.append(("short_description", "Write a short description."))
    if product.category_id is None:
        found.append(("category", "Choose a category."))
    if not product.long_description.strip():
        found.append(("long_description", "Write a long description."))
    if not product.icon:
        found.append(("icon", "Upload an icon."))
    if not (product.support_url or product.support_email):
        found.append(("support_url", "Give a support link or a support email."))
    if not product.install_instructions.strip():
        found.append(("install_instructions", "Write installation instructions."))
    if not product.license_url:
        found.append(("license_url", "Link the licence agreement."))
    if product.publisher_support and not (
        product.support_hours and product.response_critical_hours
    ):
        found.append(
            ("sla", "Publisher support needs support hours and a response time for critical.")
        )
    sources = list(product.sources.all())
    if not sources:
        found.append(("sources", "Choose at least one repository and tag."))
    for source in sources:
        if not source.tags:
            found.append(("sources", f"Choose at least one tag of {source.repository.name}."))
    tiers = list(product.tiers.prefetch_related("access"))
    if not tiers:
        found.append(("tiers", "Offer at least one tier."))
    for tier in tiers:
        if not tier.access.all():
            found.append(("tiers", f"Tier {tier.name} grants no repository."))
    return found


# --- freezing and comparing ---------------------------------------------------------------------


def freeze(product: Product, *, publisher_name: str, publisher_website: str) -> dict[str, Any]:
    """The manifest of ``product`` as JSON, with the digest each source tag points to now."""
    from portside.registry.models import Tag

    sources = []
    digests: dict[tuple[int, str], str] = {}
    for source in product.sources.select_related("repository"):
        current = dict(
            Tag.objects.filter(repository=source.repository, name__in=source.tags).values_list(
                "name", "manifest__digest"
            )
        )
        missing = [tag for tag in source.tags if tag not in current]
        if missing:
            raise ValidationFailed(
                f"{source.repository.name} has no tag {', '.join(missing)} any more.",
                field="sources",
            )
        for tag, digest in current.items():
            digests[(source.pk, tag)] = digest
        sources.append(
            {
                "repository": source.repository.name,
                "tags": {tag: current[tag] for tag in source.tags},
            }
        )
    tiers = []
    for tier in product.tiers.prefetch_related("access__source__repository"):
        tiers.append(
            {
                "id": tier.pk,
                "name": tier.name,
                "description": tier.description,
                "price": str(tier.price),
                "currency": tier.currency,
                "billing_period": tier.billing_period,
                "access": [
                    {"repository": access.source.repository.name, "tags": list(access.tags)}
                    for access in tier.access.all()
                ],
            }
        )
    category = product.category
    return {
        "schema": SCHEMA,
        "name": product.name,
        "slug": product.slug,
        "icon": product.icon,
        "short_description": product.short_description,
        "category": {"slug": category.slug, "name": category.name} if category else None,
        "search_tags": list(product.search_tags),
        "long_description": product.long_description,
        "screenshots": [
            {"image": shot.image, "caption": shot.caption} for shot in product.screenshots.all()
        ],
        "support_url": product.support_url,
        "support_email": product.support_email,
        "self_help": product.self_help,
        "install_instructions": product.install_instructions,
        "license_url": product.license_url,
        "sla": {
            "hours": product.support_hours,
            "critical_hours": product.response_critical_hours,
            "major_hours": product.response_major_hours,
            "minor_hours": product.response_minor_hours,
        },
        "platforms": list(product.platforms),
        "publisher_support": product.publisher_support,
        "publisher": {
            "organization": product.organization.name,
            "name": publisher_name,
            "website": publisher_website,
        },
        "sources": sources,
        "tiers": tiers,
    }


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest items that differ between two frozen manifests, in display order.
    With no ``old`` (a first submission) every item that has a value is listed."""
    changes = []
    for key, label in FIELDS.items():
        before = (old or {}).get(key)
        after = new.get(key)
        if key == "tiers":  # a tier's id is bookkeeping, not something the publisher changed
            before, after = _without_ids(before), _without_ids(after)
        if before != after and (old is not None or after not in (None, "", [], {})):
            changes.append(
                {
                    "field": key,
                    "label": label,
                    "before": before,
                    "after": after,
                    "before_text": readable(key, before) if old is not None else None,
                    "after_text": readable(key, after),
                }
            )
    return changes


def _without_ids(tiers: Any) -> Any:
    if not isinstance(tiers, list):
        return tiers
    return [{k: v for k, v in t.items() if k != "id"} if isinstance(t, dict) else t for t in tiers]


def _hours(value: Any) -> str:
    return f"{value} h" if value not in (None, "") else "not stated"


def readable(key: str, value: Any) -> str:
    """One manifest item as a reviewer reads it: names rather than JSON, one line per
    screenshot, source or tier."""
    if value in (None, "", [], {}):
        return "(empty)"
    if key == "category" and isinstance(value, dict):
        return str(value.get("name") or value.get("slug") or "")
    if key == "icon":
        return f"image {str(value).rsplit('/', 1)[-1][:19]}"
    if key == "publisher_support":
        return "Yes" if value else "No"
    if key == "platforms" and isinstance(value, list):
        labels = dict(Platform.choices)
        return ", ".join(str(labels.get(v, v)) for v in value)
    if key == "sla" and isinstance(value, dict):
        return (
            f"Hours: {value.get('hours') or 'not stated'}\n"
            f"Critical: {_hours(value.get('critical_hours'))}, "
            f"major: {_hours(value.get('major_hours'))}, "
            f"minor: {_hours(value.get('minor_hours'))}"
        )
    if key == "screenshots" and isinstance(value, list):
        return "\n".join(
            f"{n}. {shot.get('caption') or '(no caption)'} "
            f"(image {str(shot.get('image', '')).rsplit('/', 1)[-1][:19]})"
            for n, shot in enumerate(value, 1)
            if isinstance(shot, dict)
        )
    if key == "sources" and isinstance(value, list):
        return "\n".join(
            f"{source.get('repository')}: "
            + ", ".join(
                f"{tag} @ {str(digest)[:19]}" for tag, digest in (source.get("tags") or {}).items()
            )
            for source in value
            if isinstance(source, dict)
        )
    if key == "tiers" and isinstance(value, list):
        periods = dict(BillingPeriod.choices)
        lines = []
        for tier in value:
            if not isinstance(tier, dict):
                continue
            price = tier.get("price") or "0"
            cost = "free" if Decimal(str(price)) == 0 else f"{tier.get('currency')} {price}"
            grants = "; ".join(
                f"{a.get('repository')}:{','.join(a.get('tags') or [])}"
                for a in tier.get("access") or []
                if isinstance(a, dict)
            )
            period = periods.get(str(tier.get("billing_period")), tier.get("billing_period"))
            lines.append(f"{tier.get('name')}: {cost}, {period}; pulls {grants or 'nothing'}")
        return "\n".join(lines)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)
