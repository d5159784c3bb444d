"""The reviewer sees the listing's SLA standing and the open critical findings of the
revision's images; approving a revision with open critical findings needs an explicit
override with a reason, kept on the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from portside.audit.models import AuditEvent
from portside.catalog.models import Listing, ListingState
from portside.core import clock
from portside.core.errors import ValidationFailed
from portside.moderation import services as moderation
from portside.moderation.models import State, Submission
from portside.policy.models import Clock, ClockState
from portside.scanning.models import Finding, Scan, ScanStatus
from tests.factories import TEST_ORIGIN
from tests.moderation.world import PublishingWorld, build_publishing_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> PublishingWorld:
    return build_publishing_world()


def in_review(world: PublishingWorld, capture: Any) -> Submission:
    product = world.ready_product()
    with capture(execute=True):
        submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
        moderation.take(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    return submission


def scan_with(world: PublishingWorld, *severities: str, reclassified: str = "") -> Scan:
    now = clock.now()
    scan = Scan.objects.create(
        repository=world.repository,
        digest=world.digest,
        status=ScanStatus.DONE,
        requested_at=now,
        finished_at=now,
    )
    for n, severity in enumerate(severities):
        Finding.objects.create(
            scan=scan,
            advisory_id=f"CVE-2025-{n:04d}",
            package_type="deb",
            package_name=f"pkg{n}",
            package_version="1",
            severity=severity,
            reclassified=reclassified,
            first_seen_at=now,
            last_seen_at=now,
        )
    return scan


def login(client: Client, user: Any) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_no_critical_findings_no_override(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    submission = in_review(world, django_capture_on_commit_callbacks)
    scan_with(world, "major", "minor")
    moderation.approve(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    row = AuditEvent.objects.get(action="moderation:submission:approved")
    assert "override_reason" not in row.details


def test_open_critical_findings_need_an_override(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    submission = in_review(world, django_capture_on_commit_callbacks)
    scan_with(world, "critical", "critical", "major")
    for reason in ("", "   ", "\x00"):
        with pytest.raises(ValidationFailed) as refused:
            moderation.approve(
                submission=submission,
                acting=world.moderator,
                origin=TEST_ORIGIN,
                override_reason=reason,
            )
        assert refused.value.field == "override_reason" and "2 open critical" in str(
            refused.value.message
        )
    with pytest.raises(ValidationFailed):
        moderation.approve(
            submission=submission,
            acting=world.moderator,
            origin=TEST_ORIGIN,
            override_reason="x" * 10_001,
        )
    assert Submission.objects.get(pk=submission.pk).state == State.IN_REVIEW
    assert not AuditEvent.objects.filter(action="moderation:submission:approved").exists()
    with django_capture_on_commit_callbacks(execute=True):
        moderation.approve(
            submission=submission,
            acting=world.moderator,
            origin=TEST_ORIGIN,
            override_reason="Only reachable with a local shell; fixed in the next release.",
        )
    assert Submission.objects.get(pk=submission.pk).state == State.APPROVED
    row = AuditEvent.objects.get(action="moderation:submission:approved")
    assert row.details["override_reason"].startswith("Only reachable with a local shell")
    assert row.details["open_critical"] == 2


def test_reclassification_and_resolution_count(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    """The security team's class counts, and resolved findings do not."""
    submission = in_review(world, django_capture_on_commit_callbacks)
    scan = scan_with(world, "critical", reclassified="minor")
    Finding.objects.create(
        scan=scan, advisory_id="CVE-2", package_type="deb", package_name="old",
        package_version="1", severity="critical", first_seen_at=clock.now(),
        last_seen_at=clock.now(), resolved_at=clock.now(),
    )  # fmt: skip
    moderation.approve(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    assert Submission.objects.get(pk=submission.pk).state == State.APPROVED


def test_the_page_refuses_without_the_override_and_says_why(
    client: Client, world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    submission = in_review(world, django_capture_on_commit_callbacks)
    scan_with(world, "critical")
    login(client, world.moderator)
    page = client.get(f"/reviews/{submission.pk}/").content.decode()
    assert "1 open critical finding" in page and 'name="override"' in page
    url = f"/reviews/{submission.pk}/approve"

    response = client.post(url, {})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "1 open critical finding: approve it only with" in html

    response = client.post(url, {"override": "on", "override_reason": "  "})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    # A reason without the box ticked is no override.
    assert client.post(url, {"override_reason": "because"}).status_code == 400
    huge = client.post(url, {"override": "on", "override_reason": "x" * 20_000})
    assert huge.status_code == 400
    assert Submission.objects.get(pk=submission.pk).state == State.IN_REVIEW

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"override": "on", "override_reason": "Accepted risk."})
    assert response.status_code == 302
    assert Submission.objects.get(pk=submission.pk).state == State.APPROVED
    row = AuditEvent.objects.get(action="moderation:submission:approved")
    assert row.details["override_reason"] == "Accepted risk."
    # A retried approval is refused as a move the state no longer allows; nothing more is
    # recorded.
    client.post(url, {"override": "on", "override_reason": "Accepted risk."})
    assert AuditEvent.objects.filter(action="moderation:submission:approved").count() == 1


