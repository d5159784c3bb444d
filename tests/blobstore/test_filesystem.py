"""What only the filesystem driver does: its layout, real files for sendfile, locking and
crash safety. The shared behaviour is in test_contract.py."""

from __future__ import annotations

import errno
import fcntl
import io
import os
from pathlib import Path

import pytest

from portside.blobstore import BlobStoreError, FilesystemBlobStore, UploadOffsetMismatch
from portside.blobstore import filesystem as filesystem_module

from .helpers import MIB, Failing, chunked, digest_of, payload

UPLOAD_ID = "upload-0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "store")


def test_layout_and_local_path(store: FilesystemBlobStore, tmp_path: Path) -> None:
    data = b"layer bytes"
    digest = digest_of(data)
    store.put(digest, data)
    expected = tmp_path / "store" / "blobs" / "sha256" / digest[7:9] / digest[7:]
    assert store.local_path(digest) == str(expected)
    assert os.path.isabs(store.local_path(digest) or "")
    assert expected.read_bytes() == data
    assert store.local_path(digest_of(b"missing")) is None
    assert [p.name for p in expected.parent.iterdir()] == [expected.name]  # no temp files


def test_relative_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FilesystemBlobStore("relative")
    store.put(digest_of(b"x"), b"x")
    path = store.local_path(digest_of(b"x"))
    assert path is not None and path.startswith(str(tmp_path / "relative"))


def test_open_gives_a_real_file_at_the_offset(store: FilesystemBlobStore) -> None:
    data = payload(3 * MIB, seed=30)
    digest = digest_of(data)
    store.put(digest, data)
    with store.open(digest, 1000) as handle:
        assert isinstance(handle.fileno(), int)
        assert os.lseek(handle.fileno(), 0, os.SEEK_CUR) == 1000  # where sendfile starts
        assert handle.read() == data[1000:]


def test_ranged_open_cannot_be_sent_past_its_end(store: FilesystemBlobStore) -> None:
    store.put(digest_of(b"0123456789"), b"0123456789")
    with store.open(digest_of(b"0123456789"), 2, 3) as handle:
        with pytest.raises(io.UnsupportedOperation):
            handle.fileno()
        assert handle.read() == b"234"


def test_failed_append_leaves_the_file_as_it_was(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    data = tmp_path / "store" / "uploads" / UPLOAD_ID / "data"
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"kept"], offset=0)
    with pytest.raises(ConnectionResetError):
        store.append_upload(UPLOAD_ID, Failing(chunked(payload(2 * MIB), [MIB // 2])), offset=4)
    assert data.stat().st_size == 4
    assert store.upload_info(UPLOAD_ID).size == 4
    assert data.read_bytes() == b"kept"


def test_failed_write_is_truncated(
    store: FilesystemBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills up half-way through a chunk leaves no partial chunk behind."""
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"kept"], offset=0)
    real_write = os.write
    calls = []

    def full_disk(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, memoryview(data)[:10])  # a short write
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(filesystem_module.os, "write", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.append_upload(UPLOAD_ID, [b"x" * 100], offset=4)
    monkeypatch.undo()
    assert calls == [100, 90]
    assert (tmp_path / "store" / "uploads" / UPLOAD_ID / "data").read_bytes() == b"kept"


def test_append_while_another_append_holds_the_lock(store: FilesystemBlobStore) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"abc"], offset=0)
    path = store.root / "uploads" / UPLOAD_ID / "data"
    with open(path, "rb") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(UploadOffsetMismatch) as caught:
            store.append_upload(UPLOAD_ID, [b"d"], offset=3)
        assert caught.value.actual == 3
        with pytest.raises(BlobStoreError):
            store.commit_upload(UPLOAD_ID, digest_of(b"abc"))
    assert store.append_upload(UPLOAD_ID, [b"d"], offset=3) == 4


def test_commit_across_file_systems(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(MIB + 1, seed=31)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [data], offset=0)
    real_replace = os.replace

    def cross_device(source: str, target: str) -> None:
        if "uploads" in str(source):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, target)

    monkeypatch.setattr(filesystem_module.os, "replace", cross_device)
    assert store.commit_upload(UPLOAD_ID, digest_of(data)) == len(data)
    monkeypatch.undo()
    with store.open(digest_of(data)) as handle:
        assert handle.read() == data
    assert list(store.iter_uploads()) == []


def test_strays_are_not_listed(store: FilesystemBlobStore) -> None:
    digest = digest_of(b"x")
    store.put(digest, b"x")
    shard = store.root / "blobs" / "sha256" / digest[7:9]
    (shard / ".tmp-abandoned").write_bytes(b"half")
    (shard / ("0" * 64)).write_bytes(b"in the wrong shard")
    (store.root / "blobs" / "sha256" / "README").write_bytes(b"")
    (store.root / "uploads" / "not-an-upload").mkdir(parents=True)
    (store.root / "uploads" / ("u" * 20)).mkdir()  # a start that crashed before its file
    assert list(store.iter_digests()) == [digest]
    assert list(store.iter_uploads()) == []


def test_empty_root_lists_nothing(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "nothing-here-yet")
    assert list(store.iter_digests()) == []
    assert list(store.iter_uploads()) == []
    assert store.stat(digest_of(b"x")) is None


def test_uploads_and_blobs_are_private_files(store: FilesystemBlobStore) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"abc"], offset=0)
    store.commit_upload(UPLOAD_ID, digest_of(b"abc"))
    store.put(digest_of(b"def"), b"def")
    for digest in (digest_of(b"abc"), digest_of(b"def")):
        path = store.local_path(digest)
        assert path is not None
        assert os.stat(path).st_mode & 0o077 == 0
