"""Markdown written by publishers, rendered with a CommonMark parser and then sanitised.

Raw HTML in the source is parsed like the rest, so the sanitiser (``nh3``, an allow-list)
sees every tag: scripts, styles, iframes, event handler attributes and ``javascript:`` or
``data:`` links are removed, and every link gets ``rel="nofollow noopener noreferrer"``.

The text always sits inside a page section (a product's "About", a publisher's story), so
its headings are demoted two levels: ``# Title`` becomes ``<h3>``, and the page keeps its
own ``<h1>`` and ``<h2>`` outline. Raw ``<h1>`` and ``<h2>`` tags lose their tag, not
their text.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

MAX_SOURCE = 50_000

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
}


# Table alignment comes out of the parser as an inline style, which the sanitiser drops
# (and the Content-Security-Policy would block); the ``align`` attribute says the same.
_ALIGN = re.compile(r'<(th|td) style="text-align:(left|right|center)">')


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return (
        MarkdownIt("commonmark", {"html": True, "linkify": False})
        .enable("table")
        .enable("strikethrough")
    )


HEADING_SHIFT = 2  # levels a heading of the source goes down (# -> h3), at most to h6


def render(source: str) -> str:
    """Safe HTML for ``source``; empty for an empty source."""
    if not source or not source.strip():
        return ""
    parser = _parser()
    env: dict[str, object] = {}
    tokens = parser.parse(source[:MAX_SOURCE], env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + HEADING_SHIFT, 6)}"
    rendered = _ALIGN.sub(r'<\1 align="\2">', parser.renderer.render(tokens, parser.options, env))
    return nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def plain_text(source: str) -> str:
    """The text of ``source`` without markup, for search and summaries."""
    if not source:
        return ""
    # One unescape of every entity: "&amp;lt;" in the HTML is the text "&lt;", not "<".
    return html.unescape(nh3.clean(render(source), tags=set()))
