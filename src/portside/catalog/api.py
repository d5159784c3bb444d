"""The publishers' products in the JSON API under /api/v1/: the working copy of the
manifest, images, sources, tiers, revisions, and withdrawing a live listing.

The same rules as the pages: members of the organisation and the store team read,
owners and editors change, and anyone else gets 404, so a draft never reveals that it
exists. The services decide; these views only translate. Every refusal is
``application/problem+json`` with a stable ``code``; a refused value names its item in
``field``, and ``details`` carries the rest (such as every ``problems`` of a submission).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from ninja.security import SessionAuth
from pydantic import ConfigDict

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.api.auth import TokenAuth, read_auth
from portside.api.openapi import checked
from portside.api.problems import (
    READ_ERRORS,
    WRITE_ERRORS,
    input_problems,
    not_found,
    problem,
)
from portside.catalog import manifest as items
from portside.catalog import services
from portside.catalog.models import (
    MAX_SHORT_DESCRIPTION,
    BillingPeriod,
    Listing,
    Platform,
    Product,
    ProductSource,
    Revision,
    Screenshot,
    Tier,
    TierAccess,
)
from portside.core import media
from portside.core.errors import (
    ValidationFailed,
)
from portside.core.images import MAX_BYTES
from portside.core.origin import from_request

router = Router(tags=["catalog"])
WRITE = [TokenAuth("write"), SessionAuth()]
_P = "/orgs/{org}/products/{slug}"
# Past this page every list is empty anyway; capped so that the offset fits the database.
MAX_PAGE = 10_000
MAX_CAPTION = 200
# Limits of the columns the values are kept in.
MAX_URL = 500
MAX_EMAIL = 254
MAX_SUPPORT_HOURS = 200
MAX_TIER_NAME = 60


router.add_decorator(input_problems, mode="view")


# --- schemas ------------------------------------------------------------------------------------


class ItemProblem(Schema):
    field: str
    reason: str


class CategoryOut(Schema):
    slug: str
    name: str


class ScreenshotOut(Schema):
    id: int
    image: str
    url: str
    caption: str
    position: int


class SourceOut(Schema):
    id: int
    repository: str
    tags: list[str]


class AccessItem(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    repository: str
    tags: list[str]


class TierOut(Schema):
    id: int
    name: str
    description: str
    price: str
    currency: str
    billing_period: str
    position: int
    access: list[AccessItem]


class ListingOut(Schema):
    state: str
    revision: int
    first_published_at: dt.datetime
    published_at: dt.datetime
    withdrawn_at: dt.datetime | None
    withdrawn_reason: str
    certified: bool


class SubmissionRef(Schema):
    """The product's submission that is still in review (or approved, not yet live)."""

    id: int
    state: str
    revision: int
    assigned_to: str | None
    waiting_since: dt.datetime


class ProductSummary(Schema):
    organization: str
    slug: str
    name: str
    short_description: str
    category: CategoryOut | None
    icon_url: str
    updated_at: dt.datetime
    listing_state: str | None


class ProductPage(Schema):
    count: int
    page: int
    per_page: int
    items: list[ProductSummary]


class ProductOut(Schema):
    """The working copy with every manifest item, and what stands between it and review."""

    organization: str
    slug: str
    name: str
    icon: str
    icon_url: str
    short_description: str
    category: CategoryOut | None
    search_tags: list[str]
    long_description: str
    screenshots: list[ScreenshotOut]
    support_url: str
    support_email: str
    self_help: str
    install_instructions: str
    license_url: str
    support_hours: str
    response_critical_hours: int | None
    response_major_hours: int | None
    response_minor_hours: int | None
    platforms: list[str]
    publisher_support: bool
    sources: list[SourceOut]
    tiers: list[TierOut]
    problems: list[ItemProblem]
    eligibility: list[ItemProblem]
    listing: ListingOut | None
    open_submission: SubmissionRef | None
    latest_revision: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(json_schema_extra=checked(items.MAX_NAME))


