"""What the store tells whom: people's choices, every notification sent (or to send), the
organisations' webhook endpoints and the log of their deliveries, and the keys of the
notifications that retention deleted (``retention.py``)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from portside.accounts.models import Organization, User
from portside.catalog.models import Product


class Mode(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    DIGEST = "digest", "Daily digest"
    OFF = "off", "Off"


class Preference(models.Model):
    """A person's choice for one organisation (as its member) or one product (as its
    customer). Without a row the default applies (``preferences.default_mode``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    mode = models.CharField(max_length=9, choices=Mode.choices)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=True) & Q(product__isnull=False))
                | (Q(organization__isnull=False) & Q(product__isnull=True)),
                name="preference_one_scope",
            ),
            models.UniqueConstraint(
                fields=["user", "organization"],
                condition=Q(organization__isnull=False),
                name="preference_per_organization",
            ),
            models.UniqueConstraint(
                fields=["user", "product"],
                condition=Q(product__isnull=False),
                name="preference_per_product",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.scope}: {self.mode}"

    @property
    def scope(self) -> str:
        if self.organization_id is not None:
            return f"org:{self.organization_id}"
        return f"product:{self.product_id}"


class Channel(models.TextChoices):
    MAIL = "mail", "Mail"
    DIGEST = "digest", "Daily digest"
    WEBHOOK = "webhook", "Webhook"


class State(models.TextChoices):
    PENDING = "pending", "Waiting"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    DIGESTED = "digested", "In a digest"
    FAILED = "failed", "Given up"


class Audience(models.TextChoices):
    PUBLISHER = "publisher", "Publisher"
    CUSTOMER = "customer", "Customer"


class WebhookEndpoint(models.Model):
    """Where an organisation wants its events POSTed. The secret signs every delivery; it
    is shown to the owner once, when made (or replaced)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=100, blank=True)
    secret = models.CharField(max_length=80)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    # The creating form's one-time key: the same form sent twice makes one endpoint.
    creation_key = models.CharField(max_length=64, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "creation_key"],
                condition=~Q(creation_key=""),
                name="webhook_created_once",
            )
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} of {self.organization_id}: {self.url}"

    @property
    def secret_hint(self) -> str:
        return self.secret[:10] + "…"


class Notification(models.Model):
    """One notice to one recipient (a person, or an endpoint) on one channel about one
    event. ``key`` names the event and the recipient, so an event delivered twice is
    recorded, and sent, once."""

    key = models.CharField(max_length=255, unique=True)
    uid = models.UUIDField(default=uuid.uuid4, unique=True)  # the webhook delivery's id
    event = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    audience = models.CharField(max_length=10, choices=Audience.choices)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    # What a person's unsubscribe link turns off: "org:ID", "product:ID" or "digest".
    scope = models.CharField(max_length=40, blank=True)
    organization_id = models.BigIntegerField(null=True, blank=True)  # the publisher
    product_id = models.BigIntegerField(null=True, blank=True)
    hold_id = models.BigIntegerField(null=True, blank=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)  # a webhook's JSON body
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    digest = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )

    class Meta:
        indexes = [
            models.Index(fields=["channel", "state", "user"], name="notification_waiting"),
            models.Index(fields=["state", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["event", "hold_id"], name="notification_of_hold"),
            models.Index(fields=["event", "product_id"], name="notification_of_product"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.user_id or self.endpoint_id} by {self.channel}"


class WebhookDelivery(models.Model):
    """One try of one webhook notification: what the receiver answered."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    attempt = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-at"], name="delivery_of_endpoint")]
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"try {self.attempt} of {self.notification_id}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class PrunedKey(models.Model):
    """The key of a notice that retention deleted, kept so the event it named is still
    told once: ``services._record`` finds it here as it would have found the notice."""

    key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField()  # when the notice was recorded

    def __str__(self) -> str:
        return self.key
