"""core.markdown: CommonMark, then an allow-list sanitiser over the HTML."""

from __future__ import annotations

import re

import pytest

from portside.core.markdown import MAX_SOURCE, plain_text, render

pytestmark = pytest.mark.nodb


def test_markdown_is_rendered():
    html = render("# Title\n\nSome *em*, **strong**, `code` and ~~gone~~.\n\n- one\n- two\n")
    assert "<h3>Title</h3>" in html  # under the page's own h1 and h2
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert "<code>code</code>" in html and "<s>gone</s>" in html
    assert "<ul>\n<li>one</li>" in html


def test_headings_sit_below_the_pages_outline():
    html = render(
        "# One\n\n## Two\n\n#### Four\n\n###### Six\n\n<h1>raw</h1>\n\n<h2>raw two</h2>\n"
    )
    assert "<h3>One</h3>" in html and "<h4>Two</h4>" in html
    assert "<h6>Four</h6>" in html and "<h6>Six</h6>" in html
    assert "<h1" not in html and "<h2" not in html
    assert "raw" in html and "raw two" in html  # the tag goes, the text stays


def test_tables_and_code_blocks():
    html = render("| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```\n<script>x</script>\n```\n")
    assert "<table>" in html and '<th align="left">a</th>' in html
    assert '<td align="right">2</td>' in html
    assert "<pre><code>&lt;script&gt;x&lt;/script&gt;\n</code></pre>" in html


@pytest.mark.parametrize("source", ["", "   ", "\n\n\t"])
def test_empty_sources_render_nothing(source):
    assert render(source) == "" and plain_text(source) == ""


def test_links_get_rel_nofollow():
    html = render("[site](https://acme.example.com/) and <https://acme.example.com/x>")
    assert html.count('rel="nofollow noopener noreferrer"') == 2
    assert '<a href="https://acme.example.com/" rel="nofollow noopener noreferrer">site</a>' in html


def test_mailto_links_are_kept():
    assert 'href="mailto:sales@acme.example.com"' in render("[mail](mailto:sales@acme.example.com)")


def test_script_and_style_are_removed_with_their_content():
    html = render('<script>alert("x")</script>\n\n<style>body{display:none}</style>\n\nText')
    assert "script" not in html and "alert" not in html
    assert "style" not in html and "display" not in html
    assert "<p>Text</p>" in html


@pytest.mark.parametrize(
    "source",
    [
        '<img src="x" onerror="alert(1)">',
        "<img src=x onerror=alert(1)>",
        '<a href="https://acme.example.com/" onclick="alert(1)">x</a>',
        '<p onmouseover="alert(1)">x</p>',
        '<b style="background:url(javascript:alert(1))">x</b>',
        '<svg onload="alert(1)"></svg>',
        '<details open ontoggle="alert(1)">x</details>',
    ],
)
def test_event_handlers_and_styles_are_removed(source):
    html = render(source)
    assert not re.search(r"\bon[a-z]+\s*=", html), html
    assert "style=" not in html and "alert" not in html.split(">", 1)[0]


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JavaScript:alert(1))",
        "[x](javascript&colon;alert(1))",
        "[x]( javascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JAVASCRIPT:alert(1)">x</a>',
        '<a href="java&#115;cript:alert(1)">x</a>',
        '<a href="&#x6A;avascript:alert(1)">x</a>',
        '<a href="  javascript:alert(1)">x</a>',
        '<a href="java\tscript:alert(1)">x</a>',
        "![x](javascript:alert(1))",
        '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    ],
)
def test_dangerous_urls_are_removed(source):
    html = render(source)
    assert not re.search(
        r"""(href|src)\s*=\s*["']?\s*(javascript|vbscript|data|java)""", html, re.I
    ), html


@pytest.mark.parametrize(
    "tag",
    ["iframe", "object", "embed", "form", "input", "button", "meta", "link", "base", "svg", "math"],
)
def test_tags_outside_the_allow_list_are_removed(tag):
    html = render(
        f'<{tag} src="https://evil.example/" action="https://evil.example/">inner</{tag}>'
    )
    assert f"<{tag}" not in html


def test_raw_html_on_the_allow_list_is_kept_and_cleaned():
    html = render('<b class="x" id="y">bold</b> <kbd>Ctrl</kbd>')
    assert "<b>bold</b>" in html and "<kbd>Ctrl</kbd>" in html


def test_comments_are_removed():
    assert "secret" not in render("before <!-- secret --> after")


def test_a_long_source_is_cut():
    html = render("a" * (MAX_SOURCE + 100))
    assert html.count("a") <= MAX_SOURCE + 10


def test_plain_text_drops_markup_and_unescapes_once():
    assert plain_text("**Fish** & <b>chips</b> <script>x()</script>").strip() == "Fish & chips"
    assert plain_text("1 < 2 > 0").strip() == "1 < 2 > 0"
    # "&amp;lt;" in the source is the text "&lt;", which must not turn into "<"
    assert plain_text("Write &amp;lt; for <").strip() == "Write &lt; for <"
    assert plain_text('"quoted" it\'s').strip() == '"quoted" it\'s'
