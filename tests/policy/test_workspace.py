"""The publisher's security page and the hold label customers see, through the views."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from portside.core import clock
from portside.policy import services
from tests.commerce.world import build_store
from tests.html import text_of
from tests.policy.world import CRITICAL, MAJOR, MINOR, scanned

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def time():
    with clock.frozen(START) as frozen:
        yield frozen


def _page(user, path: str) -> str:
    client = Client()
    if user is not None:
        client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_publisher_sees_each_open_finding_its_deadline_and_what_comes_next(time):
    store = build_store()
    scanned(store.pub.repository, store.pub.digest, [CRITICAL, MAJOR, MINOR])
    time.advance(hours=10)
    page = text_of(_page(store.pub.viewer, "/orgs/acme/security/"))
    assert "CVE-2026-0001" in page and "CVE-2026-0002" in page
    assert "CVE-2026-0003" not in page  # minor: no SLA
    assert "2026-03-05 09:00" in page  # the critical deadline
    assert "in 2 days, 14 hours" in page
    assert "The listing goes on hold on 2026-03-05 09:00 UTC unless fixed." in page
    assert f"{store.pub.repository.name}:1.0" in page
    time.advance(hours=63)
    services.sweep()
    page = text_of(_page(store.pub.owner, "/orgs/acme/security/"))
    assert "overdue" in page
    assert "revoked on 2026-04-04 09:00 UTC unless fixed" in page


def test_customers_see_the_hold_on_the_product_page_and_in_search_but_no_finding(time):
    store = build_store()
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    time.advance(hours=72)
    services.sweep()
    product = _page(None, f"/products/acme/{store.product.slug}")
    assert "Security fixes overdue since 2026-03-05 09:00 UTC." in text_of(product)
    results = text_of(_page(None, "/search?q=database"))
    assert "Security fixes overdue since 2026-03-05" in results
    for page in (product, results):
        assert not re.search(r"CVE-|jinja2", page)
    api = Client().get(f"/api/v1/catalog/products/acme/{store.product.slug}").json()
    assert api["security_hold_since"].startswith("2026-03-05T09:00")
    found = Client().get("/api/v1/catalog/search?q=database").json()
    assert found["results"][0]["security_hold_since"].startswith("2026-03-05T09:00")
    assert "CVE-2026-0001" not in str(api) + str(found)


def test_each_open_finding_links_to_a_filled_in_vex_statement(time):
    from html import unescape

    store = build_store()
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    page = _page(store.pub.owner, "/orgs/acme/security/")
    link = unescape(re.search(r'href="(/orgs/acme/security/vex/new\?[^"]+)"', page).group(1))
    form = _page(store.pub.owner, link)
    assert "CVE-2026-0001" in form and "jinja2" in form and store.pub.digest in form
