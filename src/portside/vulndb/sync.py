"""Fetching the configured feeds and importing them.

A :class:`Feed` names a source, the importer that reads it and an ``http``/``https``
URL of one of these shapes:

* a file: OSV's per-ecosystem ``all.zip``, the Debian tracker's JSON, one Alpine secdb
  file (``v3.20/main.json``), an NVD JSON 2.0 file;
* for ``alpine``, a URL ending in ``/``: the secdb index, whose every branch
  (``v3.20/``, ``edge/``) is fetched, ``main`` and ``community`` both;
* for ``nvd``, the CVE API 2.0 (``.../rest/json/cves/2.0``), paged (:mod:`.nvdapi`).

Downloads go to the feed's cache folder (``feeds/<name>/`` next to the database) with
conditional requests and resumption (:mod:`.fetch`); when every file is unchanged, nothing
is imported. Otherwise the importer reads the folder's files and replaces the source in
one transaction, or writes nothing when their digest is the one recorded. A feed whose
files cannot be imported has them forgotten, so that the next sync fetches them again.

An air-gapped store reads the same files from a folder laid out as ``<host>/<path>``
(what a mirror of the public URLs holds): :func:`sync` with ``offline=FOLDER``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from portside.core import clock
from portside.vulndb import nvdapi
from portside.vulndb.errors import SyncFailed, VulnDBError
from portside.vulndb.fetch import Cache, Fetched
from portside.vulndb.fetch import Limits as FetchLimits
from portside.vulndb.importers import import_alpine, import_debian, import_nvd, import_osv
from portside.vulndb.importers._input import Limits
from portside.vulndb.store import ImportResult, VulnStore

Kind = Literal["osv", "nvd", "debian", "alpine"]
KINDS: tuple[Kind, ...] = ("osv", "nvd", "debian", "alpine")
ALPINE_REPOSITORIES = ("main", "community")
_BRANCH = re.compile(r"v\d+\.\d+|edge")
_BRANCH_LINK = re.compile(r"""href=["']?\.?/?(v\d+\.\d+|edge)/["'\s>]""")


@dataclass(frozen=True)
class Feed:
    """One configured source: ``name`` is the source name in the store."""

    name: str
    kind: Kind
    url: str
    max_bytes: int = 2 * 1024 * 1024 * 1024
    timeout: float = 600.0  # seconds for each download
    idle_timeout: float = 60.0  # seconds without a byte before giving up

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SyncFailed(f"feed {self.name}: unknown kind {self.kind!r}; use {KINDS}")
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SyncFailed(f"feed {self.name}: {self.url!r} is not an http or https URL")
        if self.max_bytes <= 0 or self.timeout <= 0 or self.idle_timeout <= 0:
            raise SyncFailed(f"feed {self.name}: limits must be positive")

    @property
    def limits(self) -> FetchLimits:
        return FetchLimits(self.max_bytes, self.timeout, self.idle_timeout)

    @property
    def shape(self) -> Literal["file", "index", "api"]:
        path = urllib.parse.urlsplit(self.url).path
        if self.kind == "alpine" and path.endswith("/"):
            return "index"
        if self.kind == "nvd" and not path.endswith((".json", ".gz")):
            return "api"
        return "file"


@dataclass(frozen=True)
class SyncResult:
    """``imported``: new content was written; ``unchanged``: files were fetched but their
    digest was the recorded one; ``not-modified``: the server said nothing changed."""

    source: str
    status: Literal["imported", "unchanged", "not-modified"]
    downloaded: int
    result: ImportResult | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """What the whole sync shares: NVD's API key and request rate, a folder to read
    instead of the network, and a pause function (tests pass one that does not wait)."""

    nvd_api_key: str = ""
    nvd_rate: nvdapi.Rate | None = None
    offline: Path | None = None
    sleep: Callable[[float], None] | None = None


def cache_folder(store: VulnStore, feed: Feed) -> Path:
    return store.path.parent / "feeds" / feed.name


def sync(
    store: VulnStore,
    feed: Feed,
    *,
    force: bool = False,
    limits: Limits | None = None,
    options: Options | None = None,
) -> SyncResult:
    """Fetch ``feed`` and import it into ``store`` unless it is unchanged. A failure is
    noted in the feed's folder (:func:`failures`) until the feed next syncs."""
    try:
        try:
            result = _sync(store, feed, force=force, limits=limits, options=options or Options())
        except (OSError, ValueError, RecursionError, MemoryError) as exc:
            # The disk, the cache folder or a document too deep to read: said, not a trace.
            raise SyncFailed(f"feed {feed.name}: {exc!r}") from exc
    except VulnDBError as exc:
        _note_failure(store, feed, exc.message)
        raise
    _note_failure(store, feed, None)
    return result


def _note_failure(store: VulnStore, feed: Feed, message: str | None) -> None:
    cache = Cache(cache_folder(store, feed))
    if message is None:
        if cache.state.pop("failure", None) is not None:
            cache.save()
        return
    cache.state["failure"] = {"at": clock.now().isoformat(), "message": message}
    cache.save()


def failures(store: VulnStore) -> dict[str, tuple[str, str]]:
    """``{feed: (when, why)}`` for every feed whose last sync failed."""
    found: dict[str, tuple[str, str]] = {}
    for folder in sorted((store.path.parent / "feeds").glob("*/")):
        failure = Cache.peek(folder).get("failure")
        if isinstance(failure, dict):
            found[folder.name] = (str(failure.get("at", "")), str(failure.get("message", "")))
    return found


def _sync(
    store: VulnStore,
    feed: Feed,
    *,
    force: bool,
    limits: Limits | None,
    options: Options,
) -> SyncResult:
    if options.offline is not None:
        return _sync_offline(store, feed, options.offline, force=force, limits=limits)
    cache = Cache(cache_folder(store, feed))
    with cache.locked(f"feed {feed.name}"):
        return _fetch_and_import(store, feed, cache, force=force, limits=limits, options=options)


def _fetch_and_import(
    store: VulnStore,
    feed: Feed,
    cache: Cache,
    *,
    force: bool,
    limits: Limits | None,
    options: Options,
) -> SyncResult:
    notes: list[str] = []
    if feed.shape == "api":
        pages = nvdapi.sync_pages(
            cache,
            feed.url,
            api_key=options.nvd_api_key,
            rate=options.nvd_rate,
            limits=feed.limits,
            force=force,
            **({"sleep": options.sleep} if options.sleep else {}),
        )
        if not pages and store.is_current(feed.name) and not force:
            store.record_check(feed.name)
            return SyncResult(feed.name, "not-modified", 0)
        try:
            done = _import(store, feed, cache, [cache.folder], 0, force, limits, [])
        except VulnDBError:
            nvdapi.discard(cache)
            raise
        nvdapi.commit(cache)
        return done
    if feed.shape == "index":
        fetched, urls = _alpine_index(cache, feed, notes, force)
        paths = [f.path for f in fetched[1:]]  # the index itself is not a secdb file
    else:
        fetched = [cache.fetch(feed.url, limits=feed.limits, conditional=not force)]
        urls = [feed.url]
        paths = [fetched[0].path]
    size = sum(f.size for f in fetched)
    if (
        not force
        and all(f.status == "not-modified" for f in fetched)
        and store.is_current(feed.name)
    ):
        store.record_check(feed.name)
        return SyncResult(feed.name, "not-modified", 0, notes=notes)
    done = _import(store, feed, cache, paths, size, force, limits, urls)
    return SyncResult(done.source, done.status, done.downloaded, done.result, notes)


def _import(
    store: VulnStore,
    feed: Feed,
    cache: Cache,
    paths: list[Path],
    size: int,
    force: bool,
    limits: Limits | None,
    urls: list[str],
) -> SyncResult:
    try:
        result = _read(store, feed.kind, paths, feed.name, limits, feed.url, force)
    except VulnDBError:
        for url in urls:
            cache.forget(url)
        raise
    cache.mark_imported(urls)
    store.record_check(feed.name)
    return SyncResult(feed.name, "imported" if result.changed else "unchanged", size, result)


def _read(
    store: VulnStore,
    kind: Kind,
    paths: list[Path],
    name: str,
    limits: Limits | None,
    origin: str,
    force: bool,
) -> ImportResult:
    if kind == "alpine":
        return import_alpine(store, paths, source=name, limits=limits, origin=origin, force=force)
    if kind == "nvd":
        return import_nvd(store, paths, source=name, limits=limits, origin=origin, force=force)
    (path,) = paths
    if kind == "osv":
        return import_osv(store, path, source=name, limits=limits, origin=origin, force=force)
    return import_debian(store, path, source=name, limits=limits, origin=origin, force=force)


def _alpine_index(
    cache: Cache, feed: Feed, notes: list[str], force: bool
) -> tuple[list[Fetched], list[str]]:
    """Every branch the secdb index lists, each with its repositories; a repository a
    branch does not have (a 404) is skipped, and noted the first time (:func:`absent`
    lists them all)."""
    index = cache.fetch(feed.url, "index.html", limits=feed.limits, conditional=not force)
    text = index.path.read_text(errors="replace")
    branches = sorted(set(_BRANCH_LINK.findall(text)))
    if not branches:
        cache.forget(feed.url)
        raise SyncFailed(f"{feed.url}: the index lists no branches (v3.20/, edge/ ...)")
    fetched = [index]
    urls = [feed.url]
    for branch in branches:
        for repository in ALPINE_REPOSITORIES:
            url = urllib.parse.urljoin(feed.url, f"{branch}/{repository}.json")
            try:
                name = f"{branch}-{repository}.json"
                fetched.append(cache.fetch(url, name, limits=feed.limits, conditional=not force))
            except SyncFailed as exc:
                # Not every branch has a community repository; every one has main, and a
                # branch whose main is missing (a mirror half copied) must not lose its
                # records silently.
                if "answered 404" not in exc.message or repository == "main":
                    raise
                if _note_absent(cache, url):
                    notes.append(f"{url}: not there (404); skipped")
                continue
            urls.append(url)
    asked = {
        urllib.parse.urljoin(feed.url, f"{branch}/{repository}.json")
        for branch in branches
        for repository in ALPINE_REPOSITORIES
    }
    gone = [
        url
        for url, entry in cache.state.items()
        if isinstance(entry, dict) and entry.get("absent") and url not in asked
    ]
    for url in gone:  # a branch the index no longer lists
        del cache.state[url]
    if gone:
        cache.save()
    return fetched, urls


def _note_absent(cache: Cache, url: str) -> bool:
    """Record that the server has no file at ``url``; true the first time (a file it
    had before, or one never asked for), false when the last sync found it absent too,
    so that a branch without a community repository is not reported on every sync."""
    known = cache.state.get(url)
    if isinstance(known, dict) and known.get("absent"):
        return False
    if known is not None:
        cache.forget(url)
    cache.state[url] = {"absent": clock.now().isoformat()}
    cache.save()
    return True


def absent(store: VulnStore) -> dict[str, list[str]]:
    """``{feed: [url, ...]}``: the files each feed's server did not have at its last
    sync (an Alpine branch without a community repository), skipped since."""
    found: dict[str, list[str]] = {}
    for folder in sorted((store.path.parent / "feeds").glob("*/")):
        urls = sorted(
            url
            for url, entry in Cache.peek(folder).items()
            if isinstance(entry, dict) and entry.get("absent")
        )
        if urls:
            found[folder.name] = urls
    return found


def offline_path(root: Path, url: str) -> Path:
    """Where a mirror folder keeps ``url``: ``<root>/<host>/<path>``."""
    parts = urllib.parse.urlsplit(url)
    relative = Path(parts.hostname or "") / parts.path.lstrip("/")
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise SyncFailed(f"{url}: lies outside {root}")
    return target


def _sync_offline(
    store: VulnStore, feed: Feed, root: Path, *, force: bool, limits: Limits | None
) -> SyncResult:
    path = offline_path(root, feed.url)
    if not path.exists():
        raise SyncFailed(f"feed {feed.name}: {path} is missing from the mirror folder {root}")
    if feed.shape == "index":
        if not path.is_dir():
            raise SyncFailed(f"feed {feed.name}: {path} should be a folder of branches")
        paths = sorted(
            p
            for branch in path.iterdir()
            if _BRANCH.fullmatch(branch.name)
            for p in [branch / f"{r}.json" for r in ALPINE_REPOSITORIES]
            if p.is_file()
        )
    else:
        paths = [path]
    result = _read(store, feed.kind, paths, feed.name, limits, feed.url, force)
    return SyncResult(feed.name, "imported" if result.changed else "unchanged", 0, result)
