"""The one door for "may this user do that": every view, the API and later the registry
and entitlements ask here, and the access-matrix tests drive it through real URLs."""

from __future__ import annotations

from typing import Any

from portside.accounts.models import AccessToken, Membership, Organization, OrgRole, StoreRole


def _authenticated(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def is_store_admin(user: Any) -> bool:
    return _authenticated(user) and user.store_role == StoreRole.ADMIN


def is_store_team(user: Any) -> bool:
    return _authenticated(user) and user.store_role != StoreRole.NONE


def org_role(user: Any, organization: Organization) -> str | None:
    if not _authenticated(user):
        return None
    return (
        Membership.objects.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )


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
    the user's rights to its scopes. Entitlements of customers join here later.
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
