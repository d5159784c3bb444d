"""Every failure of a registry request is answered with an OCI error body: a full disk, a
blob whose bytes are gone, an upload closed while another request still writes to it, a
chunk whose ``Content-Range`` does not describe its body, and whatever else goes wrong.
The bytes an upload held before the failed request are kept, and nothing else."""

from __future__ import annotations

import fcntl
import hashlib
import io
import socket
import subprocess
import time
from pathlib import Path

import pytest

from portside.registry import storage
from portside.registry.models import Upload
from tests.registry.helpers import sha256
from tests.registry.spec_support import filesystem_only

pytestmark = pytest.mark.django_db
NAME = "acme/app"
PUSH = f"repository:{NAME}:pull,push"
PULL = f"repository:{NAME}:pull"


def error(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    (only,) = response.json()["errors"]
    return only


def start(as_owner) -> str:
    response = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)
    assert response.status_code == 202
    return response["Location"]


def received(as_owner, location: str) -> str:
    status = as_owner.call("GET", location, PULL)
    assert status.status_code == 204
    return status["Range"]


def chunked(data: bytes) -> dict:
    """A body sent with ``Transfer-Encoding: chunked``: no Content-Length to check first."""
    return {
        "wsgi.input": io.BytesIO(data),
        "CONTENT_LENGTH": "",
        "HTTP_TRANSFER_ENCODING": "chunked",
    }


# --- a Content-Range that does not describe the body -----------------------------------------


class TestLyingContentRange:
    def test_more_bytes_than_the_range_is_416_and_nothing_is_kept(self, as_owner):
        location = start(as_owner)
        first = as_owner.call("PATCH", location, PUSH, data=b"x" * 5, HTTP_CONTENT_RANGE="0-4")
        assert first.status_code == 202
        lying = as_owner.call(
            "PATCH", location, PUSH, data=b"", HTTP_CONTENT_RANGE="5-14", **chunked(b"y" * 20)
        )
        assert lying.status_code == 416, lying.content
        assert error(lying)["code"] == "BLOB_UPLOAD_INVALID"
        assert lying["Range"] == "0-4"
        assert received(as_owner, location) == "0-4"
        honest = as_owner.call(
            "PATCH", location, PUSH, data=b"", HTTP_CONTENT_RANGE="5-14", **chunked(b"y" * 10)
        )
        assert honest.status_code == 202 and honest["Range"] == "0-14"
        data = b"x" * 5 + b"y" * 10
        done = as_owner.call("PUT", f"{location}?digest={sha256(data)}", PUSH)
        assert done.status_code == 201

    def test_fewer_bytes_than_the_range_is_416_and_nothing_is_kept(self, as_owner):
        location = start(as_owner)
        short = as_owner.call(
            "PATCH", location, PUSH, data=b"", HTTP_CONTENT_RANGE="0-19", **chunked(b"z" * 10)
        )
        assert short.status_code == 416 and short["Range"] == "0-0"
        assert received(as_owner, location) == "0-0"
        assert Upload.objects.get().staged_size == 0

    def test_a_range_that_contradicts_content_length_is_416(self, as_owner):
        location = start(as_owner)
        response = as_owner.call("PATCH", location, PUSH, data=b"w" * 20, HTTP_CONTENT_RANGE="0-9")
        assert response.status_code == 416 and error(response)["code"] == "BLOB_UPLOAD_INVALID"
        assert received(as_owner, location) == "0-0"

    def test_the_closing_put_is_held_to_its_range_too(self, as_owner):
        location = start(as_owner)
        as_owner.call("PATCH", location, PUSH, data=b"a" * 4, HTTP_CONTENT_RANGE="0-3")
        data = b"a" * 4 + b"b" * 8
        lying = as_owner.call(
            "PUT",
            f"{location}?digest={sha256(data)}",
            PUSH,
            data=b"",
            HTTP_CONTENT_RANGE="4-7",
            **chunked(b"b" * 8),
        )
        assert lying.status_code == 416 and lying["Range"] == "0-3"
        assert received(as_owner, location) == "0-3"
        assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{sha256(data)}", PULL).status_code == 404


# --- a blob whose bytes are gone --------------------------------------------------------------


def test_a_blob_without_its_bytes_is_blob_unknown(as_owner):
    data = b"bytes that will be lost"
    digest = as_owner.push_blob(NAME, data)
    assert storage.store().delete(digest)
    for headers in [{}, {"HTTP_RANGE": "bytes=0-3"}]:
        response = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL, **headers)
        assert response.status_code == 404, headers
        assert error(response)["code"] == "BLOB_UNKNOWN"
    # Pushed again, it is whole again.
    assert as_owner.push_blob(NAME, data) == digest
    got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
    assert b"".join(got.streaming_content) == data


