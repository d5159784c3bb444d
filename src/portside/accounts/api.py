from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Router, Schema

from portside.accounts.models import Membership, User
from portside.api.auth import read_auth

router = Router(tags=["accounts"])


class OrganizationOut(Schema):
    name: str
    display_name: str
    role: str


class MeOut(Schema):
    username: str
    email: str
    store_role: str
    organizations: list[OrganizationOut]
    token_scopes: list[str] | None
    token_expires_at: dt.datetime | None


@router.get("/me", response=MeOut, auth=read_auth(), summary="The caller's account")
def me(request: HttpRequest) -> MeOut:
    user = request.user
    assert isinstance(user, User)
    token = getattr(request, "auth_token", None)
    orgs = [
        OrganizationOut(
            name=m.organization.name, display_name=m.organization.display_name, role=m.role
        )
        for m in Membership.objects.filter(user=user).select_related("organization")
    ]
    return MeOut(
        username=user.get_username(),
        email=user.email,
        store_role=user.store_role,
        organizations=orgs,
        token_scopes=token.scopes if token else None,
        token_expires_at=token.expires_at if token else None,
    )
