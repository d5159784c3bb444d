"""The storefront's search as customers use it: typing mistakes corrected against the
index's own words, the order of the results, suggestions as a name is typed, applied
filters as chips and the search box in every page's header."""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

import portside
from portside.catalog import search, spelling
from tests.catalog.factories import EPOCH, build_catalogue, make_listing, withdraw
from tests.html import text_of


def html(response: Any) -> str:
    return str(response.content.decode())


def order(page: str) -> list[str]:
    """The products a results page links to, in order (once each)."""
    found: list[str] = []
    for path in re.findall(r'<h3><a href="/products/([^"]+)"', page):
        if path not in found:
            found.append(path)
    return found


@pytest.fixture
def catalogue(db: Any) -> Any:
    listings = build_catalogue()
    listings["pyfolk/http-client"] = make_listing(
        "pyfolk",
        "http-client",
        name="Requests HTTP Client",
        short_description="HTTP for humans, in a container",
        search_tags=["python", "http"],
        pulls=10,
        published=EPOCH + dt.timedelta(days=100),  # the newest
    )
    search.RESULT_CACHE.clear()
    return listings


# --- the edit distance and the vocabulary ----------------------------------------------------


@pytest.mark.nodb
@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("reqests", "requests", 1),  # a letter left out
        ("postgers", "postgres", 1),  # two neighbours swapped
        ("kafka", "kafkaa", 1),
        ("nginx", "nginy", 1),
        ("redis", "", 5),
        ("ca", "abc", 3),  # the optimal string alignment, not the unrestricted distance
        ("grafana", "grafana", 0),
        ("ελλην", "ελλιν", 1),
    ],
)
def test_distance(a: str, b: str, expected: int) -> None:
    assert spelling.distance(a, b) == expected == spelling.distance(b, a)


@pytest.mark.nodb
def test_the_vectorised_search_agrees_with_the_distance() -> None:
    rng = random.Random(5)
    letters = "abcdeéк"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 10))) for _ in range(4000)]
    vocabulary = spelling.Vocabulary(words)
    for _ in range(300):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 10)))
        most = spelling.allowed_distance(word)
        expected = sorted(
            (spelling.distance(word, w), w)
            for w in set(words)
            if w != word and spelling.distance(word, w) <= most
        )
        assert vocabulary.closest(word, limit=10**6) == (expected if most else [])


@pytest.mark.nodb
def test_short_words_and_numbers_are_never_corrected() -> None:
    vocabulary = spelling.Vocabulary(["nginx", "node", "s3", "v16", "v17", "python3"])
    assert vocabulary.closest("nod") == []  # three letters: too short to guess at
    assert vocabulary.closest("v18") == []
    assert vocabulary.closest("python4") == []
    assert vocabulary.closest("ngimx") == [(1, "nginx")]
    assert spelling.allowed_distance("redis") == 1 and spelling.allowed_distance("grafana") == 2


# --- typing mistakes ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed, meant, first",
    [
        ("reqests", "requests", "pyfolk/http-client"),
        ("postgers", "postgres", "acme/postgres"),
        ("prometheus grafna", "prometheus grafana", None),
        ("kubernets", "kubernetes", None),
        ("redis exporter prometeus", "redis exporter prometheus", None),
        ("timescail", "timescale", "initech/timescale"),
    ],
)
def test_a_word_no_listing_holds_is_corrected(
    catalogue: Any, typed: str, meant: str, first: str | None
) -> None:
    results = search.search(typed)
    assert results.corrected == meant
    assert results.total == search.search(meant).total > 0
    assert results.query.text == typed  # the query is still what was typed
    if first:
        assert f"{results.hits[0].organization}/{results.hits[0].slug}" == first


@pytest.mark.django_db
def test_words_that_match_are_never_corrected(catalogue: Any) -> None:
    for text in ("postgres", "postg", "redis cache", "requests", "kafka postgres"):
        assert search.search(text).corrected == ""
    # Every word is held, just not together: nothing to correct.
    assert search.search("kafka postgis").total == 0
    assert search.search("kafka postgis").corrected == ""


