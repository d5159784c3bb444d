"""Markdown written by publishers, rendered with a CommonMark parser and then sanitised.

Raw HTML in the source is parsed like the rest, so the sanitiser (``nh3``, an allow-list)
sees every tag: scripts, styles, iframes, event handler attributes and ``javascript:`` or
``data:`` links are removed, and every link gets ``rel="nofollow noopener noreferrer"``.

The text always sits inside a page section (a product's "About", a publisher's story), so
its headings are demoted two levels: ``# Title`` becomes ``<h3>``, and the page keeps its
own ``<h1>`` and ``<h2>`` outline. Raw ``<h1>`` and ``<h2>`` tags lose their tag, not
their text.

The parser stops reading blocks nested deeper than its limit (twenty levels: ten of
nested lists) and would silently drop everything from there to the end of the document;
a source nested that deep is shown as plain paragraphs instead, so no text is lost.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

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
    source = source[:MAX_SOURCE]
    tokens = parser.parse(source, env)
    if _too_deep(tokens, parser.options["maxNesting"]):
        return _clean(_as_text(source))
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + HEADING_SHIFT, 6)}"
    return _clean(
        _ALIGN.sub(r'<\1 align="\2">', parser.renderer.render(tokens, parser.options, env))
    )


# Blocks whose content the parser reads as blocks again, one nesting level deeper.
_CONTAINERS = frozenset({"blockquote_open", "list_item_open"})


def _too_deep(tokens: list[Token], limit: int) -> bool:
    """Whether the parser reached its nesting limit (``maxNesting``: 20 levels, ten of
    nested lists, each being a list and an item). There it stops reading blocks and
    drops the rest of the document, from the deepest block to the end, without a word."""
    return any(t.type in _CONTAINERS and t.level >= limit - 1 for t in tokens)


def _as_text(source: str) -> str:
    """``source`` as plain paragraphs: what a document nested past the parser's limit
    shows instead, so that none of its text is lost."""
    paragraphs = (part.strip() for part in _BLANK_LINE.split(source))
    return "".join(
        "<p>" + html.escape(part).replace("\n", "<br>\n") + "</p>\n" for part in paragraphs if part
    )


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _clean(rendered: str) -> str:
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
