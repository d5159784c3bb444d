"""Who may pull what as a customer: the one place that decides it.

A customer is entitled to a tier's repositories and tags while a subscription to it is
active or past due (a renewal being retried) and its ``access_until`` is unset or in the
future, and the listing has not been taken down. The subscription may be the user's own
or an organisation's the user belongs to. What a tier covers is read from the listing's
*live* revision (by the tier's id, or its name in revisions frozen before tiers had ids),
so a publisher who adds a tag to a tier gives it to existing customers with the next
published revision; a tier that is gone from the live revision keeps what it covered when
the customer took it.

``accounts.permissions`` asks here (through :class:`StoreEntitlements`, registered when
the app starts) for every registry token, and the pages and API ask here for what they
show; nothing else decides.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.urls import reverse

from portside.accounts.models import Organization
from portside.catalog.models import Listing, ListingState, Revision
from portside.commerce.models import (
    ENTITLED_STATUSES,
    PullRecord,
    Subscription,
    SubscriptionStatus,
)
from portside.core import clock


@dataclass(frozen=True)
class FrozenTier:
    id: int | None
    name: str
    description: str
    price: str
    currency: str
    billing_period: str
    access: dict[str, tuple[str, ...]]  # repository -> tags

    def covers(self, repository: str, tag: str) -> bool:
        return tag in self.access.get(repository, ())


@dataclass(frozen=True)
class FrozenRevision:
    tiers: tuple[FrozenTier, ...]
    digests: dict[str, dict[str, str]] = field(default_factory=dict)  # repo -> tag -> digest
    license_url: str = ""
    name: str = ""

    def tier(self, tier_id: int | None, name: str) -> FrozenTier | None:
        if tier_id is not None:
            for tier in self.tiers:
                if tier.id == tier_id:
                    return tier
        for tier in self.tiers:
            if tier.id is None and tier.name.lower() == name.lower():
                return tier
        return None


def parse_tier(raw: dict[str, Any]) -> FrozenTier:
    access: dict[str, set[str]] = {}
    for item in raw.get("access") or []:
        if isinstance(item, dict):
            repo = str(item.get("repository") or "")
            access.setdefault(repo, set()).update(str(t) for t in item.get("tags") or [])
    tier_id = raw.get("id")
    return FrozenTier(
        id=tier_id if isinstance(tier_id, int) else None,
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        price=str(raw.get("price") or "0"),
        currency=str(raw.get("currency") or "USD"),
        billing_period=str(raw.get("billing_period") or "free"),
        access={repo: tuple(sorted(tags)) for repo, tags in access.items()},
    )


def parse_revision(manifest: dict[str, Any]) -> FrozenRevision:
    digests: dict[str, dict[str, str]] = {}
    for source in manifest.get("sources") or []:
        if isinstance(source, dict) and isinstance(source.get("tags"), dict):
            digests[str(source.get("repository"))] = {
                str(k): str(v) for k, v in source["tags"].items()
            }
    return FrozenRevision(
        tiers=tuple(parse_tier(t) for t in manifest.get("tiers") or [] if isinstance(t, dict)),
        digests=digests,
        license_url=str(manifest.get("license_url") or ""),
        name=str(manifest.get("name") or ""),
    )


class _Revisions:
    """Parsed revisions by id. Revisions never change, so nothing here goes stale; the
    token endpoint reads a subscription's tiers without loading the manifest's JSON."""

    def __init__(self, entries: int = 8192) -> None:
        self.entries = entries
        self._items: OrderedDict[int, FrozenRevision] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, revision_id: int) -> FrozenRevision:
        with self._lock:
            found = self._items.get(revision_id)
            if found is not None:
                self._items.move_to_end(revision_id)
                return found
        manifest = Revision.objects.filter(pk=revision_id).values_list("manifest", flat=True)
        parsed = parse_revision(manifest.first() or {})
        with self._lock:
            self._items[revision_id] = parsed
            while len(self._items) > self.entries:
                self._items.popitem(last=False)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


REVISIONS = _Revisions()


@dataclass(frozen=True)
class Held:
    """An entitling subscription, as the registry needs it."""

    subscription_id: int
    tier: FrozenTier
    product_id: int
    organization_id: int | None
    paid: bool


def _entitling(now: dt.datetime) -> Q:
    return Q(status__in=ENTITLED_STATUSES) & (
        Q(access_until__isnull=True) | Q(access_until__gt=now)
    )


def holder_q(user_id: int) -> Q:
    """Subscriptions a user may pull under: their own, and their organisations'."""
    return Q(user_id=user_id, organization__isnull=True) | Q(
        organization__memberships__user_id=user_id
    )


