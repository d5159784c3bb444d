from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from portside.accounts.models import OrgRole
from tests.factories import PASSWORD, make_org, make_user
from tests.registry.helpers import Registry


@pytest.fixture(autouse=True)
def _blob_store(settings, tmp_path):
    """Each test gets its own blob store directory."""
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()


@dataclass
class World:
    owner: Any
    viewer: Any
    other: Any
    admin: Any
    org: Any


@pytest.fixture
def world(db) -> World:
    owner, viewer, other = make_user("owner"), make_user("viewer"), make_user("other")
    admin = make_user("admin", store_role="admin")
    org = make_org("acme", owner, members={OrgRole.VIEWER: viewer})
    make_org("globex", other)
    return World(owner, viewer, other, admin, org)


@pytest.fixture
def as_owner(client, world) -> Registry:
    return Registry(client, "owner", PASSWORD)


@pytest.fixture
def as_viewer(client, world) -> Registry:
    return Registry(client, "viewer", PASSWORD)


@pytest.fixture
def as_other(client, world) -> Registry:
    return Registry(client, "other", PASSWORD)


@pytest.fixture
def anonymous(client, world) -> Registry:
    return Registry(client)
