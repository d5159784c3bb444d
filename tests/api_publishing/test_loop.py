"""From an empty organisation to a live listing, through the JSON API only."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from portside.catalog.models import Listing, ListingState
from tests.api_publishing.helpers import TIER_FREE, TIER_PAID, Api, ok, problem
from tests.moderation.world import PublishingWorld, png

pytestmark = pytest.mark.django_db

ITEMS = {
    "short_description": "A cache for containers.",
    "category": "databases",
    "search_tags": ["cache", "kv"],
    "long_description": "# Acme Cache\n\nKeeps **keys**.",
    "support_url": "https://acme.example.com/support",
    "support_email": "support@acme.example.com",
    "self_help": "See the [forum](https://acme.example.com/forum).",
    "install_instructions": "Run `docker run acme/db`.",
    "license_url": "https://acme.example.com/licence",
    "support_hours": "Mon-Fri 9-17 UTC",
    "response_critical_hours": 4,
    "response_major_hours": 24,
    "platforms": ["community", "enterprise"],
    "publisher_support": True,
}


def test_from_draft_to_live_with_a_change_request(
    client: Client, world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    publisher = Api(client, world.editor)
    moderator = Api(client, world.moderator)

    created = ok(publisher.post("/orgs/acme/products", {"name": "Acme Cache"}), 201)
    assert created["slug"] == "acme-cache" and created["organization"] == "acme"
    assert created["listing"] is None and created["open_submission"] is None
    assert {p["field"] for p in created["problems"]} >= {
        "platforms",
        "short_description",
        "icon",
        "sources",
        "tiers",
    }
    assert created["eligibility"][0]["field"] == "platforms"
    product = "/orgs/acme/products/acme-cache"

    filled = ok(publisher.patch(product, ITEMS))
    for key, value in ITEMS.items():
        if key == "category":
            assert filled["category"] == {"slug": "databases", "name": "Databases"}
        elif key != "platforms":
            assert filled[key] == value, key
    assert filled["platforms"] == ["enterprise", "community"]  # the store's order
    assert filled["eligibility"] == []

    with_icon = ok(publisher.put(product + "/icon", raw=png(256, 256), content_type="image/png"))
    assert with_icon["icon"].startswith("images/") and with_icon["icon_url"].startswith("/media/")
    shot = ok(
        client.post(
            "/api/v1" + product + "/screenshots?caption=The+dashboard",
            data=png(800, 450),
            content_type="image/png",
            **publisher.headers,
        ),
        201,
    )
    assert shot["caption"] == "The dashboard" and shot["position"] == 1

    source = ok(
        publisher.put(product + "/sources", {"repository": "acme/db", "tags": ["1.0", "2.0"]})
    )
    assert source["repository"] == "acme/db" and source["tags"] == ["1.0", "2.0"]
    free = ok(publisher.post(product + "/tiers", TIER_FREE), 201)
    paid = ok(publisher.post(product + "/tiers", TIER_PAID), 201)
    assert free["price"] == "0.00" and free["billing_period"] == "free"
    assert paid["price"] == "49.00" and paid["currency"] == "EUR"
    assert paid["access"] == [{"repository": "acme/db", "tags": ["1.0", "2.0"]}]

    ready = ok(publisher.get(product))
    assert ready["problems"] == [] and ready["eligibility"] == []
    assert [t["name"] for t in ready["tiers"]] == ["Community", "Business"]
    assert [s["id"] for s in ready["screenshots"]] == [shot["id"]]
    assert ready["sources"] == [source]

    with django_capture_on_commit_callbacks(execute=True):
        submitted = ok(publisher.post(product + "/submit"))
    assert submitted["state"] == "submitted" and submitted["revision"] == 1
    assert submitted["manifest"]["tiers"][1]["price"] == "49.00"
    assert submitted["manifest"]["sources"][0]["tags"] == {"1.0": world.digest, "2.0": world.digest}
    assert submitted["allowed_moves"] == []
    assert world.moderator.email in mail.outbox[-1].to
    submission = f"/submissions/{submitted['id']}"
    assert ok(publisher.get(product))["open_submission"]["id"] == submitted["id"]

    queue = ok(moderator.get("/review-queue"))
    assert [(i["id"], i["state"]) for i in queue["items"]] == [(submitted["id"], "submitted")]
    assert ok(moderator.get(submission))["allowed_moves"] == ["in_review"]

    taken = ok(moderator.post(submission + "/take"))
    assert taken["state"] == "in_review" and taken["assigned_to"] == world.moderator.username
    assert set(taken["allowed_moves"]) == {"changes_requested", "approved", "rejected"}
    asked = ok(
        moderator.post(
            submission + "/request-changes",
            {"comment": "Say what the cache stores.", "field": "short_description"},
        )
    )
    assert asked["state"] == "changes_requested"
    assert [(c["field"], c["from_store_team"]) for c in asked["comments"]] == [
        ("short_description", True)
    ]
    assert asked["comments"][0]["field_label"] == "Short description"

    thread = ok(
        publisher.post(
            submission + "/comments",
            {"body": "Fixed, thanks.", "field": "short_description"},
        ),
        201,
    )
    assert thread["from_store_team"] is False and thread["revision"] == 1
    ok(publisher.patch(product, {"short_description": "A cache for container keys and values."}))
    again = ok(publisher.post(product + "/submit"))
    assert again["id"] == submitted["id"]
    assert again["state"] == "resubmitted" and again["revision"] == 2
    assert [c["field"] for c in again["changes"]] == ["short_description"]
    assert again["compared_with"] == 1

    revisions = ok(publisher.get(product + "/revisions"))
    assert [r["number"] for r in revisions] == [2, 1]
    assert revisions[0]["created_by"] == world.editor.username
    second = ok(publisher.get(product + "/revisions/2"))
    assert second["previous"] == 1
    assert second["changes"] == [
        {
            "field": "short_description",
            "label": "Short description",
            "before": "A cache for containers.",
            "after": "A cache for container keys and values.",
        }
    ]
    first = ok(publisher.get(product + "/revisions/1"))
    assert first["previous"] is None and "tiers" in {c["field"] for c in first["changes"]}

    ok(moderator.post(submission + "/take"))
    approved = ok(moderator.post(submission + "/approve"))
    assert approved["state"] == "approved" and approved["allowed_moves"] == ["published"]
    assert ok(publisher.get(submission))["allowed_moves"] == ["published"]

    published = ok(publisher.post(submission + "/publish"))
    assert published["state"] == "published"
    assert [(h["from_state"], h["to_state"]) for h in published["history"]] == [
        ("", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "changes_requested"),
        ("changes_requested", "resubmitted"),
        ("resubmitted", "in_review"),
        ("in_review", "approved"),
        ("approved", "published"),
    ]
    live = ok(publisher.get(product))
    assert live["listing"]["state"] == "live" and live["listing"]["revision"] == 2
    assert live["open_submission"] is None and live["latest_revision"] == 2
    listing = Listing.objects.get(product__slug="acme-cache")
    assert listing.state == ListingState.LIVE and listing.revision.number == 2
    listed = ok(publisher.get("/orgs/acme/products"))
    assert [(i["slug"], i["listing_state"]) for i in listed["items"]] == [("acme-cache", "live")]

    # Withdrawing: the publisher unpublishes; a moderator takes a live listing down.
    assert ok(publisher.post(product + "/unpublish"))["state"] == "unpublished"


def test_a_moderator_takes_a_live_listing_down(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    publisher, moderator = Api(client, world.owner), Api(client, world.moderator)
    submission = ok(publisher.post("/orgs/acme/products/acme-database/submit"))["id"]
    for move in ("take", "approve", "publish"):
        ok(moderator.post(f"/submissions/{submission}/{move}"))
    down = ok(
        moderator.post(
            "/listings/acme/acme-database/take-down", {"reason": "The licence link is dead."}
        )
    )
    assert down["state"] == "taken_down" and down["withdrawn_reason"] == "The licence link is dead."
    again = moderator.post("/listings/acme/acme-database/take-down", {"reason": "Again."})
    assert again.status_code == 409


def test_reject_assign_and_delete(client: Client, world: PublishingWorld) -> None:
    world.ready_product()
    publisher, moderator = Api(client, world.owner), Api(client, world.moderator)
    submission = ok(publisher.post("/orgs/acme/products/acme-database/submit"))["id"]
    path = f"/submissions/{submission}"
    assert ok(moderator.post(path + "/assign", {"reviewer": "boss"}))["assigned_to"] == "boss"
    assert ok(moderator.get("/review-queue", assigned="nobody"))["count"] == 0
    assert ok(Api(client, world.admin).get("/review-queue", assigned="me"))["count"] == 1
    assert ok(moderator.post(path + "/assign", {"reviewer": None}))["assigned_to"] is None
    ok(moderator.post(path + "/take"))
    rejected = ok(moderator.post(path + "/reject", {"reason": "Not a container product."}))
    assert rejected["state"] == "rejected" and rejected["allowed_moves"] == []
    assert rejected["comments"][-1]["body"] == "Not a container product."
    assert ok(moderator.get("/review-queue"))["count"] == 0
    assert ok(moderator.get("/review-queue", state="rejected"))["count"] == 1
    # Never listed, but its revisions belong to the review's history: refused, not a 500.
    refused = problem(publisher.delete("/orgs/acme/products/acme-database"), 409)
    assert "submitted" in refused["detail"]
    assert publisher.get("/orgs/acme/products/acme-database").status_code == 200


def test_a_draft_that_never_went_to_review_is_deleted(
    client: Client, world: PublishingWorld
) -> None:
    world.ready_product()
    publisher = Api(client, world.editor)
    assert publisher.delete("/orgs/acme/products/acme-database").status_code == 204
    problem(publisher.get("/orgs/acme/products/acme-database"), 404)
    problem(publisher.delete("/orgs/acme/products/acme-database"), 404)
