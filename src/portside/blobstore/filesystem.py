"""Blobs and uploads as files under one root directory (the embedded default).

Layout::

    <root>/blobs/<algorithm>/<first two hex digits>/<hex>
    <root>/uploads/<upload id>/data

The files are the whole state: an upload's size is its file's size and its last write
time the file's mtime, so uploads survive a restart and every process over the same root
shares them. Blobs appear in one ``rename``: written to a temporary file in the target
directory, flushed to disk, renamed into place, and the directory flushed too. Appends
take an advisory lock on the upload file, so two processes cannot interleave writes, and
closing an upload holds the same lock from the caller's check of its bytes to the commit,
so no append can slip in between.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
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
    bounded,
    check_range,
    check_upload_id,
    split_digest,
)

_ALGORITHMS = ("sha256", "sha512")
_TEMP_PREFIX = ".tmp-"
_FILE_MODE = 0o600


class FilesystemBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._blobs = self.root / "blobs"
        self._uploads = self.root / "uploads"

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r})"

    def close(self) -> None:
        """Nothing to release; here so that every driver can be closed alike."""

    # --- blobs ----------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        algorithm, encoded = split_digest(digest)
        return self._blobs / algorithm / encoded[:2] / encoded

    def stat(self, digest: str) -> int | None:
        try:
            return os.stat(self._blob_path(digest)).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def open(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        check_range(offset, length)
        path = self._blob_path(digest)
        try:
            if length is None:
                # A real file: servers may hand it to sendfile from its current position.
                whole = open(path, "rb", buffering=CHUNK_SIZE)
                return _seeked(whole, offset)
            raw = open(path, "rb", buffering=0)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(digest) from None
        return bounded(_seeked(raw, offset), length)

    def local_path(self, digest: str) -> str | None:
        path = self._blob_path(digest)
        return str(path) if path.is_file() else None

    def redirect_url(
        self, digest: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str | None:
        split_digest(digest)
        return None

    def put(self, digest: str, data: bytes) -> None:
        path = self._blob_path(digest)
        _ensure_dir(path.parent)
        _write_atomically(path, data)

    def delete(self, digest: str) -> bool:
        try:
            os.unlink(self._blob_path(digest))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def iter_digests(self) -> Iterator[str]:
        for algorithm in _ALGORITHMS:
            for shard in _scandir(self._blobs / algorithm):
                if not shard.is_dir(follow_symlinks=False):
                    continue
                for entry in _scandir(Path(shard.path)):
                    digest = f"{algorithm}:{entry.name}"
                    if entry.name[:2] != shard.name or not _is_digest(digest):
                        continue  # temporary files and strays
                    if entry.is_file(follow_symlinks=False):
                        yield digest

    # --- uploads --------------------------------------------------------------------------

    def _upload_dir(self, upload_id: str) -> Path:
        return self._uploads / check_upload_id(upload_id)

    def _upload_data(self, upload_id: str) -> Path:
        return self._upload_dir(upload_id) / "data"

    def start_upload(self, upload_id: str) -> None:
        directory = self._upload_dir(upload_id)
        _ensure_dir(self._uploads)
        try:
            os.mkdir(directory)
        except FileExistsError:
            raise BlobStoreError(f"upload id {upload_id} is already in use") from None
        try:
            fd = os.open(directory / "data", os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(directory)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None  # cancelled while it was being started
        _fsync_dir(self._uploads)

    def upload_info(self, upload_id: str) -> UploadInfo:
        try:
            status = os.stat(self._upload_data(upload_id))
        except (FileNotFoundError, NotADirectoryError):
            raise UploadNotFound(upload_id) from None
        return UploadInfo(upload_id=upload_id, size=status.st_size, modified=status.st_mtime)

    def append_upload(
        self, upload_id: str, chunks: Iterable[bytes], *, offset: int, limit: int | None = None
    ) -> int:
        path = self._upload_data(upload_id)
        fd = _open_locked(path, os.O_WRONLY | os.O_APPEND, upload_id)
        if fd is None:
            # Another append holds the file: its writer will move the offset.
            raise UploadOffsetMismatch(expected=offset, actual=self.upload_info(upload_id).size)
        try:
            size = os.fstat(fd).st_size
            if offset != size:
                raise UploadOffsetMismatch(expected=offset, actual=size)
            written = 0
            try:
                for chunk in chunks:
                    count = len(chunk)
                    if not count:
                        continue
                    if limit is not None and size + written + count > limit:
                        raise UploadTooLarge(f"the upload would pass its limit of {limit} bytes")
                    _write_all(fd, chunk)
                    written += count
                if written:
                    os.fsync(fd)
            except BaseException:
                # Whatever happened, the upload keeps the size its caller last heard of.
                os.ftruncate(fd, size)
                os.fsync(fd)
                raise
            return size + written
        finally:
            os.close(fd)

    def read_upload(self, upload_id: str) -> Iterator[bytes]:
        path = self._upload_data(upload_id)
        if not path.is_file():
            raise UploadNotFound(upload_id)
        return _read_chunks(path, upload_id)

    @contextlib.contextmanager
    def close_upload(self, upload_id: str) -> Iterator[_ClosingFile]:
        fd = _open_locked(self._upload_data(upload_id), os.O_RDONLY, upload_id)
        if fd is None:
            raise UploadBusy(f"upload {upload_id} is being appended to")
        try:
            yield _ClosingFile(self, upload_id, fd)
        finally:
            os.close(fd)

    def commit_upload(self, upload_id: str, digest: str) -> int:
        split_digest(digest)
        with self.close_upload(upload_id) as closing:
            return closing.commit(digest)

    def _commit_locked(self, upload_id: str, fd: int, size: int, digest: str) -> int:
        """Move the upload file, whose lock the caller holds through ``fd``, into place."""
        target = self._blob_path(digest)
        source = self._upload_data(upload_id)
        if self.stat(digest) == size:
            with contextlib.suppress(UploadNotFound):
                self._remove_upload(upload_id)
            return size
        if os.fstat(fd).st_size != size:
            raise BlobStoreError(f"upload {upload_id} changed while it was held closed")
        _ensure_dir(target.parent)
        try:
            os.replace(source, target)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None  # cancelled meanwhile
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # uploads/ and blobs/ live on different file systems: copy instead.
            _copy_atomically(source, target)
        _fsync_dir(target.parent)
        with contextlib.suppress(UploadNotFound):  # committed: a cancel now changes nothing
            self._remove_upload(upload_id)
        return size

    def cancel_upload(self, upload_id: str) -> None:
        if not self._upload_dir(upload_id).is_dir():
            raise UploadNotFound(upload_id)
        self._remove_upload(upload_id)

    def _remove_upload(self, upload_id: str) -> None:
        try:
            shutil.rmtree(self._upload_dir(upload_id))
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        _fsync_dir(self._uploads)

    def iter_uploads(self) -> Iterator[UploadInfo]:
        for entry in _scandir(self._uploads):
            try:
                yield self.upload_info(entry.name)
            except (ValueError, UploadNotFound):
                continue


class _ClosingFile:
    """An upload file held closed by its lock (see :meth:`FilesystemBlobStore.close_upload`):
    appends take the same lock without waiting, so they fail while this is open."""

    def __init__(self, store: FilesystemBlobStore, upload_id: str, fd: int) -> None:
        self._store, self._upload_id, self._fd = store, upload_id, fd
        self._size = os.fstat(fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def read(self) -> Iterator[bytes]:
        position = 0
        while position < self._size:
            chunk = os.pread(self._fd, min(CHUNK_SIZE, self._size - position), position)
            if not chunk:
                raise BlobStoreError(f"upload {self._upload_id} shrank while held closed")
            position += len(chunk)
            yield chunk

    def commit(self, digest: str) -> int:
        split_digest(digest)
        return self._store._commit_locked(self._upload_id, self._fd, self._size, digest)


def _is_digest(digest: str) -> bool:
    try:
        split_digest(digest)
    except ValueError:
        return False
    return True


def _scandir(path: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            yield from entries
    except (FileNotFoundError, NotADirectoryError):
        return


def _seeked[F: BinaryIO](handle: F, offset: int) -> F:
    try:
        if offset:
            handle.seek(offset)
    except BaseException:
        handle.close()
        raise
    return handle


def _open_locked(path: Path, flags: int, upload_id: str) -> int | None:
    """Open the upload file ``path`` and take its lock without waiting.

    Returns None when someone else holds the lock. Raises :class:`UploadNotFound` when the
    file is gone, including when a commit moved it away while we waited to open it.
    """
    try:
        fd = os.open(path, flags | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise UploadNotFound(upload_id) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        opened = os.fstat(fd)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
            raise UploadNotFound(upload_id)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


def _read_chunks(path: Path, upload_id: str) -> Iterator[bytes]:
    try:
        handle = open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise UploadNotFound(upload_id) from None
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """Create ``path`` and its missing parents, flushing each new entry to disk."""
    if path.is_dir():
        return
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory)
        _fsync_dir(directory.parent)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_dir(path.parent)


def _copy_atomically(source: Path, path: Path) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    try:
        with open(fd, "wb", closefd=True) as target, open(source, "rb") as origin:
            shutil.copyfileobj(origin, target, CHUNK_SIZE)
            target.flush()
            os.fsync(target.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
