"""Fixtures for the blob store tests: every driver over fresh storage, and a real S3 API
(moto's server on loopback) that boto3 reaches over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from portside.blobstore import FilesystemBlobStore, MemoryBlobStore, S3BlobStore
from portside.blobstore.s3 import MIN_PART_SIZE, make_client


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
