"""Use cases of the catalogue: products, their manifest, tiers, revisions and listings.

Every function takes the acting user and the request's origin explicitly, checks the
permission through ``accounts.permissions``, runs in one transaction with its audit row,
and raises domain errors. Moderation calls ``freeze_revision`` when a publisher submits
and ``publish_revision`` when an approved revision goes live; nothing else makes listings.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.audit import services as audit
from portside.catalog import manifest as items
from portside.catalog.models import (
    MAX_SCREENSHOTS,
    Category,
    Listing,
    ListingState,
    Product,
    ProductSource,
    Revision,
    Screenshot,
    Tier,
    TierAccess,
)
from portside.core import clock, events
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.core.images import clean_image
from portside.core.media import save_image
from portside.core.origin import Origin
from portside.registry.models import Repository, Tag

ICON_MIN = (128, 128)
SCREENSHOT_MIN = (640, 360)
EDITABLE = (
    "name",
    "short_description",
    "category",
    "search_tags",
    "long_description",
    "support_url",
    "support_email",
    "self_help",
    "install_instructions",
    "license_url",
    "support_hours",
    "response_critical_hours",
    "response_major_hours",
    "response_minor_hours",
    "platforms",
    "publisher_support",
)


def _require_editor(acting: User, organization: Organization) -> None:
    if not permissions.can_view_products(acting, organization):
        raise NotFound("No such organisation.")
    if not permissions.can_edit_products(acting, organization):
        raise PermissionDenied("Only owners and editors of the organisation edit its products.")


def _touch(product: Product, acting: User, action: str, origin: Origin, **details: Any) -> None:
    product.updated_at = clock.now()
    product.save(update_fields=["updated_at"])
    audit.record(
        acting,
        action,
        product,
        organization=product.organization,
        product=str(product),
        **details,
        **origin.audit_fields(),
    )


# --- products and their manifest ---------------------------------------------------------------


def create_product(
    *, organization: Organization, name: str, acting: User, origin: Origin
) -> Product:
    _require_editor(acting, organization)
    name = items.clean_name(name)
    slug = slugify(name)[:100].strip("-")
    if not slug:
        raise ValidationFailed("The name needs at least one letter or digit.", field="name")
    now = clock.now()
    try:
        with transaction.atomic():
            product = Product.objects.create(
                organization=organization,
                name=name,
                slug=slug,
                created_at=now,
                updated_at=now,
                created_by=acting,
            )
            audit.record(
                acting,
                "catalog:product:created",
                product,
                organization=organization,
                name=name,
                **origin.audit_fields(),
            )
    except IntegrityError:
        raise Conflict(
            f"{organization.name} already has a product named {name!r}.", field="name"
        ) from None
    return product


def update_product(*, product: Product, acting: User, origin: Origin, **fields: Any) -> Product:
    """Change items of the working copy. Each given field is validated; nothing is saved
    unless all of them are valid."""
    _require_editor(acting, product.organization)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Unknown item {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            cleaned[key] = items.clean_name(value)
        elif key == "short_description":
            cleaned[key] = items.clean_short_description(value)
        elif key == "category":
            if value in (None, ""):
                cleaned[key] = None
            else:
                category = (
                    value
                    if isinstance(value, Category)
                    else Category.objects.filter(slug=str(value)).first()
                )
                if category is None:
                    raise ValidationFailed("Choose one of the store's categories.", field=key)
                cleaned[key] = category
        elif key == "search_tags":
            cleaned[key] = items.clean_search_tags(value)
        elif key in ("long_description", "self_help", "install_instructions"):
            cleaned[key] = items.clean_markdown(value, field=key)
        elif key in ("support_url", "license_url"):
            cleaned[key] = items.clean_url(value, field=key)
        elif key == "support_email":
            cleaned[key] = items.clean_email(value, field=key)
        elif key == "support_hours":
            cleaned[key] = " ".join(str(value).split())[:200]
        elif key.startswith("response_"):
            cleaned[key] = items.clean_hours(value, field=key)
        elif key == "platforms":
            cleaned[key] = items.clean_platforms(value)
        elif key == "publisher_support":
            cleaned[key] = bool(value)
    changed = [key for key, value in cleaned.items() if getattr(product, key) != value]
    if not changed:
        return product
    for key in changed:
        setattr(product, key, cleaned[key])
    try:
        with transaction.atomic():
            product.save(update_fields=changed)
            _touch(product, acting, "catalog:product:updated", origin, fields=sorted(changed))
    except IntegrityError:
        raise Conflict(
            f"{product.organization.name} already has a product named {product.name!r}.",
            field="name",
        ) from None
    return product


def delete_product(*, product: Product, acting: User, origin: Origin) -> None:
    """Only a draft that was never submitted may be deleted: a listed product is
    unpublished instead, and a submitted one keeps its revisions and review history."""
    _require_editor(acting, product.organization)
    if Listing.objects.filter(product=product).exists():
        raise Conflict("A product that has been published is unpublished, not deleted.")
    if product.revisions.exists():
        raise Conflict(
            "A product that has been submitted for review keeps its revisions and review "
            "history, so it cannot be deleted."
        )
    with transaction.atomic():
        audit.record(
            acting,
            "catalog:product:deleted",
            product,
            organization=product.organization,
            product=str(product),
            **origin.audit_fields(),
        )
        product.delete()


def set_icon(*, product: Product, data: bytes, acting: User, origin: Origin) -> Product:
    _require_editor(acting, product.organization)
    image = clean_image(data, field="icon", square=True, min_size=ICON_MIN)
    with transaction.atomic():
        product.icon = save_image(image)
        product.save(update_fields=["icon"])
        _touch(product, acting, "catalog:product:icon_changed", origin, image=product.icon)
    return product


def add_screenshot(
    *, product: Product, data: bytes, caption: str = "", acting: User, origin: Origin
) -> Screenshot:
    _require_editor(acting, product.organization)
    if product.screenshots.count() >= MAX_SCREENSHOTS:
        raise ValidationFailed(f"At most {MAX_SCREENSHOTS} screenshots.", field="screenshots")
    image = clean_image(data, field="screenshots", min_size=SCREENSHOT_MIN)
    with transaction.atomic():
        last = product.screenshots.order_by("-position").values_list("position", flat=True)
        shot = Screenshot.objects.create(
            product=product,
            image=save_image(image),
            caption=" ".join(caption.split())[:200],
            position=(last.first() or 0) + 1,
        )
        _touch(product, acting, "catalog:screenshot:added", origin, image=shot.image)
    return shot


def remove_screenshot(*, screenshot: Screenshot, acting: User, origin: Origin) -> None:
    product = screenshot.product
    _require_editor(acting, product.organization)
    with transaction.atomic():
        screenshot.delete()
        _touch(product, acting, "catalog:screenshot:removed", origin, image=screenshot.image)


# --- sources and tiers --------------------------------------------------------------------------


def set_source(
    *, product: Product, repository: str, tags: list[str], acting: User, origin: Origin
) -> ProductSource:
    """Make ``repository`` (with ``tags``) a source of the product, or change its tags.
    Only the organisation's own repositories can be sources; anything else reads as
    unknown, so a product cannot reveal another organisation's repositories."""
    _require_editor(acting, product.organization)
    repo = Repository.objects.filter(
        organization=product.organization, name=str(repository).strip()
    ).first()
    if repo is None:
        raise ValidationFailed(
            f"{product.organization.name} has no repository {str(repository)[:200]!r}.",
            field="sources",
        )
    wanted = [str(tag).strip() for tag in tags if str(tag).strip()]
    if not wanted:
        raise ValidationFailed("Choose at least one tag.", field="sources")
    known = set(Tag.objects.filter(repository=repo, name__in=wanted).values_list("name", flat=True))
    unknown = [tag for tag in wanted if tag not in known]
    if unknown:
        raise ValidationFailed(
            f"{repo.name} has no tag {', '.join(t[:128] for t in unknown)}.", field="sources"
        )
    wanted = list(dict.fromkeys(wanted))
    with transaction.atomic():
        source, _ = ProductSource.objects.update_or_create(
            product=product, repository=repo, defaults={"tags": wanted}
        )
        for access in TierAccess.objects.filter(source=source):
            kept = [tag for tag in access.tags if tag in wanted]
            if kept != access.tags:
                access.tags = kept
                access.save(update_fields=["tags"])
        _touch(product, acting, "catalog:source:set", origin, repository=repo.name, tags=wanted)
    return source


