"""A feed server on loopback (``http.server`` in a thread) for the sync tests: fixed routes
with validators, ranges, limits and failures, and dynamic answers for paged APIs."""

from __future__ import annotations

import io
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.vulndb.helpers import GOLANG


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    declared_length: int | None = None  # None: the body's length; -1: no Content-Length
    trickle: float = 0.0  # seconds between single bytes
    stall: float = 0.0  # seconds of silence after the headers
    location: str = ""
    ranges: bool = False  # answer Range requests (with If-Range) with 206
    #: a misbehaving 206: (first byte, last byte, ETag) to send instead of the rest asked for
    wrong_part: tuple[int, int, str] | None = None
    always_304: bool = False  # answer 304 whatever was asked
    cut_after: int = -1  # send only so many bytes of the body, then hang up
    #: a dynamic answer: (query, headers) -> (status, body)
    answer: Callable[[dict[str, str], dict[str, str]], tuple[int, bytes]] | None = None


@dataclass
class FeedServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestFeeds/1"
    feeds: FeedServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as the slow tests intend

    def _answer(self) -> None:
        self.feeds.seen.append({"path": self.path, **dict(self.headers.items())})
        route = self.feeds.routes.get(self.path)
        split = urllib.parse.urlsplit(self.path)
        dynamic = self.feeds.routes.get(split.path)
        if route is None and dynamic is not None and dynamic.answer is not None:
            query = dict(urllib.parse.parse_qsl(split.query))
            status, body = dynamic.answer(query, dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if route is None:
            self.send_error(404, "no such feed")
            return
        if route.location:
            self.send_response(route.status)
            self.send_header("Location", route.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.status != 200:
            self.send_error(route.status)
            return
        if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
        ):
            self.send_response(304)
            self.end_headers()
            return
        if route.always_304:
            self.send_response(304)
            self.end_headers()
            return
        wanted = self.headers.get("Range", "")
        if route.wrong_part is not None and wanted:
            first, last, etag = route.wrong_part
            piece = route.body[first : last + 1]
            self.send_response(206)
            self.send_header("Content-Length", str(len(piece)))
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(route.body)}")
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(piece)
            return
        if (
            route.ranges
            and wanted.startswith("bytes=")
            and self.headers.get("If-Range")
            in (
                route.etag,
                route.last_modified,
            )
        ):
            start = int(wanted[len("bytes=") :].rstrip("-"))
            rest = route.body[start:]
            self.send_response(206)
            self.send_header("Content-Length", str(len(rest)))
            self.send_header(
                "Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}"
            )
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            self.wfile.write(rest)
            return
        self.send_response(200)
        length = len(route.body) if route.declared_length is None else route.declared_length
        if length >= 0:
            self.send_header("Content-Length", str(length))
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        self.end_headers()
        if route.stall:
            time.sleep(route.stall)
        if route.trickle:
            for byte in route.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(route.trickle)
        elif route.cut_after >= 0:
            self.wfile.write(route.body[: route.cut_after])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(route.body)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state = FeedServer(base=f"http://127.0.0.1:{server.server_address[1]}")
    handler.feeds = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def go_zip(count: int = 40) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(GOLANG.glob("*.json"))[:count]:
            zf.write(file, file.name)
    return buffer.getvalue()
