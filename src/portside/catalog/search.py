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

Tables: ``SearchEntry`` (one narrow row per live listing: the filters and the sort keys),
``SearchTag`` (one row per listing and tag), ``SearchCard`` (what a result card shows, read
only for the page of results), ``SearchFacetCount`` (counts of each facet value over the
whole catalogue, kept by database triggers, so the unfiltered storefront never counts
100,000 rows) and ``SearchState`` (a token that changes with the index, so cached results
are never stale). The text lives in the FTS5 table ``catalog_search_fts`` on SQLite, and
in the columns ``document`` and ``body`` of ``catalog_searchentry`` on PostgreSQL
(migration ``0003_search``).

Only live listings have rows: :func:`reindex_listing` is called by whatever changes a
listing (publishing, unpublishing, taking down, certification) inside its transaction.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
import uuid
from collections import OrderedDict
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


def refresh_popularity() -> int:
    """Set each live listing's ``pulls`` to the pulls of the repositories its revision is
    made from (the registry's counters); returns how many listings changed."""
    from portside.registry.models import PullCount

    totals = {
        name: total or 0
        for name, total in PullCount.objects.values("repository__name")
        .annotate(total=Sum("count"))
        .values_list("repository__name", "total")
    }
    changed: list[tuple[int, int]] = []
    rows = SearchEntry.objects.values_list("listing_id", "pulls", "card__repositories")
    for listing_id, pulls, repositories in rows.iterator(chunk_size=2_000):
        total = sum(totals.get(name, 0) for name in repositories or [])
        if total != pulls:
            changed.append((listing_id, total))
    for start in range(0, len(changed), 500):
        with transaction.atomic():
            for listing_id, total in changed[start : start + 500]:
                Listing.objects.filter(pk=listing_id).update(pulls=total)
                SearchEntry.objects.filter(pk=listing_id).update(pulls=total)
            _changed()
    return len(changed)


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

    @property
    def has_filters(self) -> bool:
        return bool(self.category or self.tag or self.publisher or self.price or self.certified)


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


@dataclass(frozen=True)
class Facets:
    categories: list[FacetValue] = field(default_factory=list)
    tags: list[FacetValue] = field(default_factory=list)
    publishers: list[FacetValue] = field(default_factory=list)
    price: dict[str, int] = field(default_factory=lambda: {"free": 0, "paid": 0})
    certified: int = 0


@dataclass(frozen=True)
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
    """SQL of ``m(id, score)``: the listings holding every term, with their score."""
    if connection.vendor == "postgresql":
        # Each term is looked up in the GIN indexes of both vectors (one bitmap per term,
        # intersected); the weight-restricted queries then score the rows found.
        params: list[Any] = []
        scores = []
        for name, label in _PG_LABELS.items():
            scores.append(f"(t.document @@ to_tsquery('simple', %s))::int * {WEIGHTS[name]}")
            params.append(_tsquery(terms, label))
        scores.append(f"(t.body @@ to_tsquery('simple', %s))::int * {WEIGHTS['long']}")
        params.append(_tsquery(terms))
        conditions = []
        for n, term in enumerate(terms):
            one = _tsquery([term]) if n == len(terms) - 1 else f"'{term}'"
            conditions.append(
                "(t.document @@ to_tsquery('simple', %s) OR t.body @@ to_tsquery('simple', %s))"
            )
            params += [one, one]
        sql = (
            f"SELECT t.listing_id AS id, {' + '.join(scores)} AS score "  # noqa: S608
            f"FROM catalog_searchtext t WHERE {' AND '.join(conditions)}"
        )
        return sql, params
    # One match finds the listings; each field's column-filtered match is built once
    # into a set that scores them. Cheaper than a union of six matches grouped by id.
    expression = _fts_expression(terms)
    weighted = " + ".join(
        f"{WEIGHTS[name]} * (rowid IN (SELECT rowid FROM catalog_search_fts "  # noqa: S608
        "WHERE catalog_search_fts MATCH %s))"
        for name in FIELDS
    )
    params = [f"{{{name}}} : ({expression})" for name in FIELDS] + [expression]
    sql = (
        f"SELECT rowid AS id, {weighted} AS score FROM catalog_search_fts "  # noqa: S608
        "WHERE catalog_search_fts MATCH %s"
    )
    return sql, params


