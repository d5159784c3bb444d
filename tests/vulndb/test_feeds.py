"""The default feeds and the shapes they come in, served from loopback: settings, a mirror,
resumed downloads, Alpine's secdb index, NVD's paged API with its rate, and a mirror
folder for air-gapped stores."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from portside.vulndb.errors import MalformedInput, SyncFailed
from portside.vulndb.feeds import configured, default_feeds
from portside.vulndb.fetch import Cache
from portside.vulndb.nvdapi import Pacer, Rate
from portside.vulndb.store import VulnStore
from portside.vulndb.sync import Feed, Options, cache_folder, failures, offline_path, sync
from tests.vulndb.feedserver import FeedServer, Route, go_zip

# --- settings -------------------------------------------------------------------------------


def test_the_defaults_cover_every_cataloged_ecosystem_and_the_distributions() -> None:
    names = {feed.name: feed for feed in default_feeds()}
    assert set(names) == {
        "osv-pypi",
        "osv-npm",
        "osv-go",
        "osv-maven",
        "osv-rubygems",
        "osv-crates.io",
        "osv-packagist",
        "osv-nuget",
        "osv-debian",
        "osv-alpine",
        "debian",
        "alpine",
        "nvd",
    }
    assert names["osv-crates.io"].url.endswith("/crates.io/all.zip")
    assert names["alpine"].shape == "index" and names["nvd"].shape == "api"
    assert names["debian"].shape == "file"


def test_entries_of_the_setting() -> None:
    chosen = configured(
        ["default", "extra=osv:https://mirror.example/all.zip", "debian=https://x.example/json"]
    )
    by_name = {f.name: f for f in chosen}
    assert len(chosen) == 14  # the default Debian entry is replaced by the later one
    assert by_name["debian"].url == "https://x.example/json"
    assert by_name["extra"].kind == "osv"
    assert configured([]) == [] and configured([" ", ""]) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("=", "is not 'default'"),
        ("osv=", "is not 'default'"),
        ("just-a-word", "is not 'default'"),
        ("Bad Name=osv:https://x.example/a.zip", "must be lower-case"),
        ("../x=osv:https://x.example/a.zip", "must be lower-case"),
        ("osv=file:///etc/passwd", "not an http or https URL"),
        ("rss=https://x.example/feed", "unknown kind"),
    ],
)
def test_bad_entries_are_refused_by_name(entry: str, message: str) -> None:
    with pytest.raises(SyncFailed, match=message):
        configured([entry])


def test_a_mirror_takes_every_url() -> None:
    chosen = configured(["default"], mirror="https://mirror.internal/vulndb/")
    urls = {f.name: f.url for f in chosen}
    assert urls["osv-pypi"] == (
        "https://mirror.internal/vulndb/osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
    )
    assert urls["alpine"] == "https://mirror.internal/vulndb/secdb.alpinelinux.org/"
    assert urls["nvd"].startswith("https://mirror.internal/vulndb/services.nvd.nist.gov/")
    with pytest.raises(SyncFailed, match="MIRROR"):
        configured(["default"], mirror="ftp://mirror.internal/")


# --- resumed and failed downloads -----------------------------------------------------------


def test_a_download_that_broke_off_is_resumed(store: VulnStore, feeds: FeedServer) -> None:
    body = go_zip(30)
    feeds.routes["/go/all.zip"] = Route(body, etag='"z1"', ranges=True, cut_after=len(body) // 2)
    feed = Feed("osv-go", "osv", feeds.base + "/go/all.zip")
    with pytest.raises(SyncFailed, match=r"broke off|ended after"):
        sync(store, feed)
    part = cache_folder(store, feed) / "all.zip.part"
    assert part.stat().st_size == len(body) // 2  # kept, to be resumed
    feeds.routes["/go/all.zip"].cut_after = -1
    done = sync(store, feed)
    assert done.status == "imported" and done.result is not None and done.result.records == 30
    assert done.downloaded == len(body) - len(body) // 2  # only the rest
    assert feeds.seen[-1]["Range"] == f"bytes={len(body) // 2}-"
    assert feeds.seen[-1]["If-Range"] == '"z1"'
    assert not part.exists()


def test_a_changed_feed_restarts_the_broken_download(store: VulnStore, feeds: FeedServer) -> None:
    first = go_zip(20)
    feeds.routes["/all.zip"] = Route(first, etag='"a"', ranges=True, cut_after=100)
    feed = Feed("osv-go", "osv", feeds.base + "/all.zip")
    with pytest.raises(SyncFailed):
        sync(store, feed)
    feeds.routes["/all.zip"] = Route(go_zip(25), etag='"b"', ranges=True)  # If-Range fails
    done = sync(store, feed)
    assert done.result is not None and done.result.records == 25


def test_a_feed_that_cannot_be_imported_is_fetched_whole_next_time(
    store: VulnStore, feeds: FeedServer
) -> None:
    feeds.routes["/json"] = Route(b'{"openssl": 5}', etag='"bad"')
    feed = Feed("debian", "debian", feeds.base + "/json")
    with pytest.raises(Exception, match="openssl"):
        sync(store, feed)
    assert "If-None-Match" not in feeds.seen[-1]
    with pytest.raises(Exception, match="openssl"):
        sync(store, feed)  # asked again in full, not "304: the same bad file"
    assert "If-None-Match" not in feeds.seen[-1]
    assert store.sources() == []


# --- Alpine's secdb index -------------------------------------------------------------------


def secdb(branch: str, repository: str, fixes: dict[str, list[str]]) -> bytes:
    packages = [{"pkg": {"name": f"{repository}-pkg", "secfixes": fixes}}]
    return json.dumps(
        {"distroversion": branch, "reponame": repository, "packages": packages}
    ).encode()


def test_every_branch_of_the_secdb_index(store: VulnStore, feeds: FeedServer) -> None:
    listing = (
        b'<html><body><a href="../">../</a>\n<a href="edge/">edge/</a>\n'
        b'<a href="v3.19/">v3.19/</a>\n<a href="v3.20/">v3.20/</a>\n'
        b'<a href="evil/../../">x</a><a href="notes.txt">notes</a></body></html>'
    )
    feeds.routes["/secdb/"] = Route(listing, etag='"i1"')
    for branch in ("edge", "v3.19", "v3.20"):
        feeds.routes[f"/secdb/{branch}/main.json"] = Route(
            secdb(branch, "main", {"1.0-r1": [f"CVE-2026-{len(branch)}"]}), etag='"m"'
        )
    feeds.routes["/secdb/v3.20/community.json"] = Route(
        secdb("v3.20", "community", {"2.0-r0": ["CVE-2026-9 CVE-2026-10"]}), etag='"c"'
    )
    feed = Feed("alpine", "alpine", feeds.base + "/secdb/")
    done = sync(store, feed)
    assert done.status == "imported" and done.result is not None
    assert done.result.records == 5  # three mains, one community with two ids
    assert sum("not there (404)" in note for note in done.notes) == 2
    asked = {seen["path"] for seen in feeds.seen}
    assert "/secdb/evil/main.json" not in asked and not any(".." in p for p in asked)
    again = sync(store, feed)
    assert again.status == "not-modified"
    feeds.routes["/secdb/"] = Route(b"<html>nothing here</html>")
    with pytest.raises(SyncFailed, match="lists no branches"):
        sync(store, feed)


# --- NVD's API ------------------------------------------------------------------------------


def cve(ident: str, score: float, modified: str) -> dict[str, object]:
    metric = {
        "source": "nvd@nist.gov",
        "type": "Primary",
        "cvssData": {
            "version": "3.1",
            "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "baseScore": score,
        },
    }
    return {
        "cve": {
            "id": ident,
            "lastModified": modified,
            "descriptions": [{"lang": "en", "value": f"{ident} text"}],
            "metrics": {"cvssMetricV31": [metric]},
        }
    }


class FakeNvd:
    """Pages of two records, the whole set or what changed since a date."""

    def __init__(self) -> None:
        self.records = [cve(f"CVE-2026-{n:04}", 9.8, "2026-11-01T00:00:00.000") for n in range(5)]
        self.changed: list[dict[str, object]] = []
        self.fail_at: int | None = None
        self.refuse = 0  # answer 403 this many times first
        self.keys: list[str] = []

    def __call__(self, query: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes]:
        self.keys.append({k.lower(): v for k, v in headers.items()}.get("apikey", ""))
        if self.refuse:
            self.refuse -= 1
            return 403, b"slow down"
        start = int(query.get("startIndex", "0"))
        if self.fail_at is not None and start == self.fail_at:
            return 500, b"oops"
        rows = self.changed if "lastModStartDate" in query else self.records
        page = rows[start : start + 2]
        document = {
            "format": "NVD_CVE",
            "version": "2.0",
            "startIndex": start,
            "resultsPerPage": len(page),
            "totalResults": len(rows),
            "vulnerabilities": page,
        }
        return 200, json.dumps(document).encode()


def no_leftovers(store: VulnStore) -> bool:
    return not list((store.path.parent / "feeds").glob("*/*.part"))


def no_wait() -> tuple[list[float], Options]:
    pauses: list[float] = []
    return pauses, Options(nvd_rate=Rate(requests=100, window=60, backoff=1), sleep=pauses.append)


def test_nvd_full_then_incremental(store: VulnStore, feeds: FeedServer) -> None:
    api = FakeNvd()
    feeds.routes["/rest/json/cves/2.0"] = Route(answer=api)
    feed = Feed("nvd", "nvd", feeds.base + "/rest/json/cves/2.0")
    pauses, options = no_wait()
    options = Options(nvd_api_key="k-123", nvd_rate=options.nvd_rate, sleep=pauses.append)
    done = sync(store, feed, options=options)
    assert done.status == "imported" and done.result is not None and done.result.records == 5
    starts = [
        urllib.parse.parse_qs(urllib.parse.urlsplit(s["path"]).query)["startIndex"][0]
        for s in feeds.seen
    ]
    assert starts == ["0", "2", "4"] and set(api.keys) == {"k-123"}
    assert store.cvss_metrics(["CVE-2026-0001"])["CVE-2026-0001"][0].base_score == 9.8
    # Nothing changed since: one request, nothing imported.
    quiet = sync(store, feed, options=options)
    assert quiet.status == "not-modified"
    last = urllib.parse.parse_qs(urllib.parse.urlsplit(feeds.seen[-1]["path"]).query)
    assert {"lastModStartDate", "lastModEndDate"} <= set(last)
    assert last["lastModStartDate"][0].endswith(".000+00:00")
    # One record rescored: only it is asked for, and the newest copy wins.
    api.changed = [cve("CVE-2026-0001", 5.0, "2026-12-01T00:00:00.000")]
    again = sync(store, feed, options=options)
    assert again.status == "imported" and again.result is not None and again.result.records == 5
    assert store.cvss_metrics(["CVE-2026-0001"])["CVE-2026-0001"][0].base_score == 5.0


def test_nvd_resumes_a_full_sync_and_backs_off(store: VulnStore, feeds: FeedServer) -> None:
    api = FakeNvd()
    api.fail_at = 2
    feeds.routes["/rest/json/cves/2.0"] = Route(answer=api)
    feed = Feed("nvd", "nvd", feeds.base + "/rest/json/cves/2.0")
    pauses, options = no_wait()
    with pytest.raises(SyncFailed, match="500"):
        sync(store, feed, options=options)
    assert store.sources() == []
    api.fail_at = None
    api.refuse = 2  # "slow down" twice, then answers
    feeds.seen.clear()
    done = sync(store, feed, options=options)
    assert done.result is not None and done.result.records == 5
    first = urllib.parse.parse_qs(urllib.parse.urlsplit(feeds.seen[0]["path"]).query)
    assert first["startIndex"] == ["2"]  # resumed, not started again
    assert pauses[:2] == [1, 2]  # the back-off doubles


def test_the_pacer_keeps_to_the_rate() -> None:
    pauses: list[float] = []
    pacer = Pacer(Rate(requests=3, window=60), sleep=pauses.append)
    for _ in range(3):
        pacer.wait()
    assert pauses == []
    pacer.wait()
    assert len(pauses) == 1 and 59 < pauses[0] <= 60


def test_nvd_answers_that_are_not_the_api(store: VulnStore, feeds: FeedServer) -> None:
    feed = Feed("nvd", "nvd", feeds.base + "/rest/json/cves/2.0")
    _, options = no_wait()
    for body, message in [
        (b"<html>maintenance</html>", "not JSON"),
        (b'{"vulnerabilities": []}', "no totalResults"),
        (b'{"totalResults": 10, "startIndex": 0, "vulnerabilities": []}', "empty page"),
    ]:
        feeds.routes["/rest/json/cves/2.0"] = Route(answer=lambda q, h, b=body: (200, b))
        with pytest.raises(SyncFailed, match=message):
            sync(store, feed, options=options)
    assert store.sources() == []


# --- a mirror folder --------------------------------------------------------------------------


def test_an_air_gapped_store_reads_a_mirror_folder(store: VulnStore, tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    by_name = {f.name: f for f in default_feeds()}
    archive = offline_path(root, by_name["osv-go"].url)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(go_zip(12))
    index = offline_path(root, by_name["alpine"].url)
    (index / "v3.20").mkdir(parents=True)
    (index / "v3.20" / "main.json").write_bytes(secdb("v3.20", "main", {"1-r0": ["CVE-1"]}))
    (index / "not-a-branch").mkdir()
    (index / "not-a-branch" / "main.json").write_text("{")
    done = sync(store, by_name["osv-go"], options=Options(offline=root))
    assert done.status == "imported" and done.result is not None and done.result.records == 12
    alpine = sync(store, by_name["alpine"], options=Options(offline=root))
    assert alpine.result is not None and alpine.result.records == 1
    with pytest.raises(SyncFailed, match="missing from the mirror folder"):
        sync(store, by_name["debian"], options=Options(offline=root))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0")  # there, but outside the mirror
    escape = Feed("x", "osv", "http://127.0.0.1/../../etc/passwd")
    with pytest.raises(SyncFailed, match="outside"):
        sync(store, escape, options=Options(offline=root))
    assert not Cache(cache_folder(store, by_name["osv-go"])).state  # nothing downloaded


# --- what a second read found -----------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    [
        "from the start",  # a 206 for bytes 0-...: not the rest asked for
        "short",  # the rest, but ending before the last byte
        "changed",  # the rest of another version (a new ETag)
    ],
)
def test_a_206_that_is_not_the_rest_is_refused(
    store: VulnStore, feeds: FeedServer, part: str
) -> None:
    body = go_zip(20)
    half = len(body) // 2
    route = Route(body, etag='"v1"', ranges=True, cut_after=half)
    feeds.routes["/all.zip"] = route
    feed = Feed("osv-go", "osv", feeds.base + "/all.zip")
    with pytest.raises(SyncFailed):
        sync(store, feed)
    route.cut_after = -1
    route.wrong_part = {
        "from the start": (0, len(body) - 1, '"v1"'),
        "short": (half, half + 10, '"v1"'),
        "changed": (half, len(body) - 1, '"v2"'),
    }[part]
    with pytest.raises(SyncFailed, match=r"other than the rest|resumed file"):
        sync(store, feed)
    assert store.sources() == [] and no_leftovers(store)
    route.wrong_part = None
    done = sync(store, feed)  # from the start, whole
    assert done.result is not None and done.result.records == 20
    assert "Range" not in feeds.seen[-1]


def test_an_import_that_did_not_finish_is_done_by_the_next_sync(
    store: VulnStore, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portside.vulndb import sync as syncing

    feeds.routes["/all.zip"] = Route(go_zip(8), etag='"v1"')
    feed = Feed("osv-go", "osv", feeds.base + "/all.zip")
    real = syncing._read

    def killed(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt  # the process stopped half-way through the import

    monkeypatch.setattr(syncing, "_read", killed)
    with pytest.raises(KeyboardInterrupt):
        sync(store, feed)
    monkeypatch.setattr(syncing, "_read", real)
    done = sync(store, feed)
    assert done.status == "imported" and done.result is not None and done.result.records == 8
    assert "If-None-Match" not in feeds.seen[-1]  # asked whole, not "not modified"
    assert sync(store, feed).status == "not-modified"


def test_a_second_sync_of_the_same_feed_waits_its_turn(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/all.zip"] = Route(go_zip(3))
    feed = Feed("osv-go", "osv", feeds.base + "/all.zip")
    with Cache(cache_folder(store, feed)).locked("test"):
        with pytest.raises(SyncFailed, match="another sync of this feed is running"):
            sync(store, feed)
    assert sync(store, feed).status == "imported"


def test_a_304_to_a_plain_request_is_an_error(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/all.zip"] = Route(always_304=True)
    with pytest.raises(SyncFailed, match="304 to a request for the whole file"):
        sync(store, Feed("osv-go", "osv", feeds.base + "/all.zip"))


def test_a_branch_without_main_fails_the_secdb_sync(store: VulnStore, feeds: FeedServer) -> None:
    feeds.routes["/secdb/"] = Route(b'<a href="v3.20/">v3.20/</a>')
    feeds.routes["/secdb/v3.20/community.json"] = Route(secdb("v3.20", "community", {}))
    with pytest.raises(SyncFailed, match=r"main\.json: the server answered 404"):
        sync(store, Feed("alpine", "alpine", feeds.base + "/secdb/"))


def test_the_api_key_never_follows_a_redirect_to_another_host(
    store: VulnStore, feeds: FeedServer
) -> None:
    api = FakeNvd()
    port = feeds.base.rsplit(":", 1)[1]
    feeds.routes["/rest/json/cves/2.0"] = Route(answer=api)
    for start in (0, 2, 4):
        query = f"?startIndex={start}&resultsPerPage=2000"
        feeds.routes[f"/moved/cves/2.0{query}"] = Route(
            status=302, location=f"http://localhost:{port}/rest/json/cves/2.0{query}"
        )
    _, options = no_wait()
    options = Options(nvd_api_key="secret-key", nvd_rate=options.nvd_rate, sleep=options.sleep)
    sync(store, Feed("nvd", "nvd", feeds.base + "/moved/cves/2.0"), options=options)
    assert api.keys and set(api.keys) == {""}  # the other host never saw it


def test_a_failed_nvd_delta_is_asked_for_again(store: VulnStore, feeds: FeedServer) -> None:
    api = FakeNvd()
    feeds.routes["/rest/json/cves/2.0"] = Route(answer=api)
    feed = Feed("nvd", "nvd", feeds.base + "/rest/json/cves/2.0")
    _, options = no_wait()
    sync(store, feed, options=options)
    api.changed = [{"cve": {"id": "not-a-cve"}}]  # the import refuses this page
    with pytest.raises(MalformedInput):
        sync(store, feed, options=options)
    api.changed = [cve("CVE-2026-0002", 4.0, "2026-12-02T00:00:00.000")]
    feeds.seen.clear()
    again = sync(store, feed, options=options)
    assert again.status == "imported"
    asked = urllib.parse.parse_qs(urllib.parse.urlsplit(feeds.seen[0]["path"]).query)
    assert "lastModStartDate" in asked  # the same window again, not a full sync
    assert store.cvss_metrics(["CVE-2026-0002"])["CVE-2026-0002"][0].base_score == 4.0
    assert failures(store) == {}


def test_a_full_nvd_sync_after_a_long_gap_resumes(store: VulnStore, feeds: FeedServer) -> None:
    import datetime as dt

    from portside.core import clock

    api = FakeNvd()
    feeds.routes["/rest/json/cves/2.0"] = Route(answer=api)
    feed = Feed("nvd", "nvd", feeds.base + "/rest/json/cves/2.0")
    _, options = no_wait()
    sync(store, feed, options=options)
    api.fail_at = 2
    with clock.frozen(clock.now() + dt.timedelta(days=200)):
        with pytest.raises(SyncFailed):
            sync(store, feed, options=options)  # too long since: a full sync, broken off
        api.fail_at = None
        feeds.seen.clear()
        done = sync(store, feed, options=options)
    assert done.result is not None and done.result.records == 5
    first = urllib.parse.parse_qs(urllib.parse.urlsplit(feeds.seen[0]["path"]).query)
    assert first["startIndex"] == ["2"] and "lastModStartDate" not in first


def test_nvd_files_of_another_origin_do_not_replace_silently(
    store: VulnStore, tmp_path: Path
) -> None:
    from portside.vulndb.errors import WouldReplace
    from portside.vulndb.importers import import_nvd

    def year(name: str, ids: range) -> Path:
        path = tmp_path / name
        path.write_text(
            json.dumps(
                {
                    "format": "NVD_CVE",
                    "vulnerabilities": [
                        cve(f"CVE-2023-{n:04}", 7.5, "2026-01-01T00:00:00.000") for n in ids
                    ],
                }
            )
        )
        return path

    import_nvd(store, year("nvdcve-2.0-2023.json", range(0, 3)), source="nvd")
    with pytest.raises(WouldReplace, match="3 of the old ones would go"):
        import_nvd(store, year("nvdcve-2.0-2024.json", range(10, 15)), source="nvd", replace=False)
    assert store.source("nvd").records == 3  # type: ignore[union-attr]
