"""Use cases of the publishers context: the publisher profile of an organisation (M3).

Each takes explicit, keyword-only arguments (the acting user or a name for a non-person
actor, and the origin of the request), asks ``accounts.permissions`` before it writes,
runs in one transaction with its audit row, and raises errors from ``core.errors``. Mail
is sent once the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.urls import reverse

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.audit import services as audit
from portside.core import clock, markdown, media
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.core.images import clean_image
from portside.core.origin import Origin
from portside.publishers.models import PublisherProfile

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("legal_name", "website", "phone", "email", "story")
EMAIL_LINK_HOURS = 48
# A new verification mail at most once a minute: the address is not yet proven to belong
# to the organisation, so the link must not become a way to flood someone's mailbox.
EMAIL_RESEND_INTERVAL = dt.timedelta(minutes=1)
LOGO_MIN_SIZE = (512, 512)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STORY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_url_validator = URLValidator(schemes=["http", "https"])


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_may_edit(acting: User | str, organization: Organization) -> None:
    """People need the editor or owner role; a non-person actor (the command line) is
    trusted as the operator. Whoever may not even see the organisation learns nothing."""
    if not isinstance(acting, User):
        return
    if not permissions.can_view_products(acting, organization):
        raise NotFound("No such organisation.")
    if not permissions.can_edit_products(acting, organization):
        raise PermissionDenied("Only owners and editors of the organisation edit its profile.")


# --- reading --------------------------------------------------------------------------------


def find_profile(organization: Organization) -> PublisherProfile:
    """The organisation's profile, or an empty, unsaved one: reading writes nothing."""
    profile = PublisherProfile.objects.filter(organization=organization).first()
    return profile or PublisherProfile(organization=organization)


def get_or_create_profile(organization: Organization) -> PublisherProfile:
    profile, _ = PublisherProfile.objects.get_or_create(
        organization=organization, defaults={"updated_at": clock.now()}
    )
    return profile


def logo_url(profile: PublisherProfile) -> str:
    return media.url(profile.logo)


def story_html(profile: PublisherProfile) -> str:
    """The company story as sanitised HTML (``core.markdown``)."""
    return markdown.render(profile.story)


# --- cleaning of each field -----------------------------------------------------------------


def clean_legal_name(value: str) -> str:
    value = " ".join(value.split())
    if len(value) > 200:
        raise ValidationFailed("Use at most 200 characters.", field="legal_name")
    if _CONTROL.search(value):
        raise ValidationFailed("The name contains control characters.", field="legal_name")
    return value


def clean_website(value: str) -> str:
    """An absolute http or https URL with a host, and nothing that hides the host."""
    value = value.strip()
    if not value:
        return ""
    if len(value) > 500:
        raise ValidationFailed("Use at most 500 characters.", field="website")
    if _CONTROL.search(value) or any(ch.isspace() for ch in value):
        raise ValidationFailed("A web address contains no spaces.", field="website")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationFailed(
            "Give the address of the company website starting with https:// or http://.",
            field="website",
        )
    if not parts.hostname:
        raise ValidationFailed("The web address has no host name.", field="website")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "A web address with a user name or password in it is not accepted.",
            field="website",
        )
    try:
        _url_validator(value)
    except ValidationError:
        raise ValidationFailed(
            f"{value[:80]!r} is not a valid web address.", field="website"
        ) from None
    return value


