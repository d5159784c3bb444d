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

The database finds and scores the matches (FTS5, or the GIN indexes of the vectors) and
returns them as one row of comma-separated lists, which costs far less to fetch than a
row per match. Filtering, ordering and counting the facets of tens of thousands of matches
is done in memory over :class:`_Columns`: each live listing's filters and popularity rank
as NumPy arrays, loaded once per index token (a few hundred milliseconds at 100,000
listings, paid by the first query after a change).

Tables: ``SearchEntry`` (one narrow row per live listing: the filters and the sort keys),
``SearchTag`` (one row per listing and tag), ``SearchCard`` (what a result card shows, read
only for the page of results), ``SearchFacetCount`` (counts of each facet value over the
whole catalogue, kept by database triggers, so the unfiltered storefront never counts
100,000 rows) and ``SearchState`` (a token that changes with the index, so cached results
and columns are never stale). The text lives in the FTS5 table ``catalog_search_fts`` on
SQLite, and in the columns ``document`` and ``body`` of ``catalog_searchtext`` on
PostgreSQL (migration ``0003_search``).

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
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from django.db import connection, models, transaction
from django.db.models import Sum

from portside.catalog import spelling
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
# Orders of the results: best match (then most pulled), most pulled, newest first
# publication, name. Ties always go on in popularity order.
SORTS = ("relevance", "pulls", "newest", "name")
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
    sort: str = "relevance"  # one of SORTS
    exact: bool = False  # True: no spelling correction, the words as typed

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
    # The words searched instead of the query's when some of its words matched nothing
    # and their corrections did (see spelling.correct); "" when the query was searched.
    corrected: str = ""

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
    sort: Any = "",
    exact: Any = False,
) -> Query:
    """A :class:`Query` from loose input (a query string): bounded, never raising; an
    unknown ``sort`` is the default order."""

    def number(value: Any, default: int, low: int, high: int) -> int:
        try:
            n = int(str(value).strip()[:12])
        except (TypeError, ValueError):
            return default
        return min(max(n, low), high)

    price = _clean_filter(price).lower()
    sort = _clean_filter(sort).lower()
    return Query(
        text=str(text or "")[:MAX_QUERY],
        category=_clean_filter(category),
        tag=_clean_filter(tag).lower(),
        publisher=_clean_filter(publisher),
        price=price if price in PRICES else "",
        certified=certified is True or _clean_filter(certified).lower() in ("1", "true", "on"),
        page=number(page, 1, 1, MAX_PAGE),
        page_size=number(page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        sort=sort if sort in SORTS else SORTS[0],
        exact=exact is True or _clean_filter(exact).lower() in ("1", "true", "on"),
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
    sort: str = "relevance",
    exact: bool = False,
) -> Results:
    """Live listings matching ``text`` and the filters, best first (or in the ``sort``
    order), one page of them, with facet counts over everything that matches. A word that
    no listing holds is corrected to the nearest one that some listing holds, unless
    ``exact``. Never raises on any input."""
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
            sort=sort,
            exact=exact,
        )
    )


def _fts_expression(terms: Sequence[str]) -> str:
    quoted = [f'"{term}"' for term in terms]
    quoted[-1] += "*"
    return " AND ".join(quoted)


def _tsquery(terms: Sequence[str], label: str = "", last: Sequence[str] | None = None) -> str:
    """A ``tsquery`` of every term, restricted to the weight ``label`` if one is given; the
    last term is a prefix, or the words ``last`` when they are known (see :func:`_words`)."""
    weight = f":{label}" if label else ""
    parts = [f"'{term}'{weight}" for term in terms[:-1]]
    if last is None:
        parts.append(f"'{terms[-1]}':*{label}")
    else:
        parts.append("(" + " | ".join(f"'{word}'{weight}" for word in last) + ")")
    return " & ".join(parts)


# At most this many words stand for a prefix; a prefix of more stays a prefix query.
MAX_PREFIX_WORDS = 64


def _words(cursor: Any, prefix: str) -> list[str] | None:
    """On PostgreSQL, the indexed words that begin with ``prefix`` (all of them, since
    every word written to the index is recorded), or None when there are too many."""
    cursor.execute(
        "SELECT word FROM catalog_searchword WHERE word >= %s AND word < %s ORDER BY word LIMIT %s",
        [prefix, prefix + "\U0010ffff", MAX_PREFIX_WORDS + 1],
    )
    words = [str(row[0]) for row in cursor.fetchall()]
    return words if len(words) <= MAX_PREFIX_WORDS else None


