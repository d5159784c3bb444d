"""Importing OSV records: the real PyPA and Go databases in full, directories and zips,
withdrawn records, and every kind of hostile input."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from portside.vulndb.errors import InputTooLarge, MalformedInput, UnsafeArchive
from portside.vulndb.importers import Limits, import_osv
from portside.vulndb.importers.osv import read_osv
from portside.vulndb.model import Advisory
from portside.vulndb.store import VulnStore
from tests.vulndb.helpers import GO_RECORDS, GOLANG, PYPA_RECORDS, osv_record, write_records


def test_full_import_of_pypa_and_go(
    full_store: VulnStore, pypa_advisories: list[Advisory], go_advisories: list[Advisory]
) -> None:
    sources = {s.name: s for s in full_store.sources()}
    assert sources["pypa"].records == PYPA_RECORDS
    assert sources["go"].records == GO_RECORDS
    assert sources["pypa"].digest.startswith("sha256:")
    counts = full_store.counts()
    assert counts["advisory"] == PYPA_RECORDS + GO_RECORDS
    # every affected entry of every record that is not withdrawn is in the index
    assert len(pypa_advisories) == PYPA_RECORDS and len(go_advisories) == GO_RECORDS
    everything = pypa_advisories + go_advisories
    expected = sum(len(a.affected) for a in everything if a.withdrawn is None)
    assert counts["affected"] == expected


def test_records_read_back_as_they_were_parsed(full_store: VulnStore) -> None:
    advisory = full_store.get_advisory("PYSEC-2014-13")
    assert advisory is not None
    assert advisory.aliases == ("CVE-2014-1829", "GHSA-cfj3-7x9c-4p3h")
    (affected,) = advisory.affected
    assert affected.package.name == "requests"
    assert affected.ranges[0].events[-1].version == "2.3.0"
    assert "0.10.0" in affected.versions
    assert advisory.published is not None and advisory.published.year == 2014
    go = full_store.get_advisory("GO-2020-0001")
    assert go is not None and go.affected[0].ecosystem_specific["imports"][0]["symbols"]
    assert [a.id for a in full_store.find_by_alias("CVE-2020-36567")] == ["GO-2020-0001"]


def test_withdrawn_records_are_kept_but_not_indexed(
    full_store: VulnStore, pypa_advisories: list[Advisory], go_advisories: list[Advisory]
) -> None:
    withdrawn = [a for a in go_advisories + pypa_advisories if a.withdrawn is not None]
    assert len(withdrawn) == 27  # 17 Go and 10 PyPA records
    for advisory in withdrawn:
        stored = full_store.get_advisory(advisory.id)
        assert stored is not None and stored.withdrawn == advisory.withdrawn
    pks = full_store._db.execute(
        "SELECT count(*) FROM affected JOIN advisory ON advisory.pk = affected.advisory "
        "WHERE advisory.withdrawn"
    ).fetchone()[0]
    assert pks == 0


def test_an_unchanged_feed_is_not_written_again(tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    for file in sorted(GOLANG.glob("*.json"))[:500]:
        (folder / file.name).write_bytes(file.read_bytes())
    with VulnStore.open(tmp_path / "db.sqlite") as store:
        first = import_osv(store, folder, source="go")
        imported_at = store.source("go").imported_at  # type: ignore[union-attr]
        again = import_osv(store, folder, source="go")
        assert first.changed and not again.changed
        assert again.digest == first.digest and again.records == 500
        assert store.source("go").imported_at == imported_at  # type: ignore[union-attr]
        (folder / "GO-2020-0001.json").write_text(
            (folder / "GO-2020-0001.json").read_text().replace("Arbitrary", "Arbitrary ")
        )
        changed = import_osv(store, folder, source="go")
        assert changed.changed and changed.digest != first.digest
        forced = import_osv(store, folder, source="go", force=True)
        assert forced.changed
        assert store.counts()["advisory"] == 500


def test_a_zip_of_the_same_records_imports_the_same(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(GOLANG.glob("*.json"))[:300]:
            zf.write(file, file.name)
    folder = tmp_path / "folder"
    folder.mkdir()
    for file in sorted(GOLANG.glob("*.json"))[:300]:
        (folder / file.name).write_bytes(file.read_bytes())
    from_zip, zip_digest = read_osv(archive)
    from_dir, dir_digest = read_osv(folder)
    assert from_zip == from_dir
    assert zip_digest == dir_digest


def test_reimport_replaces_the_source_and_leaves_others(store: VulnStore, tmp_path: Path) -> None:
    write_records(tmp_path / "a", [osv_record("OSV-1", "PyPI", "alpha")])
    write_records(tmp_path / "b", [osv_record("OSV-2", "PyPI", "beta")])
    import_osv(store, tmp_path / "a", source="a")
    import_osv(store, tmp_path / "b", source="b")
    write_records(tmp_path / "a2", [osv_record("OSV-3", "PyPI", "gamma")])
    import_osv(store, tmp_path / "a2", source="a")
    assert store.get_advisory("OSV-1") is None
    assert store.get_advisory("OSV-2") is not None
    assert store.get_advisory("OSV-3") is not None
    assert [r.name for r in store.affected_rows([("PyPI", "gamma"), ("PyPI", "alpha")])] == [
        "gamma"
    ]


def test_yaml_and_json_records_of_any_ecosystem(store: VulnStore, tmp_path: Path) -> None:
    write_records(
        tmp_path / "y", [osv_record("RUSTSEC-2024-0001", "crates.io", "smallvec")], as_yaml=True
    )
    write_records(tmp_path / "y", [osv_record("GHSA-aaaa-bbbb-cccc", "npm", "@babel/core")])
    result = import_osv(store, tmp_path / "y", source="mixed")
    assert result.records == 2
    assert store.get_advisory("RUSTSEC-2024-0001") is not None


# --- hostile input -----------------------------------------------------------------------


def failed_import(store: VulnStore, path: Path, **kwargs: object) -> MalformedInput:
    """Import ``path`` over an existing source and check the store was left alone."""
    before = store.counts()
    with pytest.raises(MalformedInput) as caught:
        import_osv(store, path, source="victim", **kwargs)  # type: ignore[arg-type]
    assert store.counts() == before
    assert store.get_advisory("KEEP-1") is not None
    return caught.value


@pytest.fixture
def seeded(store: VulnStore, tmp_path: Path) -> VulnStore:
    write_records(tmp_path / "seed", [osv_record("KEEP-1", "PyPI", "keep")])
    import_osv(store, tmp_path / "seed", source="victim")
    return store


def test_truncated_json_names_the_file(seeded: VulnStore, tmp_path: Path) -> None:
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a")])
    text = json.dumps(osv_record("OSV-2", "PyPI", "b"))
    (folder / "OSV-2.json").write_text(text[: len(text) // 2])
    error = failed_import(seeded, folder)
    assert "OSV-2.json" in str(error) and "not valid JSON" in str(error)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"aliases": "CVE-2024-1"}, "field aliases must be a list of strings"),
        ({"affected": {"package": {}}}, "field affected must be a list"),
        ({"modified": "yesterday"}, "field modified is not an RFC 3339 time"),
        ({"id": 42}, "field id must be a string"),
        ({"id": "bad id with spaces"}, "is not an advisory id"),
        ({"summary": ["x"]}, "field summary must be a string"),
        ({"severity": [{"type": "CVSS_V3"}]}, "field score must be a string"),
        ({"references": [{"type": "WEB"}]}, "field references[0].url is missing"),
    ],
)
def test_wrong_types_name_the_record_and_field(
    seeded: VulnStore, tmp_path: Path, change: dict, expected: str
) -> None:
    record = osv_record("OSV-9", "PyPI", "a")
    record.update(change)
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a")])
    (folder / "OSV-9.json").write_text(json.dumps(record))
    error = failed_import(seeded, folder)
    assert expected in str(error)
    assert "OSV-9.json" in error.path


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([{"introduced": "0", "fixed": "1.0"}], "exactly one of"),
        ([{"introduced": "0"}, {"patched": "1.0"}], "'patched' is not an event"),
        ([{"fixed": "1.0"}], "at least one introduced"),
        ([{"introduced": ""}], "non-empty string"),
        ([{"introduced": 1}], "non-empty string"),
    ],
)
def test_bad_events_are_refused(
    seeded: VulnStore, tmp_path: Path, events: list, expected: str
) -> None:
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a", events=events)])
    error = failed_import(seeded, folder)
    assert expected in str(error)
    assert error.record == "OSV-1"


def test_unknown_range_type_is_refused(seeded: VulnStore, tmp_path: Path) -> None:
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a", range_type="X")])
    assert "range type 'X'" in str(failed_import(seeded, folder))


def test_duplicate_ids_are_refused(seeded: VulnStore, tmp_path: Path) -> None:
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a")])
    (folder / "copy.json").write_text(json.dumps(osv_record("OSV-1", "PyPI", "b")))
    assert "also used by" in str(failed_import(seeded, folder))


def test_a_record_that_is_not_an_object(seeded: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "list.json").write_text("[1, 2, 3]")
    assert "must be an object, not a list" in str(failed_import(seeded, folder))


def test_binary_garbage(seeded: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "x.json").write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8" in str(failed_import(seeded, folder))


def test_deep_nesting(seeded: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in str(failed_import(seeded, folder))


def test_deeply_nested_yaml(seeded: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "deep.yaml").write_text("id: OSV-1\nx: " + "[" * 100 + "]" * 100 + "\n")
    assert "nested too deeply" in str(failed_import(seeded, folder))
    (folder / "deep.yaml").write_text("id: OSV-1\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "maximum nesting depth" in str(failed_import(seeded, folder))


def test_a_2_gb_file_is_refused_before_it_is_read(seeded: VulnStore, tmp_path: Path) -> None:
    folder = write_records(tmp_path / "feed", [osv_record("OSV-1", "PyPI", "a")])
    with (folder / "huge.json").open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: takes no disk space
    error = failed_import(seeded, folder)
    assert isinstance(error, InputTooLarge)
    assert "huge.json" in str(error) and "2147483648 bytes" in str(error)


def test_a_single_oversized_file(seeded: VulnStore, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(osv_record("OSV-1", "PyPI", "a", details="x" * 5000)))
    error = failed_import(seeded, path, limits=Limits(max_record=1000))
    assert isinstance(error, InputTooLarge)


def test_symbolic_links_are_not_followed(seeded: VulnStore, tmp_path: Path) -> None:
    secret = tmp_path / "outside.json"
    secret.write_text(json.dumps(osv_record("OSV-1", "PyPI", "a")))
    folder = tmp_path / "feed"
    folder.mkdir()
    os.symlink(secret, folder / "link.json")
    assert "symbolic link" in str(failed_import(seeded, folder))


@pytest.mark.parametrize(
    "name", ["../escape.json", "/etc/passwd.json", "a/../../b.json", "C:/x.json", "a\\..\\b.json"]
)
def test_zip_names_that_escape_are_refused(seeded: VulnStore, tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.json", json.dumps(osv_record("OSV-1", "PyPI", "a")))
        zf.writestr(name, json.dumps(osv_record("OSV-2", "PyPI", "b")))
    error = failed_import(seeded, archive)
    assert isinstance(error, UnsafeArchive)
    assert "escapes the archive" in str(error)


def test_a_zip_bomb_is_refused_by_its_ratio(seeded: VulnStore, tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.json", b" " * (12 * 1024 * 1024))
    error = failed_import(seeded, archive)
    assert isinstance(error, UnsafeArchive)
    assert "expands" in str(error)


def test_a_zip_member_over_the_record_limit(seeded: VulnStore, tmp_path: Path) -> None:
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("big.json", b" " * 5000)
    error = failed_import(seeded, archive, limits=Limits(max_record=1000))
    assert isinstance(error, InputTooLarge)


def test_a_zip_whose_members_add_up_past_the_limit(seeded: VulnStore, tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i in range(10):
            zf.writestr(f"{i}.json", json.dumps(osv_record(f"OSV-{i}", "PyPI", "a")).ljust(900))
    error = failed_import(seeded, archive, limits=Limits(max_archive=5000))
    assert isinstance(error, InputTooLarge) and "in total" in str(error)


def test_a_truncated_zip(seeded: VulnStore, tmp_path: Path) -> None:
    archive = tmp_path / "cut.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.json", json.dumps(osv_record("OSV-1", "PyPI", "a")) * 50)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    assert "zip" in str(failed_import(seeded, archive))


def test_duplicate_zip_members_are_refused(seeded: VulnStore, tmp_path: Path) -> None:
    archive = tmp_path / "dup.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.json", json.dumps(osv_record("OSV-1", "PyPI", "a")))
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("a.json", json.dumps(osv_record("OSV-2", "PyPI", "a")))
    assert "appears twice" in str(failed_import(seeded, archive))


def test_yaml_tags_that_construct_objects_are_refused(seeded: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "evil.yaml").write_text(
        "id: OSV-1\nmodified: '2024-01-01T00:00:00Z'\n"
        "details: !!python/object/apply:os.system ['echo owned']\n"
    )
    error = failed_import(seeded, folder)
    assert "not valid YAML" in str(error) and "evil.yaml" in str(error)


def test_yaml_alias_bombs_are_refused(seeded: VulnStore, tmp_path: Path) -> None:
    lines = ["id: OSV-1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "laughs.yaml").write_text("\n".join(lines) + "\n")
    assert "aliases" in str(failed_import(seeded, folder))


def test_yaml_sets_and_binary_cannot_be_stored(seeded: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "set.yaml").write_text("id: OSV-1\ndatabase_specific: !!set {a: null}\n")
    assert "JSON cannot express" in str(failed_import(seeded, folder))


def test_yaml_timestamps_become_text(store: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "t.yaml").write_text(
        "id: OSV-1\nmodified: 2023-09-25T14:28:09.019811Z\n"
        "database_specific: {seen: 2023-09-25}\naffected: []\n"
    )
    import_osv(store, folder, source="t")
    advisory = store.get_advisory("OSV-1")
    assert advisory is not None
    assert advisory.modified is not None and advisory.modified.microsecond == 19811
    assert advisory.database_specific == {"seen": "2023-09-25"}


def test_a_missing_path(store: VulnStore, tmp_path: Path) -> None:
    with pytest.raises(MalformedInput, match="cannot be read"):
        import_osv(store, tmp_path / "nowhere.json", source="x")
