"""The blob store contract: every driver (filesystem, memory, S3 over HTTP) must pass it."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from portside.blobstore import (
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)

from .helpers import MIB, Failing, chunked, digest_of, payload

UPLOAD_ID = "upload-0123456789abcdef"
OTHER_ID = "other_0123456789ABCDEF"
VALID = digest_of(b"x")

BAD_DIGESTS = [
    "sha256:../../etc/passwd",
    "sha256:" + "A" * 64,
    "md5:" + "0" * 32,
    "sha1:" + "0" * 40,
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha512:" + "0" * 64,
    "sha256:" + "0" * 63 + "\x00",
    "sha256:" + "0" * 64 + "\n",
    "sha256:" + "0" * 62 + "/x",
    "sha256:" + "0" * 64 + "/../x",
    "../sha256:" + "0" * 64,
    "sha256/" + "0" * 64,
    "sha256" + "0" * 64,
    "SHA256:" + "0" * 64,
    " sha256:" + "0" * 64,
    "",
]

BAD_UPLOAD_IDS = [
    "../x",
    "../../../../etc/passwd",
    "short",
    "a" * 65,
    "a" * 20 + "/b",
    "a" * 20 + "\x00",
    "a" * 20 + ".",
    "a" * 20 + "\n",
    "..aaaaaaaaaaaaaaaaaaaa",
    "",
]


def read_all(store: Any, digest: str, offset: int = 0, length: int | None = None) -> bytes:
    with store.open(digest, offset, length) as handle:
        return handle.read()


def staged(store: Any, upload_id: str) -> bytes:
    return b"".join(store.read_upload(upload_id))


def test_every_driver_is_a_blob_store(store: Any) -> None:
    assert isinstance(store, BlobStore)


# --- blobs --------------------------------------------------------------------------------


def test_put_stat_open_delete(store: Any) -> None:
    data = payload(100_000)
    digest = digest_of(data)
    assert store.stat(digest) is None
    store.put(digest, data)
    assert store.stat(digest) == len(data)
    assert read_all(store, digest) == data
    assert store.delete(digest) is True
    assert store.stat(digest) is None
    assert store.delete(digest) is False
    with pytest.raises(BlobNotFound):
        store.open(digest)


def test_open_reads_ranges(store: Any) -> None:
    data = payload(3 * MIB + 17, seed=1)
    digest = digest_of(data)
    store.put(digest, data)
    assert read_all(store, digest, 5) == data[5:]
    assert read_all(store, digest, 1000, 2 * MIB) == data[1000 : 1000 + 2 * MIB]
    assert read_all(store, digest, 0, 1) == data[:1]
    assert read_all(store, digest, len(data) - 3, 100) == data[-3:]  # past the end: cut short
    assert read_all(store, digest, 10, 0) == b""
    assert read_all(store, digest, len(data)) == b""
    assert read_all(store, digest, len(data) + 100, 5) == b""


def test_open_reads_in_pieces(store: Any) -> None:
    data = b"0123456789"
    digest = digest_of(data)
    store.put(digest, data)
    with store.open(digest, 2, 6) as handle:
        assert handle.read(4) == b"2345"
        assert handle.read(4) == b"67"
        assert handle.read(4) == b""
    assert handle.closed


def test_open_refuses_negative_ranges(store: Any) -> None:
    store.put(VALID, b"x")
    with pytest.raises(ValueError):
        store.open(VALID, -1)
    with pytest.raises(ValueError):
        store.open(VALID, 0, -1)


def test_open_missing_blob_with_a_range(store: Any) -> None:
    for offset, length in [(0, None), (3, None), (0, 5), (2, 0)]:
        with pytest.raises(BlobNotFound):
            store.open(VALID, offset, length)


def test_put_replaces_nothing_visible(store: Any) -> None:
    data = b"same bytes"
    digest = digest_of(data)
    store.put(digest, data)
    store.put(digest, data)
    assert read_all(store, digest) == data
    assert list(store.iter_digests()) == [digest]


def test_empty_blob(store: Any) -> None:
    digest = digest_of(b"")
    store.put(digest, b"")
    assert store.stat(digest) == 0
    assert read_all(store, digest) == b""


def test_iter_digests(store: Any) -> None:
    assert list(store.iter_digests()) == []
    blobs = {digest_of(b"one"): b"one", digest_of(b"two"): b"two"}
    blobs[digest_of(b"three", "sha512")] = b"three"
    for digest, data in blobs.items():
        store.put(digest, data)
    store.start_upload(UPLOAD_ID)  # uploads are not blobs
    assert sorted(store.iter_digests()) == sorted(blobs)


def test_local_path_and_redirect_url(backend: Any, store: Any) -> None:
    data = b"where am I"
    digest = digest_of(data)
    store.put(digest, data)
    path = store.local_path(digest)
    if backend.name == "filesystem":
        assert path is not None
        with open(path, "rb") as handle:
            assert handle.read() == data
    else:
        assert path is None
    assert store.redirect_url(digest) is None  # S3 too: redirects are off by default


@pytest.mark.parametrize("digest", BAD_DIGESTS)
def test_malformed_digests_are_refused(store: Any, digest: str) -> None:
    store.start_upload(UPLOAD_ID)
    calls = [
        lambda: store.stat(digest),
        lambda: store.open(digest),
        lambda: store.local_path(digest),
        lambda: store.redirect_url(digest),
        lambda: store.put(digest, b"x"),
        lambda: store.delete(digest),
        lambda: store.commit_upload(UPLOAD_ID, digest),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert list(store.iter_digests()) == []
    assert store.upload_info(UPLOAD_ID).size == 0  # the refused commit left the upload


@pytest.mark.parametrize("upload_id", BAD_UPLOAD_IDS)
def test_malformed_upload_ids_are_refused(store: Any, upload_id: str) -> None:
    calls = [
        lambda: store.start_upload(upload_id),
        lambda: store.upload_info(upload_id),
        lambda: store.append_upload(upload_id, [b"x"], offset=0),
        lambda: store.read_upload(upload_id),
        lambda: store.commit_upload(upload_id, VALID),
        lambda: store.cancel_upload(upload_id),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert list(store.iter_uploads()) == []


def test_non_string_keys_are_refused(store: Any) -> None:
    with pytest.raises(ValueError):
        store.stat(None)
    with pytest.raises(ValueError):
        store.upload_info(b"upload-0123456789abcdef")


# --- uploads ------------------------------------------------------------------------------


def test_upload_in_one_chunk(store: Any) -> None:
    data = payload(300_000, seed=2)
    digest = digest_of(data)
    before = time.time()
    store.start_upload(UPLOAD_ID)
    info = store.upload_info(UPLOAD_ID)
    assert (info.upload_id, info.size) == (UPLOAD_ID, 0)
    assert store.append_upload(UPLOAD_ID, [data], offset=0) == len(data)
    info = store.upload_info(UPLOAD_ID)
    assert info.size == len(data)
    assert before - 2 <= info.modified <= time.time() + 2
    assert staged(store, UPLOAD_ID) == data
    assert store.stat(digest) is None  # not a blob until committed
    assert store.commit_upload(UPLOAD_ID, digest) == len(data)
    assert read_all(store, digest) == data
    with pytest.raises(UploadNotFound):
        store.upload_info(UPLOAD_ID)
    assert list(store.iter_uploads()) == []


def test_upload_in_many_odd_chunks_across_parts(store: Any) -> None:
    """12 MiB in appends that start and end inside, on and across 5 MiB part boundaries,
    each fed in chunks of awkward sizes."""
    data = payload(12 * MIB + 12_345, seed=3)
    digest = digest_of(data)
    bounds = [0, 3 * MIB + 1, 5 * MIB + MIB // 2 + 7, 6 * MIB + MIB // 2, 12 * MIB + 5]
    bounds.append(len(data))
    store.start_upload(UPLOAD_ID)
    for start, end in itertools.pairwise(bounds):
        chunks = chunked(data[start:end], [1, 65_537, 999_999, 4_097, 2_000_003])
        assert store.append_upload(UPLOAD_ID, chunks, offset=start) == end
        assert store.upload_info(UPLOAD_ID).size == end
    assert staged(store, UPLOAD_ID) == data
    assert store.commit_upload(UPLOAD_ID, digest) == len(data)
    assert store.stat(digest) == len(data)
    assert read_all(store, digest) == data
    assert read_all(store, digest, 5 * MIB - 10, 20) == data[5 * MIB - 10 : 5 * MIB + 10]


def test_upload_of_exactly_one_part_then_more(store: Any) -> None:
    data = payload(5 * MIB + 3, seed=4)
    store.start_upload(UPLOAD_ID)
    assert store.append_upload(UPLOAD_ID, [data[: 5 * MIB]], offset=0) == 5 * MIB
    assert store.append_upload(UPLOAD_ID, [data[5 * MIB :]], offset=5 * MIB) == len(data)
    assert staged(store, UPLOAD_ID) == data
    store.commit_upload(UPLOAD_ID, digest_of(data))
    assert read_all(store, digest_of(data)) == data


def test_append_of_nothing_changes_nothing(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"abc"], offset=0)
    assert store.append_upload(UPLOAD_ID, [], offset=3) == 3
    assert store.append_upload(UPLOAD_ID, [b"", b""], offset=3) == 3
    assert staged(store, UPLOAD_ID) == b"abc"


def test_offset_mismatch_writes_nothing(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"0123456789"], offset=0)
    consumed = []

    def source() -> Any:
        consumed.append(True)
        yield b"more"

    for wrong in (0, 5, 11, -1):
        with pytest.raises(UploadOffsetMismatch) as caught:
            store.append_upload(UPLOAD_ID, source(), offset=wrong)
        assert (caught.value.expected, caught.value.actual) == (wrong, 10)
    assert consumed == []
    assert staged(store, UPLOAD_ID) == b"0123456789"
    assert store.append_upload(UPLOAD_ID, [b"ab"], offset=10) == 12


def test_limit_rolls_back_only_that_append(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    assert store.append_upload(UPLOAD_ID, [b"x" * 10], offset=0, limit=100) == 10
    with pytest.raises(UploadTooLarge):
        store.append_upload(UPLOAD_ID, [b"y" * 50, b"y" * 50], offset=10, limit=100)
    assert store.upload_info(UPLOAD_ID).size == 10
    assert staged(store, UPLOAD_ID) == b"x" * 10
    # The limit is inclusive.
    assert store.append_upload(UPLOAD_ID, [b"z" * 90], offset=10, limit=100) == 100
    assert staged(store, UPLOAD_ID) == b"x" * 10 + b"z" * 90


def test_limit_rolls_back_after_a_full_part(store: Any) -> None:
    """On S3 the first 6 MiB go out as a part before the limit is hit."""
    head = payload(MIB, seed=5)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [head], offset=0)
    too_much = chunked(payload(9 * MIB, seed=6), [3 * MIB])
    with pytest.raises(UploadTooLarge):
        store.append_upload(UPLOAD_ID, too_much, offset=MIB, limit=8 * MIB)
    assert store.upload_info(UPLOAD_ID).size == MIB
    assert staged(store, UPLOAD_ID) == head
    store.append_upload(UPLOAD_ID, [b"tail"], offset=MIB, limit=8 * MIB)
    assert staged(store, UPLOAD_ID) == head + b"tail"


@pytest.mark.parametrize("before", [0, 1000, 6 * MIB])
def test_failing_source_rolls_back_that_append(store: Any, before: int) -> None:
    head = payload(before, seed=7)
    store.start_upload(UPLOAD_ID)
    if head:
        store.append_upload(UPLOAD_ID, [head], offset=0)
    broken = Failing(chunked(payload(6 * MIB, seed=8), [MIB + 1]))
    with pytest.raises(ConnectionResetError):
        store.append_upload(UPLOAD_ID, broken, offset=before)
    assert store.upload_info(UPLOAD_ID).size == before
    assert staged(store, UPLOAD_ID) == head
    assert store.append_upload(UPLOAD_ID, [b"next"], offset=before) == before + 4


def test_read_upload_raises_when_called(store: Any) -> None:
    with pytest.raises(UploadNotFound):
        store.read_upload(UPLOAD_ID)


def test_read_upload_of_empty_upload(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    assert staged(store, UPLOAD_ID) == b""


def test_read_upload_can_be_abandoned(store: Any) -> None:
    data = payload(3 * MIB, seed=9)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [data], offset=0)
    chunks = store.read_upload(UPLOAD_ID)
    first = next(iter(chunks))
    assert data.startswith(first)
    chunks.close()


def test_commit_of_empty_upload(store: Any) -> None:
    digest = digest_of(b"")
    store.start_upload(UPLOAD_ID)
    assert store.commit_upload(UPLOAD_ID, digest) == 0
    assert store.stat(digest) == 0


def test_commit_onto_existing_blob_drops_the_upload(store: Any) -> None:
    data = payload(2 * MIB, seed=10)
    digest = digest_of(data)
    store.put(digest, data)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, chunked(data, [MIB // 3]), offset=0)
    assert store.commit_upload(UPLOAD_ID, digest) == len(data)
    assert read_all(store, digest) == data
    assert list(store.iter_uploads()) == []
    assert list(store.iter_digests()) == [digest]


def test_commit_of_unknown_upload(store: Any) -> None:
    with pytest.raises(UploadNotFound):
        store.commit_upload(UPLOAD_ID, VALID)
    assert store.stat(VALID) is None


def test_cancel(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [payload(6 * MIB, seed=11)], offset=0)
    store.append_upload(UPLOAD_ID, [b"tail"], offset=6 * MIB)
    store.cancel_upload(UPLOAD_ID)
    for call in [
        lambda: store.upload_info(UPLOAD_ID),
        lambda: store.read_upload(UPLOAD_ID),
        lambda: store.append_upload(UPLOAD_ID, [b"x"], offset=0),
        lambda: store.commit_upload(UPLOAD_ID, VALID),
        lambda: store.cancel_upload(UPLOAD_ID),
    ]:
        with pytest.raises(UploadNotFound):
            call()
    assert list(store.iter_uploads()) == []
    assert list(store.iter_digests()) == []
    store.start_upload(UPLOAD_ID)  # the id is free again
    assert store.upload_info(UPLOAD_ID).size == 0


def test_unknown_upload(store: Any) -> None:
    with pytest.raises(UploadNotFound):
        store.upload_info(UPLOAD_ID)
    with pytest.raises(UploadNotFound):
        store.append_upload(UPLOAD_ID, [b"x"], offset=0)


def test_upload_id_in_use(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"kept"], offset=0)
    with pytest.raises(BlobStoreError):
        store.start_upload(UPLOAD_ID)
    assert staged(store, UPLOAD_ID) == b"kept"


def test_iter_uploads(store: Any) -> None:
    assert list(store.iter_uploads()) == []
    store.start_upload(UPLOAD_ID)
    store.start_upload(OTHER_ID)
    store.append_upload(OTHER_ID, [b"12345"], offset=0)
    store.put(VALID, b"x")  # blobs are not uploads
    infos = {info.upload_id: info for info in store.iter_uploads()}
    assert sorted(infos) == sorted([UPLOAD_ID, OTHER_ID])
    assert infos[UPLOAD_ID].size == 0
    assert infos[OTHER_ID].size == 5
    assert all(abs(info.modified - time.time()) < 60 for info in infos.values())


def test_uploads_survive_a_restart(backend: Any, store: Any) -> None:
    data = payload(7 * MIB + 99, seed=12)
    digest = digest_of(data)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, chunked(data[: 6 * MIB], [MIB - 1]), offset=0)
    store.append_upload(UPLOAD_ID, [data[6 * MIB : 6 * MIB + 10]], offset=6 * MIB)

    restarted = backend.reopen()
    assert restarted.upload_info(UPLOAD_ID).size == 6 * MIB + 10
    assert [info.upload_id for info in restarted.iter_uploads()] == [UPLOAD_ID]
    with pytest.raises(UploadOffsetMismatch):
        restarted.append_upload(UPLOAD_ID, [b"x"], offset=0)
    end = restarted.append_upload(UPLOAD_ID, [data[6 * MIB + 10 :]], offset=6 * MIB + 10)
    assert end == len(data)
    assert staged(restarted, UPLOAD_ID) == data
    assert restarted.commit_upload(UPLOAD_ID, digest) == len(data)

    assert store.stat(digest) == len(data)  # the first store sees the same storage
    assert read_all(store, digest) == data
    assert list(store.iter_uploads()) == []
