"""The review of submissions: the state machine, comments, assignment, and mail (M5).

Allowed moves, and who makes them::

    (draft)            -> submitted          publisher (owner or editor)
    submitted          -> in_review          moderator (takes it; assigned to them)
    resubmitted        -> in_review          moderator
    in_review          -> changes_requested  moderator, with a comment
    changes_requested  -> resubmitted        publisher, with a new revision
    in_review          -> approved           moderator
    in_review          -> rejected           moderator, with a reason
    approved           -> published          publisher or moderator

Anything else is refused with ``Conflict``. Every move is a ``Transition`` row and an
audit row in the same transaction, and mail goes to the other side after commit.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse

from portside.accounts import permissions
from portside.accounts.models import Membership, OrgRole, StoreRole, User
from portside.audit import services as audit
from portside.catalog import services as catalog
from portside.catalog.manifest import FIELDS
from portside.catalog.models import Product, Revision
from portside.core import clock
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.core.origin import Origin
from portside.moderation.models import (
    OPEN_STATES,
    Comment,
    State,
    Submission,
    Transition,
)

logger = logging.getLogger(__name__)
PUBLISHER, MODERATOR = "publisher", "moderator"
ALLOWED: dict[tuple[str, str], frozenset[str]] = {
    ("", State.SUBMITTED): frozenset({PUBLISHER}),
    (State.SUBMITTED, State.IN_REVIEW): frozenset({MODERATOR}),
    (State.RESUBMITTED, State.IN_REVIEW): frozenset({MODERATOR}),
    (State.IN_REVIEW, State.CHANGES_REQUESTED): frozenset({MODERATOR}),
    (State.CHANGES_REQUESTED, State.RESUBMITTED): frozenset({PUBLISHER}),
    (State.IN_REVIEW, State.APPROVED): frozenset({MODERATOR}),
    (State.IN_REVIEW, State.REJECTED): frozenset({MODERATOR}),
    (State.APPROVED, State.PUBLISHED): frozenset({PUBLISHER, MODERATOR}),
}
MAX_COMMENT = 10_000


def _sides(user: User, product: Product) -> set[str]:
    sides = set()
    if permissions.can_edit_products(user, product.organization):
        sides.add(PUBLISHER)
    if permissions.can_moderate(user):
        sides.add(MODERATOR)
    return sides


def allowed_moves(user: User, submission: Submission) -> list[str]:
    """The states ``user`` may move ``submission`` to now (for buttons and the API)."""
    sides = _sides(user, submission.product)
    return [to for (frm, to), who in ALLOWED.items() if frm == submission.state and who & sides]


def _check_move(user: User, product: Product, frm: str, to: str) -> None:
    """Who first, then when: a caller who could never make this move is refused as such,
    whatever the submission's state; a caller who could is told the state forbids it."""
    if not permissions.can_view_products(user, product.organization):
        raise NotFound("No such product.")
    could = frozenset().union(*(who for (_, target), who in ALLOWED.items() if target == to))
    if not could & _sides(user, product):
        side = " or ".join(sorted(could))
        raise PermissionDenied(f"Only the {side} moves a submission to {to.replace('_', ' ')}.")
    if (frm, to) not in ALLOWED or not ALLOWED[(frm, to)] & _sides(user, product):
        raise Conflict(
            f"A submission that is {(frm or 'a draft').replace('_', ' ')} cannot become "
            f"{to.replace('_', ' ')}."
        )


def _move(
    submission: Submission,
    to: str,
    *,
    acting: User,
    origin: Origin,
    reason: str = "",
    revision: Revision | None = None,
    **details: Any,
) -> Transition:
    now = clock.now()
    frm = submission.state
    submission.state = to
    submission.updated_at = now
    if revision is not None:
        submission.revision = revision
    submission.save()
    transition = Transition.objects.create(
        submission=submission,
        from_state=frm,
        to_state=to,
        revision=submission.revision,
        actor=acting,
        actor_name=acting.username,
        reason=reason,
        at=now,
    )
    audit.record(
        acting,
        f"moderation:submission:{to}",
        submission,
        organization=submission.product.organization,
        product=str(submission.product),
        revision=submission.revision.number,
        from_state=frm,
        reason=reason,
        **details,
        **origin.audit_fields(),
    )
    return transition


def _locked(submission: Submission) -> Submission:
    return (
        Submission.objects.select_for_update()
        .select_related("product__organization")
        .get(pk=submission.pk)
    )


# --- the publisher's side ---------------------------------------------------------------------


def submit(*, product: Product, acting: User, origin: Origin) -> Submission:
    """Freeze the working copy and send it to review: a new submission, or, after a
    change request, a resubmission of the open one."""
    try:
        return _submit(product, acting, origin)
    except IntegrityError:  # another submission of the same product won the race
        raise Conflict("This product already has a submission in review.") from None