class ProductPatch(Schema):
    """The items to change; those left out keep their value, and ``null`` (or an empty
    value) clears one. Nothing is saved unless every given item is valid."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, json_schema_extra=checked(items.MAX_NAME))
    short_description: str | None = Field(
        None,
        description="At most 140 characters.",
        json_schema_extra=checked(MAX_SHORT_DESCRIPTION),
    )
    category: str | None = Field(None, description="The slug of one of the store's categories.")
    search_tags: list[str] | None = None
    long_description: str | None = Field(
        None, description="Markdown.", json_schema_extra=checked(items.MAX_MARKDOWN)
    )
    support_url: str | None = Field(None, json_schema_extra=checked(MAX_URL))
    support_email: str | None = Field(None, max_length=MAX_EMAIL)
    self_help: str | None = Field(
        None, description="Markdown.", json_schema_extra=checked(items.MAX_MARKDOWN)
    )
    install_instructions: str | None = Field(
        None, description="Markdown.", json_schema_extra=checked(items.MAX_MARKDOWN)
    )
    license_url: str | None = Field(None, json_schema_extra=checked(MAX_URL))
    support_hours: str | None = Field(None, max_length=MAX_SUPPORT_HOURS)
    response_critical_hours: int | None = None
    response_major_hours: int | None = None
    response_minor_hours: int | None = None
    platforms: list[str] | None = Field(
        None,
        json_schema_extra={
            "anyOf": [
                {"type": "array", "items": {"type": "string", "enum": list(Platform.values)}},
                {"type": "null"},
            ]
        },
    )
    publisher_support: bool | None = None


# What ``null`` means for each item of ProductPatch: cleared.
_CLEARED: dict[str, Any] = {
    "category": None,
    "search_tags": [],
    "platforms": [],
    "publisher_support": False,
    "response_critical_hours": None,
    "response_major_hours": None,
    "response_minor_hours": None,
}


class SourceIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    repository: str = Field(description="One of the organisation's repositories.")
    tags: list[str]


class TierIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(json_schema_extra=checked(MAX_TIER_NAME))
    description: str = Field(
        "", description="Markdown.", json_schema_extra=checked(items.MAX_MARKDOWN)
    )
    price: str = Field(
        max_length=40, description="A decimal with at most two places, such as 0 or 9.99."
    )
    currency: str = Field("USD", json_schema_extra={"enum": list(items.CURRENCIES)})
    billing_period: str = Field(json_schema_extra={"enum": list(BillingPeriod.values)})
    access: list[AccessItem] = Field(
        description="The repositories (among the product's sources) and tags it grants."
    )


class RevisionSummary(Schema):
    number: int
    created_at: dt.datetime
    created_by: str | None


class Change(Schema):
    field: str
    label: str
    before: Any
    after: Any


class RevisionOut(Schema):
    number: int
    created_at: dt.datetime
    created_by: str | None
    manifest: dict[str, Any]
    previous: int | None = Field(description="The revision the changes are counted from.")
    changes: list[Change]


class Paging(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(50, ge=1, le=100)


# --- helpers ------------------------------------------------------------------------------------

# Review is built on the catalogue, not the other way round: the moderation part of the
# API says how to find a product's open submission (see ``describe_open_submission``).
_open_submission: list[Callable[[Product], SubmissionRef | None]] = []


def describe_open_submission(
    finder: Callable[[Product], SubmissionRef | None],
) -> Callable[[Product], SubmissionRef | None]:
    _open_submission[:] = [finder]
    return finder


def acting(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # every operation here requires authentication
    return user


def _who(request: HttpRequest) -> dict[str, Any]:
    return {"acting": acting(request), "origin": from_request(request)}


def organization_for(request: HttpRequest, name: str) -> Organization | None:
    found = Organization.objects.filter(name=name).first()
    if found is None or not permissions.can_view_products(request.user, found):
        return None
    return found


def product_for(request: HttpRequest, org: str, slug: str) -> Product | None:
    organization = organization_for(request, org)
    if organization is None:
        return None
    return (
        Product.objects.select_related("organization", "category")
        .filter(organization=organization, slug=slug)
        .first()
    )


_NO_ORG = "No such organisation."
_NO_PRODUCT = "No such product."


def _category(product: Product) -> CategoryOut | None:
    category = product.category
    return CategoryOut(slug=category.slug, name=category.name) if category else None


def _tier_out(tier: Tier) -> TierOut:
    return TierOut(
        id=tier.pk,
        name=tier.name,
        description=tier.description,
        price=str(Decimal(tier.price).quantize(Decimal("0.01"))),
        currency=tier.currency,
        billing_period=tier.billing_period,
        position=tier.position,
        access=[
            AccessItem(repository=a.source.repository.name, tags=list(a.tags))
            for a in tier.access.all()
        ],
    )


def _source_out(source: ProductSource) -> SourceOut:
    return SourceOut(id=source.pk, repository=source.repository.name, tags=list(source.tags))


def _screenshot_out(shot: Screenshot) -> ScreenshotOut:
    return ScreenshotOut(
        id=shot.pk,
        image=shot.image,
        url=media.url(shot.image),
        caption=shot.caption,
        position=shot.position,
    )


def listing_out(listing: Listing) -> ListingOut:
    return ListingOut(
        state=listing.state,
        revision=listing.revision.number,
        first_published_at=listing.first_published_at,
        published_at=listing.published_at,
        withdrawn_at=listing.withdrawn_at,
        withdrawn_reason=listing.withdrawn_reason,
        certified=listing.certified,
    )


def product_out(product: Product) -> ProductOut:
    product = (
        Product.objects.select_related("organization", "category")
        .prefetch_related(
            Prefetch("sources", ProductSource.objects.select_related("repository")),
            Prefetch(
                "tiers",
                Tier.objects.prefetch_related(
                    Prefetch("access", TierAccess.objects.select_related("source__repository"))
                ),
            ),
            "screenshots",
        )
        .get(pk=product.pk)
    )
    listing = Listing.objects.select_related("revision").filter(product=product).first()
    latest = product.revisions.order_by("-number").values_list("number", flat=True).first()
    finder = _open_submission[0] if _open_submission else None
    return ProductOut(
        organization=product.organization.name,
        slug=product.slug,
        name=product.name,
        icon=product.icon,
        icon_url=media.url(product.icon),
        short_description=product.short_description,
        category=_category(product),
        search_tags=list(product.search_tags),
        long_description=product.long_description,
        screenshots=[_screenshot_out(s) for s in product.screenshots.all()],
        support_url=product.support_url,
        support_email=product.support_email,
        self_help=product.self_help,
        install_instructions=product.install_instructions,
        license_url=product.license_url,
        support_hours=product.support_hours,
        response_critical_hours=product.response_critical_hours,
        response_major_hours=product.response_major_hours,
        response_minor_hours=product.response_minor_hours,
        platforms=list(product.platforms),
        publisher_support=product.publisher_support,
        sources=[_source_out(s) for s in product.sources.all()],
        tiers=[_tier_out(t) for t in product.tiers.all()],
        problems=[ItemProblem(field=f, reason=r) for f, r in items.problems(product)],
        eligibility=[ItemProblem(field=f, reason=r) for f, r in items.eligibility(product)],
        listing=listing_out(listing) if listing else None,
        open_submission=finder(product) if finder else None,
        latest_revision=latest,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def _raw_body(request: HttpRequest, field: str) -> bytes | JsonResponse:
    """The uploaded file itself, read as a stream and at most one byte past the limit
    (``request.body`` would stop at Django's smaller limit for form data)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_big = f"The file is larger than {MAX_BYTES:,} bytes."
    if declared > MAX_BYTES:
        return problem(413, too_big, code=ValidationFailed.code, field=field)
    data = request.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return problem(413, too_big, code=ValidationFailed.code, field=field)
    return data


# --- products -----------------------------------------------------------------------------------


@router.get(
    "/orgs/{org}/products",
    response={200: ProductPage, **READ_ERRORS},
    auth=read_auth(),
    summary="An organisation's products, drafts included",
)
def product_list(request: HttpRequest, org: str, paging: Query[Paging]) -> Any:
    organization = organization_for(request, org)
    if organization is None:
        return not_found(_NO_ORG)
    products = (
        Product.objects.filter(organization=organization)
        .select_related("organization", "category", "listing")
        .order_by("name", "pk")
    )
    start = (paging.page - 1) * paging.per_page
    return ProductPage(
        count=products.count(),
        page=paging.page,
        per_page=paging.per_page,
        items=[
            ProductSummary(
                organization=organization.name,
                slug=p.slug,
                name=p.name,
                short_description=p.short_description,
                category=_category(p),
                icon_url=media.url(p.icon),
                updated_at=p.updated_at,
                listing_state=p.listing.state if hasattr(p, "listing") else None,
            )
            for p in products[start : start + paging.per_page]
        ],
    )


@router.post(
    "/orgs/{org}/products",
    response={201: ProductOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Create a product (its slug follows from the name)",
)
def product_create(request: HttpRequest, org: str, body: ProductIn) -> Any:
    organization = organization_for(request, org)
    if organization is None:
        return not_found(_NO_ORG)
    product = services.create_product(organization=organization, name=body.name, **_who(request))
    return Status(201, product_out(product))


@router.get(
    _P,
    response={200: ProductOut, **READ_ERRORS},
    auth=read_auth(),
    summary="A product's working copy, its problems, listing and open submission",
)
def product_detail(request: HttpRequest, org: str, slug: str) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    return product_out(product)


@router.patch(
    _P,
    response={200: ProductOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Change items of the working copy",
)
def product_update(request: HttpRequest, org: str, slug: str, body: ProductPatch) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    fields = {
        key: (_CLEARED.get(key, "") if value is None else value)
        for key, value in body.model_dump(exclude_unset=True).items()
    }
    product = services.update_product(product=product, **_who(request), **fields)
    return product_out(product)


@router.delete(
    _P,
    response={204: None, **WRITE_ERRORS},
    auth=WRITE,
    summary="Delete a product that was never published",
)
def product_delete(request: HttpRequest, org: str, slug: str) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    services.delete_product(product=product, **_who(request))
    return Status(204, None)


# --- images -------------------------------------------------------------------------------------

_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            kind: {"schema": {"type": "string", "contentMediaType": kind}}
            for kind in ("image/png", "image/jpeg", "image/webp")
        },
    }
}