def _matching(
    terms: list[str], last: list[str] | None = None, among: list[int] | None = None
) -> tuple[str, list[Any]]:
    """SQL of one row of comma-separated lists (see :func:`_numbers`). On SQLite: the ids
    of the listings holding every term, then for each field of :data:`FIELDS` the ids of
    those whose field holds every term on its own. On PostgreSQL: the ids of the listings
    holding every term and, aligned with them, their scores; ``last`` are the words the
    last term stands for, when they are known, and ``among`` the only listings that may
    match, when the filters leave few (they are then tested one by one, instead of
    finding every listing that holds the terms)."""
    if connection.vendor == "postgresql":
        # The GIN indexes find the listings (a bitmap per term and vector); one pass over
        # the rows found scores them with the weight-restricted queries.
        params: list[Any] = []
        scores = []
        for name, label in _PG_LABELS.items():
            scores.append(f"(document @@ %s::tsquery)::int * {WEIGHTS[name]}")
            params.append(_tsquery(terms, label, last))
        scores.append(f"(body @@ %s::tsquery)::int * {WEIGHTS['long']}")
        params.append(_tsquery(terms, "", last))
        conditions = []
        for n, term in enumerate(terms):
            one = _tsquery([term], "", last) if n == len(terms) - 1 else f"'{term}'"
            conditions.append("(document @@ %s::tsquery OR body @@ %s::tsquery)")
            params += [one, one]
        source = "catalog_searchtext"
        if among is not None:
            source = "among"
            params.insert(0, among)
        sql = (
            "SELECT string_agg(listing_id::text, ','), "  # noqa: S608
            f"string_agg(({' + '.join(scores)})::text, ',') "
            f"FROM {source} WHERE {' AND '.join(conditions)}"
        )
        if among is not None:
            sql = (
                "WITH among AS MATERIALIZED (SELECT listing_id, document, body "
                "FROM catalog_searchtext WHERE listing_id = ANY(%s::bigint[])) " + sql
            )
        return sql, params
    expression = _fts_expression(terms)
    params = [expression] + [f"{{{name}}} : ({expression})" for name in FIELDS]
    sql = "SELECT " + ", ".join(  # noqa: S608
        "(SELECT group_concat(rowid, ',') FROM catalog_search_fts "
        "WHERE catalog_search_fts MATCH %s)"
        for _ in params
    )
    return sql, params


