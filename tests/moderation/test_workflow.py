"""The path from a product's working copy to a live listing, through the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from portside.audit.models import AuditEvent
from portside.catalog import services as catalog
from portside.catalog.models import Listing, ListingState, Revision
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.moderation import services as moderation
from portside.moderation.models import State
from tests.factories import TEST_ORIGIN
from tests.moderation.world import PublishingWorld, build_publishing_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> PublishingWorld:
    return build_publishing_world()


def _approved(world: PublishingWorld, product: Any, capture: Any) -> Any:
    with capture(execute=True):
        submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
        moderation.take(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
        moderation.approve(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    return submission


def test_full_loop_with_a_change_request(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    product = world.ready_product()
    with django_capture_on_commit_callbacks(execute=True):
        submission = moderation.submit(product=product, acting=world.editor, origin=TEST_ORIGIN)
    assert submission.state == State.SUBMITTED
    assert [m.to for m in mail.outbox] == [sorted([world.moderator.email, world.admin.email])]
    frozen = submission.revision.manifest
    assert frozen["sources"] == [
        {"repository": "acme/db", "tags": {"1.0": world.digest, "2.0": world.digest}}
    ]
    assert [t["name"] for t in frozen["tiers"]] == ["Community", "Business"]
    assert frozen["tiers"][1]["price"] == "49.00" and frozen["tiers"][1]["currency"] == "EUR"
    assert frozen["publisher"]["name"] == "Acme Ltd"

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        moderation.take(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
        moderation.request_changes(
            submission=submission,
            comment="The short description should say what it stores.",
            field="short_description",
            acting=world.moderator,
            origin=TEST_ORIGIN,
        )
    submission.refresh_from_db()
    assert submission.state == State.CHANGES_REQUESTED
    assert submission.assigned_to == world.moderator
    assert mail.outbox[-1].to == sorted([world.owner.email, world.editor.email])
    assert "short description should say" in mail.outbox[-1].body
    comment = submission.comments.get()
    assert comment.field == "short_description" and comment.from_store_team

    catalog.update_product(
        product=product,
        short_description="A fast SQL database for rows and documents.",
        acting=world.editor,
        origin=TEST_ORIGIN,
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = moderation.submit(product=product, acting=world.editor, origin=TEST_ORIGIN)
    assert again.pk == submission.pk and again.state == State.RESUBMITTED
    assert again.revision.number == 2
    # The assigned reviewer hears about the resubmission.
    assert mail.outbox[-1].to == [world.moderator.email]
    from portside.catalog.manifest import diff

    first = Revision.objects.get(product=product, number=1)
    changes = diff(first.manifest, again.revision.manifest)
    assert [c["field"] for c in changes] == ["short_description"]

    with django_capture_on_commit_callbacks(execute=True):
        moderation.take(submission=again, acting=world.moderator, origin=TEST_ORIGIN)
        moderation.approve(submission=again, acting=world.moderator, origin=TEST_ORIGIN)
        moderation.publish(submission=again, acting=world.owner, origin=TEST_ORIGIN)
    listing = Listing.objects.get(product=product)
    assert listing.state == ListingState.LIVE and listing.revision.number == 2
    history = [(t.from_state, t.to_state) for t in again.transitions.all()]
    assert history == [
        ("", "submitted"),
        ("submitted", "in_review"),
        ("in_review", "changes_requested"),
        ("changes_requested", "resubmitted"),
        ("resubmitted", "in_review"),
        ("in_review", "approved"),
        ("approved", "published"),
    ]
    actions = set(
        AuditEvent.objects.filter(action__startswith="moderation:submission:").values_list(
            "action", flat=True
        )
    )
    assert {"moderation:submission:submitted", "moderation:submission:published"} <= actions


def test_a_new_revision_is_reviewed_while_the_live_one_stays(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    product = world.ready_product()
    first = _approved(world, product, django_capture_on_commit_callbacks)
    moderation.publish(submission=first, acting=world.moderator, origin=TEST_ORIGIN)
    catalog.update_product(
        product=product, name="Acme Database Pro", acting=world.owner, origin=TEST_ORIGIN
    )
    second = _approved(world, product, django_capture_on_commit_callbacks)
    listing = Listing.objects.get(product=product)
    assert listing.revision.manifest["name"] == "Acme Database"  # still the first
    moderation.publish(submission=second, acting=world.owner, origin=TEST_ORIGIN)
    listing.refresh_from_db()
    assert listing.revision.manifest["name"] == "Acme Database Pro"
    assert listing.first_published_at <= listing.published_at


@pytest.mark.parametrize(
    ("move", "actor"),
    [
        ("approve", "moderator"),  # submitted, not in review
        ("request_changes", "moderator"),
        ("reject", "moderator"),
        ("publish", "owner"),
        ("publish", "moderator"),
    ],
)
def test_states_cannot_be_skipped(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any, move: str, actor: str
) -> None:
    product = world.ready_product()
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    kwargs: dict[str, Any] = {"comment": "x"} if move == "request_changes" else {}
    if move == "reject":
        kwargs = {"reason": "x"}
    with pytest.raises(Conflict):
        getattr(moderation, move)(
            submission=submission, acting=getattr(world, actor), origin=TEST_ORIGIN, **kwargs
        )
    submission.refresh_from_db()
    assert submission.state == State.SUBMITTED
    assert not Listing.objects.exists()


def test_each_side_makes_only_its_own_moves(world: PublishingWorld) -> None:
    product = world.ready_product()
    with pytest.raises(PermissionDenied):
        moderation.submit(product=product, acting=world.viewer, origin=TEST_ORIGIN)
    with pytest.raises(NotFound):
        moderation.submit(product=product, acting=world.customer, origin=TEST_ORIGIN)
    with pytest.raises(NotFound):
        moderation.submit(product=product, acting=world.other, origin=TEST_ORIGIN)
    with pytest.raises(PermissionDenied):
        moderation.submit(product=product, acting=world.moderator, origin=TEST_ORIGIN)
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    with pytest.raises(PermissionDenied):
        moderation.take(submission=submission, acting=world.owner, origin=TEST_ORIGIN)
    submission = moderation.take(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    with pytest.raises(PermissionDenied):
        moderation.approve(submission=submission, acting=world.editor, origin=TEST_ORIGIN)
    with pytest.raises(Conflict):  # one open submission per product
        moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert moderation.allowed_moves(world.moderator, submission) == [
        "changes_requested",
        "approved",
        "rejected",
    ]
    assert moderation.allowed_moves(world.owner, submission) == []


def test_rejection_needs_a_reason_and_closes(world: PublishingWorld) -> None:
    product = world.ready_product()
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    moderation.take(submission=submission, acting=world.moderator, origin=TEST_ORIGIN)
    with pytest.raises(ValidationFailed):
        moderation.reject(
            submission=submission, reason="  ", acting=world.moderator, origin=TEST_ORIGIN
        )
    moderation.reject(
        submission=submission,
        reason="Not a container product.",
        acting=world.moderator,
        origin=TEST_ORIGIN,
    )
    submission.refresh_from_db()
    assert submission.state == State.REJECTED and not submission.is_open
    # A fresh submission can start afterwards.
    again = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert again.pk != submission.pk and again.revision.number == 2


def test_incomplete_profile_blocks_the_first_submission(world: PublishingWorld) -> None:
    product = world.ready_product()
    profile = world.org.publisher_profile
    profile.email_verified_at = None
    profile.save()
    with pytest.raises(ValidationFailed) as caught:
        moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert caught.value.field == "profile"
    assert "verification of the company email" in caught.value.message
    assert not Revision.objects.exists()


def test_platforms_decide_eligibility(world: PublishingWorld) -> None:
    product = world.ready_product(platforms=[])
    with pytest.raises(ValidationFailed) as caught:
        moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert "declares neither" in caught.value.message
    catalog.update_product(
        product=product, platforms=["enterprise"], acting=world.owner, origin=TEST_ORIGIN
    )
    with pytest.raises(ValidationFailed) as caught:
        moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert "must offer publisher support" in caught.value.message
    catalog.update_product(
        product=product,
        publisher_support=True,
        support_hours="Mon-Fri 09:00-17:00 CET",
        response_critical_hours=4,
        acting=world.owner,
        origin=TEST_ORIGIN,
    )
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert submission.revision.manifest["platforms"] == ["enterprise"]
    assert submission.revision.manifest["sla"]["critical_hours"] == 4


def test_revisions_are_immutable(world: PublishingWorld) -> None:
    product = world.ready_product()
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    revision = submission.revision
    revision.manifest["name"] = "changed"
    with pytest.raises(ValueError, match="immutable"):
        revision.save()
    # The digests are those at submission: moving a tag later does not change them.
    from tests.moderation.world import push_image

    push_image(world.repository, "1.0", seed="rebuilt")
    revision.refresh_from_db()
    assert revision.manifest["sources"][0]["tags"]["1.0"] == world.digest


def test_unpublish_and_take_down(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    product = world.ready_product()
    submission = _approved(world, product, django_capture_on_commit_callbacks)
    moderation.publish(submission=submission, acting=world.owner, origin=TEST_ORIGIN)
    with pytest.raises(PermissionDenied):
        catalog.take_down(product=product, reason="x", acting=world.owner, origin=TEST_ORIGIN)
    with pytest.raises(ValidationFailed):
        catalog.take_down(product=product, reason="", acting=world.moderator, origin=TEST_ORIGIN)
    listing = catalog.take_down(
        product=product, reason="Malware reported.", acting=world.moderator, origin=TEST_ORIGIN
    )
    assert listing.state == ListingState.TAKEN_DOWN and listing.withdrawn_reason
    with pytest.raises(Conflict):
        catalog.unpublish(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert AuditEvent.objects.filter(action="catalog:listing:taken_down").count() == 1


def test_comments_from_either_side(
    world: PublishingWorld, django_capture_on_commit_callbacks: Any
) -> None:
    product = world.ready_product()
    submission = moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        moderation.comment(
            submission=submission,
            body="Is the icon final?",
            field="icon",
            acting=world.moderator,
            origin=TEST_ORIGIN,
        )
        moderation.comment(
            submission=submission, body="Yes.", acting=world.editor, origin=TEST_ORIGIN
        )
    assert [c.author_name for c in submission.comments.all()] == ["mod", "pub-editor"]
    assert mail.outbox[0].to == sorted([world.owner.email, world.editor.email])
    with pytest.raises(ValidationFailed):
        moderation.comment(
            submission=submission,
            body="x",
            field="password",
            acting=world.owner,
            origin=TEST_ORIGIN,
        )
    with pytest.raises(ValidationFailed):
        moderation.comment(
            submission=submission, body="x" * 10_001, acting=world.owner, origin=TEST_ORIGIN
        )
    with pytest.raises(PermissionDenied):
        moderation.comment(
            submission=submission, body="hi", acting=world.viewer, origin=TEST_ORIGIN
        )
    with pytest.raises(NotFound):
        moderation.comment(submission=submission, body="hi", acting=world.other, origin=TEST_ORIGIN)
