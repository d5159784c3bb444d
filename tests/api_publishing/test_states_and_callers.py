"""Moves the state machine does not allow, and callers who may not make them."""

from __future__ import annotations

import pytest
from django.test import Client

from portside.catalog.models import Listing, Product
from tests.api_publishing.helpers import TIER_FREE, V1, Api, ok, problem
from tests.moderation.world import PublishingWorld, png

pytestmark = pytest.mark.django_db

P = "/orgs/acme/products/acme-database"


@pytest.fixture
def submitted(client: Client, world: PublishingWorld) -> str:
    world.ready_product()
    return f"/submissions/{ok(Api(client, world.owner).post(P + '/submit'))['id']}"


def test_skipping_states_is_a_conflict(
    client: Client, world: PublishingWorld, submitted: str
) -> None:
    moderator, publisher = Api(client, world.moderator), Api(client, world.owner)
    assert (
        "cannot become approved" in problem(moderator.post(submitted + "/approve"), 409)["detail"]
    )
    problem(publisher.post(submitted + "/publish"), 409)
    problem(moderator.post(submitted + "/publish"), 409)
    problem(moderator.post(submitted + "/request-changes", {"comment": "Hm."}), 409)
    problem(moderator.post(submitted + "/reject", {"reason": "No."}), 409)
    # Submitting again while the first is waiting.
    problem(publisher.post(P + "/submit"), 409)
    ok(moderator.post(submitted + "/take"))
    problem(moderator.post(submitted + "/take"), 409)
    problem(publisher.post(submitted + "/publish"), 409)
    problem(publisher.post(P + "/submit"), 409)
    assert not Listing.objects.exists()
    # Nothing was live, so there is nothing to withdraw.
    problem(publisher.post(P + "/unpublish"), 409)
    problem(moderator.post("/listings/acme/acme-database/take-down", {"reason": "Bad."}), 409)
    assert ok(moderator.get(submitted))["state"] == "in_review"


def test_a_published_product_is_unpublished_not_deleted(
    client: Client, world: PublishingWorld, submitted: str
) -> None:
    moderator, publisher = Api(client, world.moderator), Api(client, world.owner)
    for move in ("take", "approve", "publish"):
        ok(moderator.post(f"{submitted}/{move}"))
    problem(publisher.delete(P), 409)
    assert Product.objects.filter(slug="acme-database").exists()
    problem(moderator.post(submitted + "/assign", {"reviewer": "mod"}), 409)


@pytest.mark.parametrize("who", ["customer", "other"])
def test_outsiders_learn_nothing(
    client: Client, world: PublishingWorld, submitted: str, who: str
) -> None:
    outsider = Api(client, getattr(world, who))
    tier = world.org.products.get().tiers.first()
    assert tier is not None
    for response in (
        outsider.get("/orgs/acme/products"),
        outsider.post("/orgs/acme/products", {"name": "Mine"}),
        outsider.get(P),
        outsider.patch(P, {"name": "Mine"}),
        outsider.delete(P),
        outsider.put(P + "/icon", raw=png(256, 256), content_type="image/png"),
        outsider.put(P + "/sources", {"repository": "acme/db", "tags": ["1.0"]}),
        outsider.post(P + "/tiers", {**TIER_FREE, "name": "Mine"}),
        outsider.put(P + f"/tiers/{tier.pk}", TIER_FREE),
        outsider.delete(P + f"/tiers/{tier.pk}"),
        outsider.get(P + "/revisions"),
        outsider.get(P + "/revisions/1"),
        outsider.post(P + "/submit"),
        outsider.post(P + "/unpublish"),
        outsider.get(submitted),
        outsider.post(submitted + "/comments", {"body": "Hello"}),
        outsider.post(submitted + "/take"),
        outsider.post(submitted + "/assign", {"reviewer": None}),
    ):
        problem(response, 404)
    # The same answer as for an organisation or product that does not exist.
    assert (
        outsider.get(P).json()["detail"]
        == outsider.get("/orgs/acme/products/nope").json()["detail"]
    )
    assert outsider.get("/orgs/acme/products").json() == outsider.get("/orgs/nope/products").json()


def test_a_viewer_reads_but_does_not_change(
    client: Client, world: PublishingWorld, submitted: str
) -> None:
    viewer = Api(client, world.viewer)
    assert ok(viewer.get(P))["name"] == "Acme Database"
    assert ok(viewer.get(submitted))["allowed_moves"] == []
    for response in (
        viewer.post("/orgs/acme/products", {"name": "Viewer's"}),
        viewer.patch(P, {"name": "Viewer's"}),
        viewer.delete(P),
        viewer.put(P + "/icon", raw=png(256, 256), content_type="image/png"),
        viewer.post(P + "/tiers", {**TIER_FREE, "name": "Viewer's"}),
        viewer.post(submitted + "/comments", {"body": "Hello"}),
    ):
        assert problem(response, 403)["code"] == "denied"
    assert ok(viewer.get(P))["name"] == "Acme Database"


