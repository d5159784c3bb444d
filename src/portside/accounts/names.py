"""Names of users and organisations: one namespace shared with the registry.

A name is one path component of an OCI repository name (``acme`` in ``acme/db``), so it
follows the distribution spec's grammar: lowercase letters and digits, separated by a
period, one or two underscores, or one or more hyphens. Some names are reserved because
they are routes, well-known words, or would mislead customers.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

MIN_LENGTH = 2
MAX_LENGTH = 39
NAME_PATTERN = re.compile(r"\A[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*\Z")

RESERVED = frozenset(
    {
        "about",
        "account",
        "accounts",
        "admin",
        "administrator",
        "api",
        "audit",
        "auth",
        "billing",
        "blog",
        "docs",
        "download",
        "explore",
        "health",
        "help",
        "home",
        "library",
        "login",
        "logout",
        "me",
        "mfa",
        "moderation",
        "new",
        "null",
        "official",
        "orgs",
        "portside",
        "privacy",
        "publisher",
        "publishers",
        "registry",
        "root",
        "search",
        "security",
        "settings",
        "signin",
        "signup",
        "staff",
        "static",
        "status",
        "store",
        "support",
        "system",
        "terms",
        "token",
        "tokens",
        "undefined",
        "user",
        "users",
        "v1",
        "v2",
        "www",
    }
)


def validate_name(value: str) -> None:
    """Raise ``ValidationError`` with a message a person can act on."""
    if value != value.lower():
        raise ValidationError("Use lowercase letters only.", code="uppercase")
    if not MIN_LENGTH <= len(value) <= MAX_LENGTH:
        raise ValidationError(
            f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters.", code="length"
        )
    if not NAME_PATTERN.match(value):
        raise ValidationError(
            "Use lowercase letters and digits, separated by single periods, "
            "one or two underscores, or hyphens; start and end with a letter or digit.",
            code="grammar",
        )
    if value in RESERVED:
        raise ValidationError(f"The name {value!r} is reserved.", code="reserved")


username_validators = [
    RegexValidator(NAME_PATTERN, "Use lowercase letters, digits and . _ - only."),
    validate_name,
]
