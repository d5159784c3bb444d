"""The publishers part of the JSON API under /api/v1/: the publisher profile.

The same rules as the pages: members and the store team read it, owners and editors
change it, anyone else gets 404 (the organisation's existence stays private). Errors are
``application/problem+json``; a refused value names its field in ``field``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status
from ninja.security import SessionAuth
from pydantic import ConfigDict

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.api.auth import TokenAuth, read_auth
from portside.api.problems import READ_ERRORS, WRITE_ERRORS, input_problems, problem
from portside.core import markdown
from portside.core.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from portside.core.images import MAX_BYTES
from portside.core.origin import from_request
from portside.publishers import services
from portside.publishers.models import PublisherProfile

router = Router(tags=["publishers"])
_WRITE = [TokenAuth("write"), SessionAuth()]
router.add_decorator(input_problems, mode="view")


class ProfileOut(Schema):
    organization: str
    legal_name: str
    website: str
    phone: str
    email: str
    email_verified: bool
    email_verified_at: dt.datetime | None
    email_link_expires_at: dt.datetime | None
    story: str
    story_html: str
    logo_url: str
    complete: bool
    missing: list[str]
    updated_at: dt.datetime | None


class ProfileIn(Schema):
    """The fields to change; those left out keep their value, an empty string clears one."""

    model_config = ConfigDict(extra="forbid")

    # The services check each value, with their own message; described here.
    legal_name: str | None = Field(None, json_schema_extra={"maxLength": 200})
    website: str | None = Field(None, json_schema_extra={"maxLength": 500})
    phone: str | None = Field(None, json_schema_extra={"maxLength": 40})
    email: str | None = Field(None, json_schema_extra={"maxLength": 254})
    story: str | None = Field(None, json_schema_extra={"maxLength": markdown.MAX_SOURCE})


class VerificationOut(Schema):
    email: str
    expires_at: dt.datetime


def _organization(request: HttpRequest, org: str) -> Organization | None:
    found = Organization.objects.filter(name=org).first()
    if found is None or not permissions.can_view_products(request.user, found):
        return None
    return found


def _acting(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # every operation here requires authentication
    return user


def _out(profile: PublisherProfile) -> ProfileOut:
    return ProfileOut(
        organization=profile.organization.name,
        legal_name=profile.legal_name,
        website=profile.website,
        phone=profile.phone,
        email=profile.email,
        email_verified=profile.email_verified,
        email_verified_at=profile.email_verified_at,
        email_link_expires_at=(
            None if profile.email_verified_at else profile.email_secret_expires_at
        ),
        story=profile.story,
        story_html=services.story_html(profile),
        logo_url=services.logo_url(profile),
        complete=profile.is_complete,
        missing=profile.missing(),
        updated_at=profile.updated_at,
    )


_NO_ORG = "No such organisation."


@router.get(
    "/orgs/{org}/publisher-profile",
    response={200: ProfileOut, **READ_ERRORS},
    auth=read_auth(),
    summary="An organisation's publisher profile",
)
def profile_detail(request: HttpRequest, org: str) -> Any:
    organization = _organization(request, org)
    if organization is None:
        return problem(404, _NO_ORG, code=NotFound.code)
    return _out(services.find_profile(organization))


@router.patch(
    "/orgs/{org}/publisher-profile",
    response={200: ProfileOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Change fields of the publisher profile",
)
def profile_update(request: HttpRequest, org: str, body: ProfileIn) -> Any:
    organization = _organization(request, org)
    if organization is None:
        return problem(404, _NO_ORG, code=NotFound.code)
    profile = services.update_profile(
        organization=organization,
        acting=_acting(request),
        origin=from_request(request),
        **body.model_dump(exclude_unset=True),
    )
    return _out(profile)


@router.put(
    "/orgs/{org}/publisher-profile/logo",
    response={200: ProfileOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Upload the logo: the image itself as the body (PNG, JPEG or WebP, square, "
    "at least 512x512 px)",
)
def profile_logo(request: HttpRequest, org: str) -> Any:
    organization = _organization(request, org)
    if organization is None:
        return problem(404, _NO_ORG, code=NotFound.code)
    if not permissions.can_edit_products(request.user, organization):
        return problem(403, "Only owners and editors change the logo.", code=PermissionDenied.code)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BYTES:
        return problem(
            413,
            f"The file is {declared:,} bytes; at most {MAX_BYTES:,} are accepted.",
            code=ValidationFailed.code,
            field="logo",
        )
    # Read the body as a stream, at most one byte past the limit (request.body would
    # stop at Django's smaller limit for form data).
    data = request.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return problem(
            413,
            f"The file is larger than {MAX_BYTES:,} bytes.",
            code=ValidationFailed.code,
            field="logo",
        )
    profile = services.set_logo(
        organization=organization,
        data=data,
        acting=_acting(request),
        origin=from_request(request),
    )
    return _out(profile)


@router.post(
    "/orgs/{org}/publisher-profile/verify-email",
    response={202: VerificationOut, **WRITE_ERRORS},
    auth=_WRITE,
    summary="Mail a link that verifies the company email (valid for 48 hours)",
)
def profile_verify_email(request: HttpRequest, org: str) -> Any:
    organization = _organization(request, org)
    if organization is None:
        return problem(404, _NO_ORG, code=NotFound.code)
    profile, _ = services.send_email_verification(
        organization=organization,
        acting=_acting(request),
        origin=from_request(request),
        base_url=request.build_absolute_uri("/").rstrip("/"),
    )
    assert profile.email_secret_expires_at is not None
    return Status(
        202, VerificationOut(email=profile.email, expires_at=profile.email_secret_expires_at)
    )
