"""Choosing and configuring a store from a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portside.blobstore import FilesystemBlobStore, MemoryBlobStore, S3BlobStore, from_url

from .helpers import digest_of


@pytest.fixture
def opened() -> Any:
    stores: list[Any] = []
    yield stores
    for store in stores:
        store.close()


def test_file_url(tmp_path: Path) -> None:
    store = from_url(f"file://{tmp_path}/blobs%20here")
    assert isinstance(store, FilesystemBlobStore)
    assert store.root == tmp_path / "blobs here"
    assert isinstance(from_url(f"file://localhost{tmp_path}"), FilesystemBlobStore)


@pytest.mark.parametrize(
    "url",
    [
        "file://relative/path",
        "file:relative",
        "file:///srv/blobs?sync=off",
        "file://otherhost/srv/blobs",
        "file:///srv/%00blobs",
        "memory://somewhere",
        "s3://",
        "s3:///prefix-without-bucket",
        "s3://bucket/?endpont=http://127.0.0.1:9000",
        "s3://bucket/?redirect=maybe",
        "s3://bucket/?part_size=big",
        "s3://bucket/?region=",
        "gs://bucket/prefix",
        "/srv/blobs",
        "",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        from_url(url)


def test_file_store_takes_no_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        from_url(f"file://{tmp_path}", redirect=True)


def test_memory_url() -> None:
    assert isinstance(from_url("memory://"), MemoryBlobStore)


def test_s3_url(opened: list[Any]) -> None:
    store = from_url(
        "s3://my-bucket/some/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1"
        "&redirect=true&part_size=10485760&conditional_writes=false",
        access_key="key",
        secret_key="secret",
    )
    opened.append(store)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("my-bucket", "some/prefix/")
    assert (store.redirect, store.part_size, store.conditional_writes) == (True, 10 * 2**20, False)
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert store.client.meta.region_name == "eu-west-1"


def test_s3_url_defaults_and_keyword_precedence(opened: list[Any]) -> None:
    store = from_url("s3://bucket?redirect=true", redirect=False, region="us-east-1")
    opened.append(store)
    assert isinstance(store, S3BlobStore)
    assert (store.prefix, store.redirect, store.conditional_writes) == ("", False, True)


def test_s3_credentials_from_the_environment(
    s3_endpoint: str, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, opened: Any
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    store = from_url(f"s3://{s3_bucket}/p?endpoint={s3_endpoint}&region=us-east-1")
    opened.append(store)
    credentials = store.client._request_signer._credentials  # what boto3 resolved
    assert credentials.access_key == "from-env"
    store.put(digest_of(b"x"), b"x")  # a real signed request through the configured client
    assert s3_client.head_object(Bucket=s3_bucket, Key=f"p/blobs/sha256/{digest_of(b'x')[7:]}")
