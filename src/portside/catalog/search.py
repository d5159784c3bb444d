"""Catalogue search (M11): one behaviour over two backends.

The embedded store searches with SQLite FTS5, a PostgreSQL store with full text search (a
``tsvector`` column with a GIN index); :func:`search` picks one by ``connection.vendor``.
For the same catalogue both give the same results in the same order, because nothing that
decides a result is left to the database's own text handling:

- Text is tokenised here (:func:`tokens`: Unicode NFKC, case folding, diacritics removed,
  decimal digits of every script as ASCII digits, split on anything that is not a letter
  or a digit), for the indexed fields and for the query alike. The index holds the tokens
  joined by spaces, so FTS5 (``unicode61 remove_diacritics 0``) and PostgreSQL
  (``to_tsvector('simple', ...)``) see words they only have to split on spaces.
- A listing matches when every query term occurs in one of its fields; the last term is a
  prefix (``term*`` in FTS5, ``term:*`` in a ``tsquery``). Query text is never passed to
  either database as syntax: each term is a quoted token of letters and digits.
- The score is discrete: the sum of :data:`WEIGHTS` of the fields that on their own hold
  every query term (FTS5 column filters ``{name} : (...)``; on PostgreSQL weight-restricted
  queries ``term:A`` and a second vector for the long description). Ties are broken by
  popularity (``pulls``), then the newest first publication, then the listing id.

Tables: ``SearchEntry`` (one row per live listing: what a result card shows and the sort
keys), ``SearchFacet`` (one row per listing and facet value; every filter is one of these)
and ``SearchFacetCount`` (counts of each facet value over the whole catalogue, kept by
database triggers, so the unfiltered storefront never counts 100,000 rows). The text lives
in the FTS5 table ``catalog_search_fts`` on SQLite, and in the columns ``document`` and
``body`` of ``catalog_searchentry`` on PostgreSQL (migration ``0003_search``).

Only live listings have rows: :func:`reindex_listing` is called by whatever changes a
listing (publishing, unpublishing, taking down, certification) inside its transaction.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Sum

from portside.catalog.models import Category, Listing, ListingState
from portside.core.markdown import plain_text

logger = logging.getLogger(__name__)

# Field weights of the score: a field that holds every query term adds its weight.
WEIGHTS = {"name": 8, "tags": 4, "publisher": 3, "short": 2, "long": 1}
FIELDS = tuple(WEIGHTS)
# PostgreSQL weight label of each field kept in ``document``; ``long`` has its own vector.
_PG_LABELS = {"name": "A", "tags": "B", "publisher": "C", "short": "D"}

MAX_QUERY = 1_000  # characters of a query that are read
MAX_TERMS = 12  # terms of a query that are used
MAX_TOKEN = 64  # characters of one token (indexed and queried alike)
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_PAGE = 1_000
MAX_FILTER = 200
FACET_LIMIT = 20  # tag and publisher facet values returned, most frequent first

PRICES = ("free", "paid")
_WORD = re.compile(r"[^\W_]+")


# --- tokens ---------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """The words of ``text`` as both backends index and query them."""
    if not text:
        return []
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    chars = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if not char.isascii() and char.isdecimal():
            char = str(unicodedata.decimal(char))
        chars.append(char)
    stripped = unicodedata.normalize("NFC", "".join(chars)).lower()
    return [word[:MAX_TOKEN] for word in _WORD.findall(stripped)]


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, in order, at most :data:`MAX_TERMS`."""
    terms: list[str] = []
    for word in tokens(str(query)[:MAX_QUERY]):
        if word not in terms:
            terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    return terms


# --- tables ---------------------------------------------------------------------------------


class SearchEntry(models.Model):
    """A live listing as search sees it."""

    listing = models.OneToOneField(
        Listing, primary_key=True, on_delete=models.CASCADE, related_name="search_entry"
    )
    pulls = models.BigIntegerField(default=0)
    first_published_at = models.DateTimeField()
    certified = models.BooleanField(default=False)
    # What a result shows, taken from the live revision (never the sources).
    card = models.JSONField(default=dict)
    # Repository names of the revision's sources: what popularity counts. Never shown.
    repositories = models.JSONField(default=list)

    class Meta:
        app_label = "catalog"
        indexes = [
            models.Index(
                fields=["-pulls", "-first_published_at", "listing"], name="search_popular"
            ),
            models.Index(fields=["-first_published_at", "listing"], name="search_newest"),
        ]

    def __str__(self) -> str:
        return f"search entry of listing {self.listing_id}"


