"""The storefront's memory of rendered Markdown: keyed by the text, bounded, never stale."""

from __future__ import annotations

import pytest

from portside.storefront.catalogue import _RenderedMarkdown

pytestmark = pytest.mark.nodb


def test_a_changed_text_is_rendered_afresh() -> None:
    cache = _RenderedMarkdown(entries=2)
    assert cache.html("**one**") == "<p><strong>one</strong></p>\n"
    assert cache.html("**two**") == "<p><strong>two</strong></p>\n"
    assert cache.html("<script>alert(1)</script>") == ""


def test_it_keeps_at_most_its_entries_and_skips_long_texts() -> None:
    cache = _RenderedMarkdown(entries=2, max_chars=100)
    for text in ("a", "b", "c"):
        cache.html(text)
    assert len(cache._items) == 2
    cache.html("x" * 101)
    assert len(cache._items) == 2
    assert cache.html("x" * 101).startswith("<p>xxx")
