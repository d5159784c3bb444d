"""Fuzzing the Markdown renderer with the text a hostile publisher would write: Markdown
and raw HTML mixed at random from the pieces of known script-injection tricks, and deep
nesting of every construct that nests.

Whatever the source, the HTML that comes out holds only the allowed tags and
attributes: no script, style or frame, no event handler attribute, no link or image
whose URL has a scheme other than http, https or mailto. And text is never lost to
nesting: a word written deep inside quotes or lists is in the output.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from portside.core.markdown import MAX_SOURCE, plain_text, render
from tests.fuzz.support import fuzz

pytestmark = pytest.mark.nodb

ALLOWED = {
    "a": {"href", "title", "rel"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
}
ALLOWED_TAGS = set(ALLOWED) | {
    "abbr", "b", "blockquote", "br", "code", "del", "em", "h3", "h4", "h5", "h6", "hr", "i",
    "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "thead",
    "tr", "ul",
}  # fmt: skip
# The sanitiser's generic attributes, allowed on every tag: plain text, never a URL.
GENERIC = {"title", "lang"}
URL_ATTRIBUTES = {"href", "src"}
SCHEMES = {"http", "https", "mailto"}
# What browsers ignore in a URL before they read its scheme: leading and trailing C0
# controls and spaces, and tabs and newlines anywhere.
_IGNORED = re.compile(r"[\t\n\r]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")


class Audit(HTMLParser):
    """Every tag and attribute of the output, with entities decoded as a browser does."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name not in ALLOWED.get(tag, set()) | GENERIC:
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                url = _IGNORED.sub("", value).strip(
                    "\x00\x01\x02\x03\x04\x05\x06\x07\x08 \x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
                )
                scheme = _SCHEME.match(url)
                if scheme and scheme.group(1).lower() not in SCHEMES:
                    self.problems.append(f"{name}={value!r} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def audit(html: str) -> list[str]:
    checker = Audit()
    checker.feed(html)
    checker.close()
    lowered = html.lower()
    for raw in ("<script", "<style", "<iframe", "<object", "<embed", "<svg", "<math", "<form"):
        if raw in lowered:
            checker.problems.append(f"raw {raw}")
    return checker.problems


PIECES = [
    "<script>alert(1)</script>", "<SCRIPT SRC=//x.example/x.js>", "<scr<script>ipt>",
    "<img src=x onerror=alert(1)>", "<img src=\"javascript:alert(1)\">", "<svg onload=alert(1)>",
    "<iframe src=javascript:alert(1)>", "<a href=\"javascript:alert(1)\">", "<a href='jav&#x09;ascript:alert(1)'>",
    "<a href=\"&#106;avascript:alert(1)\">", "<a href=\"  JaVaScRiPt:alert(1)\">", "<a href=\"vbscript:x\">",
    "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">", "<a href=\"java\nscript:x\">", "<a href=\"\x01javascript:x\">",
    "<body onload=x>", "<div style=\"background:url(javascript:x)\">", "<style>*{x:expression(1)}</style>",
    "<math><mi xlink:href=\"javascript:x\">", "<form action=javascript:x><button>", "<input autofocus onfocus=x>",
    "<object data=javascript:x>", "<embed src=javascript:x>", "<base href=javascript:x>", "<meta http-equiv=refresh content=\"0;url=javascript:x\">",
    "<template><script>x</script></template>", "<noscript><p title=\"</noscript><img src=x onerror=x>\">",
    "<!--<script>x</script>-->", "<![CDATA[<script>x</script>]]>", "<th style=\"text-align:left\" onclick=x>",
    "<td style=\"text-align:right\">", "<a onclick=x href=http://a>", "<p onmouseover=x>", "<img/src/onerror=x>",
    "[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](<javascript:alert(1)>)", "[x](data:text/html,x)",
    "![x](javascript:alert(1))", "![x](\"onerror=x)", "[x]: javascript:alert(1)\n\n[x]", "<javascript:alert(1)>",
    "[x](java&#x73;cript:x)", "[x](&#x6A;avascript:x)", "[x](vbscript:x \"t\")", "[a](http://a.example/\"onclick=\"x)",
    "<http://a.example/\" onclick=\"x>", "<mailto:a@b.example>", "`<script>`", "```\n<script>\n```", "    <script>x</script>",
    "# <img src=x onerror=x>", "> <script>", "- <script>", "| <script> |\n|-|\n| x |", "~~<img src=x onerror=x>~~",
    "*", "_", "**", "[", "]", "(", ")", "<", ">", "\"", "'", "&", "&#", "&lt;", "\n", "\n\n", "    ", "\\", "`", "|", ":",
    "word", "x", "1.", "-", "#", "!", "=", "/", "\x00", "\u2028", "\ufeff",
]  # fmt: skip

sources = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=14).map("".join),
    st.text(max_size=200),
    st.text(alphabet="<>/=\"'&#;:()[]!*_`~|-\\ \n\tajvscriptonlerdhfmg0123456789", max_size=200),
)


@fuzz(250)
@given(sources)
@example('<a href="java&#x09;script:alert(1)">x</a> <img src=x onerror=alert(1)>')
def test_rendered_html_holds_nothing_executable(source: str) -> None:
    html = render(source)
    assert audit(html) == [], (source, html)
    assert isinstance(plain_text(source), str)


NESTINGS = {
    "blockquote": lambda depth, word: "> " * depth + word,
    "list": lambda depth, word: (
        "".join("  " * i + "- item\n" for i in range(depth)) + "  " * depth + "- " + word
    ),
    "ordered": lambda depth, word: "1. " * depth + word,
    "mixed": lambda depth, word: "> - " * (depth // 2) + word,
    "emphasis": lambda depth, word: "*_" * depth + word + "_*" * depth,
    "links": lambda depth, word: "[" * depth + word + "](x)" * depth,
    "html": lambda depth, word: "<em>" * depth + word + "</em>" * depth,
    "divs": lambda depth, word: "<div>" * depth + word + "</div>" * depth,
}


@fuzz(100)
@given(st.sampled_from(sorted(NESTINGS)), st.integers(1, 400), st.booleans())
@example("blockquote", 25, True)
@example("list", 25, True)
def test_deeply_nested_text_is_kept(kind: str, depth: int, after: bool) -> None:
    """However deep the nesting, the word inside it is in the output, and so is a
    paragraph that follows it."""
    source = NESTINGS[kind](depth, "needle")
    if after:
        source += "\n\nA paragraph after."
    assume(len(source) <= MAX_SOURCE)  # longer sources are cut, and refused by the forms
    html = render(source)
    assert audit(html) == []
    assert "needle" in html, (kind, depth)
    if after:
        assert "A paragraph after." in html, (kind, depth)
