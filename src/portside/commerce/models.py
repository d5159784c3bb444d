"""Subscriptions, orders, invoices, refunds, the ledger, tax rates and pull records (M12).

A ``Subscription`` is a customer's hold on one tier of one product: a user for themself,
or a user for one of their organisations (then every member may pull under it). Free
tiers are subscriptions too, so every customer has accepted the licence and every pull
has a subscription behind it. Money lives in ``Order`` (one charge: the first one, or a
renewal), ``Invoice`` (gapless numbers, issued for every order), ``Refund`` and the
double-entry ledger (``LedgerTransaction``/``LedgerEntry``), all amounts in integer minor
units with an ISO 4217 currency.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from portside.accounts.models import Organization, User
from portside.catalog.models import Listing, Product, Tier


class AppendOnly(models.Model):
    """Rows that are written once and never changed or deleted through the ORM."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"{type(self).__name__} rows are append-only.")


class BillingProfile(models.Model):
    """Who is billed: a user's or an organisation's name, country and tax id."""

    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="billing_profile"
    )
    organization = models.OneToOneField(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="billing_profile",
    )
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    country = models.CharField(max_length=2)
    tax_id = models.CharField(max_length=40, blank=True)  # compact form, country prefix kept
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, organization__isnull=True)
                | Q(user__isnull=True, organization__isnull=False),
                name="billing_profile_one_holder",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})"


class TaxRate(models.Model):
    """The rate of one country from a date on; the newest rate that has started applies."""

    country = models.CharField(max_length=2)
    rate_bp = models.PositiveIntegerField()  # basis points: 1900 = 19%
    starts_on = models.DateField()
    name = models.CharField(max_length=60, default="VAT")
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["country", "starts_on"], name="one_rate_per_start"),
            models.CheckConstraint(condition=Q(rate_bp__lte=10_000), name="tax_rate_at_most_100"),
        ]
        ordering = ["country", "-starts_on"]

    def __str__(self) -> str:
        return f"{self.country} {self.rate_bp / 100:.2f}% from {self.starts_on}"


class PublisherTerms(models.Model):
    """The store's revenue share for one publisher, when it is not the store's default."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="commerce_terms"
    )
    share_bp = models.PositiveIntegerField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(share_bp__lte=10_000), name="share_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.share_bp / 100:.2f}%"


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Awaiting payment"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Renewal unpaid"
    CANCELLED = "cancelled", "Cancelled"
    LAPSED = "lapsed", "Lapsed"
    REFUNDED = "refunded", "Refunded"
    REVOKED = "revoked", "Revoked"


ENTITLED_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
ENDED_STATUSES = (
    SubscriptionStatus.CANCELLED,
    SubscriptionStatus.LAPSED,
    SubscriptionStatus.REFUNDED,
    SubscriptionStatus.REVOKED,
)


class Subscription(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="subscriptions")
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="subscriptions")
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )
    # The tier as it was taken (the live revision's frozen tier): name, price, period,
    # access. The live revision's tier of the same id decides access later on.
    tier_name = models.CharField(max_length=60)
    tier_snapshot = models.JSONField()
    revision_number = models.PositiveIntegerField()
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="subscriptions")
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    status = models.CharField(max_length=10, choices=SubscriptionStatus.choices)
    currency = models.CharField(max_length=3)
    price_minor = models.BigIntegerField(default=0)
    billing_period = models.CharField(max_length=8)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # Entitled while the status is active or past due and this is unset or in the future.
    access_until = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    renewal_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    notifications = models.BooleanField(default=True)
    # The end of the period whose renewal reminder was mailed (one reminder per period).
    reminded_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "status"], name="subscription_of_user"),
            models.Index(fields=["organization", "status"], name="subscription_of_org"),
            models.Index(fields=["status", "next_attempt_at"], name="subscription_due"),
            models.Index(fields=["product", "status"], name="subscription_of_product"),
        ]
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"subscription {self.pk} to {self.product_id}/{self.tier_name}"

    @property
    def holder_name(self) -> str:
        return self.organization.name if self.organization is not None else self.user.username

    @property
    def is_free(self) -> bool:
        return self.price_minor == 0


class LicenceAcceptance(AppendOnly):
    """The licence a customer accepted before a subscription started."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="acceptances"
    )
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    license_url = models.URLField(max_length=500)
    revision_number = models.PositiveIntegerField()
    accepted_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"licence of subscription {self.subscription_id} accepted"


class OrderKind(models.TextChoices):
    INITIAL = "initial", "Purchase"
    RENEWAL = "renewal", "Renewal"


class OrderStatus(models.TextChoices):
    OPEN = "open", "Awaiting payment"
    PAID = "paid", "Paid"
    FAILED = "failed", "Payment failed"
    VOID = "void", "Void"


