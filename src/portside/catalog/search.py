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

This module runs queries (:func:`search`, :func:`run`, the browsing lists and publisher
suggestions) and is what the rest of Portside imports; the rest of search lives next to it,
each module importing only those below it: ``search_query`` (tokens, limits, the query and
result types), ``search_index`` (the tables, indexing, popularity) and ``search_columns``
(the in-memory columns). Their names are re-exported here.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from django.db import connection, transaction

from portside.catalog import spelling
from portside.catalog.models import Category
from portside.catalog.search_columns import COLUMNS, FLAGS, _Columns, _json, _numbers
from portside.catalog.search_index import (
    SearchCard,
    SearchEntry,
    SearchFacetCount,
    SearchState,
    SearchTag,
    _changed,
    refresh_popularity,
    reindex_all,
    reindex_listing,
)
from portside.catalog.search_query import (
    _PG_LABELS,
    DEFAULT_PAGE_SIZE,
    FACET_LIMIT,
    FIELDS,
    MAX_FILTER,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_QUERY,
    MAX_TERMS,
    MAX_TOKEN,
    PRICES,
    SORTS,
    WEIGHTS,
    Facets,
    FacetValue,
    Hit,
    Query,
    Results,
    make_query,
    query_terms,
    tokens,
)

# What other modules use of search, wherever it is defined: they import it from here.
__all__ = [
    "COLUMNS",
    "DEFAULT_PAGE_SIZE",
    "FACET_LIMIT",
    "FIELDS",
    "FLAGS",
    "MAX_AMONG",
    "MAX_FILTER",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "MAX_PREFIX_WORDS",
    "MAX_QUERY",
    "MAX_SCORE",
    "MAX_TERMS",
    "MAX_TOKEN",
    "PRICES",
    "RESULT_CACHE",
    "SORTS",
    "WEIGHTS",
    "FacetValue",
    "Facets",
    "Hit",
    "PublisherMatch",
    "Query",
    "Results",
    "SearchCard",
    "SearchEntry",
    "SearchFacetCount",
    "SearchState",
    "SearchTag",
    "_changed",
    "category_counts",
    "make_query",
    "most_pulled",
    "newest",
    "publishers_named",
    "query_terms",
    "refresh_popularity",
    "reindex_all",
    "reindex_listing",
    "run",
    "search",
    "tokens",
]

logger = logging.getLogger(__name__)


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
