"""What the storefront shows of a live listing, shared by the pages and the API.

Everything comes from the live revision's frozen manifest (``Revision.manifest``) and the
listing itself; the product's working copy, its drafts and its sources never reach a
customer. A tier's pull commands name the repositories and tags the tier grants.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from typing import Any

from django.urls import reverse

from portside.catalog import search
from portside.catalog.models import Listing, Platform
from portside.core import clock, markdown, media
from portside.oci import mediatypes

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


# --- the images of a listing's tiers, as the registry holds them now ------------------------------

# A config blob larger than this is not read for its platform (configs are a few KiB).
_CONFIG_LIMIT = 1 << 20


class _ConfigPlatforms:
    """``os/architecture[/variant]`` of image configs by blob digest. A blob never changes,
    so an answer (``""`` for a config that names none) is kept, bounded by count; a blob
    that could not be read is asked for again next time."""

    def __init__(self, entries: int = 4096) -> None:
        self.entries = entries
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> str:
        with self._lock:
            found = self._items.get(digest)
            if found is not None:
                self._items.move_to_end(digest)
                return found
        platform = _read_platform(digest)
        if platform is None:
            return ""
        with self._lock:
            self._items[digest] = platform
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
        return platform

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _read_platform(config_digest: str) -> str | None:
    """The platform an image config names, ``""`` if none; None if it could not be read
    (not in the store, or the store did not answer): the page shows no platform."""
    from portside.registry.storage import store

    try:
        with store().open(config_digest, 0, _CONFIG_LIMIT + 1) as handle:
            raw = handle.read(_CONFIG_LIMIT + 1)
    except Exception:  # the page is shown without it, whatever the driver raised
        return None
    if len(raw) > _CONFIG_LIMIT:
        return ""
    return _platform_of(_json(raw))


CONFIG_PLATFORMS = _ConfigPlatforms()


def _json(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _platform_of(value: Any) -> str:
    """``linux/arm64/v8`` from an image config or an index entry's ``platform``."""
    if not isinstance(value, dict):
        return ""
    parts = [str(value.get("os") or ""), str(value.get("architecture") or "")]
    if not all(parts):
        return ""
    if value.get("variant"):
        parts.append(str(value["variant"]))
    return "/".join(parts)


def _is_attestation(entry: dict[str, Any]) -> bool:
    """Build attestations listed in an index (provenance, SBOMs) are not platforms."""
    annotations = entry.get("annotations")
    if isinstance(annotations, dict) and annotations.get("vnd.docker.reference.type"):
        return True
    platform = entry.get("platform")
    return isinstance(platform, dict) and platform.get("os") == "unknown"


def _tag_images(references: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """What each (repository, tag) points at now: its digest, when it was last pushed, and
    its platforms with their compressed sizes (each platform image of an index); the
    images a scan would cover are under ``images`` as (repository id, digest)."""
    from portside.registry.models import Manifest, Tag

    if not references:
        return {}
    repositories = {repository for repository, _ in references}
    names = {tag for _, tag in references}
    tags = [
        t
        for t in Tag.objects.filter(repository__name__in=repositories, name__in=names)
        .select_related("repository", "manifest")
        .only(
            "name",
            "updated_at",
            "repository__name",
            "manifest__digest",
            "manifest__media_type",
            "manifest__content",
            "manifest__total_size",
            "manifest__repository_id",
        )
        if (t.repository.name, t.name) in references
    ]
    documents = {t.manifest_id: _json(bytes(t.manifest.content)) for t in tags}
    wanted: dict[tuple[int, str], str] = {}  # (repository id, child digest) -> platform
    for t in tags:
        if t.manifest.media_type in mediatypes.INDEX_TYPES:
            for entry in documents[t.manifest_id].get("manifests") or []:
                if isinstance(entry, dict) and not _is_attestation(entry):
                    key = (t.manifest.repository_id, str(entry.get("digest") or ""))
                    wanted[key] = _platform_of(entry.get("platform"))
    sizes: dict[tuple[int, str], int] = {}
    if wanted:
        children = Manifest.objects.filter(
            repository_id__in={r for r, _ in wanted}, digest__in={d for _, d in wanted}
        ).values_list("repository_id", "digest", "total_size")
        sizes = {(r, d): size for r, d, size in children}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for t in tags:
        manifest, document = t.manifest, documents[t.manifest_id]
        platforms: list[dict[str, Any]] = []
        images: list[tuple[int, str]] = []
        if manifest.media_type in mediatypes.INDEX_TYPES:
            for entry in document.get("manifests") or []:
                if not isinstance(entry, dict) or _is_attestation(entry):
                    continue
                key = (manifest.repository_id, str(entry.get("digest") or ""))
                platforms.append({"platform": wanted.get(key) or "", "size": sizes.get(key)})
                images.append(key)
            size = None
        else:
            config = document.get("config")
            digest = str(config.get("digest") or "") if isinstance(config, dict) else ""
            platform = CONFIG_PLATFORMS.get(digest) if digest else ""
            platforms.append({"platform": platform, "size": manifest.total_size})
            images.append((manifest.repository_id, manifest.digest))
            size = manifest.total_size
        out[(t.repository.name, t.name)] = {
            "digest": manifest.digest,
            "index": manifest.media_type in mediatypes.INDEX_TYPES,
            "platforms": platforms,
            "size": size,
            "pushed_at": t.updated_at,
            "images": images,
        }
    return out


def _security(listing: Listing, images: set[tuple[int, str]]) -> dict[str, Any]:
    """The public security facts of a listing: how many of its images are scanned and
    when, and whether it is on hold for overdue fixes. Never a finding or its count."""
    from portside.scanning.models import Scan, ScanStatus

    done = []
    if images:
        done = [
            (finished, matched)
            for repository, digest, finished, matched in Scan.objects.filter(
                repository_id__in={r for r, _ in images},
                digest__in={d for _, d in images},
                status=ScanStatus.DONE,
            ).values_list("repository_id", "digest", "finished_at", "matched_at")
            if (repository, digest) in images
        ]
    return {
        "images": len(images),
        "scanned": len(done),
        "last_scanned_at": max((f for f, _ in done if f), default=None),
        "last_matched_at": max((m for _, m in done if m), default=None),
        "hold_since": listing.security_hold_since,
    }


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

    granted = [
        (str(access.get("repository") or ""), str(tag))
        for tier in m.get("tiers") or []
        for access in tier.get("access") or []
        for tag in access.get("tags") or []
    ]
    now = _tag_images(set(granted))
    tiers = []
    for tier in m.get("tiers") or []:
        pulls, images = [], []
        for access in tier.get("access") or []:
            repository = str(access.get("repository") or "")
            for tag in access.get("tags") or []:
                reference = f"{repository}:{tag}"
                command = f"docker pull {host}/{reference}"
                pulls.append({"reference": reference, "command": command})
                found = now.get((repository, str(tag)))
                images.append(
                    {
                        "reference": reference,
                        "repository": repository,
                        "tag": str(tag),
                        "command": command,
                        "available": found is not None,
                        "digest": found["digest"] if found else "",
                        "index": found["index"] if found else False,
                        "platforms": found["platforms"] if found else [],
                        "size": found["size"] if found else None,
                        "pushed_at": found["pushed_at"] if found else None,
                    }
                )
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
                "images": images,
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
        "security": _security(
            listing, {image for found in now.values() for image in found["images"]}
        ),
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
