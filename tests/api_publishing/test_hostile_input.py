"""Input the API refuses: every refusal is a problem document naming the field, and
nothing is saved."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from portside.catalog.models import Product, ProductSource, Tier
from portside.core.images import MAX_BYTES
from tests.api_publishing.helpers import TIER_FREE, Api, ok, problem
from tests.moderation.world import PublishingWorld, png

pytestmark = pytest.mark.django_db

P = "/orgs/acme/products/acme-database"


@pytest.fixture
def api(client: Client, world: PublishingWorld) -> Api:
    world.ready_product()
    return Api(client, world.editor)


def _product() -> Product:
    return Product.objects.get(slug="acme-database")


def test_a_short_description_of_141_characters(api: Api) -> None:
    body = problem(api.patch(P, {"short_description": "x" * 141}), 422)
    assert body["field"] == "short_description" and body["code"] == "invalid"
    assert "141" in body["detail"]
    assert _product().short_description == "A fast database for containers."
    assert ok(api.patch(P, {"short_description": "y" * 140}))["short_description"] == "y" * 140


def test_nothing_is_saved_unless_every_item_is_valid(api: Api) -> None:
    body = problem(api.patch(P, {"name": "Renamed", "support_url": "javascript:alert(1)"}), 422)
    assert body["field"] == "support_url"
    assert _product().name == "Acme Database"


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("category", "no-such-category"),
        ("search_tags", ["Not A Tag!"]),
        ("support_email", "not an address"),
        ("response_critical_hours", 0),
        ("platforms", ["windows"]),
        ("long_description", "x" * 50_001),
    ],
)
def test_values_the_services_refuse(api: Api, item: str, value: object) -> None:
    assert problem(api.patch(P, {item: value}), 422)["field"] == item


def test_a_tier_that_grants_another_organisations_repository(
    api: Api, world: PublishingWorld
) -> None:
    before = list(Tier.objects.values_list("pk", "name"))
    body = problem(
        api.post(
            P + "/tiers",
            {
                **TIER_FREE,
                "name": "Stolen",
                "access": [{"repository": "globex/secret", "tags": ["1.0"]}],
            },
        ),
        422,
    )
    assert body["field"] == "access"
    assert list(Tier.objects.values_list("pk", "name")) == before
    # Nor can the other organisation's repository become a source (nor is its existence
    # confirmed: it reads as any unknown repository).
    sources = list(ProductSource.objects.values_list("pk", flat=True))
    secret = problem(
        api.put(P + "/sources", {"repository": world.other_repository.name, "tags": ["1.0"]}), 422
    )
    unknown = problem(api.put(P + "/sources", {"repository": "acme/nope", "tags": ["1.0"]}), 422)
    assert secret["field"] == unknown["field"] == "sources"
    assert list(ProductSource.objects.values_list("pk", flat=True)) == sources
    # A tag outside the product's sources is refused too, and changes nothing.
    tier = Tier.objects.get(name="Community")
    changed = problem(
        api.put(
            P + f"/tiers/{tier.pk}",
            {**TIER_FREE, "access": [{"repository": "acme/db", "tags": ["latest"]}]},
        ),
        422,
    )
    assert changed["field"] == "access"
    assert [a.tags for a in tier.access.all()] == [["1.0"]]


def test_a_pdf_as_the_icon(api: Api) -> None:
    icon = _product().icon
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    body = problem(api.put(P + "/icon", raw=pdf, content_type="image/png"), 422)
    assert body["field"] == "icon"
    assert _product().icon == icon
    small = problem(api.put(P + "/icon", raw=png(64, 64), content_type="image/png"), 422)
    assert small["field"] == "icon"
    assert problem(api.put(P + "/icon", raw=b"", content_type="image/png"), 422)["field"] == "icon"
    shot = problem(api.post(P + "/screenshots", raw=pdf, content_type="image/png"), 422)
    assert shot["field"] == "screenshots"


def test_malformed_json(api: Api) -> None:
    problem(api.patch(P, raw=b'{"name": "Acme', content_type="application/json"), 400)
    problem(api.post(P + "/tiers", raw=b"\xff\xfe", content_type="application/json"), 400)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (P, {"response_critical_hours": "soon"}, "response_critical_hours"),
        (P, {"response_critical_hours": True}, "response_critical_hours"),
        (P, {"publisher_support": "yes"}, "publisher_support"),
        (P, {"short_description": 42}, "short_description"),
        (P, {"search_tags": "sql"}, "search_tags"),
        (P + "/tiers", {**TIER_FREE, "price": 0}, "price"),
        (
            P + "/tiers",
            {**TIER_FREE, "access": [{"repository": "acme/db", "tags": "1.0"}]},
            "access.0.tags",
        ),
        (P + "/sources", {"repository": "acme/db"}, "tags"),
        ("/orgs/acme/products", {}, "name"),
    ],
)
def test_wrong_types_and_missing_values(api: Api, path: str, body: object, field: str) -> None:
    method = {P: api.patch, P + "/sources": api.put}.get(path, api.post)
    refused = problem(method(path, body), 422)
    assert refused["field"] == field and refused["code"] == "invalid"
    assert refused["details"]["errors"][0]["field"] == field


def test_not_an_object(api: Api) -> None:
    refused = problem(api.patch(P, ["name", "Acme"]), 422)
    assert "field" not in refused
    assert refused["details"]["errors"]


def test_unknown_fields(api: Api) -> None:
    refused = problem(api.patch(P, {"name": "Acme Database 2", "colour": "red"}), 422)
    assert refused["field"] == "colour"
    assert _product().name == "Acme Database"
    tier = problem(api.post(P + "/tiers", {**TIER_FREE, "name": "Other", "discount": "10%"}), 422)
    assert tier["field"] == "discount"


def test_null_clears_an_item_but_a_name_is_required(api: Api) -> None:
    cleared = ok(api.patch(P, {"support_email": None, "category": None, "search_tags": None}))
    assert cleared["support_email"] == "" and cleared["category"] is None
    assert cleared["search_tags"] == []
    assert "category" in {p["field"] for p in cleared["problems"]}
    assert problem(api.patch(P, {"name": None}), 422)["field"] == "name"


def test_oversized_bodies(api: Api) -> None:
    too_big = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    body = problem(api.patch(P, raw=b'{"long_description": "' + b"x" * too_big + b'"}'), 413)
    assert body["code"] == "invalid"
    assert _product().long_description.startswith("# Acme Database")
    icon = problem(
        api.put(P + "/icon", raw=b"\x89PNG" + b"\0" * MAX_BYTES, content_type="image/png"), 413
    )
    assert icon["field"] == "icon"


def test_unknown_ids_and_names(api: Api, world: PublishingWorld) -> None:
    problem(api.get("/orgs/acme/products/nope"), 404)
    problem(api.get("/orgs/nope/products"), 404)
    problem(api.delete(P + "/tiers/999999"), 404)
    problem(api.put(P + "/tiers/999999", TIER_FREE), 404)
    problem(api.delete(P + "/sources/999999"), 404)
    problem(api.delete(P + "/screenshots/999999"), 404)
    problem(api.get(P + "/revisions/7"), 404)
    problem(api.get("/submissions/999999"), 404)
    # A tier of another product of the same organisation is not this product's.
    other = world.ready_product("Acme Queue")
    tier = other.tiers.first()
    assert tier is not None
    problem(api.delete(P + f"/tiers/{tier.pk}"), 404)
    assert Tier.objects.filter(pk=tier.pk).exists()
    refused = problem(api.delete(P + "/tiers/abc"), 422)
    assert refused["field"] == "tier_id"


def test_duplicates_are_conflicts(api: Api) -> None:
    refused = problem(api.post("/orgs/acme/products", {"name": "ACME database"}), 409)
    assert refused["field"] == "name"
    again = problem(api.post(P + "/tiers", {**TIER_FREE, "name": "community"}), 409)
    assert again["field"] == "name"


def test_the_queue_refuses_unknown_filters(client: Client, world: PublishingWorld) -> None:
    moderator = Api(client, world.moderator)
    assert problem(moderator.get("/review-queue", state="lost"), 422)["field"] == "state"
    assert problem(moderator.get("/review-queue", assigned="you"), 422)["field"] == "assigned"
    assert problem(moderator.get("/review-queue", page=0), 422)["field"] == "page"
    assert problem(moderator.get("/review-queue", per_page=1000), 422)["field"] == "per_page"


def test_comments_and_reasons_are_required(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    publisher, moderator = Api(client, world.owner), Api(client, world.moderator)
    submission = ok(publisher.post(P + "/submit"))["id"]
    path = f"/submissions/{submission}"
    assert problem(publisher.post(path + "/comments", {"body": "  "}), 422)["field"] == "body"
    wrong = problem(publisher.post(path + "/comments", {"body": "Hi", "field": "colour"}), 422)
    assert wrong["field"] == "field"
    ok(moderator.post(path + "/take"))
    assert problem(moderator.post(path + "/reject", {"reason": ""}), 422)["field"] == "body"
    assert problem(moderator.post(path + "/request-changes", {}), 422)["field"] == "comment"
    assert (
        problem(moderator.post(path + "/assign", {"reviewer": "nobody-here"}), 422)["field"]
        == "reviewer"
    )
    assert (
        problem(moderator.post(path + "/assign", {"reviewer": "pub-owner"}), 422)["field"]
        == "reviewer"
    )
    assert ok(moderator.get(path))["state"] == "in_review"


def test_an_incomplete_product_lists_every_problem(client: Client, world: PublishingWorld) -> None:
    publisher = Api(client, world.owner)
    ok(publisher.post("/orgs/acme/products", {"name": "Half Done"}), 201)
    refused = problem(publisher.post("/orgs/acme/products/half-done/submit"), 422)
    fields = [p["field"] for p in refused["details"]["problems"]]
    assert refused["field"] == fields[0] == "platforms"
    assert {"short_description", "icon", "sources", "tiers"} <= set(fields)
    assert all(p["reason"] for p in refused["details"]["problems"])
