"""Blobs and uploads in dictionaries: for tests, with the same rules as the real drivers."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from .base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobStoreError,
    UploadBusy,
    UploadInfo,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    check_range,
    check_upload_id,
    split_digest,
)


class _ClosingMemory:
    def __init__(self, store: MemoryBlobStore, upload_id: str, data: bytes) -> None:
        self._store, self._upload_id, self._data = store, upload_id, data

    @property
    def size(self) -> int:
        return len(self._data)

    def read(self) -> Iterator[bytes]:
        data = self._data
        return (data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))

    def commit(self, digest: str) -> int:
        return self._store._commit_closed(self._upload_id, self._data, digest)


class MemoryBlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, tuple[bytearray, float]] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemoryBlobStore: {len(self._blobs)} blobs, {len(self._uploads)} uploads>"

    def close(self) -> None:
        """Nothing to release; here so that every driver can be closed alike."""

    # --- blobs ----------------------------------------------------------------------------

    def stat(self, digest: str) -> int | None:
        split_digest(digest)
        data = self._blobs.get(digest)
        return None if data is None else len(data)

    def open(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        split_digest(digest)
        check_range(offset, length)
        data = self._blobs.get(digest)
        if data is None:
            raise BlobNotFound(digest)
        end = None if length is None else offset + length
        return io.BytesIO(data[offset:end])

    def local_path(self, digest: str) -> str | None:
        split_digest(digest)
        return None

    def redirect_url(
        self, digest: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str | None:
        split_digest(digest)
        return None

    def put(self, digest: str, data: bytes) -> None:
        split_digest(digest)
        self._blobs[digest] = bytes(data)

    def delete(self, digest: str) -> bool:
        split_digest(digest)
        return self._blobs.pop(digest, None) is not None

    def iter_digests(self) -> Iterator[str]:
        yield from list(self._blobs)

    # --- uploads --------------------------------------------------------------------------

    def start_upload(self, upload_id: str) -> None:
        check_upload_id(upload_id)
        with self._lock:
            if upload_id in self._uploads:
                raise BlobStoreError(f"upload id {upload_id} is already in use")
            self._uploads[upload_id] = (bytearray(), time.time())

    def _get(self, upload_id: str) -> tuple[bytearray, float]:
        check_upload_id(upload_id)
        try:
            return self._uploads[upload_id]
        except KeyError:
            raise UploadNotFound(upload_id) from None

    def upload_info(self, upload_id: str) -> UploadInfo:
        data, modified = self._get(upload_id)
        return UploadInfo(upload_id=upload_id, size=len(data), modified=modified)

    def append_upload(
        self, upload_id: str, chunks: Iterable[bytes], *, offset: int, limit: int | None = None
    ) -> int:
        with self._lock:
            data, _ = self._get(upload_id)
            size = len(data)
            if upload_id in self._busy or offset != size:
                raise UploadOffsetMismatch(expected=offset, actual=size)
            self._busy.add(upload_id)
        try:
            for chunk in chunks:
                if limit is not None and len(data) + len(chunk) > limit:
                    raise UploadTooLarge(f"the upload would pass its limit of {limit} bytes")
                data += chunk
        except BaseException:
            del data[size:]
            raise
        finally:
            self._busy.discard(upload_id)
        if len(data) != size and upload_id in self._uploads:
            self._uploads[upload_id] = (data, time.time())
        return len(data)

    def read_upload(self, upload_id: str) -> Iterator[bytes]:
        data, _ = self._get(upload_id)
        return (bytes(data[i : i + CHUNK_SIZE]) for i in range(0, len(data), CHUNK_SIZE))

    @contextlib.contextmanager
    def close_upload(self, upload_id: str) -> Iterator[_ClosingMemory]:
        with self._lock:
            data, _ = self._get(upload_id)
            if upload_id in self._busy:
                raise UploadBusy(f"upload {upload_id} is being appended to or closed")
            self._busy.add(upload_id)  # appends are refused while it is held
        try:
            yield _ClosingMemory(self, upload_id, bytes(data))
        finally:
            self._busy.discard(upload_id)

    def commit_upload(self, upload_id: str, digest: str) -> int:
        split_digest(digest)
        with self.close_upload(upload_id) as closing:
            return closing.commit(digest)

    def _commit_closed(self, upload_id: str, data: bytes, digest: str) -> int:
        split_digest(digest)
        with self._lock:
            if self._uploads.pop(upload_id, None) is None:
                raise UploadNotFound(upload_id)
            if digest not in self._blobs or len(self._blobs[digest]) != len(data):
                self._blobs[digest] = data
            return len(data)

    def cancel_upload(self, upload_id: str) -> None:
        with self._lock:
            self._get(upload_id)
            del self._uploads[upload_id]

    def iter_uploads(self) -> Iterator[UploadInfo]:
        for upload_id in list(self._uploads):
            try:
                yield self.upload_info(upload_id)
            except UploadNotFound:
                continue
