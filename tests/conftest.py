from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests import factories

# Nothing in a test reaches outside loopback: a `portside` process that a test starts would
# otherwise sync the default vulnerability feeds from the internet. Its feeds are fetched
# from a port where nothing listens unless the test names its own, and never on a schedule.
os.environ.setdefault("PORTSIDE_VULNDB_MIRROR", "http://127.0.0.1:9/")
os.environ.setdefault("PORTSIDE_VULNDB_SYNC_HOURS", "0")

# Tests of the pure libraries touch no database: the PostgreSQL pass of scripts/test leaves
# them out (-m "not nodb") instead of running the same thing twice.
NODB = ("tests/oci/", "tests/blobstore/", "tests/scanner/", "tests/vulndb/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = str(config.rootpath) + os.sep
    for item in items:
        path = str(item.path)
        relative = path[len(root) :] if path.startswith(root) else path
        if relative.startswith(NODB):
            item.add_marker(pytest.mark.nodb)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing may be skipped: a missing tool is a failure, not a skip."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(
                f"CI: {skipped} test(s) skipped; in CI a skip is a failure.", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, with one more step before it is dropped: on
    PostgreSQL, sessions other threads of this process left open on it are ended. The
    browser tests' live server serves each browser connection in a thread that keeps its
    own database connection; one of them could outlive the session's last test and make
    DROP DATABASE fail ("being accessed by other users") after every test had passed.
    ``running_server`` drops its scratch databases the same way (WITH (FORCE))."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
        connection.close()


@pytest.fixture
def make_user(db: Any) -> Any:
    return factories.make_user


@pytest.fixture
def make_org(db: Any) -> Any:
    return factories.make_org


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Rate-limit counters live in the cache: each test starts with none. So with the
    process-wide memos keyed by ids (which publisher owns a product, parsed revisions,
    the digests a token reaches): a database flushed by a transactional test gives the
    next test's rows the same ids again."""
    from django.core.cache import cache

    from portside.commerce import entitlements
    from portside.registry import restricted

    cache.clear()
    entitlements._publisher_of.clear()
    entitlements.REVISIONS.clear()
    restricted.CACHE.clear()
    yield
    cache.clear()


# --- a real S3 API on loopback (moto's server), for the S3 blob store ------------------------


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
