"""The blob store interface: errors, the upload record, the protocol and key validation.

A blob store keeps two kinds of objects:

* **blobs**, immutable and addressed by their digest (``sha256:<hex>`` or
  ``sha512:<hex>``). The store does not hash anything: callers verify content before it
  becomes a blob. The digest is only checked for shape, so that it can never be turned into
  a path or key outside the store.
* **uploads**, append-only staging objects named by an opaque id. An upload grows by
  :meth:`BlobStore.append_upload` calls that each say at which offset they write, and ends
  either as a blob (:meth:`BlobStore.commit_upload`) or cancelled.

Closing an upload is done while it is held closed (:meth:`BlobStore.close_upload`): no
append can change it then, so the caller reads, verifies and commits exactly the same
bytes. Without that, an append landing between the caller's check and the commit would
store bytes under a digest they do not have.

Every driver keeps all of its state in the backing storage, so a new store object over the
same directory or bucket (after a restart, or on another node) sees the same blobs and
continues the same uploads.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

#: The size of reads and writes the drivers use when they copy data around.
CHUNK_SIZE = 1024 * 1024

_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class BlobStoreError(Exception):
    """The blob store could not do what was asked."""


class BlobNotFound(BlobStoreError):
    """No blob has this digest."""


class UploadNotFound(BlobStoreError):
    """No upload has this id (it never existed, was committed or was cancelled)."""


class UploadOffsetMismatch(BlobStoreError):
    """An append did not start where the upload ends; nothing was written.

    ``expected`` is the offset the caller gave, ``actual`` the size the upload really has
    (the offset a retry must use).
    """

    def __init__(self, *, expected: int, actual: int) -> None:
        super().__init__(f"the upload holds {actual} bytes; an append at {expected} is refused")
        self.expected = expected
        self.actual = actual


class UploadTooLarge(BlobStoreError):
    """An append would take the upload past its limit; that append was rolled back."""


class UploadBusy(BlobStoreError):
    """The upload cannot be closed now: an append to it is still running, or another
    caller is closing it. Nothing was changed; closing may be tried again."""


@dataclass(frozen=True)
class UploadInfo:
    upload_id: str
    size: int
    modified: float  # unix time of the last write


class ClosingUpload(Protocol):
    """An upload held closed by :meth:`BlobStore.close_upload`. Appends to it are refused
    with :class:`UploadOffsetMismatch` until the ``with`` block ends, so ``size``,
    :meth:`read` and :meth:`commit` all see the same bytes."""

    @property
    def size(self) -> int:
        """The number of staged bytes: what :meth:`commit` stores."""
        ...

    def read(self) -> Iterator[bytes]:
        """Exactly the ``size`` bytes :meth:`commit` stores, in order."""
        ...

    def commit(self, digest: str) -> int:
        """Make those bytes the blob ``digest`` (which the caller has verified over
        :meth:`read`), remove the upload and return the blob's size. When a blob of that
        digest and size already exists the upload is simply dropped; one of another size
        (bytes that were never that digest's) is replaced."""
        ...


@runtime_checkable
class BlobStore(Protocol):
    """What the registry needs from storage; see the module docstring for the model."""

    def stat(self, digest: str) -> int | None:
        """The blob's size, or None when there is no such blob."""
        ...

    def open(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        """A readable file positioned at ``offset`` that ends after ``length`` bytes (or at
        the end of the blob). Raises :class:`BlobNotFound`."""
        ...

    def local_path(self, digest: str) -> str | None:
        """The blob's absolute path when it is a local file (for sendfile), else None."""
        ...

    def redirect_url(
        self, digest: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str | None:
        """A URL the client may fetch the blob from directly, or None to serve it here."""
        ...

    def put(self, digest: str, data: bytes) -> None:
        """Store a small blob written whole; readers never see part of it."""
        ...

    def delete(self, digest: str) -> bool:
        """Remove the blob; False when there was none."""
        ...

    def iter_digests(self) -> Iterator[str]:
        """Every stored blob's digest, in no particular order."""
        ...

    def start_upload(self, upload_id: str) -> None:
        """Create an empty upload; an id already in use raises :class:`BlobStoreError`."""
        ...

    def upload_info(self, upload_id: str) -> UploadInfo:
        """The upload's size and last write time. Raises :class:`UploadNotFound`."""
        ...

    def append_upload(
        self, upload_id: str, chunks: Iterable[bytes], *, offset: int, limit: int | None = None
    ) -> int:
        """Append ``chunks`` (streamed, never joined) at ``offset`` and return the new size.

        ``offset`` must be the current size (else :class:`UploadOffsetMismatch` and nothing
        is read or written). When the size would pass ``limit``, :class:`UploadTooLarge` is
        raised and what this call appended is rolled back; so is it when reading ``chunks``
        raises.
        """
        ...

    def read_upload(self, upload_id: str) -> Iterator[bytes]:
        """The staged bytes in order. Raises :class:`UploadNotFound` when called."""
        ...

    def close_upload(self, upload_id: str) -> AbstractContextManager[ClosingUpload]:
        """Hold the upload closed for the ``with`` block: appends are refused meanwhile, and
        leaving the block without :meth:`ClosingUpload.commit` opens it again, unchanged.
        Raises :class:`UploadNotFound`, and :class:`UploadBusy` when an append is running
        or another caller holds it closed."""
        ...

    def commit_upload(self, upload_id: str, digest: str) -> int:
        """Close the upload and commit whatever it holds as the blob ``digest`` (for callers
        that verified the bytes by other means); see :meth:`ClosingUpload.commit`."""
        ...

    def cancel_upload(self, upload_id: str) -> None:
        """Remove the upload and its bytes. Raises :class:`UploadNotFound`."""
        ...

    def iter_uploads(self) -> Iterator[UploadInfo]:
        """Every upload in progress, in no particular order."""
        ...


def split_digest(digest: str) -> tuple[str, str]:
    """``(algorithm, hex)`` of a well-formed digest; anything else raises ValueError.

    Only sha256 and sha512 with lowercase hex of the right length pass, which also rules
    out separators, dots, NUL bytes and every other way to escape a path or key.
    """
    if not isinstance(digest, str):
        raise ValueError(f"a digest is a string, not {type(digest).__name__}")
    algorithm, sep, encoded = digest.partition(":")
    expected = _DIGEST_LENGTHS.get(algorithm)
    if not sep or expected is None or len(encoded) != expected or _HEX.fullmatch(encoded) is None:
        raise ValueError(f"not a sha256 or sha512 digest: {digest!r:.200}")
    return algorithm, encoded


def check_upload_id(upload_id: str) -> str:
    """Return ``upload_id`` when it is 16 to 64 of ``[A-Za-z0-9_-]``; else ValueError."""
    if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
        raise ValueError(f"not a valid upload id: {upload_id!r:.200}")
    return upload_id


def check_range(offset: int, length: int | None) -> None:
    if offset < 0:
        raise ValueError("offset must not be negative")
    if length is not None and length < 0:
        raise ValueError("length must not be negative")


class Source(Protocol):
    """Anything that fills a buffer and can be closed: a raw file, an HTTP body."""

    def readinto(self, buffer: Any, /) -> int | None: ...

    def close(self) -> None: ...


class BoundedReader(io.RawIOBase):
    """Reads at most ``length`` bytes (None: all) from ``source``, then reports the end.

    It deliberately has no ``fileno``: whoever gets it cannot send past the range with
    sendfile. Closing it closes ``source``.
    """

    def __init__(self, source: Source, length: int | None) -> None:
        super().__init__()
        self._source = source
        self._left = -1 if length is None else length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._left == 0:
            return 0
        view = memoryview(buffer).cast("B")
        if self._left > 0 and len(view) > self._left:
            view = view[: self._left]
        count = self._source.readinto(view)
        if not count:
            self._left = 0
            return 0
        if self._left > 0:
            self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._source.close()
            finally:
                super().close()


def bounded(source: Source, length: int | None) -> BinaryIO:
    """``source`` limited to ``length`` bytes (None: unlimited), as a buffered binary file."""
    return io.BufferedReader(BoundedReader(source, length), CHUNK_SIZE)
