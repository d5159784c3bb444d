"""Who may open the storefront's pages and API: everyone, for live listings only."""

from __future__ import annotations

import pytest
from django.test import Client

from portside.catalog.models import ListingState
from tests.access import ROLES, Row, build_world, check, outcomes
from tests.catalog.factories import make_listing, make_product

PUBLIC = outcomes(anonymous=200, default=200)
NOBODY = outcomes(anonymous=404, default=404)

ROWS = [
    Row("GET", "/", PUBLIC),
    Row("GET", "/search", PUBLIC),
    Row("GET", "/search?q=widget&category=databases&price=free&certified=1&page=1", PUBLIC),
    Row("GET", "/products/acme/widget", PUBLIC),
    # A product with no listing (a draft) does not exist on the storefront, for anyone.
    Row("GET", "/products/acme/draft", NOBODY),
    Row("GET", "/products/acme/withdrawn", NOBODY),
    Row("GET", "/products/acme/taken-down", NOBODY),
    Row("GET", "/products/acme/ghost", NOBODY),
    Row("GET", "/publishers/acme", PUBLIC),
    Row("GET", "/publishers/globex", NOBODY),  # no live listing
    Row("GET", "/publishers/nobody", NOBODY),
    Row("GET", "/categories/databases", PUBLIC),
    Row("GET", "/categories/ghost", NOBODY),
    Row("GET", "/api/v1/catalog/search?q=widget", PUBLIC),
    Row("GET", "/api/v1/catalog/search?q=widgte&sort=name&exact=true", PUBLIC),
    Row("GET", "/api/v1/catalog/suggest?q=wid", PUBLIC),
    Row("GET", "/api/v1/catalog/suggest?q=", PUBLIC),
    Row("GET", "/search?q=widgte&sort=newest&exact=1", PUBLIC),
    Row("GET", "/api/v1/catalog/products/acme/widget", PUBLIC),
    Row("GET", "/api/v1/catalog/products/acme/draft", NOBODY),
    Row("GET", "/api/v1/catalog/products/acme/withdrawn", NOBODY),
    Row("GET", "/api/v1/catalog/categories", PUBLIC),
]

CASES = [pytest.param(row, role, id=f"{row.id} [{role}]") for row in ROWS for role in ROLES]


def _catalogue() -> None:
    make_listing("acme", "widget", name="Widget")
    make_product("acme", "draft", name="Draft")
    make_listing("acme", "withdrawn", name="Withdrawn", state=ListingState.UNPUBLISHED)
    make_listing("acme", "taken-down", name="Taken down", state=ListingState.TAKEN_DOWN)


@pytest.mark.django_db
@pytest.mark.parametrize("row, role", CASES)
def test_access(client: Client, row: Row, role: str) -> None:
    world = build_world()
    _catalogue()
    check(client, world, row, role)


def test_every_storefront_route_has_a_row() -> None:
    from portside.storefront.urls import urlpatterns

    covered = {row.path.split("?")[0].split("/")[1] for row in ROWS if row.path != "/"}
    for pattern in urlpatterns:
        assert str(pattern.pattern).split("/")[0] in covered, pattern
    assert {r.path for r in ROWS if r.path.startswith("/api/")} >= {
        "/api/v1/catalog/categories",
        "/api/v1/catalog/suggest?q=wid",
    }