def clean_phone(value: str) -> str:
    """An international number, stored in E.164 (``+442079460958``)."""
    value = value.strip()
    if not value:
        return ""
    if not value.startswith("+"):
        raise ValidationFailed(
            "Give the phone number with its country code, starting with + "
            "(for example +44 20 7946 0958).",
            field="phone",
        )
    if len(value) > 40:
        raise ValidationFailed("The phone number is too long.", field="phone")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(
            f"{value!r} is not a phone number; give it with its country code "
            "(for example +44 20 7946 0958).",
            field="phone",
        ) from None
    if number.extension:
        raise ValidationFailed("Give the number without an extension.", field="phone")
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(
            f"{value!r} is not a valid phone number for its country code.", field="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_email(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        if len(value) > 254:
            raise ValidationError("too long")
        validate_email(value)
    except ValidationError:
        raise ValidationFailed(
            f"{value[:80]!r} is not a valid email address.", field="email"
        ) from None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def clean_story(value: str) -> str:
    value = value.replace("\r\n", "\n").strip()
    if len(value) > markdown.MAX_SOURCE:
        raise ValidationFailed(
            f"The story is {len(value):,} characters; at most {markdown.MAX_SOURCE:,} are "
            "accepted.",
            field="story",
        )
    if _STORY_CONTROL.search(value):
        raise ValidationFailed("The story contains control characters.", field="story")
    return value


_CLEANERS = {
    "legal_name": clean_legal_name,
    "website": clean_website,
    "phone": clean_phone,
    "email": clean_email,
    "story": clean_story,
}


# --- writing --------------------------------------------------------------------------------


def update_profile(
    *, organization: Organization, acting: User | str, origin: Origin, **fields: Any
) -> PublisherProfile:
    """Change the fields given (``legal_name``, ``website``, ``phone``, ``email``,
    ``story``); the others keep their value. A new company email is unverified, and a link
    sent to the previous one no longer works."""
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            f"Unknown field {', '.join(unknown)}; the profile has {', '.join(EDITABLE_FIELDS)}.",
            field=unknown[0],
        )
    _check_may_edit(acting, organization)
    cleaned: dict[str, str] = {}
    for name, value in fields.items():
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationFailed("Give the value as text.", field=name)
        cleaned[name] = _CLEANERS[name](value)
    now = clock.now()
    with transaction.atomic():
        get_or_create_profile(organization)
        profile = PublisherProfile.objects.select_for_update().get(organization=organization)
        changed = [name for name, value in cleaned.items() if getattr(profile, name) != value]
        if not changed:
            return profile
        email_changed = "email" in changed and cleaned["email"].lower() != profile.email.lower()
        previous_email = profile.email
        for name in changed:
            setattr(profile, name, cleaned[name])
        update_fields = [*changed, "updated_at"]
        if email_changed:
            profile.email_verified_at = None
            profile.email_secret_hash = ""
            profile.email_secret_expires_at = None
            update_fields += ["email_verified_at", "email_secret_hash", "email_secret_expires_at"]
        profile.updated_at = now
        profile.save(update_fields=update_fields)
        details: dict[str, Any] = {"changed": changed}
        if email_changed:
            details.update(email=profile.email, previous_email=previous_email)
        audit.record(
            acting,
            "publisher:profile:updated",
            profile,
            organization=organization,
            **details,
            **origin.audit_fields(),
        )
    return profile


def set_logo(
    *, organization: Organization, data: bytes, acting: User | str, origin: Origin
) -> PublisherProfile:
    """Check the image (square, at least 512x512, PNG, JPEG or WebP, judged from its
    decoded content), store its re-encoded copy and make it the logo."""
    _check_may_edit(acting, organization)
    # Decoding and storing happen before the transaction: they hold no lock, and a stored
    # image that ends up unused is harmless (its name is its digest).
    image = clean_image(data, field="logo", square=True, min_size=LOGO_MIN_SIZE)
    name = media.save_image(image)
    with transaction.atomic():
        get_or_create_profile(organization)
        profile = PublisherProfile.objects.select_for_update().get(organization=organization)
        previous = profile.logo
        profile.logo = name
        profile.updated_at = clock.now()
        profile.save(update_fields=["logo", "updated_at"])
        audit.record(
            acting,
            "publisher:logo:changed",
            profile,
            organization=organization,
            logo=name,
            previous=previous,
            format=image.format,
            width=image.width,
            height=image.height,
            **origin.audit_fields(),
        )
    return profile