# The token endpoint asks this for every customer's pull token, so it is one statement
# written once (compiling the equivalent ORM query cost more than running it): the user's
# own subscriptions and their organisations', entitling now, of listings not taken down.
# Led by the customer (their own subscriptions; their organisations'), so the cost does
# not grow with a product's popularity, and without joins: planning a join of
# subscriptions, listings and products cost PostgreSQL more than running it. Listings
# (their live revision and state) are read afterwards for the few rows found, and a
# product's publisher, which never changes, is kept in memory.
_HELD_SQL = (
    "SELECT id, tier_id, tier_name, listing_id, product_id, organization_id, price_minor "
    "FROM {sub} WHERE {holder} AND status IN ('active', 'past_due') "
    "AND (access_until IS NULL OR access_until > %s)"
)
_HOLDERS = (
    "user_id = %s AND organization_id IS NULL",
    "organization_id IN (SELECT organization_id FROM {membership} WHERE user_id = %s)",
)


@functools.cache
def _sql() -> tuple[str, str]:
    from portside.accounts.models import Membership

    def table(model: Any) -> str:
        return str(connection.ops.quote_name(model._meta.db_table))

    held_sql = " UNION ALL ".join(
        _HELD_SQL.format(sub=table(Subscription), holder=h.format(membership=table(Membership)))
        for h in _HOLDERS
    )
    listing_sql = (
        f"SELECT id, revision_id, state, access_ends_at FROM {table(Listing)} WHERE id IN "  # noqa: S608
    )
    return held_sql, listing_sql


_publisher_of: dict[int, int] = {}


def _publishers(product_ids: set[int]) -> dict[int, int]:
    from portside.catalog.models import Product

    missing = product_ids - _publisher_of.keys()
    if missing:
        found = Product.objects.filter(pk__in=missing).values_list("pk", "organization_id")
        _publisher_of.update(found)
    return _publisher_of


def held(user_id: int, *, publisher_id: int | None = None) -> list[Held]:
    """The user's entitling subscriptions (of one publisher's products, if given)."""
    held_sql, listing_sql = _sql()
    now = connection.ops.adapt_datetimefield_value(clock.now())
    with connection.cursor() as cursor:
        cursor.execute(held_sql, [user_id, now, user_id, now])
        rows = cursor.fetchall()
        # The branches cannot overlap: one holds subscriptions without an organisation,
        # the other only those of organisations (each membership is one row).
        if publisher_id is not None and rows:
            publishers = _publishers({row[4] for row in rows})
            rows = [row for row in rows if publishers.get(row[4]) == publisher_id]
        listings: dict[int, tuple[int, str, Any]] = {}
        if rows:
            ids = sorted({row[3] for row in rows})
            cursor.execute(listing_sql + "(" + ", ".join(["%s"] * len(ids)) + ")", ids)
            listings = {lid: (rev, state, ends) for lid, rev, state, ends in cursor.fetchall()}
    out = []
    for sub_id, tier_id, tier_name, listing_id, product_id, org_id, price in rows:
        revision_id, state, ends = listings.get(listing_id, (0, ListingState.TAKEN_DOWN, None))
        if not listing_entitles(state, _stored_time(ends)):
            continue
        tier = REVISIONS.get(revision_id).tier(tier_id, tier_name)
        if tier is None:  # gone from the live revision: what it covered when taken
            snapshot = Subscription.objects.filter(pk=sub_id).values_list(
                "tier_snapshot", flat=True
            )
            tier = parse_tier(snapshot.first() or {})
        out.append(Held(sub_id, tier, product_id, org_id, price > 0))
    return out


def covered_tags(user_id: int, organization_id: int, repository: str) -> frozenset[str]:
    tags: set[str] = set()
    for item in held(user_id, publisher_id=organization_id):
        tags.update(item.tier.access.get(repository, ()))
    return frozenset(tags)


def subscription_for_pull(
    user_id: int, publisher_id: int, repository: str, tag: str
) -> Held | None:
    """The subscription a pull is made under: the one whose tier covers the tag (paid
    before free), or for a pull by digest any one covering the repository."""
    candidates = [
        h for h in held(user_id, publisher_id=publisher_id) if repository in h.tier.access
    ]
    if tag:
        candidates = [h for h in candidates if tag in h.tier.access[repository]] or candidates
    candidates.sort(key=lambda h: (not h.paid, h.subscription_id))
    return candidates[0] if candidates else None