def _submit(product: Product, acting: User, origin: Origin) -> Submission:
    with transaction.atomic():
        open_one = (
            Submission.objects.select_for_update()
            .filter(product=product, state__in=OPEN_STATES)
            .first()
        )
        frm = open_one.state if open_one else ""
        to = State.RESUBMITTED if open_one else State.SUBMITTED
        _check_move(acting, product, frm, to)
        revision = catalog.freeze_revision(product=product, acting=acting)
        now = clock.now()
        if open_one is None:
            submission = Submission.objects.create(
                product=product,
                revision=revision,
                state="",
                submitted_by=acting,
                submitted_at=now,
                waiting_since=now,
                updated_at=now,
            )
        else:
            submission = open_one
            submission.waiting_since = now
        _move(submission, to, acting=acting, origin=origin, revision=revision)
        _mail_store_team(submission, f"{product} revision {revision.number} is {to}.")
    return submission


def publish(*, submission: Submission, acting: User, origin: Origin) -> Submission:
    with transaction.atomic():
        submission = _locked(submission)
        _check_move(acting, submission.product, submission.state, State.PUBLISHED)
        catalog.publish_revision(revision=submission.revision, acting=acting, origin=origin)
        _move(submission, State.PUBLISHED, acting=acting, origin=origin)
        _notify(submission, acting, f"{submission.product} is now live in the store.")
    return submission


# --- the reviewer's side ----------------------------------------------------------------------


def take(*, submission: Submission, acting: User, origin: Origin) -> Submission:
    """Start reviewing: the submission moves to in review and is assigned to ``acting``."""
    with transaction.atomic():
        submission = _locked(submission)
        _check_move(acting, submission.product, submission.state, State.IN_REVIEW)
        submission.assigned_to = acting
        _move(submission, State.IN_REVIEW, acting=acting, origin=origin)
        _notify(submission, acting, f"{acting.username} started reviewing {submission.product}.")
    return submission


def assign(
    *, submission: Submission, reviewer: User | None, acting: User, origin: Origin
) -> Submission:
    """Give the submission to another moderator (or to nobody) without changing its state."""
    if not permissions.can_moderate(acting):
        raise PermissionDenied("Only moderators assign reviews.")
    if reviewer is not None and not permissions.can_moderate(reviewer):
        raise ValidationFailed(f"{reviewer.username} is not a moderator.", field="reviewer")
    with transaction.atomic():
        submission = _locked(submission)
        if not submission.is_open:
            raise Conflict("The submission is closed.")
        submission.assigned_to = reviewer
        submission.updated_at = clock.now()
        submission.save(update_fields=["assigned_to", "updated_at"])
        audit.record(
            acting,
            "moderation:submission:assigned",
            submission,
            organization=submission.product.organization,
            reviewer=reviewer.username if reviewer else None,
            **origin.audit_fields(),
        )
    return submission


def request_changes(
    *, submission: Submission, comment: str, field: str = "", acting: User, origin: Origin
) -> Submission:
    with transaction.atomic():
        submission = _locked(submission)
        _check_move(acting, submission.product, submission.state, State.CHANGES_REQUESTED)
        body = _clean_comment(comment, field)
        _comment(submission, body, field, acting, origin)
        _move(submission, State.CHANGES_REQUESTED, acting=acting, origin=origin, reason=body)
        _notify(submission, acting, f"Changes are requested for {submission.product}:\n\n{body}")
    return submission


def revision_images(revision: Revision) -> list[tuple[str, str]]:
    """The (repository, digest) of every image the revision froze."""
    images = []
    for source in revision.manifest.get("sources") or []:
        if isinstance(source, dict) and isinstance(source.get("tags"), dict):
            for digest in source["tags"].values():
                images.append((str(source.get("repository")), str(digest)))
    return images


def open_critical(revision: Revision) -> dict[tuple[str, str], int]:
    """Open findings of class critical (as the security team classes them) per image of
    the revision; images without any are absent."""
    from portside.policy import selectors

    return selectors.open_critical_by_digest(revision_images(revision))


def approve(
    *, submission: Submission, acting: User, origin: Origin, override_reason: str = ""
) -> Submission:
    """Approve the revision. One whose images have open critical findings is approved only
    with ``override_reason`` (the reviewer's explicit decision), which the audit row keeps."""
    with transaction.atomic():
        submission = _locked(submission)
        _check_move(acting, submission.product, submission.state, State.APPROVED)
        critical = sum(open_critical(submission.revision).values())
        override = str(override_reason).replace("\x00", "").strip()
        if len(override) > MAX_COMMENT:
            raise ValidationFailed(f"At most {MAX_COMMENT:,} characters.", field="override_reason")
        details: dict[str, Any] = {}
        if critical:
            if not override:
                raise ValidationFailed(
                    f"The revision's images have {critical} open critical "
                    f"finding{'s' if critical != 1 else ''}: approve it only with an override "
                    "and a reason.",
                    field="override_reason",
                )
            details = {"override_reason": override[:2000], "open_critical": critical}
        _move(submission, State.APPROVED, acting=acting, origin=origin, **details)
        _notify(
            submission,
            acting,
            f"{submission.product} revision {submission.revision.number} is approved. "
            "Publish it when you are ready.",
        )
    return submission


