"""The publisher profile: who stands behind an organisation's products (M3).

One profile per organisation. The company email is verified by a link carrying a secret
kept here only as a SHA-256 digest; changing the address clears the verification. The
logo is the name of a re-encoded, content-addressed image (``core.media``).
"""

from __future__ import annotations

from django.db import models

from portside.accounts.models import Organization

REQUIRED_FIELDS = ("legal_name", "website", "phone", "email", "story", "logo")


class PublisherProfile(models.Model):
    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="publisher_profile"
    )
    legal_name = models.CharField(max_length=200, blank=True)
    website = models.URLField(max_length=500, blank=True)
    phone = models.CharField(max_length=16, blank=True)  # E.164
    email = models.EmailField(blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    email_secret_hash = models.CharField(max_length=64, blank=True, db_index=True)
    email_secret_expires_at = models.DateTimeField(null=True, blank=True)
    story = models.TextField(blank=True)  # Markdown
    logo = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"publisher profile of {self.organization}"

    @property
    def email_verified(self) -> bool:
        return bool(self.email and self.email_verified_at)

    def missing(self) -> list[str]:
        """What still stands between this profile and a first submission."""
        labels = {
            "legal_name": "legal entity name",
            "website": "company website",
            "phone": "phone number",
            "email": "company email",
            "story": "company story",
            "logo": "logo",
        }
        gaps = [labels[name] for name in REQUIRED_FIELDS if not getattr(self, name)]
        if self.email and not self.email_verified_at:
            gaps.append("verification of the company email")
        return gaps

    @property
    def is_complete(self) -> bool:
        return not self.missing()
