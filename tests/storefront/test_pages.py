"""The storefront pages: home, search, product, publisher and category."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from portside.catalog.models import ListingState
from portside.core import clock
from tests.catalog.factories import (
    build_catalogue,
    make_listing,
    make_product,
    organization,
    republish,
    tier,
    withdraw,
)
from tests.html import without_own_scripts

ICON = "images/" + "1" * 64 + ".png"
SHOT = "images/" + "2" * 64 + ".webp"
LOGO = "images/" + "3" * 64 + ".png"


def text(response: Any) -> str:
    """The page's visible text, tags removed and white space collapsed."""
    body = response.content.decode()
    body = body[body.index("<main") :]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def html(response: Any) -> str:
    return str(response.content.decode())


@pytest.fixture
def full(db: Any) -> Any:
    """One listing with every manifest item filled in."""
    return make_listing(
        "acme",
        "widget",
        name="Acme Widget Server",
        short_description="Widgets, served fast",
        long_description="## Features\n\nServes **widgets**.<script>alert(1)</script>\n\n"
        '<a href="javascript:alert(1)">click</a>',
        category="web-servers",
        search_tags=["widgets", "http"],
        icon=ICON,
        screenshots=[{"image": SHOT, "caption": "The dashboard"}],
        support_url="https://help.acme.example.com/",
        support_email="help@acme.example.com",
        self_help="Read the [FAQ](https://faq.acme.example.com/).",
        install_instructions="Run `widget --serve`.",
        license_url="https://acme.example.com/eula",
        sla={
            "hours": "Mon-Fri 09:00-17:00 CET",
            "critical_hours": 4,
            "major_hours": 24,
            "minor_hours": 1,
        },
        platforms=["enterprise", "community"],
        publisher_support=True,
        publisher_name="Acme Corporation",
        certified=True,
        sources=[
            {"repository": "acme/widget", "tags": {"2.0": "sha256:" + "a" * 64}},
            {"repository": "acme/widget-internal", "tags": {"dev": "sha256:" + "b" * 64}},
        ],
        tiers=[
            tier("Community", "0", access=[{"repository": "acme/widget", "tags": ["2.0"]}]),
            tier(
                "Business",
                "1299.50",
                currency="EUR",
                billing_period="yearly",
                description="Support included.",
                access=[{"repository": "acme/widget", "tags": ["2.0", "2.0-fips"]}],
            ),
            tier("Once", "5000", currency="JPY", billing_period="one_time", access=[]),
        ],
    )


# --- product page ------------------------------------------------------------------------------


