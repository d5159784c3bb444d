"""Downloading feed files into a cache folder: conditional, resumable and bounded.

Each feed keeps its files in a folder of its own (``feeds/<name>/`` next to the
database) with ``.state.json`` recording, per URL, the file it was saved as and the
``ETag`` and ``Last-Modified`` the server sent. Fetching a URL again:

* sends ``If-None-Match`` and ``If-Modified-Since`` so that a server that supports them
  answers ``304 Not Modified`` and nothing is transferred;
* writes a new body to ``<file>.part`` and renames it over the old file only once it is
  complete, so a broken download never replaces a good file;
* resumes a ``.part`` left by a download that broke off: when the server had named the
  version it was sending (an ``ETag``, or failing that a ``Last-Modified``), the request
  asks for the rest with ``Range`` and ``If-Range``; a ``206`` is appended, a ``200``
  (the feed changed meanwhile, or the server ignores ranges) starts again.

Every failure is a :class:`SyncFailed` naming the URL; :class:`Unreachable` when the
server did not answer at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from portside.vulndb.errors import SyncFailed, Unreachable

CHUNK = 256 * 1024
USER_AGENT = "portside-vulndb/1"
STATE = ".state.json"


class TooLarge(SyncFailed):
    """The feed is over its size limit: what was downloaded is not worth resuming."""


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
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if new.scheme not in ("http", "https") or (old.scheme, new.scheme) == ("https", "http"):
            raise SyncFailed(f"{req.full_url}: refused a redirect to {newurl}")
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None and new.hostname != old.hostname:
            # A key for one host (NVD's apiKey) is never sent to another.
            for header in list(redirected.headers):
                if header.lower() not in _PLAIN_HEADERS:
                    del redirected.headers[header]
        return redirected


_PLAIN_HEADERS = {"user-agent", "accept", "accept-encoding", "range", "if-range"}
_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


@dataclass(frozen=True)
class Limits:
    """How much one download may be, and how long it may take."""

    max_bytes: int = 2 * 1024 * 1024 * 1024
    timeout: float = 600.0  # seconds for the whole download
    idle_timeout: float = 60.0  # seconds without a byte before giving up


@dataclass(frozen=True)
class Fetched:
    path: Path
    status: Literal["downloaded", "not-modified", "resumed"]
    size: int  # bytes transferred by this call


def file_name(url: str) -> str:
    """A safe local name from the last part of a URL's path (``all.zip``, ``json``)."""
    base = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")
    return safe or "feed"


