"""Who is told, and how: people's choices and the defaults when they made none.

Members of a publishing organisation hear about its products' security: owners and
editors by default, viewers once they ask. Customers hear about a product's listing
being held, released, revoked or reinstated when they pulled an affected image: by
default when they hold a paid subscription to it that entitles them now (unless the
subscription's own "mail about this product" switch is off), and otherwise once they
ask. A person's choice always wins over the default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q

from portside.accounts.models import Membership, Organization, OrgRole, User
from portside.catalog.models import Listing, Product
from portside.commerce.entitlements import holder_q
from portside.commerce.models import ENTITLED_STATUSES, PullRecord, Subscription
from portside.core import clock
from portside.core.errors import NotFound, ValidationFailed
from portside.notifications.models import Mode, Preference

PUBLISHER_DEFAULT_ROLES = (OrgRole.OWNER, OrgRole.EDITOR)


def explicit(user_id: int, scope: str) -> str | None:
    kind, _, ident = scope.partition(":")
    field = "organization_id" if kind == "org" else "product_id"
    found = Preference.objects.filter(user_id=user_id, **{field: int(ident)})
    return found.values_list("mode", flat=True).first()


def pays_for(user_id: int, product_id: int) -> bool:
    """Whether the user (or one of their organisations) holds an entitling paid
    subscription to the product whose mail switch is on."""
    now = clock.now()
    return (
        Subscription.objects.filter(holder_q(user_id), product_id=product_id)
        .filter(status__in=ENTITLED_STATUSES, price_minor__gt=0, notifications=True)
        .filter(Q(access_until__isnull=True) | Q(access_until__gt=now))
        .exists()
    )


def default_mode(user_id: int, scope: str) -> str:
    kind, _, ident = scope.partition(":")
    if kind == "org":
        role = (
            Membership.objects.filter(user_id=user_id, organization_id=int(ident))
            .values_list("role", flat=True)
            .first()
        )
        return Mode.IMMEDIATE if role in PUBLISHER_DEFAULT_ROLES else Mode.OFF
    return Mode.IMMEDIATE if pays_for(user_id, int(ident)) else Mode.OFF


def mode_for(user_id: int, scope: str) -> str:
    return explicit(user_id, scope) or default_mode(user_id, scope)


@dataclass(frozen=True)
class Setting:
    scope: str
    label: str
    mode: str
    default: str
    explicit: bool
    kind: str  # "org" or "product"
    link: str = ""


def settings_of(user: User) -> list[Setting]:
    """Every scope the user's settings page lists: their organisations, then the products
    they hold, pulled or chose a setting for."""
    chosen = {p.scope: p.mode for p in Preference.objects.filter(user=user)}
    out: list[Setting] = []
    for membership in (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name")
    ):
        scope = f"org:{membership.organization_id}"
        default = Mode.IMMEDIATE if membership.role in PUBLISHER_DEFAULT_ROLES else Mode.OFF
        out.append(_setting(scope, membership.organization.name, chosen, default, "org"))
    product_ids = set(
        Subscription.objects.filter(holder_q(user.pk)).values_list("product_id", flat=True)
    )
    product_ids |= set(
        PullRecord.objects.filter(user_id=user.pk).values_list("product_id", flat=True).distinct()
    )
    product_ids |= {int(s.split(":")[1]) for s in chosen if s.startswith("product:")}
    products = Product.objects.filter(pk__in=product_ids).select_related("organization")
    for product in sorted(products, key=lambda p: p.name.lower()):
        scope = f"product:{product.pk}"
        default = Mode.IMMEDIATE if pays_for(user.pk, product.pk) else Mode.OFF
        label = f"{product.name} ({product.organization.name})"
        out.append(_setting(scope, label, chosen, default, "product"))
    return out


def _setting(scope: str, label: str, explicit: dict[str, str], default: str, kind: str) -> Setting:
    return Setting(
        scope=scope,
        label=label,
        mode=explicit.get(scope, default),
        default=default,
        explicit=scope in explicit,
        kind=kind,
    )


def resolve_scope(user: User, raw: Any) -> str:
    """A scope the user may set, from a form's ``org:NAME`` or ``product:ID``;
    ``NotFound`` for an organisation they are not in or a product never listed."""
    if not isinstance(raw, str) or len(raw) > 60:
        raise ValidationFailed("Choose what the setting is for.", field="scope")
    kind, _, ident = raw.partition(":")
    if kind == "org":
        org = Organization.objects.filter(name=ident).first()
        if org is None or not Membership.objects.filter(organization=org, user=user).exists():
            raise NotFound("No such organisation.")
        return f"org:{org.pk}"
    if kind == "product" and ident.isascii() and ident.isdigit() and len(ident) <= 18:
        if not Listing.objects.filter(product_id=int(ident)).exists():
            raise NotFound("No such product.")
        return f"product:{int(ident)}"
    raise ValidationFailed("Choose what the setting is for.", field="scope")


def set_mode(*, user: User, scope: str, mode: Any) -> Preference:
    """The user's choice for a scope (the same choice again changes nothing)."""
    if mode not in Mode.values:
        raise ValidationFailed("Choose immediately, a daily digest or off.", field="mode")
    kind, _, ident = scope.partition(":")
    field = "organization_id" if kind == "org" else "product_id"
    with transaction.atomic():
        lookup: dict[str, Any] = {"user": user, field: int(ident)}
        preference, _ = Preference.objects.update_or_create(
            defaults={"mode": mode, "updated_at": clock.now()}, **lookup
        )
    return preference


