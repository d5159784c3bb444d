"""Syncing the vulnerability feeds from a local feed server: a full sync and an incremental one.

A feed server on loopback serves what the default feeds look like, built from the real
OSV records in ``../shared/data/vulndb`` (2,661 PyPA and 4,291 Go advisories, each
ecosystem's ``all.zip``), a Debian tracker document and an Alpine secdb index with its
branches (generated: ``--distro-records`` records each), and NVD's CVE API as pages of
2,000 (``--cves`` generated CVEs with CVSS 3.1 metrics). The server honours ``ETag`` and
``If-None-Match`` as the public ones do.

1. **Full sync**: an empty data directory, every feed fetched and imported.
2. **Incremental sync**: the same again a minute later on the clock, nothing changed: every
   file answers 304, NVD's delta is empty.
3. **Incremental with changes**: one ecosystem's archive changed and 100 CVEs rescored.

Each is timed in-process (``sync`` of every feed into a fresh or existing database) over
``--rounds`` rounds; the report prints the median and the transfer. The comparison it
states: an incremental sync with nothing new costs under 1 % of a full one.

    .venv/bin/python benchmarks/vulndb.py [--cves 50000] [--distro-records 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from portside.vulndb.nvdapi import Rate  # noqa: E402
from portside.vulndb.store import VulnStore  # noqa: E402
from portside.vulndb.sync import Feed, Options, sync  # noqa: E402

DATA = (ROOT / ".." / "shared" / "data" / "vulndb").resolve()


def zipped(folder: Path, pattern: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob(pattern)):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def debian_document(count: int) -> bytes:
    packages: dict[str, dict[str, object]] = {}
    for n in range(count):
        issues = packages.setdefault(f"pkg{n % 2000}", {})
        issues[f"CVE-2025-{n:05}"] = {
            "description": "generated",
            "releases": {
                "bookworm": {"status": "resolved", "fixed_version": f"1.{n}-1", "urgency": "low"}
            },
        }
    return json.dumps(packages).encode()


def secdb(branch: str, repository: str, count: int) -> bytes:
    packages = [
        {"pkg": {"name": f"{repository}{n}", "secfixes": {f"1.{n}-r0": [f"CVE-2025-{n:05}"]}}}
        for n in range(count)
    ]
    return json.dumps(
        {"distroversion": branch, "reponame": repository, "packages": packages}
    ).encode()


def cve(n: int, score: float) -> dict[str, object]:
    return {
        "cve": {
            "id": f"CVE-2024-{n:06}",
            "lastModified": "2026-11-01T00:00:00.000",
            "descriptions": [{"lang": "en", "value": "generated"}],
            "metrics": {
                "cvssMetricV31": [
                    {
                        "source": "nvd@nist.gov",
                        "type": "Primary",
                        "cvssData": {
                            "version": "3.1",
                            "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                            "baseScore": score,
                        },
                    }
                ]
            },
        }
    }


class Feeds:
    def __init__(self, cves: int, distro_records: int) -> None:
        self.files: dict[str, bytes] = {
            "/PyPI/all.zip": zipped(DATA / "pypa" / "vulns", "*.yaml"),
            "/Go/all.zip": zipped(DATA / "golang" / "osv", "*.json"),
            "/tracker/data/json": debian_document(distro_records),
            "/secdb/": b'<a href="v3.19/">v3.19/</a> <a href="v3.20/">v3.20/</a>',
        }
        for branch in ("v3.19", "v3.20"):
            for repository in ("main", "community"):
                self.files[f"/secdb/{branch}/{repository}.json"] = secdb(
                    branch, repository, distro_records // 4
                )
        self.versions = dict.fromkeys(self.files, 1)
        self.cves = [cve(n, 9.8) for n in range(cves)]
        self.changed: list[dict[str, object]] = []
        self.sent = 0

    def touch(self, path: str) -> None:
        self.files[path] = self.files[path] + b"\n"  # new content, and so a new digest
        self.versions[path] += 1

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        split = urlsplit(path)
        if split.path == "/rest/json/cves/2.0":
            query = dict(parse_qsl(split.query))
            rows = self.changed if "lastModStartDate" in query else self.cves
            start = int(query.get("startIndex", "0"))
            page = rows[start : start + 2000]
            body = json.dumps(
                {
                    "format": "NVD_CVE",
                    "startIndex": start,
                    "resultsPerPage": len(page),
                    "totalResults": len(rows),
                    "vulnerabilities": page,
                }
            ).encode()
            return 200, body, {}
        if split.path not in self.files:
            return 404, b"", {}
        etag = f'"{self.versions[split.path]}"'
        if headers.get("If-None-Match") == etag:
            return 304, b"", {"ETag": etag}
        return 200, self.files[split.path], {"ETag": etag}


def serve(feeds: Feeds) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, body, extra = feeds.answer(self.path, dict(self.headers.items()))
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status == 200:
                self.wfile.write(body)
                feeds.sent += len(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def configured(base: str) -> list[Feed]:
    return [
        Feed("osv-pypi", "osv", f"{base}/PyPI/all.zip"),
        Feed("osv-go", "osv", f"{base}/Go/all.zip"),
        Feed("debian", "debian", f"{base}/tracker/data/json"),
        Feed("alpine", "alpine", f"{base}/secdb/"),
        Feed("nvd", "nvd", f"{base}/rest/json/cves/2.0"),
    ]


def run_all(store: VulnStore, feeds: list[Feed], options: Options) -> dict[str, str]:
    return {feed.name: sync(store, feed, options=options).status for feed in feeds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cves", type=int, default=50_000)
    parser.add_argument("--distro-records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    options = Options(nvd_rate=Rate(requests=10_000, window=1.0))  # a local server: no pacing
    timings: dict[str, list[float]] = {"full": [], "incremental": [], "changed": []}
    transfer: dict[str, int] = {}
    records = 0
    for _ in range(args.rounds):
        feeds = Feeds(args.cves, args.distro_records)
        server, base = serve(feeds)
        chosen = configured(base)
        with tempfile.TemporaryDirectory() as folder:
            store = VulnStore.open(Path(folder) / "vulndb.sqlite")
            try:
                started = time.perf_counter()
                statuses = run_all(store, chosen, options)
                timings["full"].append(time.perf_counter() - started)
                assert set(statuses.values()) == {"imported"}, statuses
                transfer["full"], feeds.sent = feeds.sent, 0
                records = sum(s.records for s in store.sources())
                started = time.perf_counter()
                statuses = run_all(store, chosen, options)
                timings["incremental"].append(time.perf_counter() - started)
                assert set(statuses.values()) == {"not-modified"}, statuses
                transfer["incremental"], feeds.sent = feeds.sent, 0
                feeds.touch("/tracker/data/json")
                feeds.changed = [cve(n, 5.0) for n in range(100)]
                started = time.perf_counter()
                statuses = run_all(store, chosen, options)
                timings["changed"].append(time.perf_counter() - started)
                assert statuses["debian"] == "imported" and statuses["nvd"] == "imported"
                transfer["changed"] = feeds.sent
            finally:
                store.close()
                server.shutdown()
    print(
        f"feeds: 5 (2 OSV archives, Debian, Alpine index with 4 files, NVD API), "
        f"{records:,} records; {args.rounds} rounds, medians"
    )
    for name, label in (
        ("full", "full sync (empty database)"),
        ("incremental", "incremental, nothing new"),
        ("changed", "incremental, Debian changed + 100 CVEs rescored"),
    ):
        print(
            f"  {label:<50} {statistics.median(timings[name]):8.3f} s  "
            f"{transfer[name] / 1e6:8.2f} MB transferred"
        )
    ratio = statistics.median(timings["incremental"]) / statistics.median(timings["full"])
    verdict = "met" if ratio < 0.01 else "NOT met"
    print(f"incremental / full: {ratio:.4f} (target under 0.01: {verdict})")


if __name__ == "__main__":
    main()
