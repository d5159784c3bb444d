"""A listing's pull count follows the pulls the registry records, as they are recorded."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portside.catalog import search
from tests.commerce.world import Store, build_store
from tests.factories import PASSWORD
from tests.registry.helpers import Registry


@pytest.fixture
def store(db: Any) -> Store:
    return build_store()


def test_the_product_page_counts_pulls_as_they_happen(
    store: Store, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    listing = store.listing
    name = store.pub.repository.name
    owner = Registry(Client(), store.pub.owner.username, PASSWORD)
    for _ in range(3):
        # Each pull's recording commits, then its event is delivered.
        with django_capture_on_commit_callbacks(execute=True):
            response = owner.call("GET", f"/v2/{name}/manifests/1.0", f"repository:{name}:pull")
        assert response.status_code == 200
    listing.refresh_from_db()
    assert listing.pulls == 3  # counted when the pulls were recorded, not an hour later
    page = client.get(f"/products/{listing.product.organization.name}/{listing.product.slug}")
    assert "3 pulls" in page.content.decode()
    # The same batch delivered again is a recount, not another three.
    search.refresh_popularity([name])
    listing.refresh_from_db()
    assert listing.pulls == 3