@pytest.mark.django_db
def test_exact_searches_the_words_as_typed(catalogue: Any) -> None:
    results = search.search("reqests", exact=True)
    assert results.total == 0 and results.corrected == ""


@pytest.mark.django_db
def test_no_correction_when_a_missing_word_cannot_be_corrected(catalogue: Any) -> None:
    assert search.search("zzzzzzzz").corrected == ""
    assert search.search("qq postgers").total == 0  # "qq" is too short to correct
    # The correction finds nothing with the filter either: nothing is said.
    filtered = search.search("postgers", tag="jenkins")
    assert filtered.total == 0 and filtered.corrected == ""


@pytest.mark.django_db
def test_withdrawn_words_are_never_suggested(catalogue: Any) -> None:
    assert search.search("reqests").corrected == "requests"
    withdraw(catalogue["pyfolk/http-client"])
    results = search.search("reqests")
    assert results.corrected == "" and results.total == 0


@pytest.mark.django_db
def test_the_search_page_says_what_it_searched(client: Client, catalogue: Any) -> None:
    response = client.get("/search", {"q": "reqests", "price": "free"})
    page, visible = html(response), text_of(html(response))
    assert "Showing results for requests" in visible
    assert "pyfolk/http-client" in order(page)
    assert 'href="/search?q=reqests&amp;price=free&amp;exact=1"' in page
    exact = client.get("/search", {"q": "reqests", "price": "free", "exact": "1"})
    assert "Showing results for" not in text_of(html(exact))
    assert "Nothing matches" in text_of(html(exact))


@pytest.mark.django_db
def test_the_api_says_what_it_searched(client: Client, catalogue: Any) -> None:
    body = client.get("/api/v1/catalog/search", {"q": "postgers"}).json()
    assert body["q"] == "postgers" and body["corrected"] == "postgres"
    assert body["results"][0]["slug"] == "postgres"
    exact = client.get("/api/v1/catalog/search", {"q": "postgers", "exact": "true"}).json()
    assert exact["total"] == 0 and exact["corrected"] == ""


# --- the order of the results ------------------------------------------------------------------


@pytest.mark.django_db
def test_sorts(client: Client, catalogue: Any) -> None:
    def slugs(**params: Any) -> list[str]:
        body = client.get("/api/v1/catalog/search", {"page_size": 100, **params}).json()
        return [r["slug"] for r in body["results"]]

    by_name = slugs(q="postgres", sort="name")
    names = [r.name for r in search.search("postgres", sort="name", page_size=100).hits]
    assert names == sorted(names, key=lambda n: search.tokens(n))
    assert by_name[0] == "postgres" and len(by_name) == search.search("postgres").total
    newest = search.search("", sort="newest", page_size=100).hits
    assert newest[0].slug == "http-client" and newest[1].slug == "cafe"
    assert [h.slug for h in newest][-1] == "postgres"  # published first
    pulls = [h.pulls for h in search.search("database", sort="pulls", page_size=100).hits]
    assert pulls == sorted(pulls, reverse=True)
    relevance = slugs(q="postgres")
    assert relevance == slugs(q="postgres", sort="relevance") != by_name
    # Browsing everything in any order lists each listing once.
    for sort in search.SORTS:
        assert len(set(slugs(sort=sort))) == 31


