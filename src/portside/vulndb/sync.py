"""Downloading a configured feed and importing it.

A :class:`Feed` names a source, the importer that reads it and an ``http``/``https``
URL. :func:`sync` downloads it into a temporary file next to the database, within a size
limit and an overall time limit, then hands the file to the importer, which replaces the
source in one transaction. Re-downloading an unchanged feed is avoided twice over:

* the request carries ``If-None-Match`` (the ``ETag``) and ``If-Modified-Since`` (the
  ``Last-Modified``) of the last download, so a server that supports them answers
  ``304 Not Modified`` and nothing is transferred;
* when a server sends the whole feed anyway, the importer compares its digest with the
  one recorded and writes nothing when they are equal.

Every failure is a :class:`SyncFailed` naming the URL; the database is unchanged by a
failed sync.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from portside.vulndb.errors import SyncFailed
from portside.vulndb.importers import import_alpine, import_debian, import_nvd, import_osv
from portside.vulndb.importers._input import Limits
from portside.vulndb.store import ImportResult, VulnStore

Kind = Literal["osv", "nvd", "debian", "alpine"]
KINDS: tuple[Kind, ...] = ("osv", "nvd", "debian", "alpine")

CHUNK = 256 * 1024
USER_AGENT = "portside-vulndb/1"


@dataclass(frozen=True)
class Feed:
    """One configured source: ``name`` is the source name in the store."""

    name: str
    kind: Kind
    url: str
    max_bytes: int = 2 * 1024 * 1024 * 1024
    timeout: float = 600.0  # seconds for the whole download
    idle_timeout: float = 60.0  # seconds without a byte before giving up

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SyncFailed(f"feed {self.name}: unknown kind {self.kind!r}; use {KINDS}")
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SyncFailed(f"feed {self.name}: {self.url!r} is not an http or https URL")
        if self.max_bytes <= 0 or self.timeout <= 0 or self.idle_timeout <= 0:
            raise SyncFailed(f"feed {self.name}: limits must be positive")


@dataclass(frozen=True)
class SyncResult:
    """``imported``: new content was written; ``unchanged``: the feed was downloaded but
    its digest was the recorded one; ``not-modified``: the server answered 304."""

    source: str
    status: Literal["imported", "unchanged", "not-modified"]
    downloaded: int
    result: ImportResult | None = None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to other http and https URLs (never ``ftp:`` or ``file:``)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise SyncFailed(f"{req.full_url}: refused a redirect to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)

_Importer = Callable[..., ImportResult]
_IMPORTERS: dict[str, _Importer] = {
    "osv": import_osv,
    "nvd": import_nvd,
    "debian": import_debian,
    "alpine": import_alpine,
}


def sync(
    store: VulnStore, feed: Feed, *, force: bool = False, limits: Limits | None = None
) -> SyncResult:
    """Download ``feed`` and import it into ``store`` unless it is unchanged."""
    known = store.source(feed.name)
    request = urllib.request.Request(feed.url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    if known is not None and not force:
        if known.etag:
            request.add_header("If-None-Match", known.etag)
        if known.last_modified:
            request.add_header("If-Modified-Since", known.last_modified)
    deadline = time.monotonic() + feed.timeout
    # The file keeps the URL's own name (``all.zip``, ``main.json``): importers read the
    # format from it, and digests include it, so it must be the same on every download.
    folder = Path(tempfile.mkdtemp(prefix=".vulndb-sync-", dir=store.path.parent))
    temp = folder / _file_name(feed.url)
    try:
        with temp.open("xb") as out:
            fetched = _download(feed, request, out, deadline)
        if fetched is None:
            store.record_check(feed.name)
            return SyncResult(feed.name, "not-modified", 0)
        size, etag, last_modified = fetched
        result = _IMPORTERS[feed.kind](
            store, temp, source=feed.name, limits=limits, origin=feed.url, force=force
        )
        store.record_check(feed.name, etag=etag, last_modified=last_modified)
        return SyncResult(feed.name, "imported" if result.changed else "unchanged", size, result)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


def _file_name(url: str) -> str:
    base = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return safe or "feed"


def _download(
    feed: Feed, request: urllib.request.Request, out: IO[bytes], deadline: float
) -> tuple[int, str, str] | None:
    """Write the body to ``out``; ``None`` for 304. Returns the size and validators."""
    url = feed.url
    try:
        response = _OPENER.open(request, timeout=feed.idle_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return None
        raise SyncFailed(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise SyncFailed(f"{url}: timed out waiting for the server") from None
        raise SyncFailed(f"{url}: cannot connect: {reason}") from None
    except (TimeoutError, OSError) as exc:
        raise SyncFailed(f"{url}: {exc}") from None
    with response:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > feed.max_bytes:
            raise SyncFailed(f"{url}: the feed is {declared} bytes; the limit is {feed.max_bytes}")
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise SyncFailed(f"{url}: the download took longer than {feed.timeout} seconds")
            try:
                chunk = response.read1(CHUNK)
            except TimeoutError:
                raise SyncFailed(
                    f"{url}: no data for {feed.idle_timeout} seconds; the download stalled"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                raise SyncFailed(f"{url}: the download broke off: {exc!r}") from None
            if not chunk:
                break
            size += len(chunk)
            if size > feed.max_bytes:
                raise SyncFailed(f"{url}: the feed is larger than {feed.max_bytes} bytes")
            out.write(chunk)
        if declared and declared.isdigit() and size != int(declared):
            raise SyncFailed(f"{url}: the download ended after {size} of {declared} bytes")
        return (
            size,
            response.headers.get("ETag", ""),
            response.headers.get("Last-Modified", ""),
        )
