"""``PULL_REQUIRES_SCAN`` through skopeo: a customer's copy of an image the store has not
scanned is refused with the store's message, and goes through once the scan finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portside.core import clock
from portside.registry import restricted
from portside.registry.models import Repository
from portside.scanning.models import Scan, ScanStatus
from tests.interop.test_entitlements import World, _build, _ref, _skopeo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(live_server: Any, settings: Any, tmp_path: Path) -> World:
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    from portside.registry import storage

    storage._store.cache_clear()
    restricted.CACHE.clear()
    settings.BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    settings.PULL_REQUIRES_SCAN = True
    return _build(live_server.url.removeprefix("http://"))


def test_skopeo_copy_refused_until_the_scan(world: World, tmp_path: Path) -> None:
    image = world.digests["a"]  # tag 1.0, the Community tier's
    first = _skopeo(world, "community", "copy", _ref(world, ":1.0"), f"dir:{tmp_path / 'one'}")
    assert first.returncode != 0
    assert "has not been scanned yet" in first.stderr and image in first.stderr
    # The publisher and the store team are not held back.
    for role in ("publisher", "moderator"):
        ok = _skopeo(world, role, "inspect", "--raw", _ref(world, ":1.0"))
        assert ok.returncode == 0, ok.stderr

    now = clock.now()
    Scan.objects.update_or_create(
        repository=Repository.objects.get(name="acme/db"),
        digest=image,
        defaults={
            "status": ScanStatus.DONE, "requested_at": now, "finished_at": now, "matched_at": now,
        },
    )  # fmt: skip
    second = _skopeo(world, "community", "copy", _ref(world, ":1.0"), f"dir:{tmp_path / 'two'}")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "two" / "manifest.json").exists()