class Order(models.Model):
    """One charge of a subscription, with the tax and revenue share in force when made."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="orders")
    kind = models.CharField(max_length=8, choices=OrderKind.choices)
    status = models.CharField(max_length=8, choices=OrderStatus.choices)
    publisher = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sales")
    currency = models.CharField(max_length=3)
    net_minor = models.BigIntegerField()
    tax_minor = models.BigIntegerField()
    total_minor = models.BigIntegerField()
    tax_bp = models.PositiveIntegerField()
    tax_country = models.CharField(max_length=2)
    reverse_charge = models.BooleanField(default=False)
    share_bp = models.PositiveIntegerField()
    store_share_minor = models.BigIntegerField()
    refunded_minor = models.BigIntegerField(default=0)
    billing = models.JSONField()  # the billing profile as it was
    provider = models.CharField(max_length=20)
    provider_ref = models.CharField(max_length=100, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["publisher", "-created_at"], name="order_of_publisher"),
            models.Index(fields=["provider", "provider_ref"], name="order_by_provider_ref"),
        ]
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_minor=models.F("net_minor") + models.F("tax_minor")),
                name="order_total_is_net_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(refunded_minor__gte=0) & Q(refunded_minor__lte=models.F("total_minor")),
                name="order_refund_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk}"

    @property
    def refundable_minor(self) -> int:
        return self.total_minor - self.refunded_minor if self.status == OrderStatus.PAID else 0


class InvoiceCounter(models.Model):
    """The last invoice number of a year, taken under a row lock so numbers have no gaps."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Invoice(AppendOnly):
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="invoice")
    number = models.CharField(max_length=20, unique=True)
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    issued_at = models.DateTimeField()
    # Seller, buyer and lines as printed; never recomputed from rows that may change.
    document = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="invoice_sequence_unique")
        ]
        ordering = ["-year", "-sequence"]

    def __str__(self) -> str:
        return self.number


class Refund(AppendOnly):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.BigIntegerField()
    net_minor = models.BigIntegerField()
    tax_minor = models.BigIntegerField()
    store_share_minor = models.BigIntegerField()
    reason = models.CharField(max_length=500)
    kind = models.CharField(max_length=12, default="refund")  # refund | chargeback
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    provider_ref = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_positive"),
        ]

    def __str__(self) -> str:
        return f"refund {self.pk} of order {self.order_id}"


# --- the ledger -----------------------------------------------------------------------------


class Account(models.TextChoices):
    CUSTOMER_RECEIVABLE = "customer_receivable", "Customer receivable"
    PROVIDER_CLEARING = "provider_clearing", "Payment provider clearing"
    PUBLISHER_PENDING = "publisher_pending", "Publisher share of unpaid invoices"
    PUBLISHER_PAYABLE = "publisher_payable", "Publisher payable"
    STORE_REVENUE = "store_revenue", "Store revenue share"
    TAX_PAYABLE = "tax_payable", "Tax payable"


class LedgerTransaction(AppendOnly):
    """One money event; its entries add up to zero in each currency."""

    kind = models.CharField(max_length=20)  # charge | payment | refund | chargeback | payout
    created_at = models.DateTimeField()
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    memo = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"


class LedgerEntry(AppendOnly):
    """A debit (positive) or credit (negative) of one account, in minor units. ``party``
    says whose account: a publisher's organisation id, a tax country, a provider."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.CharField(max_length=24, choices=Account.choices)
    party = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["account", "party", "currency"], name="entry_account")]
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.account}:{self.party} {self.amount_minor} {self.currency}"


class LedgerBalance(models.Model):
    """The running balance of an account, kept in the transaction that posts to it and
    checked against the entries by ``ledger.verify``: a cache, never the truth alone."""

    account = models.CharField(max_length=24, choices=Account.choices)
    party = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3)
    balance_minor = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "party", "currency"], name="one_balance_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account}:{self.party} {self.balance_minor} {self.currency}"


# --- retries and providers ------------------------------------------------------------------


class IdempotencyKey(models.Model):
    """A client's key for one state-changing request: the same key with the same request
    answers what the first one did; with another request it is refused."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=60)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class WebhookEvent(models.Model):
    """A provider's event, kept by its id so a replay is applied once."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField()
    payload = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


class PullRecord(models.Model):
    """One manifest pull by a customer: who, under which subscription, of what, when."""

    user_id = models.BigIntegerField()
    username = models.CharField(max_length=150)
    subscription = models.ForeignKey(
        Subscription, null=True, on_delete=models.SET_NULL, related_name="pulls"
    )
    customer_organization_id = models.BigIntegerField(null=True)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="pull_records")
    publisher_id = models.BigIntegerField()
    tier_name = models.CharField(max_length=60)
    paid = models.BooleanField()
    repository = models.CharField(max_length=255)
    tag = models.CharField(max_length=128, blank=True)
    digest = models.CharField(max_length=140)
    pulled_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["publisher_id", "pulled_at"], name="pull_of_publisher"),
            models.Index(fields=["product", "pulled_at"], name="pull_of_product"),
        ]
        constraints = [
            # One row per pull, however often its event is delivered (a delivery may be
            # repeated after a worker died); also the index of a customer's pulls.
            models.UniqueConstraint(
                fields=["user_id", "repository", "pulled_at", "digest", "tag"], name="pull_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} pulled {self.repository}@{self.digest}"
