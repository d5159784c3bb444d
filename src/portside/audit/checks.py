"""Refuse to start with an audit configuration that breaks the retention promise."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from portside.audit import stream
from portside.core.errors import ConfigurationError


@register()
def audit_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    days = settings.AUDIT_RETENTION_DAYS
    if days < 180:
        errors.append(
            Error(
                f"PORTSIDE_AUDIT_RETENTION_DAYS is {days}; the audit trail must be kept at "
                "least 180 days.",
                hint="Set PORTSIDE_AUDIT_RETENTION_DAYS to 180 or more (default 400).",
                id="portside.E001",
            )
        )
    for spec in settings.AUDIT_STREAM:
        try:
            stream.parse_sink(spec)
        except (ConfigurationError, OSError) as exc:
            errors.append(Error(f"PORTSIDE_AUDIT_STREAM: {exc}", id="portside.E002"))
    return errors
