"""The storefront's search in a real browser: suggestions in the header as a name is
typed, chosen with the arrow keys and Enter; typing mistakes corrected; filters removed
from their chips; a phone-sized window without sideways scrolling."""

from __future__ import annotations

import pytest

from portside.catalog import search
from tests.catalog.factories import build_catalogue, make_listing

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def catalogue(db: None) -> None:
    build_catalogue()
    make_listing(
        "pyfolk",
        "http-client",
        name="Requests HTTP Client",
        short_description="HTTP for humans, in a container",
        search_tags=["python", "http"],
        pulls=10,
    )
    search.RESULT_CACHE.clear()


def test_suggestions_with_the_keyboard(live_server, browser, screenshots, catalogue) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/")
    box = page.locator("#site-q")
    assert box.get_attribute("role") == "combobox"
    assert box.get_attribute("aria-expanded") == "false"

    box.press_sequentially("postg", delay=30)
    listbox = page.locator("#site-q-suggestions")
    listbox.locator("[role=option]").first.wait_for()
    assert box.get_attribute("aria-expanded") == "true"
    names = listbox.locator(".suggestion-product .suggestion-name").all_inner_texts()
    assert names[:2] == ["Acme PostgreSQL 16", "Globex Postgres Backup"]
    screenshots(page, "search-suggestions")

    # Down twice: the second suggestion is the active descendant; Enter opens it.
    box.press("ArrowDown")
    box.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    assert page.locator(f"#{active} .suggestion-name").inner_text() == "Globex Postgres Backup"
    box.press("Enter")
    page.wait_for_url("**/products/globex/postgres-backup")

    # Escape closes the list; Enter with nothing chosen searches the words.
    page.goto(f"{base}/")
    box = page.locator("#site-q")
    box.press_sequentially("glob", delay=30)
    page.locator("#site-q-suggestions .suggestion-publisher").first.wait_for()
    assert "globex" in page.locator("#site-q-suggestions .suggestion-publisher").first.inner_text()
    box.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"
    assert page.locator("#site-q-suggestions").is_hidden()
    box.press("Enter")
    page.wait_for_url("**/search?q=glob")
    assert page.locator("#site-q").input_value() == "glob"
    assert errors == []
    context.close()


def test_a_typing_mistake_sorting_and_chips(live_server, browser, screenshots, catalogue) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/search?q=reqests")
    alert = page.locator(".alert.info")
    assert "Showing results for requests" in alert.inner_text()
    assert page.locator("#results h3").first.inner_text() == "Requests HTTP Client"
    screenshots(page, "search-corrected")
    alert.locator("a").click()
    page.wait_for_load_state()
    assert "exact=1" in page.url and "Nothing matches" in page.locator("main").inner_text()

    page.goto(f"{base}/search?q=database")
    page.select_option("#sort", "name")
    page.locator(".sort-form button").click()
    page.wait_for_url("**sort=name**")
    titles = page.locator("#results h3").all_inner_texts()
    assert titles == sorted(titles, key=search.tokens)
    # Filters from the sidebar become chips; each chip removes its own filter.
    page.locator(".refine a", has_text="Databases").click()
    page.wait_for_url("**category=databases**")
    page.locator(".refine a", has_text="Free tier").click()
    page.wait_for_url("**price=free**")
    chips = page.locator("a.chip")
    assert chips.count() == 2
    assert page.locator(".chips-clear").inner_text() == "Clear the filters"
    screenshots(page, "search-chips")
    chips.filter(has_text="Category: Databases").click()
    page.wait_for_load_state()
    assert "category=" not in page.url and "price=free" in page.url and "sort=name" in page.url
    assert page.locator("a.chip").count() == 1
    page.locator(".chips-clear").click()
    page.wait_for_load_state()
    assert page.locator("a.chip").count() == 0
    assert page.locator("text=Clear the filters").count() == 0
    context.close()


def test_a_phone_sized_window(live_server, browser, screenshots, catalogue) -> None:
    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    for path in ("/", "/search?q=postgres&price=paid", "/categories/databases"):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    # The filters fold into their summary and open on a tap.
    page.goto(f"{base}/search?q=postgres&price=paid")
    facets = page.locator(".refine-body")
    screenshots(page, "search-375")
    assert facets.is_hidden()
    page.locator(".refine > summary").click()
    assert facets.is_visible()
    screenshots(page, "search-375-filters")
    page.locator("#site-q").fill("")
    page.locator("#site-q").press_sequentially("red", delay=30)
    page.locator("#site-q-suggestions [role=option]").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshots(page, "search-375-suggestions")
    # On a wide window the sidebar is open without a tap.
    wide = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    wide.goto(f"{base}/search?q=postgres")
    assert wide.locator(".refine-body").is_visible()
    assert wide.locator(".refine > summary").is_hidden()
    screenshots(wide, "search-results")
    wide.context.close()
    context.close()
