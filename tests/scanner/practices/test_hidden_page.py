"""The store's scan page shows a finding about bytes a later layer hides, naming both
layers: the image is pushed through the registry, scanned by the worker's code path and
its page rendered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portside.scanning import services
from portside.scanning.models import Scan, ScanStatus
from tests.registry.conftest import as_owner, world  # noqa: F401  (fixtures)
from tests.scanning.images import OS_RELEASE, push_scannable

LIST = "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture(autouse=True)
def stores(settings, tmp_path):
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    yield
    from portside.registry import storage

    storage._store.cache_clear()


def test_the_scan_page_names_the_layer_that_adds_and_the_layer_that_hides(
    client,
    as_owner,  # noqa: F811
    world,  # noqa: F811
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        digest = push_scannable(
            as_owner,
            "acme/app",
            "v1",
            [
                [("etc/os-release", OS_RELEASE)],
                [(LIST, b"L" * 4096), ("root/.ssh/id_ed25519", KEY.encode())],
                [
                    ("var/lib/apt/lists/.wh.deb.debian.org_debian_dists_bookworm_InRelease", b""),
                    ("root/.ssh/.wh.id_ed25519", b""),
                ],
            ],
        )
    scan = services.run(scan_id=Scan.objects.get(digest=digest).pk)
    assert scan.status == ScanStatus.DONE, scan.error
    results = {p["id"]: p for p in scan.practices}
    assert results["PS-007"]["status"] == "fail"
    assert results["PS-003"]["status"] == "fail"
    (cache,) = results["PS-007"]["evidence"]
    assert cache["layer"]["index"] == 1
    assert "added by layer 1 (sha256:" in cache["detail"]
    assert "deleted by layer 2 (sha256:" in cache["detail"]

    client.force_login(world.owner)
    page = client.get(reverse("scan_detail", args=["acme", scan.pk])).content.decode()
    assert "PS-007" in page and "PS-003" in page
    assert "layer 1: apt package lists: 1 file, 4.0 KiB, added by layer 1" in page
    assert "deleted by layer 2 (sha256:" in page and ", layer 2)" in page
    assert "/root/.ssh/id_ed25519" in page
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in page
