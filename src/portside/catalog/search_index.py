"""Catalogue search, the indexing side: the tables of the index (``SearchEntry``,
``SearchTag``, ``SearchCard``, ``SearchFacetCount``, ``SearchState``), writing a listing's
rows and text (:func:`reindex_listing`, :func:`reindex_all`) and recounting popularity
(:func:`refresh_popularity`). See ``catalog/search.py`` for how search works."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Sum

from portside.catalog.models import Listing, ListingState
from portside.catalog.search_query import FIELDS, tokens
from portside.core.markdown import plain_text

# --- tables ---------------------------------------------------------------------------------


class SearchEntry(models.Model):
    """A live listing as search filters, counts and orders it: one narrow row each, so that
    a query matching tens of thousands of listings reads little."""

    listing = models.OneToOneField(
        Listing, primary_key=True, on_delete=models.CASCADE, related_name="search_entry"
    )
    pulls = models.BigIntegerField(default=0)
    first_published_at = models.DateTimeField()
    certified = models.BooleanField(default=False)
    category = models.CharField(max_length=50, blank=True)  # slug, "" for none
    publisher = models.CharField(max_length=100)  # organisation name
    free = models.BooleanField(default=False)  # has a tier priced 0
    paid = models.BooleanField(default=False)  # has a tier priced above 0

    class Meta:
        app_label = "catalog"
        indexes = [
            models.Index(
                fields=["-pulls", "-first_published_at", "listing"], name="search_popular"
            ),
            models.Index(fields=["-first_published_at", "listing"], name="search_newest"),
            models.Index(fields=["category", "-pulls"], name="search_category"),
            models.Index(fields=["publisher", "-pulls"], name="search_publisher"),
        ]

    def __str__(self) -> str:
        return f"search entry of listing {self.listing_id}"


class SearchTag(models.Model):
    """A search tag of a live listing."""

    entry = models.ForeignKey(
        SearchEntry, on_delete=models.CASCADE, related_name="tags", db_column="listing_id"
    )
    tag = models.CharField(max_length=100)

    class Meta:
        app_label = "catalog"
        constraints = [
            models.UniqueConstraint(fields=["entry", "tag"], name="search_tag_unique"),
        ]
        indexes = [models.Index(fields=["tag", "entry"], name="search_tag")]

    def __str__(self) -> str:
        return f"{self.tag} of listing {self.entry_id}"


class SearchCard(models.Model):
    """What a result shows, from the live revision; read only for the page of results."""

    entry = models.OneToOneField(
        SearchEntry,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="card",
        db_column="listing_id",
    )
    card = models.JSONField(default=dict)
    # Repository names of the revision's sources: what popularity counts. Never shown.
    repositories = models.JSONField(default=list)

    class Meta:
        app_label = "catalog"

    def __str__(self) -> str:
        return f"search card of listing {self.entry_id}"


class SearchFacetCount(models.Model):
    """How many live listings carry a facet value (``all``, ``category:SLUG``,
    ``publisher:ORG``, ``tag:TAG``, ``price:free``, ``price:paid``, ``certified``) over the
    whole catalogue; kept by database triggers on SearchEntry and SearchTag."""

    key = models.CharField(max_length=160, primary_key=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        app_label = "catalog"

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class SearchState(models.Model):
    """One row: a token that changes with every change to the index, so cached results of
    an older index are never served."""

    token = models.CharField(max_length=32)

    class Meta:
        app_label = "catalog"

    def __str__(self) -> str:
        return f"search index {self.token}"


# --- indexing -------------------------------------------------------------------------------


def _price(value: Any) -> Decimal | None:
    try:
        price = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return price if price.is_finite() else None


def _document(manifest: dict[str, Any], organization: str) -> dict[str, str]:
    publisher = manifest.get("publisher") or {}
    return {
        "name": " ".join(tokens(manifest.get("name") or "")),
        "tags": " ".join(t for tag in manifest.get("search_tags") or [] for t in tokens(tag)),
        "publisher": " ".join(tokens(f"{organization} {publisher.get('name') or ''}")),
        "short": " ".join(tokens(manifest.get("short_description") or "")),
        "long": " ".join(tokens(plain_text(manifest.get("long_description") or ""))),
    }


def _card(listing: Listing, manifest: dict[str, Any], organization: str) -> dict[str, Any]:
    publisher = manifest.get("publisher") or {}
    tiers = [
        {
            "name": str(tier.get("name") or ""),
            "price": str(tier.get("price") or "0"),
            "currency": str(tier.get("currency") or ""),
            "billing_period": str(tier.get("billing_period") or ""),
        }
        for tier in manifest.get("tiers") or []
    ]
    prices = [_price(tier["price"]) for tier in tiers]
    category = manifest.get("category") or None
    return {
        "organization": organization,
        "slug": listing.product.slug,
        "name": str(manifest.get("name") or listing.product.name),
        "publisher": str(publisher.get("name") or organization),
        "icon": str(manifest.get("icon") or ""),
        "short_description": str(manifest.get("short_description") or ""),
        "category": (
            {"slug": str(category.get("slug")), "name": str(category.get("name"))}
            if isinstance(category, dict) and category.get("slug")
            else None
        ),
        "search_tags": [str(tag) for tag in manifest.get("search_tags") or []],
        "platforms": [str(p) for p in manifest.get("platforms") or []],
        "free": any(p is not None and p == 0 for p in prices),
        "paid": any(p is not None and p > 0 for p in prices),
        "tiers": tiers,
        # The SLA's hold: "Security fixes overdue since ..." on the result, naming nothing.
        "security_hold_since": (
            listing.security_hold_since.isoformat() if listing.security_hold_since else None
        ),
    }


def _clean_tags(manifest: dict[str, Any]) -> list[str]:
    return sorted({str(tag).strip().lower()[:100] for tag in manifest.get("search_tags") or []})


def _rows(
    listing: Listing,
) -> tuple[SearchEntry, list[SearchTag], SearchCard, tuple[int, dict[str, str]]]:
    manifest = listing.revision.manifest or {}
    organization = listing.product.organization.name
    card = _card(listing, manifest, organization)
    entry = SearchEntry(
        listing_id=listing.pk,
        pulls=listing.pulls,
        first_published_at=listing.first_published_at,
        certified=listing.certified,
        category=(card["category"] or {}).get("slug", "")[:50],
        publisher=organization,
        free=card["free"],
        paid=card["paid"],
    )
    sources = manifest.get("sources") or []
    return (
        entry,
        [SearchTag(entry_id=listing.pk, tag=tag) for tag in _clean_tags(manifest) if tag],
        SearchCard(
            entry_id=listing.pk,
            card=card,
            repositories=sorted({str(s["repository"]) for s in sources if s.get("repository")}),
        ),
        (listing.pk, _document(manifest, organization)),
    )


def _lock_counts(keys: Iterable[str]) -> None:
    """On PostgreSQL, lock the facet counters a change touches, in one order, so that two
    publications sharing facet values queue instead of deadlocking in the triggers."""
    if connection.vendor != "postgresql":
        return  # SQLite transactions hold the database's write lock from the start
    ordered = sorted(set(keys))
    SearchFacetCount.objects.bulk_create(
        [SearchFacetCount(key=key, count=0) for key in ordered], ignore_conflicts=True
    )
    list(
        SearchFacetCount.objects.select_for_update()
        .filter(key__in=ordered)
        .order_by("key")
        .values_list("key", flat=True)
    )


def _keys(entry: SearchEntry, tags: Iterable[str]) -> list[str]:
    keys = ["all", f"publisher:{entry.publisher}", *(f"tag:{t}" for t in tags)]
    if entry.category:
        keys.append(f"category:{entry.category}")
    if entry.free:
        keys.append("price:free")
    if entry.paid:
        keys.append("price:paid")
    if entry.certified:
        keys.append("certified")
    return keys


def _changed() -> None:
    """A new index token: results cached for the old index are not served again."""
    token = uuid.uuid4().hex
    if not SearchState.objects.filter(pk=1).update(token=token):
        SearchState.objects.create(pk=1, token=token)


def reindex_listing(listing: Listing) -> None:
    """Bring the search index in line with ``listing``: its live revision is indexed,
    replacing what was there; a listing that is not live is removed. Runs in the caller's
    transaction, so a rolled-back publication leaves the index as it was. Whatever changes
    a listing's state, revision or ``certified`` calls it."""
    with transaction.atomic():
        old = SearchEntry.objects.filter(pk=listing.pk).first()
        touched = []
        if old is not None:
            touched = _keys(old, old.tags.values_list("tag", flat=True))
        if listing.state != ListingState.LIVE:
            if old is not None:
                _lock_counts(touched)
                old.delete()
                _changed()
            return
        entry, tags, card, text = _rows(listing)
        _lock_counts(touched + _keys(entry, [t.tag for t in tags]))
        if old is not None:
            old.delete()  # its tags, card and text go with it
        entry.save(force_insert=True)
        SearchTag.objects.bulk_create(tags)
        card.save(force_insert=True)
        _write_texts([text])
        _changed()


