"""Values at and past the limits of every operation of the API: page numbers past any end,
ids out of range, NUL characters and lone surrogates, very long strings. Each is refused
with a problem document (or not found), never a server error, and nothing is saved."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from portside.catalog.models import Product
from tests.api_publishing.helpers import Api, ok, problem
from tests.moderation.world import PublishingWorld

pytestmark = pytest.mark.django_db

P = "/orgs/acme/products/acme-database"
HUGE = "200000000000000000"
# Every list that pages, with the caller who may read it.
PAGED = [
    ("owner", "/orgs/acme/products"),
    ("moderator", "/review-queue"),
    ("customer", "/commerce/subscriptions"),
    ("customer", "/commerce/orders"),
    ("owner", "/orgs/acme/sales"),
    ("admin", "/commerce/staff/orders"),
    (None, "/catalog/search"),
]


def _as(client: Client, world: PublishingWorld, who: str | None) -> Api:
    return Api(client, None if who is None else getattr(world, who))


@pytest.mark.parametrize(("who", "path"), PAGED)
@pytest.mark.parametrize("page", [HUGE, "9" * 30, "-1", "0", "1.5", "one", ""])
def test_a_page_out_of_range_is_refused(
    client: Client, world: PublishingWorld, who: str | None, path: str, page: str
) -> None:
    world.ready_product()
    refused = problem(_as(client, world, who).get(path, page=page), 422)
    assert refused["field"] == "page", refused


@pytest.mark.parametrize(("who", "path"), PAGED)
def test_the_last_page_allowed_answers_empty(
    client: Client, world: PublishingWorld, who: str | None, path: str
) -> None:
    world.ready_product()
    document = client.get("/api/openapi.json").json()
    template = path.replace("/acme/", "/{org}/")
    parameters = document["paths"]["/api/v1" + template]["get"]["parameters"]
    page = next(p for p in parameters if p["name"] == "page")["schema"]
    assert page["minimum"] == 1 and page["maximum"] >= 1000
    listed = ok(_as(client, world, who).get(path, page=page["maximum"]))
    items = listed.get("items", listed.get("results", listed.get("orders", {}).get("items")))
    assert items == []
    problem(_as(client, world, who).get(path, page=page["maximum"] + 1), 422)


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("owner", P + "/revisions/{}"),
        ("owner", "/submissions/{}"),
        ("owner", "/scans/{}"),
        ("customer", "/commerce/orders/{}"),
        ("customer", "/commerce/subscriptions/{}"),
    ],
)
@pytest.mark.parametrize("number", [HUGE * 3, "-5", str(2**63), str(-(2**63) - 1)])
def test_ids_out_of_range_are_not_found(
    client: Client, world: PublishingWorld, who: str, path: str, number: str
) -> None:
    world.ready_product()
    problem(_as(client, world, who).get(path.format(number)), 404)


def test_nul_characters_are_refused_wherever_they_are(
    client: Client, world: PublishingWorld
) -> None:
    world.ready_product()
    owner, admin, anyone = Api(client, world.owner), Api(client, world.admin), Api(client, None)
    assert problem(owner.get("/orgs/ac%00me/products"), 422)["field"] == "org"
    assert problem(anyone.get("/catalog/products/acme/acme%00database"), 422)["field"] == "slug"
    assert problem(admin.get("/review-queue", publisher="a\x00b"), 422)["field"] == "publisher"
    assert problem(admin.get("/review-queue", category="\x00"), 422)["field"] == "category"
    assert problem(admin.get("/commerce/staff/orders", customer="x\x00"), 422)["field"] == (
        "customer"
    )
    assert problem(admin.get("/commerce/staff/tax-rates", country="d\x00"), 422)["field"] == (
        "country"
    )
    assert problem(anyone.get("/catalog/search", q="a\x00b"), 422)["field"] == "q"
    assert problem(owner.get("/commerce/billing-profile", organization="\x00"), 422)["field"] == (
        "organization"
    )
    # In a JSON body, at any depth; nothing is saved.
    assert problem(owner.post("/orgs/acme/products", {"name": "Nul\x00Db"}), 422)["field"] == (
        "name"
    )
    tier = {
        "name": "Free",
        "price": "0",
        "billing_period": "free",
        "access": [{"repository": "acme/db", "tags": ["1.0", "x\x00"]}],
    }
    assert problem(owner.post(P + "/tiers", tier), 422)["field"] == "access.0.tags.1"
    assert problem(owner.patch(P, {"search_tags\x00": ["sql"]}), 422)["field"].startswith(
        "search_tags"
    )
    assert not Product.objects.filter(name__startswith="Nul").exists()


def test_lone_surrogates_are_refused(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    owner = Api(client, world.owner)
    raw = json.dumps({"short_description": "\ud800 broken"})  # an escape JSON allows
    assert "\\ud800" in raw
    assert problem(owner.patch(P, raw=raw), 422)["field"] == "short_description"
    assert Product.objects.get(slug="acme-database").short_description.startswith("A fast")


def test_very_long_strings_are_refused_or_not_found(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    owner, admin, anyone = Api(client, world.owner), Api(client, world.admin), Api(client, None)
    long = "a" * 100_000
    problem(owner.get(f"/orgs/{long}/products"), 404)
    problem(anyone.get(f"/catalog/products/{long}/{long}"), 404)
    assert problem(admin.get("/review-queue", publisher=long), 422)["field"] == "publisher"
    assert problem(anyone.get("/catalog/search", q=long), 422)["field"] == "q"
    assert problem(owner.post("/orgs/acme/products", {"name": long}), 422)["field"] == "name"
    shot = owner.post(P + "/screenshots?caption=" + "c" * 201, raw=b"", content_type="image/png")
    assert problem(shot, 422)["field"] == "caption"


def test_values_longer_than_kept_are_refused_not_cut(
    client: Client, world: PublishingWorld
) -> None:
    """What the store would have to cut (or the database refuse) is refused whole."""
    product = world.ready_product()
    owner = Api(client, world.owner)
    hours = problem(owner.patch(P, {"support_hours": "h" * 201}), 422)
    assert hours["field"] == "support_hours"
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".example.com"
    assert problem(owner.patch(P, {"support_email": email}), 422)["field"] == "support_email"
    assert ok(owner.patch(P, {"support_hours": "h" * 200}))["support_hours"] == "h" * 200
    product.refresh_from_db()
    assert product.support_email == "support@acme.example.com"

    moderator = Api(client, world.moderator)
    refused = problem(
        moderator.post(f"/listings/acme/{product.slug}/take-down", {"reason": "r" * 2001}), 422
    )
    assert refused["field"] == "reason"
    assert (
        problem(moderator.post("/submissions/1/assign", {"reviewer": "m" * 151}), 422)["field"]
        == "reviewer"
    )
