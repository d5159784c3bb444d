"""Pages say what is true in the state they show."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portside.catalog import services as catalog
from portside.moderation import services as moderation
from tests.factories import TEST_ORIGIN
from tests.moderation.world import PublishingWorld, build_publishing_world


@pytest.fixture
def world(db: Any) -> PublishingWorld:
    return build_publishing_world()


def _published(world: PublishingWorld, product: Any) -> Any:
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    moderation.take(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    moderation.approve(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    return moderation.publish(submission=submission, acting=world.owner, origin=TEST_ORIGIN)


def test_a_published_submission_says_it_is_live(world: PublishingWorld) -> None:
    product = world.ready_product()
    first = _published(world, product)
    catalog.update_product(
        product=product, acting=world.owner, origin=TEST_ORIGIN, short_description="Faster."
    )
    second = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    client = Client()
    client.force_login(world.moderator)
    # The second, still open: the first revision stays live meanwhile.
    page = client.get(f"/reviews/{second.pk}/").content.decode()
    assert "Revision 1 stays live until this one is published." in page
    assert 'id="actions"' in page
    # The first, published: its revision is the live one, and nothing is left to do.
    page = client.get(f"/reviews/{first.pk}/").content.decode()
    assert "This revision is live in the store." in page
    assert "stays live until" not in page
    assert 'id="actions"' not in page  # no empty box of actions


def test_the_repository_list_offers_a_first_push_only_when_there_is_none(
    world: PublishingWorld,
) -> None:
    client = Client()
    client.force_login(world.owner)
    page = client.get("/orgs/acme/repositories/").content.decode()
    assert "Push an image" in page and "Push your first image" not in page
    client.force_login(world.other)
    page = client.get(f"/orgs/{world.other_org.name}/repositories/").content.decode()
    assert ("Push your first image" in page) == ("No repositories yet" in page)


def test_the_review_page_and_the_scan_page_agree_on_best_practices(
    world: PublishingWorld,
) -> None:
    """The review page once said "All best-practice checks passed" while the scan page
    showed HEALTHCHECK failing for the same digest: both read the scan's own results."""
    from django.urls import reverse

    from portside.core import clock
    from portside.scanning.models import Scan, ScanStatus

    product = world.ready_product()
    results = [
        {"id": "PS-001", "title": "Runs as a non-root user", "status": "pass", "message": "ok"},
        {"id": "PS-002", "title": "Declares a HEALTHCHECK", "status": "fail", "message": "none"},
        {"id": "PS-019", "title": "Base image pinned", "status": "skip", "message": "unknown"},
    ]
    scan = Scan.objects.create(
        repository=world.repository,
        digest=world.digest,
        status=ScanStatus.DONE,
        requested_at=clock.now(),
        finished_at=clock.now(),
        practices=results,
    )
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    client = Client()
    client.force_login(world.moderator)
    review = client.get(f"/reviews/{submission.pk}/").content.decode()
    assert "All best-practice checks passed" not in review
    assert "1 best-practice check failed:" in review
    assert "<strong>PS-002</strong> Declares a HEALTHCHECK" in review
    scan_page = client.get(reverse("scan_detail", args=[world.org.name, scan.pk])).content.decode()
    assert 'result-fail">fail</span>' in scan_page and "Declares a HEALTHCHECK" in scan_page
    assert [p["id"] for p in scan.failed_practices] == ["PS-002"]
