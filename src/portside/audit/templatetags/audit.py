"""How an audit row's details read on the page: key and value, not a Python dict."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value) or "—"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@register.filter
def detail_pairs(details: Any) -> list[tuple[str, str]]:
    """``{"store_role": "admin", "scopes": ["read"]}`` -> [("store role", "admin"),
    ("scopes", "read")], in the order they were recorded."""
    if not isinstance(details, dict):
        return [("details", _text(details))] if details else []
    return [(str(key).replace("_", " "), _text(value)) for key, value in details.items()]


@register.filter
def break_at_colons(action: str) -> SafeString:
    """``account:session:signed_in`` may wrap after each colon, never inside a word."""
    return mark_safe(escape(action).replace(":", ":<wbr>"))  # noqa: S308 (escaped above)


@register.filter
def pairs_text(pairs: list[tuple[str, str]]) -> str:
    """The pairs of ``detail_pairs`` as one line of text: ``store role: admin · scopes: read``
    (the whole of a row's details, where the table shows the start of it)."""
    return " · ".join(f"{key}: {value}" for key, value in pairs)


@register.filter
def model_name(target_type: str) -> str:
    """``accounts.organization`` -> ``organization``: the kind of thing, without the part
    of the store that keeps it (the row's title and the exports keep the whole name)."""
    return target_type.rpartition(".")[2]
