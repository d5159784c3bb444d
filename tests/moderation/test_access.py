"""Who may open and change products, revisions and submissions: every page of the
catalogue's publisher side and of the review, for every role, through real URLs."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portside.accounts.models import StoreRole
from portside.moderation import services as moderation
from tests.access import LOGIN, ROLES, outcomes
from tests.factories import TEST_ORIGIN, make_user
from tests.moderation.world import build_publishing_world, png

# Members and the store team look; owners and editors change; nobody else learns it exists.
_LOOK = outcomes(default=200, customer=404, other_member=404)
_CHANGE = outcomes(default=403, customer=404, other_member=404, editor=302, owner=302)
_ASK = outcomes(default=403, customer=404, other_member=404, editor=200, owner=200)
_MODERATE = outcomes(default=403, customer=404, other_member=404, moderator=302, admin=302)
_STAFF = outcomes(default=403, moderator=200, admin=200)
_P = "/orgs/acme/products/acme-database/"

ROWS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("GET", "/orgs/acme/products/", _LOOK, {}),
    ("POST", "/orgs/acme/products/", _CHANGE, {"name": "Another"}),
    ("GET", _P, _LOOK, {}),
    ("GET", "/orgs/acme/products/nothing/", outcomes(default=404), {}),
    (
        "GET",
        "/orgs/globex/products/",
        outcomes(default=404, moderator=200, security=200, admin=200, other_member=200),
        {},
    ),
    ("POST", _P, _CHANGE, {"name": "Acme Database", "short_description": "Renamed."}),
    ("POST", _P + "icon", _CHANGE, {"image": "icon"}),
    ("POST", _P + "screenshots", _CHANGE, {"image": "shot"}),
    ("POST", _P + "screenshots/{screenshot}/remove", _CHANGE, {}),
    ("POST", _P + "sources", _CHANGE, {"repository": "acme/db", "tags": "1.0 2.0"}),
    ("POST", _P + "sources/{source}/remove", _CHANGE, {}),
    (
        "POST",
        _P + "tiers",
        _CHANGE,
        {
            "name": "Gold",
            "price": "5",
            "currency": "USD",
            "billing_period": "yearly",
            "access": ["acme/db:1.0"],
        },
    ),
    (
        "POST",
        _P + "tiers/{tier}",
        _CHANGE,
        {
            "name": "Business",
            "price": "5",
            "currency": "USD",
            "billing_period": "yearly",
            "access": ["acme/db:1.0"],
        },
    ),
    # Destructive actions ask first (200, a confirmation page), then act when confirmed.
    ("POST", _P + "tiers/{tier}/delete", _ASK, {}),
    ("POST", _P + "tiers/{tier}/delete", _CHANGE, {"confirmed": "yes"}),
    ("POST", _P + "unpublish", _ASK, {}),
    ("POST", _P + "unpublish", _CHANGE, {"confirmed": "yes"}),
    ("POST", _P + "delete", _ASK, {}),
    ("POST", _P + "delete", _CHANGE, {"confirmed": "yes"}),
    ("GET", _P + "revisions/1/", _LOOK, {}),
    ("GET", _P + "revisions/99/", outcomes(default=404), {}),
    ("POST", _P + "submit", _CHANGE, {}),
    ("GET", "/reviews/{submission}/", _LOOK, {}),
    ("GET", "/reviews/999999/", outcomes(default=404), {}),
    ("POST", "/reviews/{submission}/take", _MODERATE, {}),
    ("POST", "/reviews/{submission}/assign", _MODERATE, {"reviewer": "mod"}),
    ("POST", "/reviews/{submission}/request-changes", _MODERATE, {"body": "Fix it."}),
    ("POST", "/reviews/{submission}/approve", _MODERATE, {}),
    ("POST", "/reviews/{submission}/reject", _MODERATE, {"body": "No."}),
    ("POST", "/reviews/{submission}/publish", _MODERATE | {"editor": 302, "owner": 302}, {}),
    (
        "POST",
        "/reviews/{submission}/comment",
        outcomes(
            default=403,
            customer=404,
            other_member=404,
            editor=302,
            owner=302,
            moderator=302,
            admin=302,
        ),
        {"body": "Hello."},
    ),
    ("GET", "/staff/reviews/", _STAFF, {}),
    ("GET", "/staff/reviews/?state=open&assigned=me&category=databases&publisher=acme", _STAFF, {}),
    ("GET", "/staff/listings/", _STAFF, {}),
    (
        "POST",
        "/staff/listings/acme/acme-database/take-down",
        _MODERATE
        | {"viewer": 403, "editor": 403, "owner": 403, "customer": 403, "other_member": 403},
        {"reason": "Malware."},
    ),
    ("GET", "/media/images/{image}", outcomes(anonymous=200, default=200), {}),
    ("GET", "/media/images/../secret_key", outcomes(anonymous=404, default=404), {}),
    ("GET", "/media/images/" + "0" * 64 + ".png", outcomes(anonymous=404, default=404), {}),
]


def _world() -> tuple[dict[str, Any], dict[str, Any]]:
    world = build_publishing_world()
    product = world.ready_product()
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    from portside.catalog import services as catalog

    shot = catalog.add_screenshot(
        product=product, data=png(800, 450), acting=world.owner, origin=TEST_ORIGIN
    )
    users = {
        "anonymous": None,
        "customer": world.customer,
        "other_member": world.other,
        "viewer": world.viewer,
        "editor": world.editor,
        "owner": world.owner,
        "moderator": world.moderator,
        "security": make_user("sec", store_role=StoreRole.SECURITY),
        "admin": world.admin,
    }
    ids = {
        "submission": submission.pk,
        "screenshot": shot.pk,
        "source": product.sources.get().pk,
        "tier": product.tiers.get(name="Business").pk,
        "image": product.icon.removeprefix("images/"),
    }
    return users, ids


CASES = [
    pytest.param(row, role, id=f"{row[0]} {row[1]} [{role}]") for row in ROWS for role in ROLES
]


@pytest.mark.django_db
@pytest.mark.parametrize("row, role", CASES)
def test_access(client: Client, row: tuple, role: str) -> None:
    method, path, expect, data = row
    users, ids = _world()
    if users[role] is not None:
        client.force_login(users[role], backend="django.contrib.auth.backends.ModelBackend")
    data = dict(data)
    if data.get("image") in ("icon", "shot"):
        from django.core.files.uploadedfile import SimpleUploadedFile

        size = (256, 256) if data["image"] == "icon" else (800, 450)
        data["image"] = SimpleUploadedFile("x.png", png(*size), content_type="image/png")
    response = getattr(client, method.lower())(path.format(**ids), data=data)
    response.close()  # a streamed image holds its file open until closed
    expected = expect[role]
    if expected == LOGIN:
        assert response.status_code == 302, f"{method} {path} as {role}: {response.status_code}"
        assert "/accounts/login/" in response["Location"]
    else:
        assert response.status_code == expected, (
            f"{method} {path} as {role}: expected {expected}, got {response.status_code}"
        )