# --- a full disk ------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path, settings):
    """The blob store on a real 64 KiB file system (tmpfs), which fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small file system cannot be mounted here: {mounted.stderr.strip()}")
    settings.BLOB_STORE_URL = mount.as_uri()
    storage._store.cache_clear()
    try:
        yield mount
    finally:
        storage._store.cache_clear()
        subprocess.run(["umount", str(mount)], check=True)


@filesystem_only
def test_a_full_disk_is_507_and_the_upload_keeps_what_it_had(as_owner, tiny_disk):
    location = start(as_owner)
    first = as_owner.call("PATCH", location, PUSH, data=b"a" * 1000, HTTP_CONTENT_RANGE="0-999")
    assert first.status_code == 202
    full = as_owner.call("PATCH", location, PUSH, data=b"b" * 200_000)
    assert full.status_code == 507
    assert error(full) == {
        "code": "BLOB_UPLOAD_INVALID",
        "message": "no space left on the store's disk; the upload keeps what it had",
    }
    assert received(as_owner, location) == "0-999"
    # The refused bytes were given back: what fits still goes in.
    more = as_owner.call("PATCH", location, PUSH, data=b"c" * 1000)
    assert more.status_code == 202 and more["Range"] == "0-1999"
    # A monolithic upload that does not fit leaves no upload behind.
    big = b"d" * 200_000
    single = as_owner.call(
        "POST", f"/v2/{NAME}/blobs/uploads/?digest={sha256(big)}", PUSH, data=big
    )
    assert single.status_code == 507
    assert Upload.objects.count() == 1


# --- closing an upload while a PATCH still streams into it -------------------------------------


def _held(data_dir: Path) -> bool:
    """Whether some upload file is locked by a writer (an append holds its lock)."""
    for path in data_dir.rglob("*"):
        if path.is_file() and "upload" in str(path.relative_to(data_dir)):
            with open(path, "rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@filesystem_only
@pytest.mark.django_db(transaction=True)
def test_a_put_while_a_patch_streams_is_409_and_loses_nothing(live_server, as_owner, tmp_path):
    token = as_owner.token(PUSH)
    location = start(as_owner)
    assert as_owner.call("PATCH", location, PUSH, data=b"abc").status_code == 202
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            (
                f"PATCH {location} HTTP/1.1\r\nHost: testserver\r\n"  # the token's service
                f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
                "Content-Length: 6\r\nConnection: close\r\n\r\ndef"
            ).encode()
        )
        deadline = time.monotonic() + 10
        while not _held(tmp_path / "blobs"):
            assert time.monotonic() < deadline, "the PATCH never took the upload"
            time.sleep(0.05)
        closing = as_owner.call("PUT", f"{location}?digest={sha256(b'abc')}", PUSH)
        assert closing.status_code == 409, closing.content
        assert error(closing)["code"] == "BLOB_UPLOAD_INVALID"
        conn.sendall(b"ghi")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert b"Range: 0-8" in answer
    whole = b"abcdefghi"
    done = as_owner.call("PUT", f"{location}?digest={sha256(whole)}", PUSH)
    assert done.status_code == 201
    got = as_owner.call("GET", f"/v2/{NAME}/blobs/{sha256(whole)}", PULL)
    assert hashlib.sha256(b"".join(got.streaming_content)).hexdigest() == sha256(whole)[7:]


# --- anything else --------------------------------------------------------------------------


@filesystem_only
def test_an_unexpected_error_is_500_with_an_oci_body(as_owner, monkeypatch, caplog):
    """A fault nobody foresaw (here injected into the tag listing) is logged and answered
    with an OCI body, never Django's HTML page."""
    from portside.registry import services

    as_owner.push_image(NAME)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "list_tags", broken)
    response = as_owner.call("GET", f"/v2/{NAME}/tags/list", PULL)
    assert response.status_code == 500
    assert error(response) == {"code": "UNKNOWN", "message": "internal error"}
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"
    assert "the database went away" in caplog.text


@filesystem_only
def test_a_forged_host_is_still_refused_as_a_bad_request(client, world):
    """The registry's own translation of failures leaves Django's refusal of a Host it does
    not serve alone (400, not a 500)."""
    assert client.get("/v2/", HTTP_HOST="evil.example").status_code == 400
