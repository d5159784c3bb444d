"""What only the S3 driver does: presigned redirects, its upload layout and conditional
state writes. The shared behaviour is in test_contract.py."""

from __future__ import annotations

import json
import urllib.request
from contextlib import closing
from typing import Any

import pytest

from portside.blobstore import BlobStoreError, S3BlobStore, UploadOffsetMismatch
from portside.blobstore import s3 as s3_module
from portside.blobstore.s3 import content_disposition

from .helpers import MIB, chunked, digest_of, payload

UPLOAD_ID = "upload-0123456789abcdef"


def fetch(url: str) -> tuple[bytes, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.read(), response.headers


def keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    response = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in response.get("Contents", ()))


def test_redirect_url_is_a_working_presigned_get(make_s3_store: Any) -> None:
    store = make_s3_store(redirect=True)
    data = payload(200_000, seed=20)
    digest = digest_of(data)
    store.put(digest, data)
    url = store.redirect_url(digest, expires_in=60)
    assert url is not None
    assert url.startswith(store.client.meta.endpoint_url)
    assert "X-Amz-Signature=" in url
    body, _ = fetch(url)
    assert body == data


def test_redirect_url_names_the_download(make_s3_store: Any) -> None:
    store = make_s3_store(redirect=True)
    store.put(digest_of(b"x"), b"x")
    url = store.redirect_url(digest_of(b"x"), filename="layer.tar.gz")
    body, headers = fetch(url)
    assert body == b"x"
    assert headers["Content-Disposition"] == 'attachment; filename="layer.tar.gz"'


def test_redirect_url_is_none_without_redirects(make_s3_store: Any) -> None:
    store = make_s3_store()
    store.put(digest_of(b"x"), b"x")
    assert store.redirect_url(digest_of(b"x")) is None
    assert store.local_path(digest_of(b"x")) is None


def test_redirect_url_lifetime_is_bounded(make_s3_store: Any) -> None:
    store = make_s3_store(redirect=True)
    for expires_in in (0, -5, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError):
            store.redirect_url(digest_of(b"x"), expires_in=expires_in)


def test_content_disposition() -> None:
    assert content_disposition("a.tar") == 'attachment; filename="a.tar"'
    assert content_disposition('evil"\r\nX-Injected: 1') == (
        'attachment; filename="evil___X-Injected__1"; '
        "filename*=UTF-8''evil%22%0D%0AX-Injected%3A%201"
    )
    assert content_disposition("café.tar") == (
        "attachment; filename=\"caf_.tar\"; filename*=UTF-8''caf%C3%A9.tar"
    )
    assert content_disposition("") == 'attachment; filename="download"'


def test_blob_keys_and_prefix(make_s3_store: Any, s3_client: Any, s3_bucket: str) -> None:
    store = make_s3_store(prefix="/tenant/one/")
    other = make_s3_store(prefix="tenant/two")
    digest = digest_of(b"abc")
    store.put(digest, b"abc")
    assert keys(s3_client, s3_bucket) == [f"tenant/one/blobs/sha256/{digest[7:]}"]
    assert list(store.iter_digests()) == [digest]
    assert list(other.iter_digests()) == []
    assert other.stat(digest) is None


def test_iter_digests_skips_foreign_keys(
    make_s3_store: Any, s3_client: Any, s3_bucket: str
) -> None:
    store = make_s3_store()
    for key in ["blobs/sha256/nothex", "blobs/readme.txt", "blobs/md5/" + "0" * 32, "other"]:
        s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    store.put(digest_of(b"x"), b"x")
    assert list(store.iter_digests()) == [digest_of(b"x")]