def remove_source(*, source: ProductSource, acting: User, origin: Origin) -> None:
    product = source.product
    _require_editor(acting, product.organization)
    with transaction.atomic():
        name = source.repository.name
        source.delete()
        _touch(product, acting, "catalog:source:removed", origin, repository=name)


def save_tier(
    *,
    product: Product,
    name: str,
    price: Any,
    billing_period: str,
    access: list[tuple[str, list[str]]],
    description: str = "",
    currency: str = "USD",
    tier: Tier | None = None,
    acting: User,
    origin: Origin,
) -> Tier:
    """Create a tier (or change ``tier``). ``access`` lists (repository, tags) pairs, each
    among the product's sources: the tiers offered follow from the repositories chosen."""
    _require_editor(acting, product.organization)
    if tier is not None and tier.product_id != product.pk:
        raise NotFound("No such tier.")
    name = " ".join(str(name).split())
    if not name or len(name) > 60:
        raise ValidationFailed("A tier's name has 1 to 60 characters.", field="name")
    amount = items.clean_price(price)
    code = items.clean_currency(currency)
    period = items.clean_billing(amount, billing_period)
    sources = {s.repository.name: s for s in product.sources.select_related("repository")}
    grants: list[tuple[ProductSource, list[str]]] = []
    for repository, tags in access:
        source = sources.get(str(repository).strip())
        if source is None:
            raise ValidationFailed(
                f"{str(repository)[:200]!r} is not one of this product's sources.",
                field="access",
            )
        chosen = list(dict.fromkeys(str(t).strip() for t in tags if str(t).strip()))
        outside = [t for t in chosen if t not in source.tags]
        if not chosen or outside:
            raise ValidationFailed(
                f"Choose tags of {source.repository.name} among {', '.join(source.tags)}.",
                field="access",
            )
        grants.append((source, chosen))
    if not grants:
        raise ValidationFailed("A tier grants at least one repository.", field="access")
    try:
        with transaction.atomic():
            if tier is None:
                last = product.tiers.order_by("-position").values_list("position", flat=True)
                tier = Tier(product=product, position=(last.first() or 0) + 1)
            tier.name, tier.description = (
                name,
                items.clean_markdown(description, field="description")[:5000],
            )
            tier.price, tier.currency, tier.billing_period = amount, code, period
            tier.save()
            tier.access.all().delete()
            TierAccess.objects.bulk_create(
                [TierAccess(tier=tier, source=source, tags=tags) for source, tags in grants]
            )
            _touch(
                product,
                acting,
                "catalog:tier:saved",
                origin,
                tier=name,
                price=str(amount),
                currency=code,
                billing_period=period,
            )
    except IntegrityError:
        raise Conflict(f"This product already has a tier named {name!r}.", field="name") from None
    return tier


