"""The blob store the registry uses, chosen by ``PORTSIDE_BLOB_STORE``."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from portside.blobstore import BlobStore, from_url


@cache
def _store(url: str) -> BlobStore:
    return from_url(url)


def store() -> BlobStore:
    return _store(settings.BLOB_STORE_URL)