class SearchFacet(models.Model):
    """One facet value of a live listing: ``all``, ``category:SLUG``, ``tag:TAG``,
    ``publisher:ORG``, ``price:free``, ``price:paid`` or ``certified``."""

    entry = models.ForeignKey(
        SearchEntry, on_delete=models.CASCADE, related_name="facets", db_column="listing_id"
    )
    key = models.CharField(max_length=120)

    class Meta:
        app_label = "catalog"
        constraints = [
            models.UniqueConstraint(fields=["entry", "key"], name="search_facet_unique"),
        ]
        indexes = [models.Index(fields=["key", "entry"], name="search_facet_key")]

    def __str__(self) -> str:
        return f"{self.key} of listing {self.entry_id}"


class SearchFacetCount(models.Model):
    """How many live listings carry a facet value; kept by triggers on SearchFacet."""

    key = models.CharField(max_length=120, primary_key=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        app_label = "catalog"

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


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
    }


def _facet_keys(card: dict[str, Any], certified: bool) -> list[str]:
    keys = {"all", f"publisher:{card['organization']}"}
    if card["category"]:
        keys.add(f"category:{card['category']['slug']}")
    keys.update(f"tag:{tag}" for tag in card["search_tags"])
    if card["free"]:
        keys.add("price:free")
    if card["paid"]:
        keys.add("price:paid")
    if certified:
        keys.add("certified")
    return sorted(key[:120] for key in keys)


def reindex_listing(listing: Listing) -> None:
    """Bring the search index in line with ``listing``: its live revision is indexed,
    replacing what was there; a listing that is not live is removed. Runs in the caller's
    transaction, so a rolled-back publication leaves the index as it was."""
    with transaction.atomic():
        live = listing.state == ListingState.LIVE
        if not live:
            SearchEntry.objects.filter(pk=listing.pk).delete()
            return
        manifest = listing.revision.manifest or {}
        organization = listing.product.organization.name
        card = _card(listing, manifest, organization)
        repositories = sorted(
            {str(s.get("repository")) for s in manifest.get("sources") or [] if s.get("repository")}
        )
        entry, _ = SearchEntry.objects.update_or_create(
            listing=listing,
            defaults={
                "pulls": listing.pulls,
                "first_published_at": listing.first_published_at,
                "certified": listing.certified,
                "card": card,
                "repositories": repositories,
            },
        )
        keys = _facet_keys(card, listing.certified)
        current = set(SearchFacet.objects.filter(entry=entry).values_list("key", flat=True))
        if connection.vendor == "postgresql":
            # Lock the counters this change touches in one order, so two publications that
            # share facet values queue instead of deadlocking in the triggers.
            touched = sorted(current.symmetric_difference(keys))
            if touched:
                SearchFacetCount.objects.bulk_create(
                    [SearchFacetCount(key=key, count=0) for key in touched],
                    ignore_conflicts=True,
                )
                list(
                    SearchFacetCount.objects.select_for_update()
                    .filter(key__in=touched)
                    .order_by("key")
                    .values_list("key", flat=True)
                )
        gone = sorted(current - set(keys))
        if gone:
            SearchFacet.objects.filter(entry=entry, key__in=gone).delete()
        SearchFacet.objects.bulk_create(
            [SearchFacet(entry=entry, key=key) for key in keys if key not in current]
        )
        _write_text(listing.pk, _document(manifest, organization))


def _write_text(listing_id: int, document: dict[str, str]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE catalog_searchentry SET document = "
                "setweight(to_tsvector('simple', %s), 'A') || "
                "setweight(to_tsvector('simple', %s), 'B') || "
                "setweight(to_tsvector('simple', %s), 'C') || "
                "setweight(to_tsvector('simple', %s), 'D'), "
                "body = to_tsvector('simple', %s) WHERE listing_id = %s",
                [*(document[f] for f in FIELDS), listing_id],
            )
        else:
            cursor.execute("DELETE FROM catalog_search_fts WHERE rowid = %s", [listing_id])
            cursor.execute(
                "INSERT INTO catalog_search_fts (rowid, name, tags, publisher, short, long) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [listing_id, *(document[f] for f in FIELDS)],
            )