def test_the_publisher_cannot_approve_even_with_an_override(
    client: Client, world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    submission = in_review(world, django_capture_on_commit_callbacks)
    scan_with(world, "critical")
    login(client, world.owner)
    response = client.post(
        f"/reviews/{submission.pk}/approve", {"override": "on", "override_reason": "mine"}
    )
    assert response.status_code == 403
    assert Submission.objects.get(pk=submission.pk).state == State.IN_REVIEW


def test_the_listing_sla_on_the_review_page(
    client: Client, world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    """A live product's next revision: the reviewer sees the hold, the revocation and the
    open clocks with the nearest deadline."""
    from portside.catalog import services as catalog

    product = world.ready_product()
    revision = catalog.freeze_revision(product=product, acting=world.owner)
    catalog.publish_revision(revision=revision, acting=world.admin, origin=TEST_ORIGIN)
    with django_capture_on_commit_callbacks(execute=True):
        submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    since = clock.now() - dt.timedelta(days=3)
    Listing.objects.filter(product=product).update(security_hold_since=since)
    due = clock.now() + dt.timedelta(days=2)
    for n, (state, deadline) in enumerate(
        [(ClockState.OVERDUE, since), (ClockState.RUNNING, due), (ClockState.STOPPED, due)]
    ):
        Clock.objects.create(
            product=product, organization_id=world.org.pk, advisory_id=f"CVE-{n}",
            package_type="deb", package_name="p", severity="critical",
            started_at=since - dt.timedelta(days=10), due_at=deadline, state=state,
        )  # fmt: skip
    html = login(client, world.moderator).get(f"/reviews/{submission.pk}/").content.decode()
    assert 'id="sla"' in html and "On hold" in html
    assert "2 open clocks" in html and since.strftime("%Y-%m-%d %H:%M") in html
    Listing.objects.filter(product=product).update(state=ListingState.REVOKED, access_ends_at=due)
    html = client.get(f"/reviews/{submission.pk}/").content.decode()
    assert "Revoked" in html and due.strftime("%Y-%m-%d %H:%M") in html


def test_the_api_approves_with_open_criticals_only_with_an_override(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    submission = in_review(world, django_capture_on_commit_callbacks)
    scan_with(world, "critical")
    client = login(Client(), world.moderator)
    url = f"/api/v1/submissions/{submission.pk}/approve"
    refused = client.post(url, content_type="application/json")  # no body at all
    assert refused.status_code == 422, refused.content
    assert refused.json()["field"] == "override_reason"
    assert "critical" in refused.json()["detail"]
    hostile = client.post(url, {"override_reason": 7}, content_type="application/json")
    assert hostile.status_code == 422
    too_long = {"override_reason": "x" * 10_001}
    assert client.post(url, too_long, content_type="application/json").status_code == 422
    body = {"override_reason": "fix ships with the next tag; customers warned"}
    approved = client.post(url, body, content_type="application/json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["state"] == State.APPROVED
    row = AuditEvent.objects.get(action="moderation:submission:approved")
    assert row.details["override_reason"] == body["override_reason"]
