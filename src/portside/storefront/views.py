"""The public storefront: home, search, product, publisher and category pages.

Everything here is public and reads only live listings, through the search index
(``catalog.search``) and the live revision's manifest. A product with no live listing
does not exist for customers (404). The sources a product is made from are never shown;
a tier's pull commands name only the repositories and tags that the tier grants.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portside.catalog import search
from portside.catalog.models import Category
from portside.storefront import catalogue


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    counts = search.category_counts()
    categories = [
        {"slug": c.slug, "name": c.name, "count": counts.get(c.slug, 0)}
        for c in Category.objects.all()
    ]
    return render(
        request,
        "storefront/home.html",
        {
            "categories": categories,
            "newest": [catalogue.card(hit) for hit in search.newest(8)],
            "most_pulled": [catalogue.card(hit) for hit in search.most_pulled(8)],
        },
    )


SORT_LABELS = {
    "relevance": "Best match",
    "pulls": "Most pulled",
    "newest": "Newest",
    "name": "Name (A to Z)",
}
PRICE_LABELS = {"free": "Free tier", "paid": "Paid tier"}


def _query(params: QueryDict, **fixed: Any) -> search.Query:
    return search.make_query(
        params.get("q", ""),
        category=fixed.get("category", params.get("category", "")),
        tag=params.get("tag", ""),
        publisher=fixed.get("publisher", params.get("publisher", "")),
        price=params.get("price", ""),
        certified=params.get("certified", ""),
        page=params.get("page", 1),
        page_size=params.get("page_size", search.DEFAULT_PAGE_SIZE),
        sort=params.get("sort", ""),
        exact=params.get("exact", ""),
    )


def _link(base: str, query: search.Query, fixed: set[str], **changes: Any) -> str:
    """``base`` with the query's parameters, ``changes`` applied (a falsy value removes
    one); ``page`` goes back to the first unless it is changed."""
    values: dict[str, Any] = {
        "q": query.text,
        "category": query.category,
        "tag": query.tag,
        "publisher": query.publisher,
        "price": query.price,
        "certified": "1" if query.certified else "",
        "sort": "" if query.sort == search.SORTS[0] else query.sort,
        "exact": "1" if query.exact else "",
        "page": "",
    }
    if query.page_size != search.DEFAULT_PAGE_SIZE:
        values["page_size"] = query.page_size
    values.update(changes)
    pairs = [(k, v) for k, v in values.items() if v and k not in fixed]
    return f"{base}?{urlencode(pairs)}" if pairs else base


def _facet_links(
    base: str, results: search.Results, fixed: set[str]
) -> dict[str, list[dict[str, Any]]]:
    q = results.query

    def entries(kind: str, values: list[search.FacetValue], current: str) -> list[dict[str, Any]]:
        return [
            {
                "label": v.label,
                "count": v.count,
                "active": v.value == current,
                "url": _link(base, q, fixed, **{kind: "" if v.value == current else v.value}),
            }
            for v in values
        ]

    facets = results.facets
    links = {
        "category": entries("category", facets.categories, q.category),
        "tag": entries("tag", facets.tags, q.tag),
        "publisher": entries("publisher", facets.publishers, q.publisher),
        "price": [
            {
                "label": label,
                "count": facets.price[value],
                "active": q.price == value,
                "url": _link(base, q, fixed, price="" if q.price == value else value),
            }
            for value, label in PRICE_LABELS.items()
        ],
        "certified": [
            {
                "label": "Certified only",
                "count": facets.certified,
                "active": q.certified,
                "url": _link(base, q, fixed, certified="" if q.certified else "1"),
            }
        ],
    }
    return {
        kind: [e for e in items if e["count"] or e["active"]]
        for kind, items in links.items()
        if kind not in fixed
    }


def _chips(
    base: str, query: search.Query, fixed: set[str], facets: dict[str, list[dict[str, Any]]]
) -> list[dict[str, str]]:
    """The filters the visitor applied (not the page's own), each with the link that
    removes it."""
    chips = []
    for kind, title in (("category", "Category"), ("tag", "Tag"), ("publisher", "Publisher")):
        value = getattr(query, kind)
        if value and kind not in fixed:
            label = next((f["label"] for f in facets.get(kind, []) if f["active"]), value)
            chips.append(
                {"kind": title, "label": label, "url": _link(base, query, fixed, **{kind: ""})}
            )
    if query.price:
        chips.append(
            {
                "kind": "Price",
                "label": PRICE_LABELS[query.price],
                "url": _link(base, query, fixed, price=""),
            }
        )
    if query.certified:
        chips.append(
            {
                "kind": "Certification",
                "label": "Certified only",
                "url": _link(base, query, fixed, certified=""),
            }
        )
    return chips


def _results_context(
    request: HttpRequest, base: str, query: search.Query, fixed: set[str]
) -> dict[str, Any]:
    results = search.run(query)
    facets = _facet_links(base, results, fixed)
    chips = _chips(base, query, fixed, facets)
    # The query string the sort form keeps (all but the order and the page).
    kept = _link("", query, fixed, sort="").lstrip("?")
    return {
        "query": query,
        "results": results,
        "hits": [catalogue.card(hit) for hit in results.hits],
        # The number of the page's first result: page 2 of 20 starts at 21.
        "first": (query.page - 1) * query.page_size + 1,
        "facets": facets,
        "chips": chips,
        "corrected": results.corrected,
        # The words exactly as typed, with no correction.
        "exact_url": _link(base, query, fixed, exact="1") if results.corrected else "",
        "sort_options": [
            {"value": value, "label": label, "selected": value == query.sort}
            for value, label in SORT_LABELS.items()
        ],
        "sort_keeps": [(name, value) for name, value in QueryDict(kept).items() if name != "sort"],
        "previous_url": _link(base, query, fixed, page=query.page - 1)
        if results.has_previous
        else "",
        "next_url": _link(base, query, fixed, page=query.page + 1) if results.has_next else "",
        "clear_url": _link(
            base, query, fixed, category="", tag="", publisher="", price="", certified=""
        ),
        "filtered": bool(chips),
    }


@require_safe
def search_page(request: HttpRequest) -> HttpResponse:
    query = _query(request.GET)
    context = _results_context(request, request.path, query, set())
    return render(request, "storefront/search.html", context)


@require_safe
def product_detail(request: HttpRequest, org: str, slug: str) -> HttpResponse:
    listing = catalogue.live_listing(org, slug)
    if listing is None:
        raise Http404("No such product.")
    context = catalogue.product(listing, host=request.get_host())
    return render(
        request,
        "storefront/product.html",
        {"product": context, "revoke_days": settings.SLA_REVOKE_AFTER_DAYS},
    )


@require_safe
def publisher_detail(request: HttpRequest, org: str) -> HttpResponse:
    profile = catalogue.publisher(org)
    if profile is None:
        raise Http404("No such publisher.")
    query = _query(request.GET, publisher=org)
    context = _results_context(request, request.path, query, {"publisher"})
    return render(request, "storefront/publisher.html", {"publisher": profile, **context})


@require_safe
def category_detail(request: HttpRequest, slug: str) -> HttpResponse:
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        raise Http404("No such category.")
    query = _query(request.GET, category=slug)
    context = _results_context(request, request.path, query, {"category"})
    return render(request, "storefront/category.html", {"category": category, **context})