class Cache:
    """The folder of one feed's downloaded files and what the server said about each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._state_path = folder / STATE
        self.state: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self._state_path.read_text())
            if isinstance(loaded, dict):
                self.state = loaded

    @staticmethod
    def peek(folder: Path) -> dict[str, Any]:
        """A folder's state, read without creating anything."""
        return _read_json(folder / STATE)

    def save(self) -> None:
        temporary = self._state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(temporary, self._state_path)

    @contextlib.contextmanager
    def locked(self, what: str) -> Iterator[None]:
        """Hold the folder for one sync: a second sync of the same feed (the command line
        while the worker runs one, say) fails at once instead of mixing its downloads in."""
        handle = (self.folder / ".lock").open("a")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SyncFailed(
                    f"{what}: another sync of this feed is running; try again when it ends"
                ) from None
            yield
        finally:
            handle.close()

    def mark_imported(self, urls: Iterable[str]) -> None:
        """Note that the files of ``urls`` are in the database: until then a download is
        asked for whole again, never as "not modified", so that an import that did not
        finish (the process was killed) is done by the next sync."""
        for url in urls:
            entry = self.state.get(url)
            if isinstance(entry, dict):
                entry["imported"] = True
        self.save()

    def forget(self, url: str) -> None:
        """Drop a URL's file and validators, so that the next fetch downloads it whole
        (its content could not be imported)."""
        entry = self.state.pop(url, None)
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            with contextlib.suppress(OSError):
                (self.folder / Path(entry["file"]).name).unlink()
        self.save()

    def fetch(
        self,
        url: str,
        name: str | None = None,
        *,
        limits: Limits,
        conditional: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Fetched:
        """Make ``<folder>/<name>`` the current body of ``url``."""
        name = Path(name or file_name(url)).name
        target = self.folder / name
        part = self.folder / f"{name}.part"
        meta_path = self.folder / f".{name}.part.json"
        known = self.state.get(url) if isinstance(self.state.get(url), dict) else None
        request = urllib.request.Request(  # noqa: S310  (http and https only: see Feed)
            url, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        asked = False  # whether the request is conditional
        if (
            conditional
            and known
            and known.get("file") == name
            and known.get("imported", True)
            and target.exists()
        ):
            if known.get("etag"):
                request.add_header("If-None-Match", known["etag"])
                asked = True
            if known.get("last_modified"):
                request.add_header("If-Modified-Since", known["last_modified"])
                asked = True
        resume_from = 0
        meta = _read_json(meta_path)
        validator = str(meta.get("etag") or meta.get("last_modified") or "")
        if part.exists() and meta.get("url") == url and validator:
            resume_from = part.stat().st_size
            request.add_header("Range", f"bytes={resume_from}-")
            request.add_header("If-Range", validator)
        deadline = time.monotonic() + limits.timeout
        response = _open(request, limits)
        if response is None:  # 304
            if not asked:
                raise SyncFailed(f"{url}: the server answered 304 to a request for the whole file")
            return Fetched(target, "not-modified", 0)

        def restart(why: str) -> SyncFailed:
            part.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return SyncFailed(f"{url}: {why}; the next sync downloads it from the start")

        with response:
            status = response.status
            etag = response.headers.get("ETag", "")
            modified = response.headers.get("Last-Modified", "")
            total: int | None = None
            appending = status == 206
            if appending:
                total = _rest_of(response, resume_from, str(meta.get("etag") or ""))
                if total is None:
                    raise restart("the server answered a part other than the rest of the file")
                etag = etag or str(meta.get("etag") or "")
                modified = modified or str(meta.get("last_modified") or "")
            elif status != 200:
                raise SyncFailed(f"{url}: the server answered {status}, not the file")
            else:
                resume_from = 0
                _write_json(meta_path, {"url": url, "etag": etag, "last_modified": modified})
            try:
                with part.open("ab" if appending else "wb") as out:
                    size = _copy(url, response, out, limits, deadline, resume_from)
            except TooLarge:
                part.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
                raise
        if total is not None and part.stat().st_size != total:
            raise restart(f"the resumed file is {part.stat().st_size} bytes, not {total}")
        os.replace(part, target)
        meta_path.unlink(missing_ok=True)
        self.state[url] = {
            "file": name,
            "etag": etag,
            "last_modified": modified,
            "imported": False,
        }
        self.save()
        return Fetched(target, "resumed" if appending else "downloaded", size)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value))


def _rest_of(response: http.client.HTTPResponse, offset: int, etag: str) -> int | None:
    """The file's whole size when a 206 answer is the rest of the version asked for: from
    ``offset`` to the last byte of a known total, with the same ``ETag`` when it has one;
    ``None`` for anything else (another range, an unknown total, a changed version)."""
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.headers.get("Content-Range", ""))
    if offset <= 0 or found is None:
        return None
    start, end, total = (int(found.group(n)) for n in (1, 2, 3))
    if start != offset or end != total - 1:
        return None
    answered = response.headers.get("ETag", "")
    if etag and answered and answered != etag:
        return None
    return total


def _open(request: urllib.request.Request, limits: Limits) -> http.client.HTTPResponse | None:
    url = request.full_url
    try:
        response: http.client.HTTPResponse = _OPENER.open(request, timeout=limits.idle_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return None
        raise SyncFailed(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise Unreachable(f"{url}: timed out waiting for the server") from None
        raise Unreachable(f"{url}: cannot connect: {reason}") from None
    except (TimeoutError, OSError) as exc:
        raise Unreachable(f"{url}: {exc!r}") from None
    except http.client.HTTPException as exc:
        raise SyncFailed(f"{url}: {exc!r}") from None
    return response


def _copy(
    url: str,
    response: http.client.HTTPResponse,
    out: IO[bytes],
    limits: Limits,
    deadline: float,
    already: int,
) -> int:
    """The body into ``out``, within the limits; returns the bytes read."""
    declared = response.headers.get("Content-Length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None and already + expected > limits.max_bytes:
        raise TooLarge(
            f"{url}: the feed is {already + expected} bytes; the limit is {limits.max_bytes}"
        )
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise SyncFailed(f"{url}: the download took longer than {limits.timeout} seconds")
        try:
            chunk = response.read1(CHUNK)
        except TimeoutError:
            raise SyncFailed(
                f"{url}: no data for {limits.idle_timeout} seconds; the download stalled"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SyncFailed(f"{url}: the download broke off: {exc!r}") from None
        if not chunk:
            break
        size += len(chunk)
        if already + size > limits.max_bytes:
            raise TooLarge(f"{url}: the feed is larger than {limits.max_bytes} bytes")
        out.write(chunk)
    if expected is not None and size != expected:
        raise SyncFailed(f"{url}: the download ended after {size} of {expected} bytes")
    return size