def reindex_all() -> int:
    """Index every listing again (after a change to how listings are indexed)."""
    done = 0
    for listing in Listing.objects.order_by("pk").iterator(chunk_size=500):
        reindex_listing(listing)
        done += 1
    SearchEntry.objects.exclude(listing__state=ListingState.LIVE).delete()
    return done


# --- popularity -----------------------------------------------------------------------------


def refresh_popularity() -> int:
    """Set each live listing's ``pulls`` to the pulls of the repositories its revision
    is made from (the registry's counters); returns how many listings changed."""
    from portside.registry.models import PullCount

    totals = {
        name: total or 0
        for name, total in PullCount.objects.values("repository__name")
        .annotate(total=Sum("count"))
        .values_list("repository__name", "total")
    }
    changed: list[tuple[int, int]] = []
    for listing_id, pulls, repositories in SearchEntry.objects.values_list(
        "listing_id", "pulls", "repositories"
    ).iterator(chunk_size=2_000):
        total = sum(totals.get(name, 0) for name in repositories or [])
        if total != pulls:
            changed.append((listing_id, total))
    for start in range(0, len(changed), 500):
        batch = changed[start : start + 500]
        with transaction.atomic():
            for listing_id, total in batch:
                Listing.objects.filter(pk=listing_id).update(pulls=total)
                SearchEntry.objects.filter(pk=listing_id).update(pulls=total)
    return len(changed)


# --- searching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str = ""
    category: str = ""
    tag: str = ""
    publisher: str = ""
    price: str = ""  # "", "free" or "paid"
    certified: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def terms(self) -> list[str]:
        return query_terms(self.text)

    def filter_keys(self) -> list[str]:
        keys = []
        if self.category:
            keys.append(f"category:{self.category}")
        if self.tag:
            keys.append(f"tag:{self.tag}")
        if self.publisher:
            keys.append(f"publisher:{self.publisher}")
        if self.price in PRICES:
            keys.append(f"price:{self.price}")
        if self.certified:
            keys.append("certified")
        return keys


@dataclass(frozen=True)
class Hit:
    listing_id: int
    score: int
    pulls: int
    certified: bool
    card: dict[str, Any]

    @property
    def organization(self) -> str:
        return str(self.card["organization"])

    @property
    def slug(self) -> str:
        return str(self.card["slug"])

    @property
    def name(self) -> str:
        return str(self.card["name"])


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass
class Facets:
    categories: list[FacetValue] = field(default_factory=list)
    tags: list[FacetValue] = field(default_factory=list)
    publishers: list[FacetValue] = field(default_factory=list)
    price: dict[str, int] = field(default_factory=lambda: {"free": 0, "paid": 0})
    certified: int = 0


@dataclass
class Results:
    query: Query
    total: int
    hits: list[Hit]
    facets: Facets

    @property
    def page(self) -> int:
        return self.query.page

    @property
    def page_size(self) -> int:
        return self.query.page_size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.page_size))

    @property
    def has_previous(self) -> bool:
        return self.query.page > 1

    @property
    def has_next(self) -> bool:
        return self.query.page < self.pages


def _clean_filter(value: Any) -> str:
    return str(value or "").replace("\x00", "").strip()[:MAX_FILTER]


