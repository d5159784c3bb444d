"""Fixtures for the blob store tests: every driver over fresh storage, and a real S3 API
(moto's server on loopback) that boto3 reaches over HTTP."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from portside.blobstore import FilesystemBlobStore, MemoryBlobStore, S3BlobStore
from portside.blobstore.s3 import MIN_PART_SIZE, make_client


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_session() -> boto3.session.Session:
    """One session for every client the tests make: building one loads the S3 model."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str, s3_session: boto3.session.Session) -> Iterator[Any]:
    client = s3_session.client("s3", endpoint_url=s3_endpoint)
    yield client
    client.close()


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    """A new, empty bucket, emptied and removed after the test."""
    name = f"test-{uuid.uuid4().hex[:24]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    for upload in s3_client.list_multipart_uploads(Bucket=name).get("Uploads", ()):
        s3_client.abort_multipart_upload(
            Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name):
        if keys := [{"Key": item["Key"]} for item in page.get("Contents", ())]:
            s3_client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3_client.delete_bucket(Bucket=name)


@pytest.fixture
def make_s3_store(
    s3_endpoint: str, s3_bucket: str, s3_session: boto3.session.Session
) -> Iterator[Callable[..., S3BlobStore]]:
    """Build S3 stores over the test's bucket, each with its own client (as separate
    processes would have), all closed after the test. The clients are configured as the
    store configures its own, but come from one session to keep the suite fast (a new
    session loads the S3 model again); test_from_url covers stores building their own."""
    clients: list[Any] = []

    def make(**options: Any) -> S3BlobStore:
        client = make_client(endpoint_url=s3_endpoint, session=s3_session)
        clients.append(client)
        arguments: dict[str, Any] = {
            "bucket": s3_bucket,
            "part_size": MIN_PART_SIZE,
            "client": client,
        }
        return S3BlobStore(**(arguments | options))

    yield make
    for client in clients:
        client.close()


@dataclass
class Backend:
    """One driver over one piece of storage; ``reopen`` gives a new store object over the
    same storage, as a restarted process (or another node) would have."""

    name: str
    factory: Callable[[], Any]
    stores: list[Any] = field(default_factory=list)

    def reopen(self) -> Any:
        store = self.factory()
        self.stores.append(store)
        return store


@pytest.fixture(params=["filesystem", "memory", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    if request.param == "filesystem":
        return Backend("filesystem", lambda: FilesystemBlobStore(tmp_path / "store"))
    if request.param == "memory":
        memory = MemoryBlobStore()  # nothing to restart: every "new" store is this one
        return Backend("memory", lambda: memory)
    make = request.getfixturevalue("make_s3_store")
    return Backend("s3", make)


@pytest.fixture
def store(backend: Backend) -> Any:
    return backend.reopen()