def listing_entitles(
    state: str, access_ends_at: dt.datetime | None, now: dt.datetime | None = None
) -> bool:
    """Whether a listing in ``state`` still lets its subscribers pull: not once taken
    down; once revoked (overdue security fixes), until the end the store set, if any."""
    if state == ListingState.TAKEN_DOWN:
        return False
    if state == ListingState.REVOKED and access_ends_at is not None:
        return access_ends_at > (now or clock.now())
    return True


def _stored_time(value: Any) -> dt.datetime | None:
    """A datetime column read by raw SQL: text or a naive datetime from SQLite (UTC),
    an aware datetime from PostgreSQL."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return clock.parse_stored(value)


def is_entitled(subscription: Subscription, now: dt.datetime | None = None) -> bool:
    now = now or clock.now()
    listing = subscription.listing
    return (
        subscription.status in ENTITLED_STATUSES
        and (subscription.access_until is None or subscription.access_until > now)
        and listing_entitles(listing.state, listing.access_ends_at, now)
    )


def coverage(subscription: Subscription) -> FrozenTier:
    """What a subscription's tier covers now (the live revision's tier, else as taken)."""
    revision = REVISIONS.get(subscription.listing.revision_id)
    return revision.tier(subscription.tier_id, subscription.tier_name) or parse_tier(
        subscription.tier_snapshot or {}
    )


def absolute(path: str) -> str:
    return settings.BASE_URL.rstrip("/") + path


def product_page(organization: str, slug: str) -> str:
    return absolute(reverse("product_detail", args=[organization, slug]))


# --- the registry's questions -------------------------------------------------------------------


def _offering(publisher: Organization, repository: str) -> list[tuple[Listing, FrozenRevision]]:
    listings = Listing.objects.filter(
        product__organization=publisher, state=ListingState.LIVE
    ).select_related("product")
    found = []
    for listing in listings:
        revision = REVISIONS.get(listing.revision_id)
        if any(repository in tier.access for tier in revision.tiers):
            found.append((listing, revision))
    return found


def refusal(user_id: int | None, repository: str, reference: str) -> str | None:
    from portside.oci.errors import OCIError
    from portside.registry.services import namespace_of

    try:
        publisher = namespace_of(repository)
    except OCIError:
        return None
    if publisher is None:
        return None
    offers = _offering(publisher, repository)
    if not offers:
        return None
    listing, revision = offers[0]
    tag = reference if reference and ":" not in reference else ""
    for candidate, frozen in offers:
        if tag and any(t.covers(repository, tag) for t in frozen.tiers):
            listing, revision = candidate, frozen
            break
    url = product_page(publisher.name, listing.product.slug)
    product = revision.name or listing.product.name
    what = f"{repository}:{tag}" if tag else repository
    tiers = [
        t.name
        for t in revision.tiers
        if (t.covers(repository, tag) if tag else repository in t.access)
    ]
    offer = f" ({', '.join(tiers)})" if tiers else ""
    if user_id is None:
        return f"{what} is part of {product}: sign in and take a tier{offer} at {url}"
    holdings = held(user_id, publisher_id=publisher.pk)

    def covers(tier: FrozenTier) -> bool:
        return tier.covers(repository, tag) if tag else repository in tier.access

    # A subscription that covered it and no longer entitles: ended, or past its access.
    now = clock.now()
    lapsed = (
        Subscription.objects.filter(holder_q(user_id), product=listing.product)
        .exclude(status=SubscriptionStatus.PENDING)
        .exclude(_entitling(now))
        .select_related("listing")
        .order_by("-ended_at", "-access_until", "-pk")
    )
    for ended in lapsed[:20]:
        if not covers(coverage(ended)):
            continue
        when = ended.ended_at or ended.access_until
        day = when.date().isoformat() if when else "recently"
        reason = (
            SubscriptionStatus(ended.status).label.lower()
            if ended.status not in ENTITLED_STATUSES
            else "not renewed"
        )
        return (
            f"Your subscription to {product} ({ended.tier_name}) ended on {day} "
            f"({reason}); take a tier again at {url}"
        )
    if holdings:
        return f"{what} is not in your tier of {product}; the tiers that include it{offer}: {url}"
    return f"{what} is part of {product}: take a tier{offer} at {url}"


def entitled_digests(user_id: int, repository: str) -> frozenset[str]:
    from portside.registry.services import namespace_of

    publisher = namespace_of(repository)
    if publisher is None:
        return frozenset()
    digests: set[str] = set()
    holdings = held(user_id, publisher_id=publisher.pk)
    if not holdings:
        return frozenset()
    revisions = Subscription.objects.filter(
        pk__in=[h.subscription_id for h in holdings]
    ).values_list("listing__revision_id", flat=True)
    for revision_id in set(revisions):
        frozen = REVISIONS.get(revision_id)
        for h in holdings:
            for tag in h.tier.access.get(repository, ()):
                if digest := frozen.digests.get(repository, {}).get(tag):
                    digests.add(digest)
    digests.update(
        PullRecord.objects.filter(user_id=user_id, repository=repository)
        .values_list("digest", flat=True)
        .distinct()
    )
    return frozenset(digests)


# --- images not scanned yet ---------------------------------------------------------------------


def _document(content: bytes) -> dict[str, Any]:
    import json

    try:
        document = json.loads(content)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _is_image(document: dict[str, Any]) -> bool:
    """An image the store scans: not an artifact (signature, SBOM, attestation)."""
    from portside.scanning.services import IMAGE_CONFIG_TYPES

    config = document.get("config")
    return (
        not document.get("artifactType")
        and isinstance(config, dict)
        and config.get("mediaType") in IMAGE_CONFIG_TYPES
    )


def _is_attestation(descriptor: dict[str, Any]) -> bool:
    """Build attestations listed in an index as manifests of platform unknown/unknown
    (BuildKit's provenance and SBOMs): artifacts, whatever their config says."""
    annotations = descriptor.get("annotations")
    if isinstance(annotations, dict) and annotations.get("vnd.docker.reference.type"):
        return True
    return _platform(descriptor) == "unknown/unknown"


def _platform(descriptor: dict[str, Any]) -> str:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return ""
    parts = [str(platform.get("os") or ""), str(platform.get("architecture") or "")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(p for p in parts if p)


def scan_refusal(
    repository_id: int, repository: str, digest: str, media_type: str, content: bytes
) -> str | None:
    """Why a customer may not pull this manifest yet: with ``PULL_REQUIRES_SCAN``, an
    image the store has never scanned, or an index with such a platform image. A scan
    that finished once counts while the image is scanned again; artifacts are never
    held back. None when the pull may go ahead."""
    from portside.oci import mediatypes

    if not settings.PULL_REQUIRES_SCAN:
        return None
    document = _document(content)
    images: dict[str, str] = {}  # digest -> platform, for the message
    if media_type in mediatypes.INDEX_TYPES or document.get("manifests") is not None:
        listed = {
            str(d.get("digest")): _platform(d)
            for d in document.get("manifests") or []
            if isinstance(d, dict)
            and d.get("mediaType") in mediatypes.IMAGE_TYPES
            and not _is_attestation(d)
        }
        if listed:
            from portside.registry.models import Manifest

            children = Manifest.objects.filter(
                repository_id=repository_id, digest__in=list(listed)
            ).values_list("digest", "content")
            images = {d: listed[d] for d, body in children if _is_image(_document(bytes(body)))}
    elif _is_image(document):
        images = {digest: ""}
    if not images:
        return None
    missing = set(images) - _scanned(repository_id, set(images))
    if not missing:
        return None
    first = sorted(missing, key=lambda d: (images[d], d))[0]
    if first == digest:
        return (
            f"{repository}@{digest} has not been scanned yet: the store serves an image to "
            "customers once its security scan has finished. Try again later."
        )
    which = f" for {images[first]}" if images[first] else ""
    return (
        f"{repository}@{digest} has not been scanned yet: its image{which} ({first}) "
        "waits for its security scan, and the store serves images to customers once it "
        "has finished. Try again later."
    )


def _scanned(repository_id: int, digests: set[str]) -> set[str]:
    from portside.scanning.models import Scan, ScanStatus

    once = Q(status=ScanStatus.DONE) | Q(finished_at__isnull=False) | Q(matched_at__isnull=False)
    found = Scan.objects.filter(once, repository_id=repository_id, digest__in=sorted(digests))
    return set(found.values_list("digest", flat=True))


class StoreEntitlements:
    """The ``accounts.permissions.Entitlements`` the store runs with."""

    def scan_refusal(
        self, repository_id: int, repository: str, digest: str, media_type: str, content: bytes
    ) -> str | None:
        return scan_refusal(repository_id, repository, digest, media_type, content)

    def pull_tags(
        self, user_id: int, organization: Organization, repository: str
    ) -> frozenset[str]:
        return covered_tags(user_id, organization.pk, repository)

    def entitled_digests(self, user_id: int, repository: str) -> frozenset[str]:
        return entitled_digests(user_id, repository)

    def refusal(self, user_id: int | None, repository: str, reference: str) -> str | None:
        return refusal(user_id, repository, reference)
