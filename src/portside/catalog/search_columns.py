"""Catalogue search, the in-memory columns: each live listing's filters and popularity rank
as NumPy arrays (:class:`_Columns`), loaded from the index once per index token and kept
per database connection (:data:`COLUMNS`), which filter, order and count the matches of a
query. See ``catalog/search.py``."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connection

from portside.catalog.search_query import FACET_LIMIT, Query, tokens


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


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)
