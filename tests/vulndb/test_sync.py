"""Downloading feeds from a real HTTP server on loopback (``http.server`` in a thread):
conditional requests, unchanged content, errors, limits and slow servers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from portside.vulndb.errors import MalformedInput, SyncFailed
from portside.vulndb.fetch import Cache
from portside.vulndb.store import VulnStore
from portside.vulndb.sync import Feed, cache_folder, sync
from tests.vulndb.feedserver import FeedServer, Route, go_zip


def no_leftovers(store: VulnStore) -> bool:
    """No partial download is left (one that broke off is kept, to be resumed)."""
    return not list((store.path.parent / "feeds").glob("*/*.part"))


def test_a_feed_is_imported_and_then_not_downloaded_again(
    store: VulnStore, feeds: FeedServer
) -> None:
    feeds.routes["/go/all.zip"] = Route(go_zip(), etag='"v1"')
    feed = Feed("go", "osv", feeds.base + "/go/all.zip")
    first = sync(store, feed)
    assert first.status == "imported" and first.result is not None
    assert first.result.records == 40 and first.downloaded == len(feeds.routes["/go/all.zip"].body)
    assert store.get_advisory("GO-2020-0001") is not None
    source = store.source("go")
    assert source is not None and source.origin == feed.url
    assert Cache(cache_folder(store, feed)).state[feed.url]["etag"] == '"v1"'
    second = sync(store, feed)
    assert second.status == "not-modified" and second.downloaded == 0
    assert feeds.seen[-1]["If-None-Match"] == '"v1"'
    assert feeds.seen[-1]["User-Agent"].startswith("portside-vulndb")
    forced = sync(store, feed, force=True)
    assert forced.status == "imported"
    assert "If-None-Match" not in feeds.seen[-1]
    assert no_leftovers(store)


def test_last_modified_is_sent_back(store: VulnStore, feeds: FeedServer) -> None:
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    feeds.routes["/all.zip"] = Route(go_zip(5), last_modified=stamp)
    feed = Feed("go", "osv", feeds.base + "/all.zip")
    assert sync(store, feed).status == "imported"
    assert sync(store, feed).status == "not-modified"
    assert feeds.seen[-1]["If-Modified-Since"] == stamp


def test_without_validators_the_digest_decides(store: VulnStore, feeds: FeedServer) -> None:
    secdb = {
        "distroversion": "v3.20",
        "packages": [{"pkg": {"name": "a", "secfixes": {"1-r1": ["CVE-2024-1"]}}}],
    }
    feeds.routes["/v3.20/main.json"] = Route(json.dumps(secdb).encode())
    feed = Feed("alpine", "alpine", feeds.base + "/v3.20/main.json")
    assert sync(store, feed).status == "imported"
    again = sync(store, feed)
    assert again.status == "unchanged" and again.result is not None and not again.result.changed
    secdb["packages"][0]["pkg"]["secfixes"]["2-r0"] = ["CVE-2024-2"]
    feeds.routes["/v3.20/main.json"] = Route(json.dumps(secdb).encode())
    changed = sync(store, feed)
    assert changed.status == "imported" and changed.result is not None
    assert changed.result.records == 2


def test_a_missing_feed(store: VulnStore, feeds: FeedServer) -> None:
    with pytest.raises(SyncFailed, match="answered 404"):
        sync(store, Feed("go", "osv", feeds.base + "/nothing.zip"))
    assert store.sources() == [] and no_leftovers(store)


def test_a_server_error(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/broken"] = Route(status=503)
    with pytest.raises(SyncFailed, match="answered 503"):
        sync(store, Feed("go", "osv", feeds.base + "/broken"))


def test_an_oversized_feed_by_its_declared_length(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/big.zip"] = Route(b"x" * 10, declared_length=5 * 1024**3)
    started = time.perf_counter()
    with pytest.raises(SyncFailed, match="the limit is 1000000"):
        sync(store, Feed("go", "osv", feeds.base + "/big.zip", max_bytes=1_000_000))
    assert time.perf_counter() - started < 5


def test_an_oversized_feed_without_a_length(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/endless.json"] = Route(b"[" * 200_000, declared_length=-1)
    with pytest.raises(SyncFailed, match="larger than 100000 bytes"):
        sync(store, Feed("debian", "debian", feeds.base + "/endless.json", max_bytes=100_000))
    assert store.sources() == [] and no_leftovers(store)


def test_a_slow_server_hits_the_overall_time_limit(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/slow.json"] = Route(b"{}" * 100, trickle=0.05)
    started = time.perf_counter()
    with pytest.raises(SyncFailed, match=r"took longer than 0\.5 seconds"):
        sync(store, Feed("debian", "debian", feeds.base + "/slow.json", timeout=0.5))
    assert time.perf_counter() - started < 5


def test_a_silent_server_hits_the_idle_limit(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/silent.json"] = Route(b"{}", stall=2.0)
    started = time.perf_counter()
    with pytest.raises(SyncFailed, match="stalled"):
        sync(store, Feed("debian", "debian", feeds.base + "/silent.json", idle_timeout=0.3))
    assert time.perf_counter() - started < 2


def test_a_download_that_breaks_off(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/cut.json"] = Route(b"{}", declared_length=5000)
    with pytest.raises(SyncFailed, match=r"broke off|ended after"):
        sync(store, Feed("debian", "debian", feeds.base + "/cut.json"))


def test_a_malformed_feed_changes_nothing(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/all.zip"] = Route(go_zip(5))
    feed = Feed("go", "osv", feeds.base + "/all.zip")
    sync(store, feed)
    before = store.counts()
    feeds.routes["/all.zip"] = Route(go_zip(5)[:-200])
    with pytest.raises(MalformedInput, match="zip"):
        sync(store, feed)
    assert store.counts() == before and no_leftovers(store)


def test_redirects_only_to_http(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/moved"] = Route(status=302, location="file:///etc/passwd")
    with pytest.raises(SyncFailed, match="answered 302"):
        sync(store, Feed("debian", "debian", feeds.base + "/moved"))
    feeds.routes["/to-ftp"] = Route(status=302, location="ftp://127.0.0.1/feed.json")
    with pytest.raises(SyncFailed, match="refused a redirect to ftp:"):
        sync(store, Feed("debian", "debian", feeds.base + "/to-ftp"))
    feeds.routes["/elsewhere"] = Route(status=301, location="/real.zip")
    feeds.routes["/real.zip"] = Route(go_zip(3))
    assert sync(store, Feed("go", "osv", feeds.base + "/elsewhere")).status == "imported"


def test_nobody_listening(store: VulnStore, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SyncFailed, match="cannot connect"):
        sync(store, Feed("go", "osv", f"http://127.0.0.1:{port}/all.zip", idle_timeout=2))


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        ("osv", "file:///etc/passwd", "not an http or https URL"),
        ("osv", "ftp://example.invalid/all.zip", "not an http or https URL"),
        ("osv", "http:///no-host", "not an http or https URL"),
        ("rss", "https://example.invalid/feed", "unknown kind"),
    ],
)
def test_bad_feed_configuration(kind: str, url: str, message: str) -> None:
    with pytest.raises(SyncFailed, match=message):
        Feed("x", kind, url)  # type: ignore[arg-type]
