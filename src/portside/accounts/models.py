"""Users, organisations, memberships, invitations and personal access tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from portside.accounts.names import validate_name
from portside.accounts.querysets import (
    AccessTokenQuerySet,
    InvitationQuerySet,
    OrganizationQuerySet,
)


class StoreRole(models.TextChoices):
    """Roles of the store team. Customers and publishers have none."""

    NONE = "", "none"
    MODERATOR = "moderator", "moderator"
    SECURITY = "security", "security"
    ADMIN = "admin", "admin"


class OrgRole(models.TextChoices):
    OWNER = "owner", "owner"
    EDITOR = "editor", "editor"
    VIEWER = "viewer", "viewer"


class Namespace(models.Model):
    """One row per user name and organisation name: they share the registry namespace.

    The unique constraint here is what guarantees that a user and an organisation can
    never hold the same name, even when both are created at the same moment.
    """

    class Kind(models.TextChoices):
        USER = "user"
        ORGANIZATION = "org"

    name = models.CharField(max_length=39, unique=True, validators=[validate_name])
    kind = models.CharField(max_length=4, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    store_role = models.CharField(
        max_length=16, choices=StoreRole.choices, default=StoreRole.NONE, blank=True
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def is_store_team(self) -> bool:
        return self.store_role != StoreRole.NONE


class Organization(models.Model):
    name = models.CharField(max_length=39, unique=True, validators=[validate_name])
    display_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def title(self) -> str:
        return self.display_name or self.name


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=OrgRole.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership"),
        ]
        ordering = ["organization__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class Invitation(models.Model):
    """An invitation by email; the link carries a secret stored here only as a hash."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=8, choices=OrgRole.choices)
    secret_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.organization}"


class TokenScope(models.TextChoices):
    READ = "read", "read (pull, list)"
    WRITE = "write", "write (push)"
    DELETE = "delete", "delete"


class AccessToken(models.Model):
    """A personal access token for command-line tools.

    The secret is shown once at creation; only its SHA-256 digest is kept (the secret has
    240 bits of entropy, so a fast hash is the right tool: there is nothing to brute-force).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    secret_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    def allows(self, scope: str) -> bool:
        return scope in self.scopes
