from __future__ import annotations

import pytest

from tests.registry.conftest import as_owner, as_viewer, world  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def blob_store(settings, tmp_path):
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    # SBOM documents are files in the default storage: one of the test's own.
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
