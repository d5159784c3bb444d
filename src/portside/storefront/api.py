"""The public catalogue in the JSON API under /api/v1/catalog/: search with facets,
suggestions as a name is typed, a product's live listing and the categories. No
authentication; only live listings."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from portside.catalog import search
from portside.catalog.models import Category
from portside.storefront import catalogue

router = Router(tags=["storefront"])


class CategoryRef(Schema):
    slug: str
    name: str


class ResultOut(Schema):
    organization: str
    slug: str
    name: str
    url: str
    publisher: str
    icon_url: str
    short_description: str
    category: CategoryRef | None
    search_tags: list[str]
    certified: bool
    # Set while the listing is on hold for overdue security fixes (no finding is named).
    security_hold_since: dt.datetime | None = None
    free: bool
    paid: bool
    price: str
    pulls: int
    score: int


class FacetOut(Schema):
    value: str
    label: str
    count: int


class FacetsOut(Schema):
    categories: list[FacetOut]
    tags: list[FacetOut]
    publishers: list[FacetOut]
    price: dict[str, int]
    certified: int


class SearchOut(Schema):
    q: str
    # The words searched instead of q when some of its words matched nothing; "" if none.
    corrected: str = ""
    total: int
    page: int
    page_size: int
    pages: int
    results: list[ResultOut]
    facets: FacetsOut


class SearchParams(Schema):
    q: str = Field("", max_length=search.MAX_QUERY)
    category: str = Field("", max_length=search.MAX_FILTER)
    tag: str = Field("", max_length=search.MAX_FILTER)
    publisher: str = Field("", max_length=search.MAX_FILTER)
    price: Literal["", "free", "paid"] = ""
    certified: bool = False
    page: int = Field(1, ge=1, le=search.MAX_PAGE)
    page_size: int = Field(search.DEFAULT_PAGE_SIZE, ge=1, le=search.MAX_PAGE_SIZE)
    sort: Literal["relevance", "pulls", "newest", "name"] = "relevance"
    exact: bool = Field(False, description="Search the words as typed, with no correction.")


SUGGEST_LIMIT = 10
# Suggestions are public and change only when the catalogue does: browsers and proxies
# may keep them for a minute, which spares the store a request per repeated keystroke.
SUGGEST_MAX_AGE = 60


class SuggestParams(Schema):
    q: str = Field("", max_length=search.MAX_QUERY)
    limit: int = Field(6, ge=1, le=SUGGEST_LIMIT)


class ProductSuggestionOut(Schema):
    name: str
    publisher: str
    url: str
    icon_url: str


class PublisherSuggestionOut(Schema):
    name: str
    organization: str
    url: str
    products: int


class SuggestOut(Schema):
    q: str
    corrected: str
    products: list[ProductSuggestionOut]
    publishers: list[PublisherSuggestionOut]


class PullOut(Schema):
    reference: str
    command: str


class ImagePlatformOut(Schema):
    # ``os/architecture[/variant]``; empty when the image does not say.
    platform: str
    # Compressed size in bytes (config and layers), null when the image is not stored.
    size: int | None


class TierImageOut(Schema):
    """A ``repository:tag`` of a tier as the registry holds it now."""

    reference: str
    repository: str
    tag: str
    # False when the tag is gone from the registry; the facts below are then empty.
    available: bool
    digest: str
    # An index (a multi-platform image): its platforms each have their own size.
    index: bool
    platforms: list[ImagePlatformOut]
    size: int | None
    pushed_at: dt.datetime | None


class PublicTierOut(Schema):
    name: str
    description: str
    price: str
    currency: str
    billing_period: str
    price_label: str
    pulls: list[PullOut]
    images: list[TierImageOut]


class SecurityOut(Schema):
    """Public facts only: whether the images are scanned and when, and whether the
    listing is on hold for overdue fixes. Findings are private to the publisher."""

    images: int
    scanned: int
    last_scanned_at: dt.datetime | None
    last_matched_at: dt.datetime | None
    hold_since: dt.datetime | None


class PublicScreenshotOut(Schema):
    url: str
    caption: str


class PublisherOut(Schema):
    organization: str
    name: str
    website: str
    url: str


class SlaOut(Schema):
    hours: str
    critical: str
    major: str
    minor: str


class PlatformOut(Schema):
    value: str
    label: str


class PublicProductOut(Schema):
    organization: str
    slug: str
    url: str
    name: str
    icon_url: str
    publisher: PublisherOut
    short_description: str
    long_description: str
    long_description_html: str
    category: CategoryRef | None
    search_tags: list[str]
    screenshots: list[PublicScreenshotOut]
    support_url: str
    support_email: str
    self_help: str
    install_instructions: str
    license_url: str
    sla: SlaOut
    platforms: list[PlatformOut]
    publisher_support: bool
    certified: bool
    security_hold_since: dt.datetime | None = None
    first_published_at: dt.datetime
    published_at: dt.datetime
    pulls: int
    tiers: list[PublicTierOut]
    security: SecurityOut


class CategoryCountOut(Schema):
    slug: str
    name: str
    count: int


@router.get("/catalog/search", response=SearchOut, auth=None, summary="Search the live catalogue")
def catalog_search(request: HttpRequest, params: Query[SearchParams]) -> SearchOut:
    results = search.search(
        params.q,
        category=params.category,
        tag=params.tag,
        publisher=params.publisher,
        price=params.price,
        certified=params.certified,
        page=params.page,
        page_size=params.page_size,
        sort=params.sort,
        exact=params.exact,
    )
    facets = results.facets
    return SearchOut(
        q=results.query.text,
        corrected=results.corrected,
        total=results.total,
        page=results.page,
        page_size=results.page_size,
        pages=results.pages,
        results=[ResultOut(**catalogue.card(hit)) for hit in results.hits],
        facets=FacetsOut(
            categories=[FacetOut(**vars(f)) for f in facets.categories],
            tags=[FacetOut(**vars(f)) for f in facets.tags],
            publishers=[FacetOut(**vars(f)) for f in facets.publishers],
            price=dict(facets.price),
            certified=facets.certified,
        ),
    )


@router.get(
    "/catalog/suggest",
    response=SuggestOut,
    auth=None,
    summary="Products and publishers for a query being typed",
)
def catalog_suggest(
    request: HttpRequest, response: HttpResponse, params: Query[SuggestParams]
) -> SuggestOut:
    """The best matching products (with the search's spelling correction) and the
    publishers whose name holds the words, the last one as a prefix. An empty query
    suggests nothing."""
    response["Cache-Control"] = f"public, max-age={SUGGEST_MAX_AGE}"
    if not search.query_terms(params.q):
        return SuggestOut(q=params.q, corrected="", products=[], publishers=[])
    results = search.search(params.q, page_size=params.limit)
    publishers = search.publishers_named(params.q, limit=min(params.limit, 4))
    return SuggestOut(
        q=params.q,
        corrected=results.corrected,
        products=[
            ProductSuggestionOut(
                name=card["name"],
                publisher=card["publisher"],
                url=card["url"],
                icon_url=card["icon_url"],
            )
            for card in (catalogue.card(hit) for hit in results.hits)
        ],
        publishers=[
            PublisherSuggestionOut(
                name=p.name,
                organization=p.organization,
                url=reverse("publisher_detail", args=[p.organization]),
                products=p.count,
            )
            for p in publishers
        ],
    )


@router.get(
    "/catalog/products/{org}/{slug}",
    response=PublicProductOut,
    auth=None,
    summary="A product's live listing",
)
def catalog_product(request: HttpRequest, org: str, slug: str) -> PublicProductOut:
    listing = catalogue.live_listing(org, slug)
    if listing is None:
        raise HttpError(404, "No such product.")
    data = catalogue.product(listing, host=request.get_host())
    data.pop("self_help_html")
    data.pop("install_instructions_html")
    return PublicProductOut(**data)


@router.get(
    "/catalog/categories",
    response=list[CategoryCountOut],
    auth=None,
    summary="Categories with their number of live listings",
)
def catalog_categories(request: HttpRequest) -> list[CategoryCountOut]:
    counts = search.category_counts()
    return [
        CategoryCountOut(slug=c.slug, name=c.name, count=counts.get(c.slug, 0))
        for c in Category.objects.all()
    ]
