"""Template filters for manifests: Markdown, media URLs, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from portside.core import markdown as md
from portside.core import media

register = template.Library()
_PERIODS = {"free": "", "one_time": " once", "monthly": " a month", "yearly": " a year"}


@register.filter
def markdown(source: str) -> SafeString:
    return mark_safe(md.render(source or ""))  # noqa: S308 - sanitised by nh3


@register.filter
def media_url(name: str) -> str:
    return media.url(name or "")


@register.filter
def price(tier: dict[str, Any]) -> str:
    amount = Decimal(str(tier.get("price", "0")))
    if amount == 0:
        return "Free"
    period = _PERIODS.get(tier.get("billing_period", ""), "")
    return f"{tier.get('currency', '')} {amount:,.2f}{period}"


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
