"""Submissions of product revisions and their review (M5).

A ``Submission`` is one trip through review for a product: it starts when the publisher
submits a revision and ends approved-and-published or rejected. Resubmitting after a
change request adds a newer revision to the same submission. Every change of state is a
``Transition`` row (the status history), and publisher and reviewer talk in ``Comment``
rows, each of which may point at one field of the manifest.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from portside.accounts.models import User
from portside.catalog.models import Product, Revision


class State(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    IN_REVIEW = "in_review", "In review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    RESUBMITTED = "resubmitted", "Resubmitted"
    APPROVED = "approved", "Approved"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"


OPEN_STATES = (
    State.SUBMITTED,
    State.IN_REVIEW,
    State.CHANGES_REQUESTED,
    State.RESUBMITTED,
    State.APPROVED,
)
WAITING_FOR_REVIEW = (State.SUBMITTED, State.RESUBMITTED)


class Submission(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="submissions")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=20, choices=State.choices)
    submitted_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    submitted_at = models.DateTimeField()
    # When the submission last began to wait for a reviewer: the queue's order.
    waiting_since = models.DateTimeField()
    updated_at = models.DateTimeField()
    assigned_to = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_reviews"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product"],
                condition=Q(state__in=[s.value for s in OPEN_STATES]),
                name="one_open_submission_per_product",
            )
        ]
        indexes = [models.Index(fields=["state", "waiting_since"], name="review_queue")]
        ordering = ["waiting_since", "pk"]

    def __str__(self) -> str:
        return f"submission {self.pk} of {self.product}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Transition(models.Model):
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, choices=State.choices)
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_state or 'draft'} -> {self.to_state}"


class Comment(models.Model):
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="comments")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    author_name = models.CharField(max_length=150)
    from_store_team = models.BooleanField(default=False)
    field = models.CharField(max_length=40, blank=True)  # a manifest field, or none
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"comment by {self.author_name}"