@pytest.mark.django_db
def test_sort_by_name_pages_through_every_listing_once(catalogue: Any) -> None:
    pages = [search.search("", sort="name", page=n, page_size=8) for n in range(1, 5)]
    names = [h.name for page in pages for h in page.hits]
    assert len(names) == 31 == len(set(names))
    assert names == sorted(names, key=lambda n: search.tokens(n))


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["cheapest", "", "NAME", "name\x00", "x" * 5000, "\u202e"])
def test_an_unknown_sort(client: Client, catalogue: Any, sort: str) -> None:
    page = client.get("/search", {"q": "postgres", "sort": sort})
    assert page.status_code == 200
    # The page reads loosely (case and NUL characters aside); the API is strict.
    expected = "name" if sort in ("NAME", "name\x00") else "relevance"
    assert f'<option value="{expected}" selected>' in html(page)
    assert client.get("/api/v1/catalog/search", {"q": "postgres", "sort": sort}).status_code == 422


@pytest.mark.django_db
def test_the_sort_form_keeps_the_query_and_filters(client: Client, catalogue: Any) -> None:
    page = html(client.get("/search", {"q": "postgres", "price": "paid", "page": "2"}))
    form = page[page.index('class="sort-form"') : page.index("</form>", page.index("sort-form"))]
    assert '<input type="hidden" name="q" value="postgres">' in form
    assert '<input type="hidden" name="price" value="paid">' in form
    assert 'name="page"' not in form  # a new order starts on the first page
    sorted_page = html(client.get("/search", {"q": "postgres", "price": "paid", "sort": "name"}))
    assert "sort=name" in re.search(r'href="([^"]+)">Databases</a>', sorted_page).group(1)


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_applied_filters_are_chips_that_remove_them(client: Client, catalogue: Any) -> None:
    page = html(client.get("/search", {"q": "postgres", "category": "databases", "certified": "1"}))
    chips = page[page.index('class="chips"') : page.index("</ul>", page.index('class="chips"'))]
    links = dict(
        (text_of(label), href)
        for href, label in re.findall(r'<a class="chip" href="([^"]+)"[^>]*>(.*?)</a>', chips)
    )
    assert links == {
        "Remove the filter Category: Databases \u00d7": "/search?q=postgres&amp;certified=1",
        "Remove the filter Certification: Certified only \u00d7": (
            "/search?q=postgres&amp;category=databases"
        ),
    }
    assert 'href="/search?q=postgres">Clear the filters</a>' in chips


@pytest.mark.django_db
def test_no_chips_or_clear_link_without_filters(client: Client, catalogue: Any) -> None:
    for path in ("/search?q=postgres", "/categories/databases", "/publishers/acme"):
        page = html(client.get(path))
        assert 'class="chips"' not in page and "Clear the filters" not in page, path
    # On a category's page its own category is not a filter the visitor can remove.
    narrowed = html(client.get("/categories/databases", {"price": "free"}))
    assert re.findall(r'<a class="chip" href="([^"]+)"', narrowed) == ["/categories/databases"]


@pytest.mark.django_db
def test_results_are_cards_in_an_unbulleted_list_beside_a_folding_sidebar(
    client: Client, catalogue: Any
) -> None:
    page = html(client.get("/search", {"q": "postgres"}))
    assert '<details class="refine">' in page and "<summary>Filters" in page
    assert page.index('class="refine"') < page.index('<ol class="cards" id="results"')
    css = (Path(portside.__file__).parent / "static" / "portside" / "site.css").read_text()
    assert "ol.cards, ul.cards { list-style: none;" in css
    # Below 40rem the sidebar folds into its summary; above, the summary is hidden.
    narrow = css[css.rindex("@media (max-width: 40rem)") :]
    assert ".refine > summary { display: flex;" in narrow
    wide = css[
        css.index("@media (min-width: 40.0625rem)") : css.rindex("@media (max-width: 40rem)")
    ]
    assert ".refine > summary { display: none; }" in wide


