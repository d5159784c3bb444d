"""What `portside vulndb sync` and `status` say against a local mirror: counts in the
right number, a file the mirror lacks said once, each failure said once with a hint when
nothing answered, and a status that creates nothing.

Real processes on the embedded default; the feeds come from the loopback feed server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import embedded_env
from tests.vulndb.feedserver import FeedServer, Route
from tests.vulndb.feedserver import feeds as feed_server  # noqa: F401  (a fixture)

pytestmark = pytest.mark.nodb

DEAD_MIRROR = "http://127.0.0.1:9/"  # nothing listens on the discard port


def portside(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", *args],
        env={**embedded_env(data), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_advisory(folder: Path) -> Path:
    """An OSV tree of a single record."""
    folder.mkdir(parents=True)
    record = {
        "id": "PYSEC-2026-1",
        "modified": "2026-11-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "thing"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
            }
        ],
    }
    (folder / "PYSEC-2026-1.json").write_text(json.dumps(record))
    return folder


# --- status -----------------------------------------------------------------------------------


def test_status_without_data_names_the_mirror_setting_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    done = portside(data, "vulndb", "status", PORTSIDE_VULNDB_MIRROR="")
    assert done.returncode == 1
    assert "no vulnerability data in" in done.stderr
    assert "portside vulndb sync --from FOLDER" in done.stderr
    assert "PORTSIDE_VULNDB_SOURCES" in done.stderr
    assert "an internal mirror when PORTSIDE_VULNDB_MIRROR is set" in done.stderr
    made = {p.name for p in data.iterdir()} - {"secret_key"}  # the settings' own
    assert made == set()  # no database file, no journal, no feeds folder

    mirrored = portside(
        data, "vulndb", "status", PORTSIDE_VULNDB_MIRROR="http://mirror.internal:8080/"
    )
    assert mirrored.returncode == 1
    assert "PORTSIDE_VULNDB_MIRROR=http://mirror.internal:8080/" in mirrored.stderr
    assert not (data / "vulndb.sqlite").exists()


def test_status_of_an_empty_file_left_by_an_older_status_is_no_data(tmp_path: Path) -> None:
    (tmp_path / "vulndb.sqlite").touch()
    done = portside(tmp_path, "vulndb", "status")
    assert done.returncode == 1
    assert "no vulnerability data in" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "vulndb.sqlite").stat().st_size == 0


def test_one_record_and_one_feed_are_singular(tmp_path: Path) -> None:
    tree = one_advisory(tmp_path / "osv")
    imported = portside(tmp_path, "vulndb", "import", "osv", str(tree), "--name", "one")
    assert imported.returncode == 0, imported.stderr
    assert "one: imported 1 record\n" in imported.stdout
    done = portside(tmp_path, "vulndb", "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:3] == ["one", "osv", "1"]
    assert done.stdout.splitlines()[2].startswith("1 feed, 1 record; the oldest data is one's")


# --- sync through a mirror --------------------------------------------------------------------


def _secdb(branch: str, repository: str) -> bytes:
    packages = [{"pkg": {"name": f"{repository}-pkg", "secfixes": {"1.0-r1": ["CVE-2026-1"]}}}]
    document = {"distroversion": branch, "reponame": repository, "packages": packages}
    return json.dumps(document).encode()


def test_a_file_the_mirror_lacks_is_said_the_first_time_and_kept_in_status(
    tmp_path: Path,
    feed_server: FeedServer,  # noqa: F811
) -> None:
    feed_server.routes["/secdb/"] = Route(b'<a href="v3.20/">v3.20/</a>', etag='"i"')
    feed_server.routes["/secdb/v3.20/main.json"] = Route(_secdb("v3.20", "main"), etag='"m"')
    env = {
        "PORTSIDE_VULNDB_MIRROR": "",
        "PORTSIDE_VULNDB_SOURCES": f"alpine=alpine:{feed_server.base}/secdb/",
    }
    missing = f"{feed_server.base}/secdb/v3.20/community.json"

    first = portside(tmp_path, "vulndb", "sync", "--no-rematch", **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "alpine: imported (1 record)",
        f"  {missing}: not there (404); skipped",
    ]

    again = portside(tmp_path, "vulndb", "sync", "--no-rematch", **env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["alpine: not-modified"]
    assert "404" not in again.stderr

    status = portside(tmp_path, "vulndb", "status", **env)
    assert status.returncode == 0, status.stderr
    assert (
        f"alpine: 1 file not on the server (404), skipped: {missing}" in status.stdout.splitlines()
    )

    # The mirror catches up: the file is read, and no longer listed as missing.
    feed_server.routes["/secdb/v3.20/community.json"] = Route(_secdb("v3.20", "community"))
    caught_up = portside(tmp_path, "vulndb", "sync", "--no-rematch", **env)
    assert caught_up.stdout.splitlines() == ["alpine: imported (2 records)"]
    status = portside(tmp_path, "vulndb", "status", **env)
    assert "not on the server" not in status.stdout


def test_a_dead_mirror_says_each_failure_once_and_what_to_check(tmp_path: Path) -> None:
    done = portside(tmp_path, "vulndb", "sync", PORTSIDE_VULNDB_MIRROR=DEAD_MIRROR)
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    for name in ("osv-pypi", "debian", "alpine", "nvd"):
        assert sum(line.startswith(f"{name}: failed: ") for line in lines) == 1, lines
    assert "WARNING" not in done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()
    assert last[-2].endswith("13 of 13 feeds failed: " + last[-2].split("failed: ", 1)[1])
    assert f"PORTSIDE_VULNDB_MIRROR={DEAD_MIRROR}" in last[-1]
    assert "`portside vulndb sync --from FOLDER`" in last[-1]


def test_without_a_mirror_the_hint_is_the_network(
    tmp_path: Path,
    feed_server: FeedServer,  # noqa: F811
) -> None:
    env = {
        "PORTSIDE_VULNDB_MIRROR": "",
        "PORTSIDE_VULNDB_SOURCES": "debian=debian:http://127.0.0.1:9/json",
    }
    done = portside(tmp_path, "vulndb", "sync", **env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()
    assert "1 of 1 feed failed: debian" in last[-2]
    assert "network" in last[-1] and "--from FOLDER" in last[-1]
    assert "PORTSIDE_VULNDB_MIRROR" not in last[-1]


def test_no_hint_when_a_server_answered(
    tmp_path: Path,
    feed_server: FeedServer,  # noqa: F811
) -> None:
    env = {
        "PORTSIDE_VULNDB_MIRROR": "",
        "PORTSIDE_VULNDB_SOURCES": f"debian=debian:{feed_server.base}/gone/json",
    }
    done = portside(tmp_path, "vulndb", "sync", **env)
    assert done.returncode == 1
    assert "answered 404" in done.stdout
    assert done.stderr.strip().splitlines()[-1].endswith("1 of 1 feed failed: debian")
