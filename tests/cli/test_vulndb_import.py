"""`portside vulndb import`: feeds keep apart by default and nothing is replaced silently.

Real processes on the embedded default, with copies of the PyPA and Go OSV trees."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import embedded_env
from tests.vulndb.feedserver import feeds as feed_server  # noqa: F401  (a fixture)

pytestmark = pytest.mark.nodb

DATA = (Path(__file__).parents[2] / ".." / "shared" / "data" / "vulndb").resolve()


def portside(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", *args],
        env=embedded_env(data),
        capture_output=True,
        text=True,
        timeout=300,
    )


def feeds(data: Path) -> dict[str, int]:
    db = sqlite3.connect(data / "vulndb.sqlite")
    try:
        return dict(db.execute("SELECT name, records FROM source").fetchall())
    finally:
        db.close()


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """Two small OSV trees: a few PyPA packages (YAML) and some Go records (JSON)."""
    pypi = tmp_path / "pypa"
    for name in ("jinja2", "urllib3"):
        shutil.copytree(DATA / "pypa" / "vulns" / name, pypi / name)
    go = tmp_path / "go"
    go.mkdir()
    for record in sorted((DATA / "golang" / "osv").glob("GO-2023-*.json"))[:30]:
        shutil.copy(record, go / record.name)
    return pypi, go


def test_two_trees_imported_one_after_the_other_keep_both(tmp_path, trees):
    pypi, go = trees
    data = tmp_path / "data"
    first = portside(data, "vulndb", "import", "osv", str(pypi), "--no-rematch")
    second = portside(data, "vulndb", "import", "osv", str(go), "--no-rematch")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.startswith("osv-pypi: imported ")
    assert second.stdout.startswith("osv-go: imported ")
    found = feeds(data)
    assert set(found) == {"osv-pypi", "osv-go"}
    assert found["osv-go"] == 30 and found["osv-pypi"] == len(list(pypi.rglob("*.yaml")))


def test_an_import_that_would_drop_records_asks_for_replace(tmp_path, trees):
    pypi, go = trees
    data = tmp_path / "data"
    assert portside(data, "vulndb", "import", "osv", str(pypi), "--no-rematch").returncode == 0
    before = feeds(data)["osv-pypi"]
    refused = portside(
        data, "vulndb", "import", "osv", str(go), "--name", "osv-pypi", "--no-rematch"
    )
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"feed osv-pypi holds {before} osv records from {pypi}" in refused.stderr
    assert f"{before} of the old ones would go" in refused.stderr
    assert "--replace" in refused.stderr and "--name" in refused.stderr
    assert feeds(data) == {"osv-pypi": before}  # nothing written
    replaced = portside(
        data, "vulndb", "import", "osv", str(go), "--name", "osv-pypi", "--replace", "--no-rematch"
    )
    assert replaced.returncode == 0, replaced.stderr
    assert feeds(data) == {"osv-pypi": 30}


def test_a_newer_copy_or_a_superset_goes_ahead(tmp_path, trees):
    """Updating a feed from where it came from, or from a copy that only adds records,
    needs no flag: that is what an update is."""
    pypi, _ = trees
    data = tmp_path / "data"
    assert portside(data, "vulndb", "import", "osv", str(pypi), "--no-rematch").returncode == 0
    (pypi / "jinja2" / "PYSEC-2099-1.yaml").write_text(
        "id: PYSEC-2099-1\nmodified: '2099-01-01T00:00:00Z'\naffected:\n"
        "- package: {ecosystem: PyPI, name: jinja2}\n"
        "  ranges: [{type: ECOSYSTEM, events: [{introduced: '0'}, {fixed: '9.9'}]}]\n"
    )
    same = portside(data, "vulndb", "import", "osv", str(pypi), "--no-rematch")
    assert same.returncode == 0, same.stderr
    superset = tmp_path / "copy"
    shutil.copytree(pypi, superset)
    (superset / "urllib3" / "PYSEC-2099-2.yaml").write_text(
        (pypi / "jinja2" / "PYSEC-2099-1.yaml").read_text().replace("2099-1", "2099-2")
    )
    grown = portside(data, "vulndb", "import", "osv", str(superset), "--no-rematch")
    assert grown.returncode == 0, grown.stderr
    assert feeds(data)["osv-pypi"] == len(list(superset.rglob("*.yaml")))


def test_default_names_follow_what_is_imported(tmp_path):
    from portside.vulndb.importers.naming import default_name, feed_name

    alpine = tmp_path / "main.json"
    alpine.write_text(json.dumps({"distroversion": "v3.20", "reponame": "main", "packages": []}))
    assert default_name("alpine", alpine) == "alpine-v3.20-main"
    assert default_name("alpine", tmp_path) == "alpine"
    assert default_name("debian", tmp_path / "json") == "debian"
    assert default_name("nvd", tmp_path) == "nvd"
    debian = tmp_path / "Debian" / "all"
    debian.mkdir(parents=True)
    (debian / "DSA-1.json").write_text(
        json.dumps({"id": "DSA-1", "affected": [{"package": {"ecosystem": "Debian:12"}}]})
    )
    assert default_name("osv", debian) == "osv-debian"
    mixed = tmp_path / "Mixed Feeds"
    mixed.mkdir()
    for n, ecosystem in enumerate(("npm", "crates.io")):
        (mixed / f"R-{n}.json").write_text(
            json.dumps({"id": f"R-{n}", "affected": [{"package": {"ecosystem": ecosystem}}]})
        )
    assert default_name("osv", mixed) == "osv-mixed-feeds"
    assert default_name("osv", mixed / "R-1.json") == "osv-crates.io"
    # Hostile or broken input names nothing odd and raises nothing: the import reports it.
    (mixed / "broken.json").write_text("{")
    assert default_name("osv", mixed) == "osv-mixed-feeds"
    assert feed_name("../../etc/passwd") == "etc-passwd"
    assert feed_name("") == "feed" and feed_name("Ünïcode\x00") == "n-code"


def test_sync_fetches_the_configured_feeds_and_goes_on_past_a_failure(tmp_path, feed_server):  # noqa: F811
    feeds_ = feed_server
    from tests.vulndb.feedserver import Route, go_zip

    feeds_.routes["/go/all.zip"] = Route(go_zip(7), etag='"g"')
    env_sources = f"osv-go=osv:{feeds_.base}/go/all.zip,debian=debian:{feeds_.base}/missing/json"
    data = tmp_path / "data"
    done = sync_process(data, env_sources)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "osv-go: imported (7 records)" in done.stdout
    assert "debian: failed:" in done.stdout and "answered 404" in done.stdout
    assert "1 of 2 feeds failed: debian" in done.stderr and "Traceback" not in done.stderr
    assert feeds(data) == {"osv-go": 7}
    again = sync_process(data, env_sources, "--feed", "osv-go")
    assert again.returncode == 0 and "osv-go: not-modified" in again.stdout
    status = portside(data, "vulndb", "status")
    assert status.returncode == 0 and "osv-go" in status.stdout
    assert "debian: the last sync failed" in status.stderr and "answered 404" in status.stderr
    assert "osv-go: the last sync failed" not in status.stderr


def test_sync_from_a_mirror_folder(tmp_path):
    from portside.vulndb.feeds import default_feeds
    from portside.vulndb.sync import offline_path
    from tests.vulndb.feedserver import go_zip

    mirror = tmp_path / "mirror"
    go = next(f for f in default_feeds() if f.name == "osv-go")
    archive = offline_path(mirror, go.url)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(go_zip(9))
    data = tmp_path / "data"
    done = portside(data, "vulndb", "sync", "--from", str(mirror), "--feed", "osv-go")
    assert done.returncode == 0, done.stderr
    assert "osv-go: imported (9 records)" in done.stdout
    everything = portside(data, "vulndb", "sync", "--from", str(mirror))
    assert everything.returncode == 1 and "missing from the mirror folder" in everything.stdout


def test_status_after_a_sync_that_reached_nothing(tmp_path):
    """A new store with no network: the status names every feed that failed, and why."""
    data = tmp_path / "data"
    done = portside(data, "vulndb", "sync", "--feed", "osv-pypi", "--feed", "debian")
    assert done.returncode == 1
    status = portside(data, "vulndb", "status")
    assert status.returncode == 1
    assert "osv-pypi: the last sync failed" in status.stderr and "cannot connect" in status.stderr
    assert "debian: the last sync failed" in status.stderr
    assert "no vulnerability data" in status.stderr


def sync_process(data: Path, sources: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = embedded_env(data)
    env["PORTSIDE_VULNDB_SOURCES"] = sources
    env["PORTSIDE_VULNDB_MIRROR"] = ""  # the feeds' own loopback URLs
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "vulndb", "sync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