def _write_texts(texts: list[tuple[int, dict[str, str]]]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.executemany(
                "INSERT INTO catalog_searchtext (listing_id, document, body) VALUES (%s, "
                "setweight(to_tsvector('simple', %s), 'A') || "
                "setweight(to_tsvector('simple', %s), 'B') || "
                "setweight(to_tsvector('simple', %s), 'C') || "
                "setweight(to_tsvector('simple', %s), 'D'), to_tsvector('simple', %s)) "
                "ON CONFLICT (listing_id) DO UPDATE "
                "SET document = excluded.document, body = excluded.body",
                [[pk, *(document[f] for f in FIELDS)] for pk, document in texts],
            )
            # The words a query's last term may stand for (see _words), in one order, so
            # that two publications inserting the same new words queue, not deadlock.
            words = sorted(
                {w for _, document in texts for f in FIELDS for w in document[f].split()}
            )
            cursor.execute(
                "INSERT INTO catalog_searchword (word) SELECT unnest(%s::text[]) "
                "ON CONFLICT DO NOTHING",
                [words],
            )
        else:
            cursor.executemany(
                "DELETE FROM catalog_search_fts WHERE rowid = %s", [[pk] for pk, _ in texts]
            )
            cursor.executemany(
                "INSERT INTO catalog_search_fts (rowid, name, tags, publisher, short, long) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [[pk, *(document[f] for f in FIELDS)] for pk, document in texts],
            )


def reindex_all(batch: int = 1_000) -> int:
    """Index every live listing afresh, in batches (after a change to what is indexed, or
    to build the index of an existing catalogue); returns the number indexed."""
    with transaction.atomic():
        SearchEntry.objects.all().delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM catalog_searchword")
        _changed()
    live = (
        Listing.objects.filter(state=ListingState.LIVE)
        .select_related("product__organization", "revision")
        .order_by("pk")
    )
    done, last = 0, 0
    while listings := list(live.filter(pk__gt=last)[:batch]):
        rows = [_rows(listing) for listing in listings]
        with transaction.atomic():
            SearchEntry.objects.bulk_create([r[0] for r in rows])
            SearchTag.objects.bulk_create([t for r in rows for t in r[1]], batch_size=5_000)
            SearchCard.objects.bulk_create([r[2] for r in rows])
            _write_texts([r[3] for r in rows])
            _changed()
        done += len(listings)
        last = listings[-1].pk
    return done


# --- popularity -----------------------------------------------------------------------------


def refresh_popularity(repositories: Iterable[str] | None = None) -> int:
    """Set each live listing's ``pulls`` to the pulls of the repositories its revision is
    made from (the registry's counters); returns how many listings changed.

    With ``repositories``, only the listings made from them are recounted (just after
    their pulls were recorded: the product page shows the new count at once), and the
    search index keeps its token, so cached results and the scoring arrays stay valid
    until the hourly full refresh, which renews it."""
    from portside.registry.models import PullCount

    rows = SearchEntry.objects.values_list("listing_id", "pulls", "card__repositories")
    counters = PullCount.objects.all()
    if repositories is not None:
        names = sorted(set(repositories))
        listing_ids = (
            Listing.objects.filter(
                state=ListingState.LIVE, product__sources__repository__name__in=names
            )
            .values_list("pk", flat=True)
            .distinct()
        )
        rows = rows.filter(listing_id__in=list(listing_ids))
        involved = {name for _, _, repos in rows for name in repos or []}
        counters = counters.filter(repository__name__in=sorted(involved))
    totals = {
        name: total or 0
        for name, total in counters.values("repository__name")
        .annotate(total=Sum("count"))
        .values_list("repository__name", "total")
    }
    changed: list[tuple[int, int]] = []
    for listing_id, pulls, repos in rows.iterator(chunk_size=2_000):
        total = sum(totals.get(name, 0) for name in repos or [])
        if total != pulls:
            changed.append((listing_id, total))
    for start in range(0, len(changed), 500):
        with transaction.atomic():
            for listing_id, total in changed[start : start + 500]:
                Listing.objects.filter(pk=listing_id).update(pulls=total)
                SearchEntry.objects.filter(pk=listing_id).update(pulls=total)
            if repositories is None:
                _changed()
    return len(changed)
