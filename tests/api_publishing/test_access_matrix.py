"""Every endpoint of the publishing API against every role of tests/access.py.

Each row builds the state its endpoint needs (a draft, a submission in some state, a
live listing), then sends the same request as each role, undoing the request's effects
before the next role asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from portside.accounts.models import StoreRole, User
from portside.catalog import services as catalog
from portside.moderation import services as moderation
from portside.moderation.models import Submission
from tests.access import ROLES
from tests.api_publishing.helpers import TIER_FREE, Api
from tests.factories import TEST_ORIGIN, make_user
from tests.moderation.world import PublishingWorld, build_publishing_world, png

pytestmark = pytest.mark.django_db

P = "/orgs/acme/products/acme-database"
SETUPS = ("draft", "submitted", "in_review", "approved", "live")


def expect(
    *,
    customer: int = 404,
    other_member: int = 404,
    viewer: int,
    editor: int,
    owner: int | None = None,
    moderator: int,
    security: int,
    admin: int | None = None,
) -> dict[str, int]:
    return {
        "anonymous": 401,
        "customer": customer,
        "other_member": other_member,
        "viewer": viewer,
        "editor": editor,
        "owner": editor if owner is None else owner,
        "moderator": moderator,
        "security": security,
        "admin": moderator if admin is None else admin,
    }


READ = expect(viewer=200, editor=200, moderator=200, security=200)


def publisher_change(ok: int) -> dict[str, int]:
    """Owners and editors change; the store team may look but not change."""
    return expect(viewer=403, editor=ok, moderator=403, security=403)


def moderator_move(ok: int = 200) -> dict[str, int]:
    return expect(viewer=403, editor=403, moderator=ok, security=403)


STAFF = expect(customer=403, other_member=403, viewer=403, editor=403, moderator=200, security=403)


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: dict[str, int]
    setup: str = "draft"
    body: Any = None
    image: tuple[int, int] | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert set(self.expect) == set(ROLES), self.path
        assert self.setup in SETUPS

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} ({self.setup})"


ROWS = [
    Row("GET", "/orgs/acme/products", READ),
    Row("POST", "/orgs/acme/products", publisher_change(201), body={"name": "Acme Other"}),
    Row("GET", P, READ),
    Row("PATCH", P, publisher_change(200), body={"short_description": "Changed."}),
    Row("DELETE", P, publisher_change(204)),
    Row("PUT", P + "/icon", publisher_change(200), image=(256, 256)),
    Row("POST", P + "/screenshots", publisher_change(201), image=(640, 360)),
    Row("DELETE", P + "/screenshots/{screenshot}", publisher_change(204)),
    Row(
        "PUT",
        P + "/sources",
        publisher_change(200),
        body={"repository": "acme/db", "tags": ["1.0", "2.0", "latest"]},
    ),
    Row("DELETE", P + "/sources/{source}", publisher_change(204)),
    Row("POST", P + "/tiers", publisher_change(201), body={**TIER_FREE, "name": "Trial"}),
    Row("PUT", P + "/tiers/{tier}", publisher_change(200), body={**TIER_FREE, "name": "Free"}),
    Row("DELETE", P + "/tiers/{tier}", publisher_change(204)),
    Row("GET", P + "/revisions", READ, setup="submitted"),
    Row("GET", P + "/revisions/1", READ, setup="submitted"),
    Row("POST", P + "/submit", publisher_change(200)),
    Row("POST", P + "/unpublish", publisher_change(200), setup="live"),
    Row("GET", "/submissions/{submission}", READ, setup="submitted"),
    Row(
        "POST",
        "/submissions/{submission}/comments",
        expect(viewer=403, editor=201, moderator=201, security=403),
        setup="submitted",
        body={"body": "About the icon.", "field": "icon"},
    ),
    Row("POST", "/submissions/{submission}/take", moderator_move(), setup="submitted"),
    Row(
        "POST",
        "/submissions/{submission}/request-changes",
        moderator_move(),
        setup="in_review",
        body={"comment": "Please change the icon.", "field": "icon"},
    ),
    Row("POST", "/submissions/{submission}/approve", moderator_move(), setup="in_review"),
    Row(
        "POST",
        "/submissions/{submission}/reject",
        moderator_move(),
        setup="in_review",
        body={"reason": "Not for this store."},
    ),
    Row(
        "POST",
        "/submissions/{submission}/publish",
        expect(viewer=403, editor=200, moderator=200, security=403),
        setup="approved",
    ),
    Row(
        "POST",
        "/submissions/{submission}/assign",
        moderator_move(),
        setup="submitted",
        body={"reviewer": "mod"},
    ),
    Row("GET", "/review-queue", STAFF, setup="submitted"),
    Row(
        "POST",
        "/listings/acme/acme-database/take-down",
        STAFF,
        setup="live",
        body={"reason": "The licence link is dead."},
    ),
]


def _users(world: PublishingWorld) -> dict[str, User | None]:
    return {
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


def _build(setup: str) -> tuple[PublishingWorld, dict[str, Any]]:
    world = build_publishing_world()
    product = world.ready_product()
    shot = catalog.add_screenshot(
        product=product, data=png(640, 360), acting=world.owner, origin=TEST_ORIGIN
    )
    ids: dict[str, Any] = {
        "screenshot": shot.pk,
        "source": product.sources.get().pk,
        "tier": product.tiers.get(name="Community").pk,
    }
    if setup != "draft":
        submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
        ids["submission"] = submission.pk
        steps = ["take", "approve", "publish"][: SETUPS.index(setup) - 1]
        for step in steps:
            getattr(moderation, step)(
                submission=Submission.objects.get(pk=submission.pk),
                acting=world.moderator,
                origin=TEST_ORIGIN,
            )
    return world, ids


class _Undo(Exception):
    pass


def _send(api: Api, row: Row, ids: dict[str, Any]) -> int:
    path = row.path.format(**ids)
    if row.method == "GET":
        return api.get(path, **row.params).status_code
    if row.image is not None:
        return api.send(row.method, path, raw=png(*row.image), content_type="image/png").status_code
    return api.send(row.method, path, row.body).status_code


def test_every_endpoint_has_a_row() -> None:
    from portside.api.urls import api

    schema = api.get_openapi_schema()
    mine = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if {"catalog", "moderation"} & set(operation.get("tags", []))
    }
    covered = set()
    for row in ROWS:
        template = row.path
        for name in ("screenshot", "source", "tier", "submission"):
            template = template.replace("{" + name + "}", "{" + name + "_id}")
        template = template.replace(P, "/orgs/{org}/products/{slug}")
        template = template.replace("/listings/acme/acme-database", "/listings/{org}/{slug}")
        template = template.replace("/revisions/1", "/revisions/{number}")
        template = template.replace("/orgs/acme/products", "/orgs/{org}/products")
        covered.add((row.method, template))
    assert mine == covered


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_access(client: Client, row: Row) -> None:
    world, ids = _build(row.setup)
    apis = {role: Api(client, user) for role, user in _users(world).items()}
    failures = []
    for role in ROLES:
        status = 0
        try:
            with transaction.atomic():
                status = _send(apis[role], row, ids)
                raise _Undo
        except _Undo:
            pass
        if status != row.expect[role]:
            failures.append(f"{role}: expected {row.expect[role]}, got {status}")
    assert not failures, f"{row.id}: " + "; ".join(failures)
