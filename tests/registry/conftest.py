from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from portside.accounts.models import OrgRole
from tests.factories import PASSWORD, make_org, make_user
from tests.registry.helpers import Registry


@pytest.fixture(autouse=True, params=["filesystem", "s3"])
def blob_store(request, settings, tmp_path, monkeypatch):
    """Every registry test runs on the filesystem store and on S3 (a bucket of its own on
    the loopback S3 server, reached over real HTTP)."""
    if request.param == "filesystem":
        settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        settings.BLOB_STORE_URL = f"s3://{bucket}/registry?endpoint={endpoint}&region=us-east-1"
    yield request.param
    from portside.registry import storage

    store = storage.store()
    storage._store.cache_clear()
    close = getattr(store, "close", None)
    if close is not None:
        close()


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
