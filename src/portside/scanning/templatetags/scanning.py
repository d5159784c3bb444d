"""Scan summaries for pages that other contexts render (the repository page), without
those contexts importing scanning."""

from __future__ import annotations

from typing import Any

from django import template

from portside.core import clock
from portside.scanning.models import Scan

register = template.Library()


@register.simple_tag
def scans_of(repository: Any) -> dict[str, Scan]:
    """The repository's scans by image digest (one query for the whole page)."""
    return {scan.digest: scan for scan in Scan.objects.filter(repository=repository)}


@register.filter
def lookup(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.filter
def feed_time(stamp: str) -> str:
    """A feed's stored ISO time as ``2026-12-05 10:00 UTC``, or ``never``."""
    return clock.utc_minutes(stamp) or "never"