def _match(
    cursor: Any, terms: list[str], among: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ids of the listings holding every term, ascending, and their scores: the sum of
    the weights of the fields that hold every term on their own. ``among``: the listings
    the filters leave, when they leave few; PostgreSQL then only tests those."""
    if connection.vendor == "postgresql":
        last = _words(cursor, terms[-1])
        if last == [] or (among is not None and not len(among)):  # nothing can match
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        sql, params = _matching(terms, last, None if among is None else among.tolist())
        with transaction.atomic():
            # The planner prices a match per row as cheap, so for a broad term it prefers
            # reading the whole table and testing every vector, at twice the time of the
            # GIN bitmaps; the matching conditions can always use the indexes.
            cursor.execute(
                "SELECT current_setting('enable_seqscan'), "
                "set_config('enable_seqscan', 'off', true)"
            )
            (before, _) = cursor.fetchone()
            cursor.execute(sql, params)
            row = cursor.fetchone()
            cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [before])
        ids, scores = _numbers(row[0]), _numbers(row[1])
        order = np.argsort(ids, kind="stable")
        return ids[order], scores[order]
    sql, params = _matching(terms)
    cursor.execute(sql, params)
    row = cursor.fetchone()
    ids = np.sort(_numbers(row[0]))
    scores = np.zeros(len(ids), dtype=np.int64)
    for name, listed in zip(FIELDS, row[1:], strict=True):
        scores += WEIGHTS[name] * np.isin(ids, _numbers(listed), assume_unique=True)
    return ids, scores


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
    """The results of ``query``. When nothing matches because a word of the query is held
    by no listing, the words corrected by :func:`spelling.correct` are searched instead,
    and the results say so (``corrected``), unless the query is ``exact``."""
    with connection.cursor() as cursor:
        token = _token(cursor)
        key = (token, query)
        cached = RESULT_CACHE.get(key)
        if cached is not None:
            return cached
        results = _results(cursor, query, token)
        if not results.total and not query.exact and query.terms:
            corrected = spelling.correct(
                cursor,
                connection.vendor,
                query.terms,
                lambda: spelling.VOCABULARY.get(
                    connection.alias, token, lambda: spelling.load(cursor, connection.vendor)
                ),
            )
            if corrected:
                text = " ".join(corrected)
                again = _results(cursor, replace(query, text=text, exact=True), token)
                if again.total:
                    results = replace(again, query=query, corrected=text)
    RESULT_CACHE.put(key, results)
    return results


def _results(cursor: Any, query: Query, token: str) -> Results:
    terms = query.terms
    if not terms and not query.has_filters and query.sort in ("relevance", "pulls"):
        hits = _browse_everything(cursor, query.page_size, (query.page - 1) * query.page_size)
        cursor.execute("SELECT key, count FROM catalog_searchfacetcount WHERE count > 0")
        counts = [(str(k), int(n)) for k, n in cursor.fetchall()]
    else:
        hits, counts = _search(cursor, query, terms, COLUMNS.get(cursor, token))
    return Results(query=query, total=_total(counts), hits=hits, facets=_facets(counts))


def _browse_everything(cursor: Any, limit: int, offset: int) -> list[Hit]:
    cursor.execute(
        "SELECT e.listing_id, 0, e.pulls, e.first_published_at, e.certified "
        "FROM catalog_searchentry e "
        "ORDER BY e.pulls DESC, e.first_published_at DESC, e.listing_id LIMIT %s OFFSET %s",
        [limit, offset],
    )
    return _hits(cursor, cursor.fetchall())


def _search(
    cursor: Any, query: Query, terms: list[str], columns: _Columns
) -> tuple[list[Hit], list[tuple[str, int]]]:
    """One page of the listings matching ``terms`` and the filters, and the facet counts
    over all of them. The database finds and scores the matches; the columns filter,
    order and count them."""
    allowed = columns.allowed(query)
    if terms:
        among = None
        if allowed is not None and connection.vendor == "postgresql":
            if allowed.sum() <= MAX_AMONG:
                among = columns.ids[allowed]
        ids, scores = _match(cursor, terms, among)
        ranks, known = columns.ranks(ids)
        scores = scores[known]
        if allowed is not None:
            passed = allowed[ranks]
            ranks, scores = ranks[passed], scores[passed]
    else:
        ranks = np.arange(columns.size, dtype=np.int64)
        if allowed is not None:
            ranks = ranks[allowed]
        scores = np.zeros(len(ranks), dtype=np.int64)
    if query.sort == "relevance":
        # Best score first, then popularity order, which the ranks are.
        key = (MAX_SCORE - scores) * max(columns.size, 1) + ranks
    elif query.sort == "newest":
        key = columns.newest_position[ranks]
    elif query.sort == "name":
        key = columns.name_positions(cursor)[ranks]
    else:
        key = ranks
    start = (query.page - 1) * query.page_size
    end = min(start + query.page_size, len(key))
    order = np.empty(0, dtype=np.int64)
    if start < end < len(key):
        head = np.argpartition(key, end - 1)[:end]
        order = head[np.argsort(key[head], kind="stable")][start:]
    elif start < end:
        order = np.argsort(key, kind="stable")[start:end]
    rows = [
        (
            int(columns.ids[rank]),
            int(score),
            int(columns.pulls[rank]),
            None,
            bool(columns.certified[rank]),
        )
        for rank, score in zip(ranks[order].tolist(), scores[order].tolist(), strict=True)
    ]
    hits = _hits(cursor, rows, ordered=True)
    return hits, columns.counts(ranks)


# On PostgreSQL, filters that leave at most this many listings are applied first, and
# only those listings are tested for the terms (a few microseconds each), rather than
# finding every listing that holds them, which for a broad term is a fifth of the table.
MAX_AMONG = 2_000

# Highest score a listing can have: every field holds every term.
MAX_SCORE = sum(WEIGHTS.values())


class _Columns:
    """The live listings' filters and sort order as arrays, for ordering and counting
    the matches of a query (tens of thousands of them for a broad query) in memory instead
    of in SQL. Position ``r`` in each array is the listing ``r``-th in popularity order
    (pulls, then newest first publication, then id): a listing's rank. Loaded from
    SearchEntry and SearchTag, once per index token."""

    def __init__(
        self,
        token: str,
        entries: Sequence[np.ndarray],
        values: dict[str, list[str]],
        tags: Sequence[Sequence[Any]],
    ) -> None:
        """``entries``: the ids, pulls, first publications (microseconds since the epoch),
        certified, free and paid flags of every entry; ``values``: their category and
        publisher, aligned with them; ``tags``: each tag with the comma-separated ids of
        its listings."""
        self.token = token
        self._name_order: dict[str, np.ndarray] = {}
        ids, pulls, published, certified, free, paid = entries
        self.size = len(ids)
        # Popularity order: most pulls, then newest first publication, then lowest id.
        order = np.lexsort((ids, -published, -pulls))
        self.ids = ids[order]
        self.pulls = pulls[order]
        # Each rank's place in newest-first order (ties in popularity order), and in the
        # order of names, read when a query first sorts by name (see name_positions).
        self.newest_position = _positions(np.lexsort((np.arange(self.size), -published[order])))
        self._names: np.ndarray | None = None
        # Each publisher's display name and words, read by the first publisher suggestion.
        self.publisher_names: list[tuple[str, frozenset[str]]] | None = None
        self.certified = certified[order].astype(bool)
        self.free = free[order].astype(bool)
        self.paid = paid[order].astype(bool)
        by_id = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[by_id]
        self._rank_of_sorted = by_id.astype(np.int64)
        self.categories, self.category = self._codes(values["category"], order)
        self.publishers, self.publisher = self._codes(values["publisher"], order)
        self.tags = [str(tag) for tag, _ in tags]
        self._tag_code = {tag: n for n, tag in enumerate(self.tags)}
        per_tag = [_numbers(ids) for _, ids in tags]
        listed = np.concatenate(per_tag) if per_tag else np.empty(0, dtype=np.int64)
        ranks, known = self.ranks(listed)
        # Where each tag's ranks start, counting only the listings that are indexed.
        self._tag_starts = np.zeros(len(per_tag) + 1, dtype=np.int64)
        bounds = np.cumsum([len(r) for r in per_tag], dtype=np.int64)
        kept = np.concatenate(([0], np.cumsum(known, dtype=np.int64)))
        self._tag_starts[1:] = kept[bounds]
        self._tag_ranks = ranks

    def name_positions(self, cursor: Any) -> np.ndarray:
        """Each rank's place in the order of the listings' names (as tokens, so case and
        accents do not count; ties in popularity order), read once for these columns."""
        if self._names is None:
            with _NAMES_LOCK:
                if self._names is None:
                    ids, names = _load_names(cursor)
                    keys = np.full(self.size, "", dtype=object)
                    ranks, known = self.ranks(ids)
                    keys[ranks] = np.asarray(names, dtype=object)[known]
                    order = sorted(range(self.size), key=keys.__getitem__)
                    self._names = _positions(np.asarray(order, dtype=np.int64))
        return self._names

    @staticmethod
    def _codes(values: list[str], order: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The distinct values of a single-valued column, and each listing's value as its
        position among them, in rank order."""
        if not values:
            return [], np.empty(0, dtype=np.int64)
        names, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
        return [str(name) for name in names], codes.astype(np.int64)[order]

    def ranks(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ranks of the listings ``ids`` that are indexed, and which of ``ids`` are."""
        if not self.size:
            return np.empty(0, dtype=np.int64), np.zeros(len(ids), dtype=bool)
        where = np.minimum(np.searchsorted(self._sorted_ids, ids), self.size - 1)
        known = self._sorted_ids[where] == ids
        return self._rank_of_sorted[where[known]], known

    def _tagged(self, tag: str) -> np.ndarray:
        code = self._tag_code.get(tag)
        if code is None:
            return np.empty(0, dtype=np.int64)
        return self._tag_ranks[self._tag_starts[code] : self._tag_starts[code + 1]]

    def allowed(self, query: Query) -> np.ndarray | None:
        """Which listings, by rank, pass the query's filters (None: there are none)."""
        if not query.has_filters:
            return None
        allowed = np.ones(self.size, dtype=bool)
        for value, names, codes in (
            (query.category, self.categories, self.category),
            (query.publisher, self.publishers, self.publisher),
        ):
            if value:
                code = names.index(value) if value in names else len(names)  # none
                allowed &= codes == code
        if query.price == "free":
            allowed &= self.free
        if query.price == "paid":
            allowed &= self.paid
        if query.certified:
            allowed &= self.certified
        if query.tag:
            tagged = np.zeros(self.size, dtype=bool)
            tagged[self._tagged(query.tag)] = True
            allowed &= tagged
        return allowed

    def counts(self, ranks: np.ndarray) -> list[tuple[str, int]]:
        """Facet counts over the listings ``ranks``, as SearchFacetCount keys them."""
        counts = [
            ("all", len(ranks)),
            ("price:free", int(self.free[ranks].sum())),
            ("price:paid", int(self.paid[ranks].sum())),
            ("certified", int(self.certified[ranks].sum())),
        ]
        for kind, names, codes in (
            ("category", self.categories, self.category),
            ("publisher", self.publishers, self.publisher),
        ):
            per = np.bincount(codes[ranks], minlength=len(names))
            counts += self._top(kind, names, per)
        if len(self._tag_ranks):
            chosen = np.zeros(self.size, dtype=bool)
            chosen[ranks] = True
            running = np.zeros(len(self._tag_ranks) + 1, dtype=np.int64)
            np.cumsum(chosen[self._tag_ranks], out=running[1:])
            per_tag = running[self._tag_starts[1:]] - running[self._tag_starts[:-1]]
            counts += self._top("tag", self.tags, per_tag)
        return counts

    def _top(self, kind: str, names: list[str], per: np.ndarray) -> list[tuple[str, int]]:
        """The counted values of a facet: every category, the :data:`FACET_LIMIT` most
        frequent tags and publishers (ties by value, as :func:`_facets` orders them)."""
        codes = np.flatnonzero(per)
        if kind == "category":
            return [(f"category:{names[c]}", int(per[c])) for c in codes.tolist() if names[c]]
        if len(codes) > FACET_LIMIT:
            by_name = self._name_order.get(kind)
            if by_name is None:
                by_name = np.empty(len(names), dtype=np.int64)
                by_name[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
                self._name_order[kind] = by_name
            codes = codes[np.lexsort((by_name[codes], -per[codes]))[:FACET_LIMIT]]
        return [(f"{kind}:{names[c]}", int(per[c])) for c in codes.tolist()]


_NAMES_LOCK = threading.Lock()


def _positions(order: np.ndarray) -> np.ndarray:
    """The inverse of a permutation: where each element of ``order`` stands in it."""
    positions = np.empty(len(order), dtype=np.int64)
    positions[order] = np.arange(len(order), dtype=np.int64)
    return positions


def _load_names(cursor: Any) -> tuple[np.ndarray, list[str]]:
    """The ids of the indexed listings and their names as sort keys (their tokens)."""
    if connection.vendor == "postgresql":
        sql = (
            "SELECT string_agg(listing_id::text, ','), "
            "string_agg(coalesce(card->>'name', ''), chr(31)) FROM catalog_searchcard"
        )
    else:
        sql = (
            "SELECT group_concat(listing_id, ','), "
            "group_concat(coalesce(json_extract(card, '$.name'), ''), char(31)) "
            "FROM catalog_searchcard"
        )
    cursor.execute(sql)
    listed, text = cursor.fetchone()
    ids = _numbers(listed)
    names = text.split("\x1f") if text else []
    if len(names) != len(ids):  # a name holding the separator
        cursor.execute("SELECT listing_id, card FROM catalog_searchcard")
        rows = [(int(pk), str(_json(card).get("name") or "")) for pk, card in cursor.fetchall()]
        ids = np.asarray([pk for pk, _ in rows], dtype=np.int64)
        names = [name for _, name in rows]
    return ids, [" ".join(tokens(name)) for name in names]


class _ColumnCache:
    """The columns of the current index token, per database connection alias: loaded by
    the first query after a change, shared by the threads of a process."""

    def __init__(self) -> None:
        self._columns: dict[str, _Columns] = {}
        self._lock = threading.Lock()

    def get(self, cursor: Any, token: str) -> _Columns:
        alias = connection.alias
        found = self._columns.get(alias)
        if found is not None and found.token == token:
            return found
        with self._lock:
            found = self._columns.get(alias)
            if found is None or found.token != token:
                found = _load_columns(cursor, token)
                self._columns[alias] = found
            return found


COLUMNS = _ColumnCache()


def _numbers(text: str | None) -> np.ndarray:
    """The integers of a comma-separated list, as one aggregate query returns them: one
    string instead of a row per value, which costs far more to fetch."""
    return np.fromstring(text or "", dtype=np.int64, sep=",")


def _load_columns(cursor: Any, token: str) -> _Columns:
    """The columns of the index as it is now: each column of SearchEntry as one string
    (aligned, since one aggregate reads them all in the same row order), and each tag with
    the ids of its listings."""
    if connection.vendor == "postgresql":
        ids = "string_agg({}::text, ',')"
        texts = "string_agg({}, chr(31))"
        published = "(extract(epoch FROM first_published_at) * 1000000)::bigint"
        flag = "{}::int"
    else:
        ids = "group_concat({}, ',')"
        texts = "group_concat({}, char(31))"
        published = "first_published_at"
        flag = "{}"
    numbers = ("listing_id", "pulls", published, *(flag.format(f) for f in FLAGS))
    columns = [ids.format(c) for c in numbers] + [texts.format(c) for c in _TEXTS]
    cursor.execute(f"SELECT {', '.join(columns)} FROM catalog_searchentry")  # noqa: S608
    row = list(cursor.fetchone())
    if connection.vendor != "postgresql":
        # SQLite keeps a datetime as ISO text; as microseconds it sorts the same way.
        times = row[2].split(",") if row[2] else []
        row[2] = np.array(times, dtype="datetime64[us]").astype(np.int64)
    entries = [c if isinstance(c, np.ndarray) else _numbers(c) for c in row[: len(numbers)]]
    values = {}
    for column, text in zip(_TEXTS, row[len(numbers) :], strict=True):
        values[column] = text.split("\x1f") if text else []
        if len(values[column]) != len(entries[0]):  # a value holding the separator
            cursor.execute(
                f"SELECT listing_id, {column} FROM catalog_searchentry"  # noqa: S608
            )
            by_id = dict(cursor.fetchall())
            values[column] = [str(by_id[int(pk)]) for pk in entries[0].tolist()]
    cursor.execute(
        f"SELECT tag, {ids.format('listing_id')} FROM catalog_searchtag GROUP BY tag"  # noqa: S608
    )
    return _Columns(token, entries, values, cursor.fetchall())


# The text columns of an entry that facets count.
_TEXTS = ("category", "publisher")
# The flags of an entry, in the order _Columns reads them.
FLAGS = ("certified", "free", "paid")


def _hits(cursor: Any, rows: Sequence[Sequence[Any]], *, ordered: bool = False) -> list[Hit]:
    """Hits of ``rows`` (id, score, pulls, first_published_at, certified), with their
    cards; in result order, which ``rows`` are already in when ``ordered``."""
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
        for listing_id, score, pulls, _published, certified in (
            rows if ordered else _order([tuple(r) for r in rows])
        )
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


@dataclass(frozen=True)
class PublisherMatch:
    organization: str
    name: str
    count: int  # live listings


def publishers_named(text: str, limit: int = 4) -> list[PublisherMatch]:
    """Publishers with live listings whose organisation name or display name holds every
    word of ``text``, the last as a prefix (a name being typed): most listings first."""
    terms = query_terms(text)
    if not terms or limit < 1:
        return []
    from portside.accounts.models import Organization

    with connection.cursor() as cursor:
        columns = COLUMNS.get(cursor, _token(cursor))
    if not columns.publishers:
        return []
    if columns.publisher_names is None:  # once per index token
        shown = dict(
            Organization.objects.filter(name__in=columns.publishers).values_list(
                "name", "display_name"
            )
        )
        columns.publisher_names = [
            (shown.get(org) or org, frozenset(tokens(f"{org} {shown.get(org) or ''}")))
            for org in columns.publishers
        ]
    per = np.bincount(columns.publisher, minlength=len(columns.publishers))
    *whole, last = terms
    found = [
        PublisherMatch(organization, name, int(per[code]))
        for code, (organization, (name, words)) in enumerate(
            zip(columns.publishers, columns.publisher_names, strict=True)
        )
        if all(t in words for t in whole) and any(w.startswith(last) for w in words)
    ]
    found.sort(key=lambda p: (-p.count, p.name.casefold(), p.organization))
    return found[:limit]
