"""Spelling correction of search words against the search index's own vocabulary.

A query word that no listing holds ("reqests") is replaced by the indexed word closest to
it ("requests"), so that a typing mistake still finds what was meant. Everything that
decides a correction is computed here, in Python and NumPy, from the words of the index:
the edit distance (Damerau-Levenshtein, optimal string alignment: an insertion, a
deletion, a substitution or a swap of two neighbouring letters each cost 1) is the same
on SQLite and on PostgreSQL, so both backends correct a word to the same word.

Finding the closest words is vectorised. Each word of the vocabulary has a 64-bit
signature of the letters it holds (bit ``code point % 64``); a letter of one word that the
other lacks costs at least one edit, so a word whose signature differs from the query's
in more bits than the allowed distance is skipped without computing anything else. The
distances to the words left, of about the query's length, are computed together, one row
of the dynamic programme at a time over NumPy arrays of code points, and words that can
no longer come within the allowed distance are dropped after each row.

Which of the closest words is used is decided with the live index (:func:`correct`): a
candidate no live listing holds is never chosen, and among the nearest the word most
listings hold wins. The vocabulary is read once per index token (:class:`VocabularyCache`),
and only when some word of a query needs correcting. No Django import: the caller passes
the database cursor and its vendor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

# Words shorter than this are never corrected: "ci" or "s3" are too short to guess at.
MIN_LENGTH = 4
# At most this many candidates, the closest first, are returned by Vocabulary.closest.
MAX_CANDIDATES = 8


def allowed_distance(word: str) -> int:
    """How many edits a correction of ``word`` may make: none for a short word or one
    with digits (a version or a model number is typed on purpose), one for a word of up
    to five letters, two for a longer one."""
    if len(word) < MIN_LENGTH or any(char.isdigit() for char in word):
        return 0
    return 1 if len(word) <= 5 else 2


def distance(a: str, b: str) -> int:
    """The optimal string alignment distance of ``a`` and ``b`` (the reference the
    vectorised :meth:`Vocabulary.closest` agrees with)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


class Vocabulary:
    """The distinct words of the index, grouped by length as arrays of code points."""

    def __init__(self, words: Iterable[str]) -> None:
        by_length: dict[int, list[str]] = {}
        self._words: set[str] = set()
        for word in words:
            if word and word not in self._words:
                self._words.add(word)
                by_length.setdefault(len(word), []).append(word)
        self._groups: dict[int, tuple[list[str], np.ndarray, np.ndarray]] = {}
        for length, group in by_length.items():
            group.sort()
            codes = _codes("".join(group)).reshape(len(group), length)
            self._groups[length] = (group, codes, _signatures(codes))

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._words

    def closest(self, word: str, limit: int = MAX_CANDIDATES) -> list[tuple[int, str]]:
        """The words within :func:`allowed_distance` of ``word`` (not ``word`` itself), as
        (distance, word), nearest first, then in alphabetical order; at most ``limit``."""
        most = allowed_distance(word)
        if not most:
            return []
        query = _codes(word)
        signature = _signatures(query.reshape(1, -1))[0]
        found: list[tuple[int, str]] = []
        for length in range(max(1, len(word) - most), len(word) + most + 1):
            group = self._groups.get(length)
            if group is None:
                continue
            words, codes, signatures = group
            # Letters only one side holds: each needs an edit of its own.
            differ = np.maximum(
                np.bitwise_count(signatures & ~signature),
                np.bitwise_count(signature & ~signatures),
            )
            close = np.flatnonzero(differ <= most)
            if len(close):
                found += [(d, words[int(close[n])]) for d, n in _within(query, codes[close], most)]
        found = [(d, w) for d, w in found if w != word]
        found.sort()
        return found[:limit]


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _signatures(codes: np.ndarray) -> np.ndarray:
    """Each row's letters as the bits ``code point % 64`` of one unsigned integer."""
    bits = np.left_shift(np.uint64(1), (codes % 64).astype(np.uint64))
    return np.bitwise_or.reduce(bits, axis=1)


def _within(query: np.ndarray, codes: np.ndarray, most: int) -> list[tuple[int, int]]:
    """The rows of ``codes`` (words of one length, one code point a column) at most
    ``most`` edits from ``query``: (distance, row number)."""
    count, length = codes.shape
    alive = np.arange(count)
    cols = np.arange(length + 1, dtype=np.int32)
    previous2 = np.empty((count, length + 1), dtype=np.int32)
    previous = np.broadcast_to(cols, (count, length + 1)).copy()
    for i in range(1, len(query) + 1):
        current = np.empty_like(previous)
        current[:, 0] = i
        letter = query[i - 1]
        for j in range(1, length + 1):
            cost = (codes[:, j - 1] != letter).astype(np.int32)
            best = np.minimum(previous[:, j] + 1, previous[:, j - 1] + cost)
            np.minimum(best, current[:, j - 1] + 1, out=best)
            if i > 1 and j > 1:
                swapped = (codes[:, j - 2] == letter) & (codes[:, j - 1] == query[i - 2])
                best = np.where(swapped, np.minimum(best, previous2[:, j - 2] + 1), best)
            current[:, j] = best
        # A row's smallest value never decreases further down: past ``most``, drop it.
        keep = current.min(axis=1) <= most
        if not keep.all():
            alive, codes = alive[keep], codes[keep]
            current, previous = current[keep], previous[keep]
            if not len(alive):
                return []
        previous2, previous = previous, current
    final = previous[:, -1]
    return [
        (int(d), int(n)) for n, d in zip(alive.tolist(), final.tolist(), strict=True) if d <= most
    ]