def test_a_read_only_token_does_not_write(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    reader = Api(client, world.owner, scopes=("read",))
    assert ok(reader.get(P))["slug"] == "acme-database"
    for response in (
        reader.patch(P, {"name": "Renamed"}),
        reader.post(P + "/submit"),
        reader.put(P + "/icon", raw=png(256, 256), content_type="image/png"),
        reader.delete(P),
    ):
        assert "write" in problem(response, 403)["detail"]
    assert Product.objects.get().name == "Acme Database"


def test_no_token_is_401(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    anonymous = Api(client, None)
    for response in (
        anonymous.get(P),
        anonymous.patch(P, {"name": "Renamed"}),
        anonymous.get("/review-queue"),
        client.get(V1 + P, HTTP_AUTHORIZATION="Bearer not-a-token"),
    ):
        problem(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_queue_is_for_moderators(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    ok(Api(client, world.owner).post(P + "/submit"))
    queue = ok(Api(client, world.moderator).get("/review-queue"))
    assert queue["count"] == 1 and queue["items"][0]["product"] == "acme-database"
    assert queue["items"][0]["category"] == "databases"
    assert "moderators" in problem(Api(client, world.owner).get("/review-queue"), 403)["detail"]
    problem(Api(client, world.customer).get("/review-queue"), 403)


def test_the_queue_filters_and_pages(client: Client, world: PublishingWorld) -> None:
    owner, moderator = Api(client, world.owner), Api(client, world.moderator)
    ids = []
    for name in ("Acme One", "Acme Two", "Acme Three"):
        world.ready_product(name)
        ids.append(
            ok(owner.post(f"/orgs/acme/products/{name.lower().replace(' ', '-')}/submit"))["id"]
        )
    ok(moderator.post(f"/submissions/{ids[1]}/take"))
    assert [i["id"] for i in ok(moderator.get("/review-queue"))["items"]] == [ids[0], ids[2]]
    assert [i["id"] for i in ok(moderator.get("/review-queue", state="open"))["items"]] == ids
    mine = ok(moderator.get("/review-queue", state="open", assigned="me"))
    assert [i["id"] for i in mine["items"]] == [ids[1]]
    nobody = ok(moderator.get("/review-queue", state="open", assigned="nobody"))
    assert [i["id"] for i in nobody["items"]] == [ids[0], ids[2]]
    assert ok(moderator.get("/review-queue", category="databases"))["count"] == 2
    assert ok(moderator.get("/review-queue", category="messaging"))["count"] == 0
    assert ok(moderator.get("/review-queue", publisher="acme"))["count"] == 2
    assert ok(moderator.get("/review-queue", publisher="globex"))["count"] == 0
    first = ok(moderator.get("/review-queue", state="open", per_page=2))
    second = ok(moderator.get("/review-queue", state="open", per_page=2, page=2))
    assert first["count"] == second["count"] == 3
    assert [i["id"] for i in first["items"] + second["items"]] == ids
    assert ok(moderator.get("/review-queue", state="open", per_page=2, page=9))["items"] == []


def test_the_product_list_pages(client: Client, world: PublishingWorld) -> None:
    owner = Api(client, world.owner)
    for name in ("Zeta", "Alpha", "Mid"):
        ok(owner.post("/orgs/acme/products", {"name": name}), 201)
    listed = ok(owner.get("/orgs/acme/products", per_page=2))
    assert listed["count"] == 3 and [i["slug"] for i in listed["items"]] == ["alpha", "mid"]
    assert [
        i["slug"] for i in ok(owner.get("/orgs/acme/products", page=2, per_page=2))["items"]
    ] == ["zeta"]
    # Another organisation's products are not in the list.
    assert ok(Api(client, world.other).get("/orgs/globex/products"))["count"] == 0


def test_store_team_reads_and_comments(
    client: Client, world: PublishingWorld, submitted: str
) -> None:
    moderator = Api(client, world.moderator)
    assert ok(moderator.get(P))["open_submission"]["state"] == "submitted"
    comment = ok(
        moderator.post(submitted + "/comments", {"body": "Looking.", "field": "icon"}), 201
    )
    assert comment["from_store_team"] is True and comment["field_label"] == "Icon"
    assert problem(moderator.patch(P, {"name": "Moderated"}), 403)["code"] == "denied"
    assert problem(moderator.post(P + "/submit"), 403)["code"] == "denied"