def turn_off_digest(user: User) -> int:
    """What a digest's unsubscribe link does: everything the user gets in digests, off."""
    return Preference.objects.filter(user=user, mode=Mode.DIGEST).update(
        mode=Mode.OFF, updated_at=clock.now()
    )


def members(organization_id: int) -> Iterable[tuple[User, str]]:
    """(member, mode) of each member of the organisation who wants to hear."""
    explicit = dict(
        Preference.objects.filter(organization_id=organization_id).values_list("user_id", "mode")
    )
    memberships = Membership.objects.filter(organization_id=organization_id).select_related("user")
    for membership in memberships.order_by("user_id"):
        default = Mode.IMMEDIATE if membership.role in PUBLISHER_DEFAULT_ROLES else Mode.OFF
        mode = explicit.get(membership.user_id, default)
        if mode != Mode.OFF and membership.user.is_active:
            yield membership.user, mode


def pullers(product_id: int, affected: Any) -> dict[int, list[str]]:
    """Customers who pulled an affected image of the product (by the digest the tag
    pointed to, or the image's own), each with the affected ``repository:tag`` they
    pulled."""
    items = [a for a in affected or [] if isinstance(a, dict)]
    digests = {str(a.get(k)) for a in items for k in ("digest", "image") if a.get(k)}
    if not digests:
        return {}
    seen: dict[int, set[str]] = {}
    rows = PullRecord.objects.filter(product_id=product_id, digest__in=digests)
    for user_id, digest in rows.values_list("user_id", "digest").distinct():
        seen.setdefault(user_id, set()).add(digest)
    out = {}
    for user_id, pulled in seen.items():
        tags = sorted(
            {
                f"{a.get('repository', '')}:{a.get('tag', '')}"
                for a in items
                if a.get("digest") in pulled or a.get("image") in pulled
            }
        )
        out[user_id] = tags
    return out


def subscribers(product_id: int) -> set[int]:
    """Users who hold an entitling subscription to the product, their own or through an
    organisation they belong to: a revocation changes what they may pull, so they are
    told of it whether or not they pulled an affected image."""
    now = clock.now()
    held = (
        Subscription.objects.filter(product_id=product_id, status__in=ENTITLED_STATUSES)
        .filter(Q(access_until__isnull=True) | Q(access_until__gt=now))
        .values_list("user_id", "organization_id")
    )
    users = {user_id for user_id, org_id in held if org_id is None}
    orgs = {org_id for _, org_id in held if org_id is not None}
    if orgs:
        owners = Membership.objects.filter(organization_id__in=orgs, role=OrgRole.OWNER)
        users.update(owners.values_list("user_id", flat=True))
    return users