# --- the index's words and the live listings that hold them ---------------------------------

# Candidates are counted up to this many holders each: beyond it, the tie goes to the first
# in alphabetical order (the same on both backends).
HOLDERS_CAP = 1_000


def load(cursor: Any, vendor: str) -> Vocabulary:
    """The words of the search index: on PostgreSQL the table of indexed words
    (``catalog_searchword``, which may still hold a word no live listing has any more;
    :func:`correct` counts holders, so such a word is never chosen), on SQLite the terms
    of the FTS5 index, read through an ``fts5vocab`` table of the connection's own."""
    if vendor == "postgresql":
        cursor.execute("SELECT string_agg(word, ' ') FROM catalog_searchword")
    else:
        cursor.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.catalog_search_vocab "
            "USING fts5vocab(main, catalog_search_fts, row)"
        )
        cursor.execute("SELECT group_concat(term, ' ') FROM temp.catalog_search_vocab")
    row = cursor.fetchone()
    return Vocabulary((row[0] or "").split() if row else [])


def holders(cursor: Any, vendor: str, words: Sequence[tuple[str, bool]], cap: int) -> list[int]:
    """How many live listings hold each word, counted up to ``cap``; a word flagged True is
    a prefix (the last word of a query). Words are tokens: letters and digits only."""
    if not words:
        return []
    params: list[Any] = []
    parts = []
    for word, prefix in words:
        if vendor == "postgresql":
            parts.append(
                "(SELECT count(*) FROM (SELECT 1 FROM catalog_searchtext "
                "WHERE document @@ %s::tsquery OR body @@ %s::tsquery LIMIT %s) AS h)"
            )
            term = f"'{word}':*" if prefix else f"'{word}'"
            params += [term, term, cap]
        else:
            parts.append(
                "(SELECT count(*) FROM (SELECT 1 FROM catalog_search_fts "
                "WHERE catalog_search_fts MATCH %s LIMIT %s))"
            )
            params += [f'"{word}"*' if prefix else f'"{word}"', cap]
    sql = "SELECT " + ", ".join(parts)
    if vendor != "postgresql":
        cursor.execute(sql, params)
        return [int(n) for n in cursor.fetchone()]
    # With a LIMIT the planner expects to find a word's holders soon by reading the
    # table, which for a word nobody holds reads all of it (200 ms at 100,000
    # listings); the GIN indexes answer at once. Restored whatever happens.
    cursor.execute(
        "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', false)"
    )
    before = cursor.fetchone()[0]
    try:
        cursor.execute(sql, params)
        return [int(n) for n in cursor.fetchone()]
    finally:
        cursor.execute("SELECT set_config('enable_seqscan', %s, false)", [before])


def correct(
    cursor: Any, vendor: str, terms: Sequence[str], vocabulary: Callable[[], Vocabulary]
) -> list[str] | None:
    """``terms`` with each word that no live listing holds replaced by the closest indexed
    word that some listing does hold (fewest edits, then most holders, then alphabetical
    order), or None when every word is held or one that is not cannot be corrected. The
    last term counts as held when a word begins with it (it is searched as a prefix).
    ``vocabulary`` is called only when a word needs correcting."""
    if not terms:
        return None
    last = len(terms) - 1
    held = holders(cursor, vendor, [(t, n == last) for n, t in enumerate(terms)], 1)
    missing = [n for n, count in enumerate(held) if not count]
    if not missing or any(not allowed_distance(terms[n]) for n in missing):
        return None
    words = vocabulary()
    corrected = list(terms)
    for n in missing:
        candidates = words.closest(terms[n], limit=MAX_CANDIDATES * 8)
        choice = None
        for edits in sorted({d for d, _ in candidates}):
            group = [w for d, w in candidates if d == edits][: MAX_CANDIDATES * 4]
            counts = holders(cursor, vendor, [(w, False) for w in group], HOLDERS_CAP)
            live = sorted((-count, w) for count, w in zip(counts, group, strict=True) if count)
            if live:
                choice = live[0][1]
                break
        if choice is None:
            return None
        corrected[n] = choice
    return corrected


class VocabularyCache:
    """The vocabulary of the current index token, per database alias; loaded by the first
    correction after a change to the index, shared by the threads of a process."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, Vocabulary]] = {}
        self._lock = threading.Lock()

    def get(self, alias: str, token: str, load: Callable[[], Vocabulary]) -> Vocabulary:
        found = self._items.get(alias)
        if found is not None and found[0] == token:
            return found[1]
        with self._lock:
            found = self._items.get(alias)
            if found is None or found[0] != token:
                found = (token, load())
                self._items[alias] = found
            return found[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


VOCABULARY = VocabularyCache()