def delete_tier(*, tier: Tier, acting: User, origin: Origin) -> None:
    product = tier.product
    _require_editor(acting, product.organization)
    with transaction.atomic():
        tier.delete()
        _touch(product, acting, "catalog:tier:deleted", origin, tier=tier.name)


# --- revisions and listings ---------------------------------------------------------------------


def freeze_revision(*, product: Product, acting: User) -> Revision:
    """Freeze the working copy into the next revision (inside the caller's transaction).

    Refused while the profile is incomplete, the platforms make the product ineligible,
    or an item is missing; the error lists every problem.
    """
    from portside.publishers.models import PublisherProfile

    profile = PublisherProfile.objects.filter(organization=product.organization).first()
    if profile is None or not profile.is_complete:
        missing = profile.missing() if profile else ["a publisher profile"]
        raise ValidationFailed(
            "Complete the publisher profile first: " + ", ".join(missing) + ".",
            field="profile",
            missing=missing,
        )
    found = items.problems(product)
    if found:
        raise ValidationFailed(
            " ".join(reason for _, reason in found),
            field=found[0][0],
            problems=found,
        )
    frozen = items.freeze(
        product, publisher_name=profile.legal_name, publisher_website=profile.website
    )
    last = product.revisions.order_by("-number").values_list("number", flat=True).first()
    return Revision.objects.create(
        product=product,
        number=(last or 0) + 1,
        manifest=frozen,
        created_at=clock.now(),
        created_by=acting,
    )


def publish_revision(*, revision: Revision, acting: User, origin: Origin) -> Listing:
    """Make ``revision`` the live listing of its product, replacing any earlier one in the
    same transaction (with the search index), so customers never see a gap."""
    from portside.catalog import search

    product = revision.product
    now = clock.now()
    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(product=product).first()
        previous = listing.revision.number if listing else None
        if listing is None:
            listing = Listing(product=product, first_published_at=now)
        listing.revision = revision
        listing.state = ListingState.LIVE
        listing.published_at = now
        listing.withdrawn_at = None
        listing.withdrawn_reason = ""
        listing.save()
        search.reindex_listing(listing)
        audit.record(
            acting,
            "catalog:listing:published",
            product,
            organization=product.organization,
            product=str(product),
            revision=revision.number,
            replaced=previous,
            **origin.audit_fields(),
        )
        events.emit("catalog:listing:published", product_id=product.pk)
    return listing