def test_upload_layout(make_s3_store: Any, s3_client: Any, s3_bucket: str) -> None:
    """Small appends become a tail; an append that fills a part becomes a segment."""
    store = make_s3_store()
    prefix = f"uploads/{UPLOAD_ID}/"
    store.start_upload(UPLOAD_ID)
    assert keys(s3_client, s3_bucket) == [prefix + "state.json"]
    store.append_upload(UPLOAD_ID, [b"a" * 1000], offset=0)
    store.append_upload(UPLOAD_ID, [b"b" * 1000], offset=1000)
    names = [key.removeprefix(prefix) for key in keys(s3_client, s3_bucket)]
    assert len(names) == 2 and names[0] == "state.json" and names[1].startswith("tail-000002-")

    store.append_upload(UPLOAD_ID, chunked(payload(6 * MIB), [MIB]), offset=2000)
    with closing(s3_client.get_object(Bucket=s3_bucket, Key=prefix + "state.json")["Body"]) as body:
        state = json.loads(body.read())
    assert state["generation"] == 3
    assert state["tail"] is None
    [[segment, size]] = state["segments"]
    assert segment.startswith("seg-000003-") and size == 6 * MIB + 2000
    assert keys(s3_client, s3_bucket) == sorted([prefix + "state.json", prefix + segment])

    store.commit_upload(UPLOAD_ID, digest_of(b"a" * 1000 + b"b" * 1000 + payload(6 * MIB)))
    assert keys(s3_client, s3_bucket, "uploads/") == []
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_large_pieces_are_copied_in_ranges(
    make_s3_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces over S3's 5 GiB copy limit are copied in ranges (the limit is lowered here)."""
    store = make_s3_store()
    data = payload(12 * MIB + 5, seed=21)
    store.start_upload(UPLOAD_ID)
    store.append_upload(UPLOAD_ID, chunked(data, [MIB]), offset=0)  # one 12 MiB segment
    monkeypatch.setattr(s3_module, "MAX_COPY_SIZE", 8 * MIB)
    assert store.commit_upload(UPLOAD_ID, digest_of(data)) == len(data)
    with store.open(digest_of(data)) as handle:
        assert handle.read() == data


def test_concurrent_appends_cannot_both_win(make_s3_store: Any) -> None:
    """Two nodes append at the same offset; the state write of the second is refused."""
    first, second = make_s3_store(), make_s3_store()
    first.start_upload(UPLOAD_ID)
    first.append_upload(UPLOAD_ID, [b"start-"], offset=0)

    def racing() -> Any:
        yield b"first"
        # Meanwhile another node appends at the same offset and finishes first.
        assert second.append_upload(UPLOAD_ID, [b"second"], offset=6) == 12
        yield b"-more"

    with pytest.raises(UploadOffsetMismatch) as caught:
        first.append_upload(UPLOAD_ID, racing(), offset=6)
    assert (caught.value.expected, caught.value.actual) == (6, 12)
    assert b"".join(first.read_upload(UPLOAD_ID)) == b"start-second"


def test_start_upload_without_conditional_writes(make_s3_store: Any) -> None:
    store = make_s3_store(conditional_writes=False)
    store.start_upload(UPLOAD_ID)
    with pytest.raises(BlobStoreError):
        store.start_upload(UPLOAD_ID)
    assert store.append_upload(UPLOAD_ID, [b"x"], offset=0) == 1


def test_cancel_aborts_multipart_uploads_left_by_a_crash(
    make_s3_store: Any, s3_client: Any, s3_bucket: str
) -> None:
    store = make_s3_store()
    store.start_upload(UPLOAD_ID)
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"uploads/{UPLOAD_ID}/seg-000001-x")
    s3_client.put_object(Bucket=s3_bucket, Key=f"uploads/{UPLOAD_ID}/tail-000001-x", Body=b"x")
    store.cancel_upload(UPLOAD_ID)
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert keys(s3_client, s3_bucket) == []


def test_s3_errors_are_blob_store_errors(make_s3_store: Any) -> None:
    store = make_s3_store(bucket="no-such-bucket-for-portside")
    with pytest.raises(BlobStoreError):
        store.put(digest_of(b"x"), b"x")
    with pytest.raises(BlobStoreError):
        list(store.iter_digests())
    with pytest.raises(BlobStoreError):
        store.start_upload(UPLOAD_ID)


def test_part_size_must_suit_s3() -> None:
    for part_size in (MIB, 6 * 1024 * MIB):
        with pytest.raises(ValueError):
            S3BlobStore(bucket="b", part_size=part_size, client=object())
    with pytest.raises(ValueError):
        S3BlobStore(bucket="", client=object())
