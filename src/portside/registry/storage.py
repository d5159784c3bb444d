"""The blob store the registry uses, chosen by ``PORTSIDE_BLOB_STORE``.

The driver is wrapped in :class:`RegistryStore`, which speaks the registry's language for
one case: a blob whose bytes are not in the store is :class:`MissingBlob`, both the OCI
``BLOB_UNKNOWN`` error (404 on ``/v2/``) and the store's ``BlobNotFound``. Everything
else is passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from functools import cache
from typing import BinaryIO

from django.conf import settings

from portside.blobstore import BlobNotFound, BlobStore, ClosingUpload, UploadInfo, from_url
from portside.oci import errors


class MissingBlob(errors.BlobUnknown, BlobNotFound):
    """The blob's bytes are not in the store."""


class RegistryStore:
    """A blob store whose missing blobs are ``BLOB_UNKNOWN`` (see the module docstring)."""

    def __init__(self, driver: BlobStore) -> None:
        self.driver = driver

    def __repr__(self) -> str:
        return f"RegistryStore({self.driver!r})"

    def close(self) -> None:
        close = getattr(self.driver, "close", None)
        if close is not None:
            close()

    def stat(self, digest: str) -> int | None:
        return self.driver.stat(digest)

    def open(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        try:
            return self.driver.open(digest, offset, length)
        except BlobNotFound:
            raise MissingBlob(
                "The blob's content is not in the store; push it again.",
                detail={"digest": digest},
            ) from None

    def local_path(self, digest: str) -> str | None:
        return self.driver.local_path(digest)

    def redirect_url(
        self, digest: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str | None:
        return self.driver.redirect_url(digest, expires_in=expires_in, filename=filename)

    def put(self, digest: str, data: bytes) -> None:
        self.driver.put(digest, data)

    def delete(self, digest: str) -> bool:
        return self.driver.delete(digest)

    def iter_digests(self) -> Iterator[str]:
        return self.driver.iter_digests()

    def start_upload(self, upload_id: str) -> None:
        self.driver.start_upload(upload_id)

    def upload_info(self, upload_id: str) -> UploadInfo:
        return self.driver.upload_info(upload_id)

    def append_upload(
        self, upload_id: str, chunks: Iterable[bytes], *, offset: int, limit: int | None = None
    ) -> int:
        return self.driver.append_upload(upload_id, chunks, offset=offset, limit=limit)

    def read_upload(self, upload_id: str) -> Iterator[bytes]:
        return self.driver.read_upload(upload_id)

    def close_upload(self, upload_id: str) -> AbstractContextManager[ClosingUpload]:
        return self.driver.close_upload(upload_id)

    def commit_upload(self, upload_id: str, digest: str) -> int:
        return self.driver.commit_upload(upload_id, digest)

    def cancel_upload(self, upload_id: str) -> None:
        self.driver.cancel_upload(upload_id)

    def iter_uploads(self) -> Iterator[UploadInfo]:
        return self.driver.iter_uploads()


@cache
def _store(url: str) -> RegistryStore:
    return RegistryStore(from_url(url))


def store() -> RegistryStore:
    return _store(settings.BLOB_STORE_URL)