def make_query(
    text: Any = "",
    *,
    category: Any = "",
    tag: Any = "",
    publisher: Any = "",
    price: Any = "",
    certified: Any = False,
    page: Any = 1,
    page_size: Any = DEFAULT_PAGE_SIZE,
) -> Query:
    """A :class:`Query` from loose input (a query string): bounded, never raising."""

    def number(value: Any, default: int, low: int, high: int) -> int:
        try:
            n = int(str(value).strip()[:12])
        except (TypeError, ValueError):
            return default
        return min(max(n, low), high)

    price = _clean_filter(price).lower()
    return Query(
        text=str(text or "")[:MAX_QUERY],
        category=_clean_filter(category),
        tag=_clean_filter(tag).lower(),
        publisher=_clean_filter(publisher),
        price=price if price in PRICES else "",
        certified=certified is True or _clean_filter(certified).lower() in ("1", "true", "on"),
        page=number(page, 1, 1, MAX_PAGE),
        page_size=number(page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
    )


def search(
    text: str = "",
    *,
    category: str = "",
    tag: str = "",
    publisher: str = "",
    price: str = "",
    certified: bool = False,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Results:
    """Live listings matching ``text`` and the filters, best first, one page of them, with
    facet counts over everything that matches. Never raises on any input."""
    return run(
        make_query(
            text,
            category=category,
            tag=tag,
            publisher=publisher,
            price=price,
            certified=certified,
            page=page,
            page_size=page_size,
        )
    )


def _fts_expression(terms: Sequence[str]) -> str:
    quoted = [f'"{term}"' for term in terms]
    quoted[-1] += "*"
    return " AND ".join(quoted)


def _tsquery(terms: Sequence[str], label: str = "") -> str:
    parts = [f"'{term}'" + (f":{label}" if label else "") for term in terms[:-1]]
    parts.append(f"'{terms[-1]}':*{label}")
    return " & ".join(parts)


def _matching(terms: list[str]) -> tuple[str, list[Any]]:
    """SQL of the CTE ``m(id, score)``: the listings holding every term, with their score."""
    if not terms:
        return "SELECT listing_id AS id, 0 AS score FROM catalog_searchentry", []
    if connection.vendor == "postgresql":
        scores, params = [], []
        for name, label in _PG_LABELS.items():
            scores.append(f"(e.document @@ to_tsquery('simple', %s))::int * {WEIGHTS[name]}")
            params.append(_tsquery(terms, label))
        scores.append(f"(e.body @@ to_tsquery('simple', %s))::int * {WEIGHTS['long']}")
        params.append(_tsquery(terms))
        conditions = []
        for n, term in enumerate(terms):
            one = _tsquery([term]) if n == len(terms) - 1 else f"'{term}'"
            conditions.append(
                "(e.document @@ to_tsquery('simple', %s) OR e.body @@ to_tsquery('simple', %s))"
            )
            params += [one, one]
        sql = (
            f"SELECT e.listing_id AS id, {' + '.join(scores)} AS score "  # noqa: S608
            f"FROM catalog_searchentry e WHERE {' AND '.join(conditions)}"
        )
        return sql, params
    expression = _fts_expression(terms)
    branches = [
        "SELECT rowid AS id, 0 AS w FROM catalog_search_fts WHERE catalog_search_fts MATCH %s"
    ]
    params = [expression]
    for name in FIELDS:
        branches.append(
            f"SELECT rowid, {WEIGHTS[name]} FROM catalog_search_fts "  # noqa: S608
            "WHERE catalog_search_fts MATCH %s"
        )
        params.append(f"{{{name}}} : ({expression})")
    union = " UNION ALL ".join(branches)
    sql = f"SELECT id, SUM(w) AS score FROM ({union}) AS w GROUP BY id"  # noqa: S608
    return sql, params


def _order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows (id, score, pulls, first_published_at, ...) in result order."""
    rows = sorted(rows, key=lambda r: r[0])
    rows.sort(key=lambda r: r[3], reverse=True)
    rows.sort(key=lambda r: r[2], reverse=True)
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows


def run(query: Query) -> Results:
    terms = query.terms
    filters = query.filter_keys()
    limit = query.page_size
    offset = (query.page - 1) * query.page_size
    with connection.cursor() as cursor:
        if not terms and not filters:
            hits = _browse_everything(cursor, limit, offset)
            cursor.execute("SELECT key, count FROM catalog_searchfacetcount WHERE count > 0")
            counts = list(cursor.fetchall())
        else:
            hits, counts = _search(cursor, terms, filters, limit, offset)
    return Results(query=query, total=_total(counts), hits=hits, facets=_facets(counts))


_HIT_COLUMNS = "e.listing_id, p.score, e.pulls, e.first_published_at, e.certified, e.card"


def _browse_everything(cursor: Any, limit: int, offset: int) -> list[Hit]:
    cursor.execute(
        f"SELECT {_HIT_COLUMNS} FROM (SELECT listing_id, 0 AS score FROM catalog_searchentry "  # noqa: S608
        "ORDER BY pulls DESC, first_published_at DESC, listing_id LIMIT %s OFFSET %s) p "
        "JOIN catalog_searchentry e ON e.listing_id = p.listing_id",
        [limit, offset],
    )
    return _hits(cursor.fetchall())


def _search(
    cursor: Any, terms: list[str], filters: list[str], limit: int, offset: int
) -> tuple[list[Hit], list[tuple[str, int]]]:
    matching, params = _matching(terms)
    conditions = " ".join(
        "AND e.listing_id IN (SELECT listing_id FROM catalog_searchfacet WHERE key = %s)"
        for _ in filters
    )
    sql = (
        f"WITH m AS ({matching}), "  # noqa: S608
        "f AS (SELECT e.listing_id AS id, m.score AS score, e.pulls AS pulls, "
        "e.first_published_at AS first_published_at "
        f"FROM m JOIN catalog_searchentry e ON e.listing_id = m.id WHERE 1 = 1 {conditions}) "
        "SELECT 0 AS kind, e.listing_id, p.score, e.pulls, e.first_published_at, e.certified, "
        "e.card, NULL AS key FROM (SELECT id, score FROM f "
        "ORDER BY score DESC, pulls DESC, first_published_at DESC, id LIMIT %s OFFSET %s) p "
        "JOIN catalog_searchentry e ON e.listing_id = p.id "
        "UNION ALL SELECT 1, COUNT(*), NULL, NULL, NULL, NULL, NULL, key "
        "FROM catalog_searchfacet WHERE listing_id IN (SELECT id FROM f) GROUP BY key"
    )
    cursor.execute(sql, [*params, *filters, limit, offset])
    hits, counts = [], []
    for row in cursor.fetchall():
        if row[0] == 0:
            hits.append(row[1:7])
        else:
            counts.append((row[7], int(row[1])))
    return _hits(hits), counts


def _hits(rows: Iterable[Sequence[Any]]) -> list[Hit]:
    import json

    result = []
    for listing_id, score, pulls, _published, certified, card in _order([tuple(r) for r in rows]):
        result.append(
            Hit(
                listing_id=int(listing_id),
                score=int(score),
                pulls=int(pulls),
                certified=bool(certified),
                card=json.loads(card) if isinstance(card, str) else dict(card),
            )
        )
    return result


def _total(counts: Iterable[tuple[str, int]]) -> int:
    return next((int(n) for key, n in counts if key == "all"), 0)


def _facets(counts: list[tuple[str, int]]) -> Facets:
    facets = Facets()
    categories: dict[str, int] = {}
    tags: list[FacetValue] = []
    publishers: list[FacetValue] = []
    for key, n in counts:
        kind, _, value = key.partition(":")
        if kind == "category":
            categories[value] = int(n)
        elif kind == "tag":
            tags.append(FacetValue(value, value, int(n)))
        elif kind == "publisher":
            publishers.append(FacetValue(value, value, int(n)))
        elif kind == "price" and value in PRICES:
            facets.price[value] = int(n)
        elif key == "certified":
            facets.certified = int(n)
    if categories:
        names = dict(Category.objects.filter(slug__in=categories).values_list("slug", "name"))
        facets.categories = sorted(
            (FacetValue(slug, names.get(slug, slug), n) for slug, n in categories.items()),
            key=lambda f: (-f.count, f.label),
        )
    facets.tags = sorted(tags, key=lambda f: (-f.count, f.value))[:FACET_LIMIT]
    facets.publishers = sorted(publishers, key=lambda f: (-f.count, f.value))[:FACET_LIMIT]
    return facets


def newest(limit: int = 8) -> list[Hit]:
    """The live listings published first most recently."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_HIT_COLUMNS} FROM (SELECT listing_id, 0 AS score FROM catalog_searchentry "  # noqa: S608
            "ORDER BY first_published_at DESC, listing_id LIMIT %s) p "
            "JOIN catalog_searchentry e ON e.listing_id = p.listing_id "
            "ORDER BY e.first_published_at DESC, e.listing_id",
            [limit],
        )
        rows = cursor.fetchall()
    return [
        Hit(
            listing_id=int(r[0]),
            score=0,
            pulls=int(r[2]),
            certified=bool(r[4]),
            card=_json(r[5]),
        )
        for r in rows
    ]


def most_pulled(limit: int = 8) -> list[Hit]:
    with connection.cursor() as cursor:
        return _browse_everything(cursor, limit, 0)


def category_counts() -> dict[str, int]:
    """Live listings per category slug, over the whole catalogue."""
    return {
        key.partition(":")[2]: count
        for key, count in SearchFacetCount.objects.filter(
            key__startswith="category:", count__gt=0
        ).values_list("key", "count")
    }


def _json(value: Any) -> dict[str, Any]:
    import json

    return json.loads(value) if isinstance(value, str) else dict(value)
