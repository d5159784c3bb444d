"""What a sync remembers between runs so that it does not repeat itself: the files a
mirror does not have, and whether a failure was the network's or the feed's."""

from __future__ import annotations

import json
import socket

import pytest

from portside.vulndb.errors import SyncFailed, Unreachable
from portside.vulndb.store import VulnStore
from portside.vulndb.sync import Feed, absent, sync
from tests.vulndb.feedserver import FeedServer, Route


def secdb(branch: str, repository: str) -> bytes:
    packages = [{"pkg": {"name": "pkg", "secfixes": {"1.0-r1": [f"CVE-2026-{len(branch)}"]}}}]
    document = {"distroversion": branch, "reponame": repository, "packages": packages}
    return json.dumps(document).encode()


def listing(*branches: str) -> bytes:
    return "".join(f'<a href="{b}/">{b}/</a>\n' for b in branches).encode()


def test_a_missing_repository_is_noted_once(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/secdb/"] = Route(listing("v3.19", "v3.20"), etag='"i1"')
    for branch in ("v3.19", "v3.20"):
        feeds.routes[f"/secdb/{branch}/main.json"] = Route(secdb(branch, "main"), etag='"m"')
    feed = Feed("alpine", "alpine", feeds.base + "/secdb/")
    first = sync(store, feed)
    assert first.status == "imported"
    gone = [f"{feeds.base}/secdb/{b}/community.json" for b in ("v3.19", "v3.20")]
    assert first.notes == [f"{url}: not there (404); skipped" for url in gone]
    assert absent(store) == {"alpine": gone}

    # Nothing changed, or only the index did: the same absences are not said again.
    assert sync(store, feed).notes == []
    feeds.routes["/secdb/"] = Route(listing("v3.19", "v3.20") + b"<!-- new -->", etag='"i2"')
    assert sync(store, feed, force=True).notes == []
    assert absent(store) == {"alpine": gone}


def test_a_repository_that_goes_missing_is_said_again(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/secdb/"] = Route(listing("v3.20"), etag='"i"')
    feeds.routes["/secdb/v3.20/main.json"] = Route(secdb("v3.20", "main"))
    feeds.routes["/secdb/v3.20/community.json"] = Route(secdb("v3.20", "community"))
    feed = Feed("alpine", "alpine", feeds.base + "/secdb/")
    assert sync(store, feed).notes == []
    assert absent(store) == {}
    del feeds.routes["/secdb/v3.20/community.json"]
    url = f"{feeds.base}/secdb/v3.20/community.json"
    assert sync(store, feed, force=True).notes == [f"{url}: not there (404); skipped"]
    assert absent(store) == {"alpine": [url]}
    # Back on the mirror: read again and no longer listed.
    feeds.routes["/secdb/v3.20/community.json"] = Route(secdb("v3.20", "community"))
    assert sync(store, feed, force=True).notes == []
    assert absent(store) == {}


def test_a_branch_the_index_drops_is_no_longer_listed(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/secdb/"] = Route(listing("v3.19", "v3.20"))
    for branch in ("v3.19", "v3.20"):
        feeds.routes[f"/secdb/{branch}/main.json"] = Route(secdb(branch, "main"))
    feed = Feed("alpine", "alpine", feeds.base + "/secdb/")
    sync(store, feed)
    assert len(absent(store)["alpine"]) == 2
    feeds.routes["/secdb/"] = Route(listing("v3.20"))
    sync(store, feed)
    assert absent(store) == {"alpine": [f"{feeds.base}/secdb/v3.20/community.json"]}


def test_a_missing_main_repository_still_fails(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/secdb/"] = Route(listing("v3.20"))
    with pytest.raises(SyncFailed, match="answered 404"):
        sync(store, Feed("alpine", "alpine", feeds.base + "/secdb/"))
    assert absent(store) == {}


def test_no_answer_is_unreachable_and_an_http_error_is_not(
    store: VulnStore, feeds: FeedServer
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable, match="cannot connect"):
        sync(store, Feed("go", "osv", f"http://127.0.0.1:{port}/all.zip", idle_timeout=2))
    with pytest.raises(SyncFailed, match="answered 404") as raised:
        sync(store, Feed("go", "osv", f"{feeds.base}/nothing/all.zip"))
    assert not isinstance(raised.value, Unreachable)