def _order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows (id, score, pulls, first_published_at, ...) in result order."""
    rows = sorted(rows, key=lambda r: r[0])
    rows.sort(key=lambda r: r[3], reverse=True)
    rows.sort(key=lambda r: r[2], reverse=True)
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows


class _ResultCache:
    """The last results computed in this process, keyed by the index token and the query.
    A change to the index makes a new token, so a cached result is never stale."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, Query], Results] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, Query]) -> Results | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, Query], value: Results) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


RESULT_CACHE = _ResultCache(512)


def _token(cursor: Any) -> str:
    cursor.execute("SELECT token FROM catalog_searchstate WHERE id = 1")
    row = cursor.fetchone()
    return str(row[0]) if row else ""


def run(query: Query) -> Results:
    with connection.cursor() as cursor:
        key = (_token(cursor), query)
        cached = RESULT_CACHE.get(key)
        if cached is not None:
            return cached
        terms = query.terms
        if not terms and not query.has_filters:
            hits = _browse_everything(cursor, query.page_size, (query.page - 1) * query.page_size)
            cursor.execute("SELECT key, count FROM catalog_searchfacetcount WHERE count > 0")
            counts = [(str(k), int(n)) for k, n in cursor.fetchall()]
        else:
            hits, counts = _search(cursor, query, terms)
    results = Results(query=query, total=_total(counts), hits=hits, facets=_facets(counts))
    RESULT_CACHE.put(key, results)
    return results


def _browse_everything(cursor: Any, limit: int, offset: int) -> list[Hit]:
    cursor.execute(
        "SELECT e.listing_id, 0, e.pulls, e.first_published_at, e.certified "
        "FROM catalog_searchentry e "
        "ORDER BY e.pulls DESC, e.first_published_at DESC, e.listing_id LIMIT %s OFFSET %s",
        [limit, offset],
    )
    return _hits(cursor, cursor.fetchall())


def _filters(query: Query) -> tuple[str, list[Any]]:
    sql, params = [], []
    if query.category:
        sql.append("e.category = %s")
        params.append(query.category)
    if query.publisher:
        sql.append("e.publisher = %s")
        params.append(query.publisher)
    if query.price == "free":
        sql.append("e.free")
    if query.price == "paid":
        sql.append("e.paid")
    if query.certified:
        sql.append("e.certified")
    if query.tag:
        sql.append("e.listing_id IN (SELECT listing_id FROM catalog_searchtag WHERE tag = %s)")
        params.append(query.tag)
    return " AND ".join(sql) or "1 = 1", params