@router.put(
    _P + "/icon",
    response={200: ProductOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Upload the icon: the image itself as the body (PNG, JPEG or WebP, square, "
    "at least 128x128 px)",
    openapi_extra=_IMAGE_BODY,
)
def product_icon(request: HttpRequest, org: str, slug: str) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    data = _raw_body(request, "icon")
    if isinstance(data, JsonResponse):
        return data
    product = services.set_icon(product=product, data=data, **_who(request))
    return product_out(product)


@router.post(
    _P + "/screenshots",
    response={201: ScreenshotOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Add a screenshot: the image itself as the body (PNG, JPEG or WebP, at least "
    "640x360 px)",
    openapi_extra=_IMAGE_BODY,
)
def screenshot_add(
    request: HttpRequest,
    org: str,
    slug: str,
    caption: str = Query("", max_length=MAX_CAPTION),
) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    data = _raw_body(request, "screenshots")
    if isinstance(data, JsonResponse):
        return data
    shot = services.add_screenshot(product=product, data=data, caption=caption, **_who(request))
    return Status(201, _screenshot_out(shot))


@router.delete(
    _P + "/screenshots/{screenshot_id}",
    response={204: None, **WRITE_ERRORS},
    auth=WRITE,
    summary="Remove a screenshot",
)
def screenshot_remove(request: HttpRequest, org: str, slug: str, screenshot_id: int) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    shot = Screenshot.objects.filter(product=product, pk=screenshot_id).first()
    if shot is None:
        return not_found("No such screenshot.")
    services.remove_screenshot(screenshot=shot, **_who(request))
    return Status(204, None)


# --- sources and tiers --------------------------------------------------------------------------


@router.put(
    _P + "/sources",
    response={200: SourceOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Make a repository (with some of its tags) a source, or change its tags",
)
def source_set(request: HttpRequest, org: str, slug: str, body: SourceIn) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    source = services.set_source(
        product=product, repository=body.repository, tags=body.tags, **_who(request)
    )
    return _source_out(source)


@router.delete(
    _P + "/sources/{source_id}",
    response={204: None, **WRITE_ERRORS},
    auth=WRITE,
    summary="Remove a source (and what tiers grant of it)",
)
def source_remove(request: HttpRequest, org: str, slug: str, source_id: int) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    source = (
        ProductSource.objects.select_related("repository", "product__organization")
        .filter(product=product, pk=source_id)
        .first()
    )
    if source is None:
        return not_found("No such source.")
    services.remove_source(source=source, **_who(request))
    return Status(204, None)


def _save_tier(request: HttpRequest, product: Product, body: TierIn, tier: Tier | None) -> Any:
    saved = services.save_tier(
        product=product,
        name=body.name,
        description=body.description,
        price=body.price,
        currency=body.currency,
        billing_period=body.billing_period,
        access=[(a.repository, a.tags) for a in body.access],
        tier=tier,
        **_who(request),
    )
    return _tier_out(
        Tier.objects.prefetch_related(
            Prefetch("access", TierAccess.objects.select_related("source__repository"))
        ).get(pk=saved.pk)
    )


@router.post(
    _P + "/tiers",
    response={201: TierOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Offer a tier",
)
def tier_add(request: HttpRequest, org: str, slug: str, body: TierIn) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    result = _save_tier(request, product, body, None)
    return Status(201, result) if isinstance(result, TierOut) else result


@router.put(
    _P + "/tiers/{tier_id}",
    response={200: TierOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Change a tier (every value is replaced)",
)
def tier_update(request: HttpRequest, org: str, slug: str, tier_id: int, body: TierIn) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    tier = Tier.objects.filter(product=product, pk=tier_id).first()
    if tier is None:
        return not_found("No such tier.")
    return _save_tier(request, product, body, tier)


@router.delete(
    _P + "/tiers/{tier_id}",
    response={204: None, **WRITE_ERRORS},
    auth=WRITE,
    summary="Remove a tier",
)
def tier_delete(request: HttpRequest, org: str, slug: str, tier_id: int) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    tier = (
        Tier.objects.select_related("product__organization")
        .filter(product=product, pk=tier_id)
        .first()
    )
    if tier is None:
        return not_found("No such tier.")
    services.delete_tier(tier=tier, **_who(request))
    return Status(204, None)


# --- revisions and the listing ------------------------------------------------------------------


def _creator(revision: Revision) -> str | None:
    return revision.created_by.username if revision.created_by else None


@router.get(
    _P + "/revisions",
    response={200: list[RevisionSummary], **READ_ERRORS},
    auth=read_auth(),
    summary="The product's revisions, newest first",
)
def revision_list(request: HttpRequest, org: str, slug: str) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    return [
        RevisionSummary(number=r.number, created_at=r.created_at, created_by=_creator(r))
        for r in product.revisions.select_related("created_by").order_by("-number")
    ]


@router.get(
    _P + "/revisions/{number}",
    response={200: RevisionOut, **READ_ERRORS},
    auth=read_auth(),
    summary="A revision's frozen manifest and what changed since the one before",
)
def revision_detail(request: HttpRequest, org: str, slug: str, number: int) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    revision = (
        Revision.objects.select_related("created_by").filter(product=product, number=number).first()
    )
    if revision is None:
        return not_found("No such revision.")
    previous = product.revisions.filter(number__lt=number).order_by("-number").first()
    return RevisionOut(
        number=revision.number,
        created_at=revision.created_at,
        created_by=_creator(revision),
        manifest=revision.manifest,
        previous=previous.number if previous else None,
        changes=[
            Change(**c)
            for c in items.diff(previous.manifest if previous else None, revision.manifest)
        ],
    )


@router.post(
    _P + "/unpublish",
    response={200: ListingOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Withdraw the live listing from the store",
)
def product_unpublish(request: HttpRequest, org: str, slug: str) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found(_NO_PRODUCT)
    listing = services.unpublish(product=product, **_who(request))
    return listing_out(listing)
