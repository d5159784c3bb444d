"""Closing an upload: what is read, verified and committed are the same bytes, whatever
appends race the close. Every driver (filesystem, memory, S3 over HTTP) must pass these."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from portside.blobstore import (
    UploadBusy,
    UploadNotFound,
    UploadOffsetMismatch,
)
from portside.blobstore.s3 import STALE_CLOSE

from .helpers import MIB, digest_of, payload

UPLOAD_ID = "upload-0123456789abcdef"


def read_all(store: Any, digest: str) -> bytes:
    with store.open(digest) as handle:
        return handle.read()


def staged(store: Any) -> bytes:
    return b"".join(store.read_upload(UPLOAD_ID))


def test_close_reads_and_commits_exactly_the_staged_bytes(store: Any) -> None:
    data = payload(6 * MIB + 321, seed=40)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [data[: 6 * MIB]], offset=0)
    store.append_upload(UPLOAD_ID, [data[6 * MIB :]], offset=6 * MIB)
    with store.close_upload(UPLOAD_ID) as closing:
        assert closing.size == len(data)
        assert b"".join(closing.read()) == data
        assert closing.commit(digest_of(data)) == len(data)
    assert read_all(store, digest_of(data)) == data
    with pytest.raises(UploadNotFound):
        store.upload_info(UPLOAD_ID)


def test_appends_are_refused_while_an_upload_is_held_closed(store: Any) -> None:
    """The race that let bytes in after the digest was checked: here the append loses,
    and the blob is exactly what the closer read."""
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"checked bytes"], offset=0)
    with store.close_upload(UPLOAD_ID) as closing:
        seen = b"".join(closing.read())
        with pytest.raises(UploadOffsetMismatch) as caught:
            store.append_upload(UPLOAD_ID, [b" and more"], offset=13)
        assert caught.value.actual == 13
        closing.commit(digest_of(seen))
    assert read_all(store, digest_of(b"checked bytes")) == b"checked bytes"


def test_leaving_without_commit_opens_the_upload_again(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"first "], offset=0)
    with store.close_upload(UPLOAD_ID) as closing:
        assert closing.size == 6  # the caller found the wrong digest, say, and gave up
    assert store.append_upload(UPLOAD_ID, [b"second"], offset=6) == 12
    assert staged(store) == b"first second"
    assert store.commit_upload(UPLOAD_ID, digest_of(b"first second")) == 12


def test_an_exception_in_the_block_opens_the_upload_again(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    with pytest.raises(RuntimeError), store.close_upload(UPLOAD_ID):
        raise RuntimeError("verification failed")
    assert store.append_upload(UPLOAD_ID, [b"x"], offset=0) == 1


def test_a_close_and_an_append_never_both_win(store: Any) -> None:
    """A close that starts while an append is streaming: either the close is refused
    (filesystem and memory, where the append holds the upload) or the append is (S3, where
    the close's mark makes the append's conditional state write fail). Never both."""
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"head-"], offset=0)
    outcome: dict[str, Any] = {}

    def streaming() -> Any:
        yield b"first half-"
        try:
            with store.close_upload(UPLOAD_ID) as closing:
                outcome["closed"] = b"".join(closing.read())
                closing.commit(digest_of(outcome["closed"]))
        except UploadBusy:
            outcome["closed"] = None
        yield b"second half"

    try:
        store.append_upload(UPLOAD_ID, streaming(), offset=5)
        outcome["appended"] = True
    except (UploadOffsetMismatch, UploadNotFound):
        outcome["appended"] = False

    if outcome["closed"] is None:
        assert outcome["appended"] and staged(store) == b"head-first half-second half"
    else:
        assert not outcome["appended"]
        assert outcome["closed"] == b"head-"
        assert read_all(store, digest_of(b"head-")) == b"head-"


def test_a_second_close_is_refused_while_the_first_holds_the_upload(store: Any) -> None:
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"abc"], offset=0)
    with store.close_upload(UPLOAD_ID) as closing:
        with pytest.raises(UploadBusy):
            with store.close_upload(UPLOAD_ID):
                pass
        closing.commit(digest_of(b"abc"))
    assert read_all(store, digest_of(b"abc")) == b"abc"


def test_close_of_an_unknown_upload(store: Any) -> None:
    with pytest.raises(UploadNotFound):
        with store.close_upload(UPLOAD_ID):
            pass


def test_commit_replaces_a_stored_object_of_another_size(store: Any) -> None:
    """Bytes stored under a digest they do not have (an append that slipped in after the
    check, before closes held uploads) are replaced by the next verified upload; an
    object of the right size is kept and the upload dropped."""
    data = b"the real content"
    digest = digest_of(data)
    store.put(digest, data + b" plus what a racing append added")
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [data], offset=0)
    assert store.commit_upload(UPLOAD_ID, digest) == len(data)
    assert read_all(store, digest) == data

    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [data], offset=0)
    assert store.commit_upload(UPLOAD_ID, digest) == len(data)
    assert read_all(store, digest) == data
    assert list(store.iter_uploads()) == []


def test_s3_close_of_a_dead_closer_can_be_taken_over(
    make_s3_store: Any, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A close whose process died leaves its mark; appends stay refused, and a later close
    may take the upload over once the mark is older than STALE_CLOSE."""
    store = make_s3_store()
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, [b"abandoned"], offset=0)
    held = store.close_upload(UPLOAD_ID)
    held.__enter__()  # and never left: the process died
    key = f"uploads/{UPLOAD_ID}/state.json"
    state = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    assert state["closing"] <= time.time()
    with pytest.raises(UploadOffsetMismatch):
        store.append_upload(UPLOAD_ID, [b"x"], offset=9)
    with pytest.raises(UploadBusy):
        with store.close_upload(UPLOAD_ID):
            pass
    later = time.time() + STALE_CLOSE + 1
    monkeypatch.setattr("portside.blobstore.s3.time.time", lambda: later)
    with store.close_upload(UPLOAD_ID) as closing:
        assert closing.commit(digest_of(b"abandoned")) == 9
    assert read_all(store, digest_of(b"abandoned")) == b"abandoned"
