"""Products, their manifest, tiers, immutable revisions and the public listings (M4, M6).

A ``Product`` holds the publisher's working copy of the manifest (the draft). Submitting
freezes it into a ``Revision``: the manifest as JSON plus the digest each source tag
pointed to at that moment; a revision never changes afterwards. A ``Listing`` is what
customers see: the one revision that is live for a product. Publishing a newer revision
replaces the listing's revision in one transaction, so the old one stays live while the
new one is reviewed.

Sources (the private repositories and tags a product is made from) are never shown to
customers; tiers name which of those repositories and tags their customers may pull.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Lower

from portside.accounts.models import Organization, User
from portside.catalog.querysets import ListingQuerySet, ProductQuerySet
from portside.registry.models import Repository

MAX_SEARCH_TAGS = 10
MAX_SCREENSHOTS = 8
MAX_SHORT_DESCRIPTION = 140


class Category(models.Model):
    """A storefront category; the store team manages the list."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=80, unique=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Platform(models.TextChoices):
    ENTERPRISE = "enterprise", "Enterprise Edition (certified infrastructure)"
    COMMUNITY = "community", "Community Edition"


class BillingPeriod(models.TextChoices):
    FREE = "free", "Free"
    ONE_TIME = "one_time", "One-time"
    MONTHLY = "monthly", "Monthly"
    YEARLY = "yearly", "Yearly"


class Product(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="products"
    )
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    # The manifest, as the publisher is editing it.
    icon = models.CharField(max_length=200, blank=True)
    short_description = models.CharField(max_length=MAX_SHORT_DESCRIPTION, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    search_tags = models.JSONField(default=list, blank=True)
    long_description = models.TextField(blank=True)
    support_url = models.URLField(max_length=500, blank=True)
    support_email = models.EmailField(blank=True)
    self_help = models.TextField(blank=True)  # Markdown: documentation, forums, FAQs
    install_instructions = models.TextField(blank=True)  # Markdown
    license_url = models.URLField(max_length=500, blank=True)
    support_hours = models.CharField(max_length=200, blank=True)
    # Response time in hours per severity of a support request.
    response_critical_hours = models.PositiveIntegerField(null=True, blank=True)
    response_major_hours = models.PositiveIntegerField(null=True, blank=True)
    response_minor_hours = models.PositiveIntegerField(null=True, blank=True)
    platforms = models.JSONField(default=list, blank=True)  # Platform values
    publisher_support = models.BooleanField(default=False)

    objects = ProductQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("name"), name="product_name_unique_per_publisher"
            ),
            models.UniqueConstraint(fields=["organization", "slug"], name="product_slug_unique"),
        ]
        ordering = ["organization__name", "name"]

    def __str__(self) -> str:
        return f"{self.organization.name}/{self.slug}"


class ProductSource(models.Model):
    """A private repository (and some of its tags) the product is made from."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="sources")
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="+")
    tags = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "repository"], name="one_source_per_repo")
        ]
        ordering = ["repository__name"]

    def __str__(self) -> str:
        return f"{self.repository.name}:{','.join(self.tags)}"


class Screenshot(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="screenshots")
    image = models.CharField(max_length=200)
    caption = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"screenshot {self.position} of {self.product_id}"


class Tier(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=60)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    billing_period = models.CharField(
        max_length=8, choices=BillingPeriod.choices, default=BillingPeriod.FREE
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint("product", Lower("name"), name="tier_name_unique"),
        ]
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.price == 0


class TierAccess(models.Model):
    """What a customer of the tier may pull: one of the product's sources, some tags."""

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="access")
    source = models.ForeignKey(ProductSource, on_delete=models.CASCADE, related_name="+")
    tags = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tier", "source"], name="one_access_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.tier_id} may pull {self.source_id}:{','.join(self.tags)}"


class Revision(models.Model):
    """A frozen manifest, as submitted. Never updated once written."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    manifest = models.JSONField()
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "number"], name="revision_number_unique")
        ]
        ordering = ["product", "-number"]

    def __str__(self) -> str:
        return f"{self.product} revision {self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("A revision is immutable once written.")
        super().save(*args, **kwargs)


class ListingState(models.TextChoices):
    LIVE = "live", "Live"
    UNPUBLISHED = "unpublished", "Unpublished by the publisher"
    TAKEN_DOWN = "taken_down", "Taken down by the store"
    REVOKED = "revoked", "Revoked for overdue security fixes"


class Listing(models.Model):
    """The product as customers see it: one revision, live or withdrawn."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="listing")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=12, choices=ListingState.choices)
    first_published_at = models.DateTimeField()
    published_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)
    certified = models.BooleanField(default=False)
    pulls = models.BigIntegerField(default=0)
    # Security fixes overdue since then (the SLA's hold, placed and lifted by the policy
    # context); shown on the listing, in search and in the API, naming no vulnerability.
    security_hold_since = models.DateTimeField(null=True, blank=True)
    # A revoked listing's existing customers pull until then (None: no limit).
    access_ends_at = models.DateTimeField(null=True, blank=True)

    objects = ListingQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["state", "-published_at"], name="listing_newest"),
            models.Index(fields=["state", "-pulls"], name="listing_popular"),
        ]

    def __str__(self) -> str:
        return f"listing of {self.product}"


from portside.catalog import search as _search  # noqa: E402, F401  (its models)
