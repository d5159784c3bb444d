"""The one door for "may this user do that": every view, the API and later the registry
and entitlements ask here, and the access-matrix tests drive it through real URLs."""

from __future__ import annotations

from typing import Any, Protocol

from portside.accounts import lookups
from portside.accounts.models import AccessToken, Organization, OrgRole, StoreRole


def _authenticated(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def is_store_admin(user: Any) -> bool:
    return _authenticated(user) and user.store_role == StoreRole.ADMIN


def is_store_team(user: Any) -> bool:
    return _authenticated(user) and user.store_role != StoreRole.NONE


def org_role(user: Any, organization: Organization) -> str | None:
    if not _authenticated(user):
        return None
    # One prepared statement: this runs for every registry token and most pages.
    return lookups.membership_role(organization.pk, user.pk)


def can_view_organization(user: Any, organization: Organization) -> bool:
    """Members and the store team see an organisation's private pages; nobody else
    learns that it exists through them."""
    return is_store_team(user) or org_role(user, organization) is not None


def can_manage_members(user: Any, organization: Organization) -> bool:
    return is_store_admin(user) or org_role(user, organization) == OrgRole.OWNER


def can_edit_organization_content(user: Any, organization: Organization) -> bool:
    """Push images, edit products: owners and editors."""
    return org_role(user, organization) in (OrgRole.OWNER, OrgRole.EDITOR)


def can_manage_token(user: Any, token: AccessToken) -> bool:
    return _authenticated(user) and token.user_id == user.pk


def can_view_audit(user: Any) -> bool:
    return _authenticated(user) and user.store_role in (StoreRole.ADMIN, StoreRole.SECURITY)


def can_manage_store_team(user: Any) -> bool:
    return is_store_admin(user)


# --- registry -------------------------------------------------------------------------------

PULL, PUSH, DELETE = "pull", "push", "delete"
_ROLE_ACTIONS = {
    OrgRole.OWNER: {PULL, PUSH, DELETE},
    OrgRole.EDITOR: {PULL, PUSH, DELETE},
    OrgRole.VIEWER: {PULL},
}
_TOKEN_SCOPE_ACTIONS = {"read": {PULL}, "write": {PULL, PUSH}, "delete": {DELETE}}


def repository_actions(
    user: Any, organization: Organization | None, *, token_scopes: list[str] | None = None
) -> set[str]:
    """What the caller may do to repositories in ``organization``'s namespace.

    Private by default: only members (by role) and the store team (pull for review, and
    delete for admins taking content down) get anything. A personal access token narrows
    the user's rights to its scopes. Customers of a listing pull through
    :func:`customer_pull_tags` instead: some tags, not the repository.
    """
    if organization is None or not _authenticated(user):
        return set()
    allowed: set[str] = set()
    role = org_role(user, organization)
    if role is not None:
        allowed |= _ROLE_ACTIONS[OrgRole(role)]
    if is_store_team(user):
        allowed.add(PULL)
    if is_store_admin(user):
        allowed.add(DELETE)
    if token_scopes is not None:
        permitted: set[str] = set()
        for scope in token_scopes:
            permitted |= _TOKEN_SCOPE_ACTIONS.get(scope, set())
        allowed &= permitted
    return allowed


def can_list_catalog(user: Any) -> bool:
    return is_store_team(user)


# --- customers' entitlements ----------------------------------------------------------------


class Entitlements(Protocol):
    """What customers may pull, decided by ``commerce.entitlements`` (registered when the
    commerce app starts; this module cannot import it, as the registry reads it)."""

    def pull_tags(
        self, user_id: int, organization: Organization, repository: str
    ) -> frozenset[str]:
        """The tags of ``repository`` the user's active subscriptions cover (may be empty)."""
        ...

    def entitled_digests(self, user_id: int, repository: str) -> frozenset[str]:
        """Digests the user may read by digest beyond the covered tags' current images:
        those the live revisions froze for the covered tags, and those pulled earlier."""
        ...

    def refusal(self, user_id: int | None, repository: str, reference: str) -> str | None:
        """Why a pull of a listed repository is refused, naming where to take a tier; None
        when the repository is in no live listing (then nothing may be said of it)."""
        ...

    def scan_refusal(
        self, repository_id: int, repository: str, digest: str, media_type: str, content: bytes
    ) -> str | None:
        """Why a customer may not pull this manifest yet (an image the store has not
        scanned, when the store requires a scan); None when the pull may go ahead."""
        ...


_entitlements: Entitlements | None = None


def use_entitlements(provider: Entitlements | None) -> None:
    global _entitlements
    _entitlements = provider


def customer_pull_tags(
    user: Any, organization: Organization | None, repository: str, *, token_scopes: list[str] | None
) -> frozenset[str]:
    """The tags of ``repository`` a customer may pull: what their subscriptions (their
    own, or their organisations') cover, if the token may read at all."""
    if organization is None or not _authenticated(user) or _entitlements is None:
        return frozenset()
    if token_scopes is not None and not {"read", "write"} & set(token_scopes):
        return frozenset()
    return _entitlements.pull_tags(user.pk, organization, repository)


def customer_digests(user_id: int, repository: str) -> frozenset[str]:
    return _entitlements.entitled_digests(user_id, repository) if _entitlements else frozenset()


def pull_refusal(user_id: int | None, repository: str, reference: str) -> str | None:
    return _entitlements.refusal(user_id, repository, reference) if _entitlements else None


def customer_scan_refusal(
    repository_id: int, repository: str, digest: str, media_type: str, content: bytes
) -> str | None:
    """Asked for a customer's pull of a manifest the tiers cover (never for members or the
    store team): a message when the store holds it back until it is scanned."""
    if _entitlements is None:
        return None
    return _entitlements.scan_refusal(repository_id, repository, digest, media_type, content)


# --- scanning -------------------------------------------------------------------------------


def can_view_scan_results(user: Any, organization: Organization) -> bool:
    """Scan results are private: the publisher's organisation and the store team only,
    never customers or other publishers."""
    return is_store_team(user) or org_role(user, organization) is not None


def can_request_scan(user: Any, organization: Organization) -> bool:
    """Scan on demand: whoever may push there, and the security team and admins."""
    return can_edit_organization_content(user, organization) or (
        _authenticated(user) and user.store_role in (StoreRole.ADMIN, StoreRole.SECURITY)
    )


def can_reclassify_findings(user: Any) -> bool:
    return _authenticated(user) and user.store_role in (StoreRole.ADMIN, StoreRole.SECURITY)


# --- publishers, products and moderation ------------------------------------------------------


def can_view_products(user: Any, organization: Organization) -> bool:
    """An organisation's products, drafts and submissions: its members and the store team.
    Customers and other publishers see only what is published, through the storefront."""
    return is_store_team(user) or org_role(user, organization) is not None


def can_edit_products(user: Any, organization: Organization) -> bool:
    """Edit the publisher profile, products, tiers; submit, resubmit, publish, unpublish."""
    return can_edit_organization_content(user, organization)


def can_moderate(user: Any) -> bool:
    """Work the review queue: take, comment on, approve, reject, take listings down."""
    return _authenticated(user) and user.store_role in (StoreRole.MODERATOR, StoreRole.ADMIN)


def can_manage_categories(user: Any) -> bool:
    return can_moderate(user)


# --- commerce ---------------------------------------------------------------------------------


def can_buy_for(user: Any, organization: Organization | None) -> bool:
    """Take a tier for oneself (any signed-in user) or for an organisation (its owners)."""
    if not _authenticated(user):
        return False
    return organization is None or org_role(user, organization) == OrgRole.OWNER


def can_view_subscription(user: Any, subscription: Any) -> bool:
    """A subscription and its orders: who took it, the members of the customer
    organisation, and the store's admins; not the publisher (they see sales)."""
    if not _authenticated(user):
        return False
    if is_store_admin(user):
        return True
    if subscription.organization_id is not None:
        return org_role(user, subscription.organization) is not None
    return bool(subscription.user_id == user.pk)


def can_manage_subscription(user: Any, subscription: Any) -> bool:
    """Cancel, change notifications: who took it, or the customer organisation's owners."""
    if not _authenticated(user):
        return False
    if subscription.organization_id is not None:
        return org_role(user, subscription.organization) == OrgRole.OWNER
    return bool(subscription.user_id == user.pk)


def can_view_sales(user: Any, organization: Organization) -> bool:
    """A publisher's sales, subscriptions and what it is owed: its owners and editors and
    the store's admins."""
    return is_store_admin(user) or org_role(user, organization) in (OrgRole.OWNER, OrgRole.EDITOR)


def can_refund(user: Any, publisher: Organization) -> bool:
    """Refunds: the store's admins, and the publisher's owners for their own sales."""
    return is_store_admin(user) or org_role(user, publisher) == OrgRole.OWNER


def can_mark_paid(user: Any, publisher: Organization, *, publishers_may: bool) -> bool:
    """Confirming a manual payment: the store's admins, and the publisher's owners when
    the store allows it."""
    return is_store_admin(user) or (publishers_may and org_role(user, publisher) == OrgRole.OWNER)


def can_manage_commerce(user: Any) -> bool:
    """Every order, tax rates, revenue shares, payouts: the store's admins."""
    return is_store_admin(user)


def can_enforce_sla(user: Any) -> bool:
    """Revoke a listing for overdue security fixes, reinstate it, lift or extend a hold:
    the security team and admins."""
    return _authenticated(user) and user.store_role in (StoreRole.ADMIN, StoreRole.SECURITY)


# --- VEX statements ---------------------------------------------------------------------------


def can_view_vex(user: Any, organization: Organization) -> bool:
    """An organisation's VEX statements, pending and rejected ones too: its members and
    the store team."""
    return is_store_team(user) or org_role(user, organization) is not None


def can_state_vex(user: Any, organization: Organization) -> bool:
    """State, import and withdraw VEX statements about the organisation's products: its
    owners and editors (a statement speaks for the publisher)."""
    return can_edit_organization_content(user, organization)


def can_review_vex(user: Any) -> bool:
    """Approve or reject VEX statements: the store's security team and admins."""
    return _authenticated(user) and user.store_role in (StoreRole.ADMIN, StoreRole.SECURITY)


def can_read_product_vex(user: Any, organization: Organization, *, entitled: bool) -> bool:
    """A product's approved VEX statements: customers entitled to it (``entitled``, as
    ``commerce.entitlements`` decides), the publisher's members and the store team; never
    the public."""
    return _authenticated(user) and (entitled or can_view_vex(user, organization))


def can_manage_webhooks(user: Any, organization: Organization) -> bool:
    """Add, change and remove an organisation's webhooks: owners only, since a webhook
    sends the organisation's security news elsewhere."""
    return org_role(user, organization) == OrgRole.OWNER
