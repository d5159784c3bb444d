"""The database file: schema versions, unusable files, source rows, transactions, and
the cost of opening it."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from portside.core import clock
from portside.vulndb.errors import DatabaseUnusable, SchemaMismatch, VulnDBError
from portside.vulndb.importers import import_osv
from portside.vulndb.model import Advisory, Affected, PackageRef
from portside.vulndb.store import SCHEMA_VERSION, VulnStore, default_path
from tests.vulndb.helpers import osv_record, write_records


def test_the_default_path_is_in_the_data_directory(tmp_path: Path) -> None:
    assert default_path(tmp_path) == tmp_path / "vulndb.sqlite"


def test_a_new_file_gets_the_schema_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "vulndb.sqlite"
    VulnStore.open(path).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
    with VulnStore.open(path, readonly=True) as store:
        assert store.sources() == []


def test_a_file_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    VulnStore.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '999'")
    with pytest.raises(SchemaMismatch, match="schema version 999") as caught:
        VulnStore.open(path)
    assert "Delete the file and sync the feeds again" in str(caught.value)


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 100)
    with pytest.raises(DatabaseUnusable, match="not a vulnerability database"):
        VulnStore.open(path)


def test_an_sqlite_file_of_another_program(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(SchemaMismatch, match="some other program"):
        VulnStore.open(path)


def test_read_only_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnusable, match="sync the feeds first"):
        VulnStore.open(tmp_path / "missing.sqlite", readonly=True)


def test_read_only_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    VulnStore.open(path).close()
    with VulnStore.open(path, readonly=True) as store, pytest.raises(sqlite3.OperationalError):
        store.replace_advisories("x", [], kind="osv", digest="d", origin="o")


def test_source_rows_record_what_was_imported_and_when(store: VulnStore, tmp_path: Path) -> None:
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a")])
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    with clock.frozen(start) as frozen:
        result = import_osv(store, folder, source="feed")
        frozen.advance(hours=6)
        again = import_osv(store, folder, source="feed")
    (row,) = store.sources()
    assert (row.name, row.kind, row.records, row.digest) == ("feed", "osv", 1, result.digest)
    assert row.origin == str(folder)
    assert row.imported_at == start.isoformat()
    assert row.checked_at == (start + dt.timedelta(hours=6)).isoformat()
    assert not again.changed


def test_a_failed_write_changes_nothing(store: VulnStore, tmp_path: Path) -> None:
    import_osv(
        store, write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a")]), source="s"
    )
    before = (store.sources(), store.counts())
    duplicate = Advisory(id="OSV-2", affected=(Affected(PackageRef("PyPI", "b")),))
    with pytest.raises(sqlite3.IntegrityError):
        store.replace_advisories("s", [duplicate, duplicate], kind="osv", digest="x", origin="o")
    assert (store.sources(), store.counts()) == before
    assert store.get_advisory("OSV-1") is not None and store.get_advisory("OSV-2") is None


def test_an_import_from_elsewhere_that_drops_records_is_refused(store: VulnStore) -> None:
    from portside.vulndb.errors import WouldReplace
    from portside.vulndb.model import DistroRecord

    def rows(n: int) -> list[DistroRecord]:
        return [
            DistroRecord("alpine", "v3.20", f"p{i}", f"CVE-2026-{i:04}", "resolved", "1")
            for i in range(n)
        ]

    store.replace_distro("alpine", rows(3), kind="alpine", digest="a", origin="/a")
    # The same origin again, or more records from elsewhere: an update, not a loss.
    store.replace_distro("alpine", rows(2), kind="alpine", digest="b", origin="/a", replace=False)
    store.replace_distro("alpine", rows(4), kind="alpine", digest="c", origin="/b", replace=False)
    with pytest.raises(WouldReplace, match="1 of the old ones would go"):
        store.replace_distro(
            "alpine", rows(3), kind="alpine", digest="d", origin="/c", replace=False
        )
    with pytest.raises(WouldReplace, match="4 of the old ones would go"):
        store.replace_nvd("alpine", [], digest="e", origin="/d", replace=False)  # another kind
    assert store.source("alpine").records == 4  # type: ignore[union-attr]
    store.replace_distro("alpine", rows(1), kind="alpine", digest="f", origin="/c")
    assert store.source("alpine").records == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["", "has space", "semi;colon", "slash/name"])
def test_source_names_are_words(store: VulnStore, name: str) -> None:
    with pytest.raises(VulnDBError, match="source name"):
        store.replace_advisories(name, [], kind="osv", digest="d", origin="o")


def test_opening_is_cheap_and_writes_nothing(full_store: VulnStore) -> None:
    path = full_store.path
    before = (path.stat().st_mtime_ns, path.read_bytes()[:4096])
    started = time.perf_counter()
    for _ in range(20):
        VulnStore.open(path, readonly=True).close()
        VulnStore.open(path).close()
    each = (time.perf_counter() - started) / 40
    print(f"\nopen: {each * 1000:.2f} ms per open of a {path.stat().st_size / 1e6:.1f} MB database")
    assert (path.stat().st_mtime_ns, path.read_bytes()[:4096]) == before
    assert each < 0.25


def test_a_reader_sees_a_reimport_made_by_another_connection(tmp_path: Path) -> None:
    from portside.vulndb import match
    from tests.vulndb.helpers import make_package

    path = tmp_path / "vulndb.sqlite"
    events = [{"introduced": "0"}, {"fixed": "2.0"}]
    with VulnStore.open(path) as writer:
        import_osv(
            writer,
            write_records(tmp_path / "v1", [osv_record("OSV-1", "PyPI", "a", events=events)]),
            source="s",
        )
    with VulnStore.open(path, readonly=True) as reader:
        package = make_package("pypi", "a", "1.5")
        assert [f.advisory_id for f in match([package], None, reader)] == ["OSV-1"]
        later = [{"introduced": "0"}, {"fixed": "1.0"}]
        with VulnStore.open(path) as writer:
            import_osv(
                writer,
                write_records(tmp_path / "v2", [osv_record("OSV-2", "PyPI", "a", events=later)]),
                source="s",
            )
        assert list(match([package], None, reader)) == []
