"""The vulnerability SLA: clocks on findings of listed images, the history of holds and
revocations, and VEX statements.

A ``Clock`` runs for one vulnerability in one package of one product's listed images,
however many of its digests carry it: it starts when the publisher is told (Critical and
Major only), is due after the class's window, stops when no listed digest carries the
finding any more (or an approved ``not_affected`` statement covers it, or the security
team reclassifies it below Major), and is *overdue* once due and still running. A
listing with an overdue clock is on hold (``catalog.Listing.security_hold_since``); the
steps of holds and revocations are kept in ``HoldEvent``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from portside.catalog.models import Product


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    OVERDUE = "overdue", "Overdue"
    STOPPED = "stopped", "Stopped"


OPEN_STATES = (ClockState.RUNNING, ClockState.OVERDUE)


class StopReason(models.TextChoices):
    FIXED = "fixed", "Fixed in every listed image"
    NOT_AFFECTED = "not_affected", "Covered by an approved VEX statement"
    RECLASSIFIED = "reclassified", "Reclassified below Major"
    UNLISTED = "unlisted", "The listing was withdrawn"


class Clock(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    organization_id = models.BigIntegerField()  # the publisher, for its workspace
    advisory_id = models.CharField(max_length=100)
    package_type = models.CharField(max_length=32)
    package_name = models.CharField(max_length=255)
    # The class that sets the deadline (critical or major): the highest effective class
    # among the listed digests that carry the finding.
    severity = models.CharField(max_length=8)
    started_at = models.DateTimeField()  # when the publisher was told
    due_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=ClockState.choices, default=ClockState.RUNNING)
    overdue_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=16, choices=StopReason.choices, blank=True)
    # Reminders sent: 1 at half time, 2 also 24 hours before the deadline; and when the
    # next one is due (None: no reminder left).
    reminders = models.PositiveSmallIntegerField(default=0)
    next_reminder_at = models.DateTimeField(null=True, blank=True)
    # Where the finding is: [{"repository", "tag", "digest", "version", "fixed"}]
    affected = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "advisory_id", "package_type", "package_name"],
                condition=Q(state__in=["running", "overdue"]),
                name="one_open_clock",
            )
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="clock_due"),
            # The sweep's two questions every minute, about running clocks only: stopped
            # ones keep their past deadlines and would make a plain index look useless.
            models.Index(fields=["due_at"], condition=Q(state="running"), name="clock_running_due"),
            models.Index(
                fields=["next_reminder_at"],
                condition=Q(state="running"),
                name="clock_running_reminder",
            ),
            models.Index(fields=["product", "state"], name="clock_of_product"),
            models.Index(fields=["organization_id", "state"], name="clock_of_publisher"),
        ]

    def __str__(self) -> str:
        return f"{self.advisory_id} in {self.package_name} ({self.product_id})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class HoldAction(models.TextChoices):
    HELD = "held", "Put on hold"
    LIFTED = "lifted", "Hold lifted"
    REVOKED = "revoked", "Revoked"
    REINSTATED = "reinstated", "Reinstated by the store team"


class HoldEvent(models.Model):
    """One step in a listing's SLA history (the audit trail has the same, chained)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=12, choices=HoldAction.choices)
    at = models.DateTimeField()
    reason = models.TextField(blank=True)
    acting_id = models.BigIntegerField(null=True, blank=True)  # None: the store's sweep

    class Meta:
        indexes = [models.Index(fields=["product", "at"], name="hold_history")]
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.product_id} at {self.at:%Y-%m-%d %H:%M}"


class VexStatus(models.TextChoices):
    NOT_AFFECTED = "not_affected", "Not affected"
    AFFECTED = "affected", "Affected"
    FIXED = "fixed", "Fixed"
    UNDER_INVESTIGATION = "under_investigation", "Under investigation"


class VexJustification(models.TextChoices):
    """OpenVEX's justifications for ``not_affected``."""

    COMPONENT_NOT_PRESENT = "component_not_present", "The component is not present"
    VULNERABLE_CODE_NOT_PRESENT = (
        "vulnerable_code_not_present",
        "The vulnerable code is not present",
    )
    NOT_IN_EXECUTE_PATH = (
        "vulnerable_code_not_in_execute_path",
        "The vulnerable code is never executed",
    )
    CANNOT_BE_CONTROLLED = (
        "vulnerable_code_cannot_be_controlled_by_adversary",
        "The vulnerable code cannot be controlled by an adversary",
    )
    INLINE_MITIGATIONS = "inline_mitigations_already_exist", "Mitigations already exist"


class VexReview(models.TextChoices):
    PENDING = "pending", "Waiting for the security team"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by the publisher"


class VexStatement(models.Model):
    """A publisher's statement about one vulnerability in a product: for every image of
    the product, or one image (``digest``); for one package, or any (blank)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    organization_id = models.BigIntegerField()
    advisory_id = models.CharField(max_length=100)
    package_type = models.CharField(max_length=32, blank=True)
    package_name = models.CharField(max_length=255, blank=True)
    digest = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=VexStatus.choices)
    justification = models.CharField(max_length=60, choices=VexJustification.choices, blank=True)
    impact_statement = models.TextField(blank=True)
    action_statement = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    review = models.CharField(max_length=10, choices=VexReview.choices, default=VexReview.PENDING)
    created_at = models.DateTimeField()
    created_by_id = models.BigIntegerField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by_id = models.BigIntegerField(null=True, blank=True)
    review_reason = models.TextField(blank=True)
    # When the sweep saw an approved statement's expiry pass and matched its product's
    # clocks again (a finding it covered starts a new clock).
    lapsed_at = models.DateTimeField(null=True, blank=True)
    # The OpenVEX document attached to the images as an OCI referrer, once approved.
    referrer_digests = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["product", "advisory_id"], name="vex_of_product"),
            models.Index(fields=["review", "created_at"], name="vex_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.advisory_id} ({self.product_id})"
