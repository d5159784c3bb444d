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
            for value, label in (("free", "Free tier"), ("paid", "Paid tier"))
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


def _results_context(
    request: HttpRequest, base: str, query: search.Query, fixed: set[str]
) -> dict[str, Any]:
    results = search.run(query)
    return {
        "query": query,
        "results": results,
        "hits": [catalogue.card(hit) for hit in results.hits],
        # The number of the page's first result: page 2 of 20 starts at 21.
        "first": (query.page - 1) * query.page_size + 1,
        "facets": _facet_links(base, results, fixed),
        "previous_url": _link(base, query, fixed, page=query.page - 1)
        if results.has_previous
        else "",
        "next_url": _link(base, query, fixed, page=query.page + 1) if results.has_next else "",
        "clear_url": _link(
            base, query, fixed, category="", tag="", publisher="", price="", certified=""
        ),
        "filtered": query.has_filters,
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
