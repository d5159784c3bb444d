"""Helpers for tests that read the store's HTML."""

from __future__ import annotations

import re

# The store's own scripts: served from /static/, external, no inline code.
_OWN_SCRIPT = re.compile(r'<script src="/static/portside/[a-z0-9_.-]+\.js" defer></script>')


def without_own_scripts(page: str) -> str:
    """The page with the store's own script tags removed, so a test can check that no
    other script (inline or injected) is on it."""
    return _OWN_SCRIPT.sub("", page)


def text_of(page: str) -> str:
    """A page's visible text from its main element on: tags removed, entities decoded,
    white space (no-break spaces too) collapsed."""
    from html import unescape

    body = page[page.index("<main") :] if "<main" in page else page
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