# --- suggestions -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_suggestions(client: Client, catalogue: Any) -> None:
    response = client.get("/api/v1/catalog/suggest", {"q": "glo"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    body = response.json()
    assert body["publishers"][0] == {
        "name": "globex",
        "organization": "globex",
        "url": "/publishers/globex",
        "products": 6,
    }
    products = client.get("/api/v1/catalog/suggest", {"q": "postg", "limit": 3}).json()
    assert [p["url"] for p in products["products"]] == [
        "/products/acme/postgres",
        "/products/globex/postgres-backup",
        "/products/globex/postgis",
    ]
    assert products["products"][0]["publisher"] == "Acme"  # as the listing names it
    assert products["publishers"] == []
    typo = client.get("/api/v1/catalog/suggest", {"q": "reqests"}).json()
    assert typo["corrected"] == "requests"
    assert typo["products"][0]["name"] == "Requests HTTP Client"


@pytest.mark.django_db
def test_a_publishers_display_name_is_suggested(client: Client, catalogue: Any) -> None:
    from portside.accounts.models import Organization

    Organization.objects.filter(name="initech").update(display_name="Initech Data Systems")
    make_listing("initech", "another", name="Another")  # a change to the index
    body = client.get("/api/v1/catalog/suggest", {"q": "data sys"}).json()
    assert [p["organization"] for p in body["publishers"]] == ["initech"]
    assert body["publishers"][0]["name"] == "Initech Data Systems"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": ""},
        {"q": "   "},
        {"q": "!!!"},
        {"q": "\u202e\u200b\ufeff"},
        {"q": "\x07\x1b[31m\x7f"},
        {"q": '"NEAR( {name}: *'},
        {"q": "' OR 1=1 --"},
        {"q": "x" * 1000},
        {"q": "🐘 " * 300},
    ],
)
def test_suggestions_take_any_text_as_words(
    client: Client, catalogue: Any, params: dict[str, str]
) -> None:
    response = client.get("/api/v1/catalog/suggest", params)
    assert response.status_code == 200
    body = response.json()
    if not search.query_terms(params["q"]):
        assert body["products"] == [] and body["publishers"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 1001},
        {"q": "redis\x00"},
        {"q": "redis", "limit": "0"},
        {"q": "redis", "limit": "11"},
        {"q": "redis", "limit": "9" * 40},
        {"q": "redis", "limit": "many"},
    ],
)
def test_suggestions_refuse_bad_parameters(
    client: Client, catalogue: Any, params: dict[str, str]
) -> None:
    assert client.get("/api/v1/catalog/suggest", params).status_code == 422


@pytest.mark.django_db
def test_suggestions_are_bounded(client: Client, catalogue: Any) -> None:
    body = client.get("/api/v1/catalog/suggest", {"q": "a", "limit": 10}).json()
    assert len(body["products"]) <= 10 and len(body["publishers"]) <= 4
    assert client.post("/api/v1/catalog/suggest", {"q": "a"}).status_code == 405


# --- the search box in the header ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/search", "/products/acme/postgres", "/accounts/login/", "/categories/storage"]
)
def test_every_page_has_the_search_box(client: Client, catalogue: Any, path: str) -> None:
    page = html(client.get(path))
    header = page[page.index('<header class="site-header">') : page.index("</header>")]
    assert '<form class="site-search" method="get" action="/search" role="search"' in header
    assert 'data-suggest="/api/v1/catalog/suggest"' in header
    assert '<label class="visually-hidden" for="site-q">Search the catalogue</label>' in header
    assert '<script src="/static/portside/search.js" defer></script>' in header


@pytest.mark.django_db
@pytest.mark.parametrize(
    "q", ["postgres", '"><script>alert(1)</script>', "x" * 3000, "line\nbreak\ttab"]
)
def test_the_search_box_holds_the_query_on_the_results_page(
    client: Client, catalogue: Any, q: str
) -> None:
    page = html(client.get("/search", {"q": q}))
    value = re.search(r'<input type="search" id="site-q" name="q" value="([^"]*)"', page)
    assert value is not None
    assert "<script>alert" not in page
    assert len(value.group(1)) <= 1000 * 6  # escaped, and cut at the field's length
    home = html(client.get("/", {"q": q}))
    assert 'id="site-q" name="q" value=""' in home
