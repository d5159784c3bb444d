"""The public catalogue in the JSON API: /api/v1/catalog/..."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portside.catalog.models import ListingState
from tests.catalog.factories import build_catalogue, withdraw


@pytest.fixture
def catalogue(db: Any) -> dict[str, Any]:
    return build_catalogue()


def test_search(client: Client, catalogue: dict[str, Any]) -> None:
    response = client.get("/api/v1/catalog/search", {"q": "postgres", "category": "databases"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 5
    assert [f"{r['organization']}/{r['slug']}" for r in body["results"]] == [
        "acme/postgres",
        "initech/pgbouncer",
        "initech/timescale",
        "globex/postgis",
        "hooli/mysql",
    ]
    first = body["results"][0]
    assert first["url"] == "/products/acme/postgres"
    assert first["score"] == 15 and first["certified"] is True
    assert first["price"] == "Free, or from EUR 49.00 per year"
    assert first["category"] == {"slug": "databases", "name": "Databases"}
    assert body["facets"]["categories"] == [
        {"value": "databases", "label": "Databases", "count": 5}
    ]
    assert body["facets"]["price"] == {"free": 4, "paid": 2}
    assert body["facets"]["certified"] == 2
    assert (body["page"], body["page_size"], body["pages"]) == (1, 20, 1)


def test_search_everything_and_pages(client: Client, catalogue: dict[str, Any]) -> None:
    body = client.get("/api/v1/catalog/search", {"page": 3, "page_size": 7}).json()
    assert body["total"] == 30 and body["pages"] == 5 and len(body["results"]) == 7
    assert client.get("/api/v1/catalog/search", {"page": 9}).json()["results"] == []
    certified = client.get("/api/v1/catalog/search", {"certified": "true"}).json()
    assert certified["total"] == 8


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page_size": 0},
        {"page_size": 101},
        {"price": "cheap"},
        {"certified": "maybe"},
        {"q": "x" * 1001},
        {"q": "redis\x00"},  # a NUL is refused by the whole API before any view
    ],
)
def test_search_refuses_bad_parameters(
    client: Client, catalogue: dict[str, Any], params: dict[str, Any]
) -> None:
    assert client.get("/api/v1/catalog/search", params).status_code == 422


@pytest.mark.parametrize("q", ['"', "NEAR(", "{name}: redis", "*", "AND OR NOT"])
def test_search_takes_hostile_queries_as_words(
    client: Client, catalogue: dict[str, Any], q: str
) -> None:
    assert client.get("/api/v1/catalog/search", {"q": q}).status_code == 200


def test_product(client: Client, catalogue: dict[str, Any], settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["store.example.com"]
    response = client.get("/api/v1/catalog/products/acme/postgres", HTTP_HOST="store.example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Acme PostgreSQL 16"
    assert body["publisher"]["organization"] == "acme"
    assert body["certified"] is True
    assert [t["price_label"] for t in body["tiers"]] == ["Free", "EUR 49.00 per year"]
    assert body["tiers"][0]["pulls"] == [
        {
            "reference": "acme/postgres:1.0",
            "command": "docker pull store.example.com/acme/postgres:1.0",
        }
    ]
    assert "sources" not in body
    assert "<strong>PostgreSQL</strong>" in body["long_description_html"]


def test_product_not_live_is_not_found(client: Client, catalogue: dict[str, Any]) -> None:
    withdraw(catalogue["acme/postgres"], ListingState.TAKEN_DOWN)
    assert client.get("/api/v1/catalog/products/acme/postgres").status_code == 404
    assert client.get("/api/v1/catalog/products/acme/nothing").status_code == 404
    assert client.get("/api/v1/catalog/products/nobody/postgres").status_code == 404


def test_categories(client: Client, catalogue: dict[str, Any]) -> None:
    body = client.get("/api/v1/catalog/categories").json()
    counts = {c["slug"]: c["count"] for c in body}
    assert counts["databases"] == 6 and counts["networking"] == 1
    assert sum(counts.values()) == 30
    assert body[0] == {"slug": "analytics", "name": "Analytics", "count": 2}


def test_openapi_describes_the_catalogue(client: Client, db: Any) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/api/v1/catalog/search" in paths
    assert "/api/v1/catalog/products/{org}/{slug}" in paths
    assert "/api/v1/catalog/categories" in paths
