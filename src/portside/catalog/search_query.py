"""Catalogue search, the query side's vocabulary: the field weights and limits, how text is
tokenised (for the index and the query alike), and the value types of a search: the
:class:`Query` (made from loose input by :func:`make_query`), its :class:`Results`, each
:class:`Hit` and the :class:`Facets`. Imports nothing else of search, so every other search
module can import it (see ``catalog/search.py``)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

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


# --- queries and results --------------------------------------------------------------------


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