def test_product_page_shows_every_manifest_item(client: Client, full: Any, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["store.example.com"]
    response = client.get("/products/acme/widget", HTTP_HOST="store.example.com")
    assert response.status_code == 200
    page, visible = html(response), text(response)
    assert f'src="/media/{ICON}"' in page
    assert "Acme Widget Server" in visible
    assert 'href="/publishers/acme"' in page and "Acme Corporation" in visible
    assert "Widgets, served fast" in visible
    assert "<h4>Features</h4>" in page and "<strong>widgets</strong>" in page
    assert 'href="/categories/web-servers"' in page and "Web servers" in visible
    assert 'href="/search?tag=widgets"' in page and 'href="/search?tag=http"' in page
    assert f'src="/media/{SHOT}"' in page and "The dashboard" in visible
    assert 'href="https://help.acme.example.com/"' in page
    assert 'href="mailto:help@acme.example.com"' in page
    assert 'href="https://faq.acme.example.com/"' in page
    assert "Mon-Fri 09:00-17:00 CET" in visible
    assert "Response, critical 4 hours" in visible
    assert "Response, major 24 hours" in visible
    assert "Response, minor 1 hour" in visible
    assert 'href="https://acme.example.com/eula"' in page
    assert '<span class="badge">Enterprise Edition (certified infrastructure)</span>' in page
    assert '<span class="badge">Community Edition</span>' in page
    assert '<span class="badge" id="certified">Certified</span>' in page
    assert re.search(r'<section id="warnings"[^>]*>\s*</section>', page)
    assert "<code>widget --serve</code>" in page
    # Tiers, priced, each with every repository:tag it grants; the pull commands are for
    # customers who hold a tier (none here: the tags are not in the registry either).
    assert "Community Free" in visible
    assert "Business EUR 1,299.50 per year Support included." in visible
    assert "Once JPY 5,000 one-time" in visible
    business = visible[visible.index("Business EUR 1,299.50") :]
    assert "Images in this tier ( tags ): acme/widget:2.0 acme/widget:2.0-fips" in business
    assert "docker pull" not in page
    # The five tabs, as links to their sections, each section with its heading.
    assert re.findall(r'<li><a href="#(\w+)">', page) == [
        "overview",
        "tags",
        "pricing",
        "security",
        "support",
    ]
    for section in ("overview", "tags", "pricing", "security", "support"):
        assert re.search(rf'<section class="tab-panel" id="{section}"[^>]*>\s*<h2', page)
    assert page.index('id="warnings"') < page.index('class="tabs"')
    assert '<script src="/static/portside/tabs.js" defer></script>' in page


def test_product_page_is_safe_html(client: Client, full: Any) -> None:
    page = without_own_scripts(html(client.get("/products/acme/widget")))
    assert "<script" not in page
    assert "javascript:" not in page
    assert "style=" not in page and "<style" not in page
    assert " on" + "click=" not in page


def test_sources_are_never_shown_or_linked(client: Client, full: Any) -> None:
    page = html(client.get("/products/acme/widget"))
    assert "acme/widget-internal" not in page  # a source no tier grants
    assert "/orgs/" not in page  # no private repository or organisation pages
    assert "sha256:" not in page


def test_unknown_and_withdrawn_products_are_not_found(client: Client, full: Any) -> None:
    make_product("acme", "draft", name="Draft Product")  # no listing
    gone = make_listing("acme", "gone", name="Gone Product")
    withdraw(gone, ListingState.UNPUBLISHED)
    down = make_listing("acme", "down", name="Down Product")
    withdraw(down, ListingState.TAKEN_DOWN)
    for path in (
        "/products/acme/draft",
        "/products/acme/gone",
        "/products/acme/down",
        "/products/acme/nothing",
        "/products/globex/widget",
        "/products/nobody/widget",
    ):
        assert client.get(path).status_code == 404, path


def test_product_page_shows_the_live_revision(client: Client, full: Any) -> None:
    republish(full, name="Acme Widget Server 3", short_description="Now with gadgets")
    visible = text(client.get("/products/acme/widget"))
    assert "Acme Widget Server 3" in visible
    assert "Now with gadgets" in visible
    assert "Widgets, served fast" not in visible


def test_a_product_without_optional_items(client: Client, db: Any) -> None:
    make_listing(
        "acme",
        "bare",
        name="Bare",
        category=None,
        support_email="",
        sla={},
        platforms=[],
        tiers=[],
        install_instructions="",
    )
    response = client.get("/products/acme/bare")
    assert response.status_code == 200
    assert 'id="certified"' not in html(response)


# --- home, search, publisher, category ---------------------------------------------------------


@pytest.mark.django_db
def test_home_shows_categories_newest_and_most_pulled(client: Client) -> None:
    build_catalogue()
    response = client.get("/")
    page, visible = html(response), text(response)
    assert response.status_code == 200
    assert re.search(r'href="/categories/databases">Databases</a> <span class="muted">\(6\)', page)
    assert re.search(r'href="/categories/security">Security</a> <span class="muted">\(2\)', page)
    newest = visible[visible.index("Newest") : visible.index("Most pulled")]
    assert newest.index("Café Crème Cache") < newest.index("Timescale") < newest.index("PostGIS")
    popular = visible[visible.index("Most pulled") :]
    assert popular.index("Hardened Alpine") < popular.index("Ubuntu LTS")


def test_home_with_an_empty_catalogue(client: Client, db: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No products are listed yet." in text(response)


@pytest.mark.django_db
def test_search_page_lists_results_in_order_with_facets(client: Client) -> None:
    build_catalogue()
    response = client.get("/search", {"q": "postgres", "price": "paid"})
    assert response.status_code == 200
    page, visible = html(response), text(response)
    assert "6 results" in visible
    order = [m for m in re.findall(r'href="/products/([^"]+)"', page)]
    assert order == [
        "acme/postgres",
        "globex/postgres-backup",
        "globex/postgis",
        "globex/grafana",
        "hooli/kafka",
        "globex/vault",
    ]
    # Facet links keep the query and toggle one filter; counts are over the matching set.
    assert re.search(
        r'href="/search\?q=postgres&amp;category=databases&amp;price=paid">Databases</a> '
        r'<span class="muted">\(2\)',
        page,
    )
    assert re.search(
        r'href="/search\?q=postgres" aria-current="true"><strong>Paid tier</strong></a> '
        r'<span class="muted">\(6\)',
        page,
    )
    assert "Clear the filters" in visible
    assert "From EUR 49.00 per year" in visible
    assert "Free, or from EUR 49.00 per year" in visible


@pytest.mark.django_db
def test_search_page_pages(client: Client) -> None:
    build_catalogue()
    first = html(client.get("/search", {"page_size": 7}))
    assert "Page 1 of 5" in first
    assert 'href="/search?page=2&amp;page_size=7" rel="next"' in first
    assert '<ol class="cards" id="results" start="1">' in first
    last = html(client.get("/search", {"page_size": 7, "page": 5}))
    assert 'rel="next"' not in last and 'rel="prev"' in last
    assert len(re.findall(r'<li><article class="card">', last)) == 2
    assert '<ol class="cards" id="results" start="29">' in last  # numbered on from page 4
    beyond = client.get("/search", {"page": 999})
    assert beyond.status_code == 200
    assert "Nothing matches" in text(beyond)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": '"NEAR( {name}: *'},
        {"q": "x" * 10_000},
        {"q": "redis\x00"},
        {"category": "\x00", "tag": "'", "publisher": "%", "price": "cheap"},
        {"page": "-1", "page_size": "abc", "certified": "maybe"},
        {"page": "9" * 40},
    ],
)
def test_search_page_survives_hostile_input(client: Client, params: dict[str, str]) -> None:
    build_catalogue()
    assert client.get("/search", params).status_code == 200


@pytest.mark.django_db
def test_publisher_page(client: Client) -> None:
    from portside.publishers.models import PublisherProfile

    build_catalogue()
    PublisherProfile.objects.create(
        organization=organization("globex"),
        legal_name="Globex Corporation Ltd",
        website="https://globex.example.com/",
        story="Since **1989**.<script>x()</script>",
        logo=LOGO,
        updated_at=clock.now(),
    )
    response = client.get("/publishers/globex")
    assert response.status_code == 200
    page, visible = html(response), text(response)
    assert f'src="/media/{LOGO}"' in page
    assert "Globex Corporation Ltd" in visible
    assert 'href="https://globex.example.com/"' in page
    assert "<strong>1989</strong>" in page and "<script" not in without_own_scripts(page)
    assert "6 results" in visible
    assert "/products/acme/" not in page
    narrowed = text(client.get("/publishers/globex", {"q": "postgres"}))
    assert "4 results" in narrowed


@pytest.mark.django_db
def test_publisher_page_without_a_profile(client: Client) -> None:
    build_catalogue()
    response = client.get("/publishers/initech")
    assert response.status_code == 200
    assert "6 results" in text(response)


@pytest.mark.django_db
def test_publisher_without_live_listings_is_not_found(client: Client) -> None:
    organization("quiet")
    make_product("quiet", "draft", name="Draft")
    withdraw(make_listing("quiet", "gone", name="Gone"))
    assert client.get("/publishers/quiet").status_code == 404
    assert client.get("/publishers/nobody").status_code == 404


@pytest.mark.django_db
def test_category_page(client: Client) -> None:
    build_catalogue()
    response = client.get("/categories/monitoring")
    assert response.status_code == 200
    visible = text(response)
    assert "Monitoring" in visible and "3 results" in visible
    page = html(response)
    assert re.findall(r'href="/products/([^"]+)"', page) == [
        "hooli/prometheus",
        "globex/grafana",
        "acme/redis-exporter",
    ]
    assert "4 results" not in text(client.get("/categories/monitoring", {"q": "redis"}))
    assert client.get("/categories/no-such-thing").status_code == 404
    assert client.get("/categories/messaging").status_code == 200


@pytest.mark.django_db
def test_pages_answer_only_get_and_head(client: Client) -> None:
    build_catalogue()
    for path in (
        "/",
        "/search",
        "/products/acme/postgres",
        "/publishers/acme",
        "/categories/databases",
    ):
        assert client.head(path).status_code == 200
        assert client.post(path).status_code == 405