def _search(cursor: Any, query: Query, terms: list[str]) -> tuple[list[Hit], list[tuple[str, int]]]:
    where, params = _filters(query)
    if terms:
        matching, match_params = _matching(terms)
        source = f"({matching}) AS m JOIN catalog_searchentry e ON e.listing_id = m.id"
        score = "m.score"
    else:
        source, match_params, score = "catalog_searchentry e", [], "0"
    sql = (
        "WITH f AS MATERIALIZED ("  # noqa: S608
        f"SELECT e.listing_id AS id, {score} AS score, e.pulls, e.first_published_at, "
        "e.certified, e.category, e.publisher, e.free, e.paid "
        f"FROM {source} WHERE {where}) "
        "SELECT 0, '', id, score, pulls, first_published_at, certified FROM "
        "(SELECT * FROM f ORDER BY score DESC, pulls DESC, first_published_at DESC, id "
        "LIMIT %s OFFSET %s) AS page "
        "UNION ALL SELECT 1, category, COUNT(*), NULL, NULL, NULL, NULL FROM f "
        "WHERE category <> '' GROUP BY category "
        "UNION ALL SELECT 2, publisher, COUNT(*), NULL, NULL, NULL, NULL FROM f "
        "GROUP BY publisher "
        # f drives the join: each match looks its tags up by listing, instead of SQLite
        # walking every tag of the catalogue in tag order to save the sort of GROUP BY.
        "UNION ALL SELECT 3, t.tag, COUNT(*), NULL, NULL, NULL, NULL FROM f "
        "CROSS JOIN catalog_searchtag t WHERE t.listing_id = f.id GROUP BY t.tag "
        # Counts only in columns whose first branch has no type that SQLite converts.
        "UNION ALL SELECT 4, '', COUNT(*), COUNT(*) FILTER (WHERE free), "
        "COUNT(*) FILTER (WHERE paid), NULL, NULL FROM f "
        "UNION ALL SELECT 5, '', COUNT(*), NULL, NULL, NULL, NULL FROM f WHERE certified"
    )
    limit = query.page_size
    cursor.execute(sql, [*match_params, *params, limit, (query.page - 1) * limit])
    page, counts = [], []
    for kind, key, n, a, b, c, d in cursor.fetchall():
        if kind == 0:
            page.append((n, a, b, c, d))
        elif kind == 4:
            counts += [("all", int(n)), ("price:free", int(a)), ("price:paid", int(b))]
        elif kind == 5:
            counts.append(("certified", int(n)))
        else:
            counts.append((f"{_KINDS[kind]}:{key}", int(n)))
    return _hits(cursor, page), counts


_KINDS = {1: "category", 2: "publisher", 3: "tag"}


def _hits(cursor: Any, rows: Sequence[Sequence[Any]]) -> list[Hit]:
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    marks = ", ".join(["%s"] * len(ids))
    cursor.execute(
        f"SELECT listing_id, card FROM catalog_searchcard WHERE listing_id IN ({marks})",  # noqa: S608
        ids,
    )
    cards = {int(pk): _json(card) for pk, card in cursor.fetchall()}
    return [
        Hit(
            listing_id=int(listing_id),
            score=int(score),
            pulls=int(pulls),
            certified=bool(certified),
            card=cards[int(listing_id)],
        )
        for listing_id, score, pulls, _published, certified in _order([tuple(r) for r in rows])
        if int(listing_id) in cards
    ]


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def _total(counts: Iterable[tuple[str, int]]) -> int:
    return next((int(n) for key, n in counts if key == "all"), 0)


def _facets(counts: list[tuple[str, int]]) -> Facets:
    categories: dict[str, int] = {}
    tags: list[FacetValue] = []
    publishers: list[FacetValue] = []
    price = {"free": 0, "paid": 0}
    certified = 0
    for key, n in counts:
        kind, _, value = key.partition(":")
        if kind == "category":
            categories[value] = int(n)
        elif kind == "tag":
            tags.append(FacetValue(value, value, int(n)))
        elif kind == "publisher":
            publishers.append(FacetValue(value, value, int(n)))
        elif kind == "price" and value in PRICES:
            price[value] = int(n)
        elif key == "certified":
            certified = int(n)
    names = dict(Category.objects.filter(slug__in=categories).values_list("slug", "name"))
    return Facets(
        categories=sorted(
            (FacetValue(slug, names.get(slug, slug), n) for slug, n in categories.items()),
            key=lambda f: (-f.count, f.label),
        ),
        tags=sorted(tags, key=lambda f: (-f.count, f.value))[:FACET_LIMIT],
        publishers=sorted(publishers, key=lambda f: (-f.count, f.value))[:FACET_LIMIT],
        price=price,
        certified=certified,
    )


def newest(limit: int = 8) -> list[Hit]:
    """The live listings first published most recently."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.listing_id, 0, e.pulls, e.first_published_at, e.certified "
            "FROM catalog_searchentry e ORDER BY e.first_published_at DESC, e.listing_id "
            "LIMIT %s",
            [limit],
        )
        rows = cursor.fetchall()
        hits = {hit.listing_id: hit for hit in _hits(cursor, rows)}
    return [hits[int(r[0])] for r in rows if int(r[0]) in hits]


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