# --- the vulnerability SLA's effects on a listing (the policy context decides them) ----------


def set_security_holds(holds: dict[int, Any]) -> list[Listing]:
    """Put live listings on hold, by product id, with the date their fixes were due, or
    lift holds (a date of None); each search result shows the label. Only the label
    changes, so only the result cards are rewritten (not the whole index entry), in one
    statement for the lot. Returns the listings that changed; the caller audits and says
    why (the policy context)."""
    from portside.catalog.search import SearchCard
    from portside.catalog.search import _changed as search_changed

    with transaction.atomic():
        changed = []
        for listing in Listing.objects.select_for_update().filter(product_id__in=list(holds)):
            since = holds[listing.product_id]
            if listing.security_hold_since == since:
                continue
            if since is not None and listing.state != ListingState.LIVE:
                continue
            listing.security_hold_since = since
            changed.append(listing)
        if not changed:
            return []
        Listing.objects.bulk_update(changed, ["security_hold_since"], batch_size=500)
        label = {x.pk: x.security_hold_since for x in changed}
        cards = list(SearchCard.objects.filter(entry_id__in=list(label)))
        for card in cards:
            since = label[card.entry_id]
            card.card = {
                **card.card,
                "security_hold_since": since.isoformat() if since else None,
            }
        SearchCard.objects.bulk_update(cards, ["card"], batch_size=500)
        search_changed()
    return changed


def set_security_hold(*, product: Product, since: Any) -> Listing | None:
    """:func:`set_security_holds` for one product."""
    changed = set_security_holds({product.pk: since})
    return changed[0] if changed else None


def revoke(*, product: Product, access_ends_at: Any) -> Listing | None:
    """Revoke the live listing (overdue security fixes): gone from the storefront and
    search, no new subscriptions; existing customers pull until ``access_ends_at`` (None:
    no limit). Returns the listing when it changed. The caller audits it."""
    from portside.catalog import search

    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(product=product).first()
        if listing is None or listing.state != ListingState.LIVE:
            return None
        listing.state = ListingState.REVOKED
        listing.withdrawn_at = clock.now()
        listing.withdrawn_reason = "Security fixes overdue"
        listing.access_ends_at = access_ends_at
        listing.save(update_fields=["state", "withdrawn_at", "withdrawn_reason", "access_ends_at"])
        search.reindex_listing(listing)
        events.emit("catalog:listing:withdrawn", product_id=product.pk, state=listing.state)
    return listing


def reinstate(*, product: Product) -> Listing | None:
    """A revoked listing live again, its hold cleared (the store team's decision, audited
    by the caller). Returns the listing when it changed."""
    from portside.catalog import search

    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(product=product).first()
        if listing is None or listing.state != ListingState.REVOKED:
            return None
        listing.state = ListingState.LIVE
        listing.withdrawn_at = None
        listing.withdrawn_reason = ""
        listing.access_ends_at = None
        listing.security_hold_since = None
        listing.save(
            update_fields=[
                "state",
                "withdrawn_at",
                "withdrawn_reason",
                "access_ends_at",
                "security_hold_since",
            ]
        )
        search.reindex_listing(listing)
        events.emit("catalog:listing:published", product_id=product.pk)
    return listing


def unpublish(*, product: Product, acting: User, origin: Origin) -> Listing:
    _require_editor(acting, product.organization)
    return _withdraw(product, ListingState.UNPUBLISHED, "", acting, origin)


def take_down(*, product: Product, reason: str, acting: User, origin: Origin) -> Listing:
    if not permissions.can_moderate(acting):
        raise PermissionDenied("Only moderators take listings down.")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Say why the listing is taken down.", field="reason")
    return _withdraw(product, ListingState.TAKEN_DOWN, reason[:2000], acting, origin)


def _withdraw(product: Product, state: str, reason: str, acting: User, origin: Origin) -> Listing:
    from portside.catalog import search

    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(product=product).first()
        if listing is None or listing.state != ListingState.LIVE:
            raise Conflict("The product is not live.")
        listing.state = state
        listing.withdrawn_at = clock.now()
        listing.withdrawn_reason = reason
        listing.save(update_fields=["state", "withdrawn_at", "withdrawn_reason"])
        search.reindex_listing(listing)
        audit.record(
            acting,
            "catalog:listing:taken_down"
            if state == ListingState.TAKEN_DOWN
            else "catalog:listing:unpublished",
            product,
            organization=product.organization,
            product=str(product),
            reason=reason,
            **origin.audit_fields(),
        )
        events.emit("catalog:listing:withdrawn", product_id=product.pk, state=state)
    return listing
