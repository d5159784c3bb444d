"""The review in the JSON API under /api/v1/: submitting a product, a submission with its
thread and history, the moves of the state machine, the moderators' queue, and taking a
listing down.

A submission is visible to the publisher's members and the store team; anyone else gets
404. Which moves a caller may make is decided by the services (``allowed_moves`` lists
them); a move the state does not allow is 409. Errors are ``application/problem+json``,
as in the rest of the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from portside.accounts import permissions
from portside.accounts.models import User
from portside.api.auth import read_auth
from portside.api.openapi import checked
from portside.api.problems import (
    READ_ERRORS,
    WRITE_ERRORS,
    input_problems,
    not_found,
    problem,
)
from portside.catalog import api as catalog_api
from portside.catalog import services as catalog
from portside.catalog.api import (
    WRITE,
    Change,
    ListingOut,
    Paging,
    SubmissionRef,
    acting,
    listing_out,
    product_for,
)
from portside.catalog.manifest import FIELDS, diff
from portside.catalog.models import Listing, Product, Revision
from portside.core.errors import PermissionDenied, ValidationFailed
from portside.core.origin import from_request
from portside.moderation import services
from portside.moderation.models import OPEN_STATES, WAITING_FOR_REVIEW, State, Submission

router = Router(tags=["moderation"])
router.add_decorator(input_problems, mode="view")


# --- schemas ------------------------------------------------------------------------------------


class TransitionOut(Schema):
    from_state: str
    to_state: str
    revision: int
    actor: str
    reason: str
    at: dt.datetime


class CommentOut(Schema):
    id: int
    author: str
    from_store_team: bool
    field: str
    field_label: str
    body: str
    revision: int
    created_at: dt.datetime


class SubmissionOut(Schema):
    id: int
    organization: str
    product: str
    product_name: str
    state: str
    revision: int
    manifest: dict[str, Any]
    compared_with: int | None = Field(
        description="The revision ``changes`` is counted from: the live one, or else the "
        "one before."
    )
    changes: list[Change]
    submitted_by: str | None
    submitted_at: dt.datetime
    waiting_since: dt.datetime
    updated_at: dt.datetime
    assigned_to: str | None
    history: list[TransitionOut]
    comments: list[CommentOut]
    allowed_moves: list[str] = Field(
        description="The states the caller may move the submission to now."
    )


class QueueItem(Schema):
    id: int
    organization: str
    product: str
    product_name: str
    category: str | None
    state: str
    revision: int
    submitted_at: dt.datetime
    waiting_since: dt.datetime
    assigned_to: str | None


class QueuePage(Schema):
    count: int
    page: int
    per_page: int
    items: list[QueueItem]


class QueueFilters(Paging):
    state: str = Field(
        "waiting",
        max_length=20,
        description="waiting (submitted or resubmitted), open, or one state.",
        json_schema_extra={"enum": ["waiting", "open", *State.values]},
    )
    assigned: str = Field(
        "",
        max_length=10,
        description="me, nobody, or empty for anyone.",
        json_schema_extra={"enum": ["", "me", "nobody"]},
    )
    category: str = Field("", max_length=50, description="A category's slug.")
    publisher: str = Field("", max_length=100, description="An organisation's name.")


class CommentIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    body: str = Field(json_schema_extra=checked(services.MAX_COMMENT))
    field: str = Field(
        "",
        description="The manifest item it is about, or empty.",
        json_schema_extra={"enum": ["", *FIELDS]},
    )


class ChangesIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    comment: str = Field(json_schema_extra=checked(services.MAX_COMMENT))
    field: str = Field(
        "",
        description="The manifest item to change, or empty.",
        json_schema_extra={"enum": ["", *FIELDS]},
    )


class RejectIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(json_schema_extra=checked(services.MAX_COMMENT))


class ApproveIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Required when the revision's images have open critical findings: why it is
    # approved anyway (kept in the audit trail).
    override_reason: str = Field("", json_schema_extra=checked(services.MAX_COMMENT))


class AssignIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    reviewer: str | None = Field(
        max_length=150, description="A moderator's username, or null for nobody."
    )


class TakeDownIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(max_length=2000)


# --- helpers ------------------------------------------------------------------------------------

_NO_SUBMISSION = "No such submission."


def _name(user: User | None) -> str | None:
    return user.username if user else None


@catalog_api.describe_open_submission
def _open_submission(product: Product) -> SubmissionRef | None:
    submission = (
        Submission.objects.select_related("revision", "assigned_to")
        .filter(product=product, state__in=OPEN_STATES)
        .first()
    )
    if submission is None:
        return None
    return SubmissionRef(
        id=submission.pk,
        state=submission.state,
        revision=submission.revision.number,
        assigned_to=_name(submission.assigned_to),
        waiting_since=submission.waiting_since,
    )


def _submission(request: HttpRequest, pk: int) -> Submission | None:
    submission = (
        Submission.objects.select_related("product__organization", "revision", "assigned_to")
        .filter(pk=pk)
        .first()
    )
    if submission is None or not permissions.can_view_products(
        request.user, submission.product.organization
    ):
        return None
    return submission


def _out(request: HttpRequest, submission: Submission) -> SubmissionOut:
    submission = (
        Submission.objects.select_related(
            "product__organization", "revision", "assigned_to", "submitted_by"
        )
        .filter(pk=submission.pk)
        .get()
    )
    product = submission.product
    current = submission.revision
    listing = Listing.objects.select_related("revision").filter(product=product).first()
    earlier = (
        Revision.objects.filter(product=product, number__lt=current.number)
        .order_by("-number")
        .first()
    )
    base = listing.revision if listing and listing.revision_id != current.pk else earlier
    return SubmissionOut(
        id=submission.pk,
        organization=product.organization.name,
        product=product.slug,
        product_name=product.name,
        state=submission.state,
        revision=current.number,
        manifest=current.manifest,
        compared_with=base.number if base else None,
        changes=[Change(**c) for c in diff(base.manifest if base else None, current.manifest)],
        submitted_by=_name(submission.submitted_by),
        submitted_at=submission.submitted_at,
        waiting_since=submission.waiting_since,
        updated_at=submission.updated_at,
        assigned_to=_name(submission.assigned_to),
        history=[
            TransitionOut(
                from_state=t.from_state,
                to_state=t.to_state,
                revision=t.revision.number,
                actor=t.actor_name,
                reason=t.reason,
                at=t.at,
            )
            for t in submission.transitions.select_related("revision")
        ],
        comments=[_comment_out(c) for c in submission.comments.select_related("revision")],
        allowed_moves=services.allowed_moves(acting(request), submission),
    )


def _comment_out(comment: Any) -> CommentOut:
    return CommentOut(
        id=comment.pk,
        author=comment.author_name,
        from_store_team=comment.from_store_team,
        field=comment.field,
        field_label=FIELDS.get(comment.field, ""),
        body=comment.body,
        revision=comment.revision.number,
        created_at=comment.created_at,
    )


def _who(request: HttpRequest) -> dict[str, Any]:
    return {"acting": acting(request), "origin": from_request(request)}


# --- the publisher's side -----------------------------------------------------------------------


@router.post(
    "/orgs/{org}/products/{slug}/submit",
    response={200: SubmissionOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Freeze the working copy into a revision and send it to review (or resubmit "
    "after a change request)",
)
def product_submit(request: HttpRequest, org: str, slug: str) -> Any:
    product = product_for(request, org, slug)
    if product is None:
        return not_found("No such product.")
    submission = services.submit(product=product, **_who(request))
    return _out(request, submission)


# --- submissions --------------------------------------------------------------------------------


@router.get(
    "/submissions/{submission_id}",
    response={200: SubmissionOut, **READ_ERRORS},
    auth=read_auth(),
    summary="A submission: its revision, changes, history, thread and the caller's moves",
)
def submission_detail(request: HttpRequest, submission_id: int) -> Any:
    submission = _submission(request, submission_id)
    if submission is None:
        return not_found(_NO_SUBMISSION)
    return _out(request, submission)


@router.post(
    "/submissions/{submission_id}/comments",
    response={201: CommentOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Write in the submission's thread, optionally about one manifest item",
)
def submission_comment(request: HttpRequest, submission_id: int, body: CommentIn) -> Any:
    submission = _submission(request, submission_id)
    if submission is None:
        return not_found(_NO_SUBMISSION)
    made = services.comment(
        submission=submission, body=body.body, field=body.field, **_who(request)
    )
    return Status(201, _comment_out(made))


def _move(request: HttpRequest, submission_id: int, move: Any) -> Any:
    submission = _submission(request, submission_id)
    if submission is None:
        return not_found(_NO_SUBMISSION)
    moved = move(submission)
    return _out(request, moved)


_MOVED: dict[int | str, Any] = {200: SubmissionOut, **WRITE_ERRORS}


@router.post(
    "/submissions/{submission_id}/take",
    summary="Start reviewing: in review, assigned to the caller",
    response=_MOVED,
    auth=WRITE,
)
def submission_take(request: HttpRequest, submission_id: int) -> Any:
    return _move(request, submission_id, lambda s: services.take(submission=s, **_who(request)))


@router.post(
    "/submissions/{submission_id}/request-changes",
    summary="Ask the publisher for changes, with a comment",
    response=_MOVED,
    auth=WRITE,
)
def submission_request_changes(request: HttpRequest, submission_id: int, body: ChangesIn) -> Any:
    return _move(
        request,
        submission_id,
        lambda s: services.request_changes(
            submission=s, comment=body.comment, field=body.field, **_who(request)
        ),
    )


def _override_reason(request: HttpRequest) -> str:
    if not request.body.strip():
        return ""
    try:
        return ApproveIn.model_validate_json(request.body).override_reason
    except ValueError as exc:
        raise ValidationFailed(
            "The body must be a JSON object with a string override_reason.",
            field="override_reason",
        ) from exc


@router.post(
    "/submissions/{submission_id}/approve",
    summary="Approve the revision in review",
    response=_MOVED,
    auth=WRITE,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": ApproveIn.model_json_schema()}},
        }
    },
)
def submission_approve(request: HttpRequest, submission_id: int) -> Any:
    # The body is optional (most approvals send none), so it is read here rather than
    # by a required body parameter.
    reason = _override_reason(request)
    return _move(
        request,
        submission_id,
        lambda s: services.approve(submission=s, override_reason=reason, **_who(request)),
    )


@router.post(
    "/submissions/{submission_id}/reject",
    summary="Reject the submission, with a reason",
    response=_MOVED,
    auth=WRITE,
)
def submission_reject(request: HttpRequest, submission_id: int, body: RejectIn) -> Any:
    return _move(
        request,
        submission_id,
        lambda s: services.reject(submission=s, reason=body.reason, **_who(request)),
    )


@router.post(
    "/submissions/{submission_id}/publish",
    summary="Make the approved revision the live listing",
    response=_MOVED,
    auth=WRITE,
)
def submission_publish(request: HttpRequest, submission_id: int) -> Any:
    return _move(request, submission_id, lambda s: services.publish(submission=s, **_who(request)))


@router.post(
    "/submissions/{submission_id}/assign",
    summary="Give the review to a moderator, or to nobody",
    response=_MOVED,
    auth=WRITE,
)
def submission_assign(request: HttpRequest, submission_id: int, body: AssignIn) -> Any:
    def assign(submission: Submission) -> Submission:
        reviewer = None
        if body.reviewer:
            reviewer = User.objects.filter(username=body.reviewer).first()
            if reviewer is None:
                raise ValidationFailed(f"No user {body.reviewer[:150]!r}.", field="reviewer")
        return services.assign(submission=submission, reviewer=reviewer, **_who(request))

    return _move(request, submission_id, assign)


# --- the store team -----------------------------------------------------------------------------


@router.get(
    "/review-queue",
    response={200: QueuePage, **READ_ERRORS},
    auth=read_auth(),
    summary="Submissions for the store team, oldest first",
)
def review_queue(request: HttpRequest, filters: Query[QueueFilters]) -> Any:
    if not permissions.can_moderate(request.user):
        return problem(403, "The review queue is for moderators.", code=PermissionDenied.code)
    submissions = Submission.objects.select_related(
        "product__organization", "product__category", "revision", "assigned_to"
    )
    if filters.state == "waiting":
        submissions = submissions.filter(state__in=WAITING_FOR_REVIEW)
    elif filters.state == "open":
        submissions = submissions.filter(state__in=OPEN_STATES)
    elif filters.state in State.values:
        submissions = submissions.filter(state=filters.state)
    else:
        return problem(
            422,
            "A state is waiting, open, or one of " + ", ".join(State.values) + ".",
            code=ValidationFailed.code,
            field="state",
        )
    if filters.assigned == "me":
        submissions = submissions.filter(assigned_to_id=request.user.pk)
    elif filters.assigned == "nobody":
        submissions = submissions.filter(assigned_to__isnull=True)
    elif filters.assigned:
        return problem(
            422, "Assigned is me, nobody, or empty.", code=ValidationFailed.code, field="assigned"
        )
    if filters.category:
        submissions = submissions.filter(product__category__slug=filters.category)
    if filters.publisher:
        submissions = submissions.filter(product__organization__name=filters.publisher.strip())
    submissions = submissions.order_by("waiting_since", "pk")
    start = (filters.page - 1) * filters.per_page
    return QueuePage(
        count=submissions.count(),
        page=filters.page,
        per_page=filters.per_page,
        items=[
            QueueItem(
                id=s.pk,
                organization=s.product.organization.name,
                product=s.product.slug,
                product_name=s.product.name,
                category=s.product.category.slug if s.product.category else None,
                state=s.state,
                revision=s.revision.number,
                submitted_at=s.submitted_at,
                waiting_since=s.waiting_since,
                assigned_to=_name(s.assigned_to),
            )
            for s in submissions[start : start + filters.per_page]
        ],
    )


@router.post(
    "/listings/{org}/{slug}/take-down",
    response={200: ListingOut, **WRITE_ERRORS},
    auth=WRITE,
    summary="Take a live listing out of the store, with a reason",
)
def listing_take_down(request: HttpRequest, org: str, slug: str, body: TakeDownIn) -> Any:
    # Asked before the product is looked up, so the answer says nothing about drafts.
    if not permissions.can_moderate(request.user):
        return problem(403, "Only moderators take listings down.", code=PermissionDenied.code)
    product = product_for(request, org, slug)
    if product is None:
        return not_found("No such listing.")
    listing = catalog.take_down(product=product, reason=body.reason, **_who(request))
    return listing_out(listing)