def _send_quietly(subject: str, body: str, to: list[str]) -> None:
    """Send after commit; a mail outage is logged and the link can be sent again."""
    try:
        send_mail(subject, body, None, to)
    except Exception:
        logger.exception("could not send mail to %s", ", ".join(to))


def send_email_verification(
    *,
    organization: Organization,
    acting: User | str,
    origin: Origin,
    base_url: str | None = None,
) -> tuple[PublisherProfile, str]:
    """Mail a link that proves the company email reaches the organisation; returns the
    profile and the secret in the link (kept only as its SHA-256 digest). A new link
    replaces the previous one."""
    _check_may_edit(acting, organization)
    now = clock.now()
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        get_or_create_profile(organization)
        profile = PublisherProfile.objects.select_for_update().get(organization=organization)
        if not profile.email:
            raise ValidationFailed("Give the company email first.", field="email")
        if profile.email_verified_at:
            raise Conflict(f"{profile.email} is already verified.", field="email")
        lifetime = dt.timedelta(hours=EMAIL_LINK_HOURS)
        if (
            profile.email_secret_expires_at
            and profile.email_secret_expires_at - lifetime + EMAIL_RESEND_INTERVAL > now
        ):
            raise Conflict(
                "A link was sent less than a minute ago; check the mailbox, or try again "
                "in a minute.",
                field="email",
            )
        profile.email_secret_hash = _hash(secret)
        profile.email_secret_expires_at = now + lifetime
        profile.save(update_fields=["email_secret_hash", "email_secret_expires_at"])
        audit.record(
            acting,
            "publisher:email:verification_sent",
            profile,
            organization=organization,
            email=profile.email,
            expires_at=profile.email_secret_expires_at.isoformat(),
            **origin.audit_fields(),
        )
        link = (base_url or settings.BASE_URL) + reverse("publisher_email_verify", args=[secret])
        transaction.on_commit(
            partial(
                _send_quietly,
                f"{settings.EMAIL_SUBJECT_PREFIX}Confirm the company email of {organization.title}",
                (
                    f"{organization.name} on Portside gives {profile.email} as the email "
                    "address of the company that publishes its products.\n\n"
                    f"Confirm it within {EMAIL_LINK_HOURS} hours: {link}\n\n"
                    "If you do not know this organisation, ignore this message; nothing is "
                    "confirmed until someone opens the link and presses the button.\n"
                ),
                [profile.email],
            )
        )
    return profile, secret


LINK_EXPIRED = "This link has expired; ask for a new one on the organisation's profile page."


def link_expired(profile: PublisherProfile) -> bool:
    expires = profile.email_secret_expires_at
    return expires is None or expires <= clock.now()


def find_email_verification(secret: str) -> PublisherProfile:
    """The profile whose pending link carries ``secret``, or ``NotFound``."""
    profile = None
    if secret:
        profile = (
            PublisherProfile.objects.select_related("organization")
            .filter(email_secret_hash=_hash(secret))
            .first()
        )
    if profile is None or not profile.email:
        raise NotFound("This link is not valid; it may have been used already.")
    return profile


def verify_email(*, secret: str, acting: Any, origin: Origin) -> PublisherProfile:
    """Confirm the company email from the link that was mailed to it. The secret proves
    the mailbox, so the person need not be signed in; the link works once."""
    now = clock.now()
    with transaction.atomic():
        found = find_email_verification(secret)
        profile = PublisherProfile.objects.select_for_update().get(pk=found.pk)
        if profile.email_secret_hash != _hash(secret) or not profile.email:
            raise NotFound("This link is not valid; it may have been used already.")
        if link_expired(profile):
            raise Conflict(LINK_EXPIRED)
        profile.email_verified_at = now
        profile.email_secret_hash = ""
        profile.email_secret_expires_at = None
        profile.save(
            update_fields=["email_verified_at", "email_secret_hash", "email_secret_expires_at"]
        )
        audit.record(
            acting,
            "publisher:email:verified",
            profile,
            organization=found.organization,
            email=profile.email,
            **origin.audit_fields(),
        )
    profile.organization = found.organization
    return profile
