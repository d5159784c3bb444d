"""Chunked request bodies against a real `portside serve` (gunicorn), over raw sockets:
the way skopeo and podman send layers, plus truncated and malformed bodies. A body that
breaks off leaves the upload exactly as it was."""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.interop.conftest import PASSWORD
from tests.servers import Server

pytestmark = pytest.mark.e2e

SCOPE = "repository:acme/chunks:pull,push"


def _token(server: Server) -> str:
    import base64

    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{server.url}/auth/token?service={server.host}&scope={SCOPE}",
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def _request(server: Server, method: str, path: str, token: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        f"{server.url}{path}", method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def _raw_patch(server: Server, path: str, token: str, body: bytes, *, close: bool) -> bytes:
    """Send a PATCH with ``Transfer-Encoding: chunked`` and ``body`` as the raw, already
    encoded chunk stream; return what the server answered (b"" if nothing)."""
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(head + body)
        if close:
            conn.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def _encode(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _start(server: Server, token: str) -> str:
    status, headers = _request(server, "POST", "/v2/acme/chunks/blobs/uploads/", token)
    assert status == 202
    return headers["Location"]


def test_many_small_chunks_are_stored_whole(server):
    token = _token(server)
    location = _start(server, token)
    pieces = [bytes([n % 251]) * (1 + n * 37 % 40_000) for n in range(300)]
    answer = _raw_patch(server, location, token, _encode(pieces), close=False)
    total = sum(len(p) for p in pieces)
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert f"Range: 0-{total - 1}".encode() in answer
    digest = "sha256:" + hashlib.sha256(b"".join(pieces)).hexdigest()
    status, headers = _request(server, "PUT", f"{location}?digest={digest}", token)
    assert status == 201 and headers["Docker-Content-Digest"] == digest


def test_a_body_that_breaks_off_adds_nothing(server):
    token = _token(server)
    location = _start(server, token)
    first = _raw_patch(server, location, token, _encode([b"a" * 1000]), close=False)
    assert first.startswith(b"HTTP/1.1 202")
    # The second body stops in the middle of a chunk, and the client hangs up.
    broken = b"%x\r\n%s" % (5_000_000, b"b" * 2_000_000)
    _raw_patch(server, location, token, broken, close=True)
    status, headers = _request(server, "GET", location, token)
    assert status == 204 and headers["Range"] == "0-999"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # a chunk size that is not hexadecimal
        b"3\r\nabcdef\r\n0\r\n\r\n",  # a chunk longer than announced
        b"3\r\nabc" + b"X" * 10 + b"0\r\n\r\n",  # no CRLF after the chunk
    ],
)
def test_malformed_chunked_bodies_are_refused_and_add_nothing(server, body):
    token = _token(server)
    location = _start(server, token)
    answer = _raw_patch(server, location, token, body, close=True)
    assert not answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
    status, headers = _request(server, "GET", location, token)
    assert status == 204 and headers["Range"] == "0-0"