def reject(*, submission: Submission, reason: str, acting: User, origin: Origin) -> Submission:
    with transaction.atomic():
        submission = _locked(submission)
        _check_move(acting, submission.product, submission.state, State.REJECTED)
        body = _clean_comment(reason, "")
        _comment(submission, body, "", acting, origin)
        _move(submission, State.REJECTED, acting=acting, origin=origin, reason=body)
        _notify(submission, acting, f"{submission.product} was rejected:\n\n{body}")
    return submission


# --- the thread -----------------------------------------------------------------------------


def _clean_comment(body: str, field: str) -> str:
    body = str(body).replace("\x00", "").strip()
    if not body:
        raise ValidationFailed("Write a comment.", field="body")
    if len(body) > MAX_COMMENT:
        raise ValidationFailed(f"At most {MAX_COMMENT:,} characters.", field="body")
    if field and field not in FIELDS:
        raise ValidationFailed("Point at one of the manifest's items.", field="field")
    return body


def _comment(
    submission: Submission, body: str, field: str, acting: User, origin: Origin
) -> Comment:
    comment = Comment.objects.create(
        submission=submission,
        revision=submission.revision,
        author=acting,
        author_name=acting.username,
        from_store_team=permissions.can_moderate(acting),
        field=field,
        body=body,
        created_at=clock.now(),
    )
    audit.record(
        acting,
        "moderation:comment:added",
        submission,
        organization=submission.product.organization,
        field=field,
        **origin.audit_fields(),
    )
    return comment


def comment(
    *, submission: Submission, body: str, field: str = "", acting: User, origin: Origin
) -> Comment:
    """A message in the submission's thread, from either side, optionally about one item."""
    if not permissions.can_view_products(acting, submission.product.organization):
        raise NotFound("No such submission.")
    if not _sides(acting, submission.product):
        raise PermissionDenied("Only the publisher's editors and moderators write here.")
    body = _clean_comment(body, field)
    with transaction.atomic():
        made = _comment(submission, body, field, acting, origin)
        about = f" about {FIELDS[field].lower()}" if field else ""
        _notify(submission, acting, f"{acting.username} wrote{about}:\n\n{body}")
    return made


# --- mail -----------------------------------------------------------------------------------


def _link(submission: Submission) -> str:
    return settings.BASE_URL + reverse("submission_detail", args=[submission.pk])


def _send_quietly(subject: str, body: str, to: list[str]) -> None:
    try:
        send_mail(subject, body, None, to)
    except Exception:
        logger.exception("could not send mail to %s", ", ".join(to))


def _mail(submission: Submission, to: list[str], text: str) -> None:
    if not to:
        return
    subject = (
        f"{settings.EMAIL_SUBJECT_PREFIX}{submission.product.name} ({submission.product}): "
        f"{submission.get_state_display()}"
    )
    body = f"{text}\n\nSubmission {submission.pk}: {_link(submission)}\n"
    transaction.on_commit(partial(_send_quietly, subject, body, sorted(set(to))))


def _publisher_addresses(submission: Submission) -> list[str]:
    members = Membership.objects.filter(
        organization=submission.product.organization,
        role__in=[OrgRole.OWNER, OrgRole.EDITOR],
        user__is_active=True,
    ).select_related("user")
    return [m.user.email for m in members if m.user.email]


def _store_team_addresses(submission: Submission) -> list[str]:
    if submission.assigned_to_id and submission.assigned_to and submission.assigned_to.email:
        return [submission.assigned_to.email]
    users = User.objects.filter(
        is_active=True, store_role__in=[StoreRole.MODERATOR, StoreRole.ADMIN]
    ).exclude(email="")
    return list(users.values_list("email", flat=True))


def _mail_store_team(submission: Submission, text: str) -> None:
    _mail(submission, _store_team_addresses(submission), text)


def _notify(submission: Submission, acting: User, text: str) -> None:
    """Mail the other side of ``acting``: the reviewer(s) when the publisher acts, the
    publisher's owners and editors when the store team acts."""
    if permissions.can_moderate(acting) and not permissions.can_edit_products(
        acting, submission.product.organization
    ):
        to = _publisher_addresses(submission)
    else:
        to = _store_team_addresses(submission)
    _mail(submission, [a for a in to if a != acting.email], text)
