"""Values a feed can hold that parse but cannot be stored or written back, and archives a
feed server can send that the standard library refuses in its own words: each is a
``MalformedInput`` naming the file, and the store keeps what it had."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from portside.vulndb.errors import MalformedInput
from portside.vulndb.importers import import_debian, import_nvd, import_osv
from portside.vulndb.importers._input import gunzip, load_json, load_yaml, read_file
from portside.vulndb.store import VulnStore
from tests.vulndb.helpers import osv_record, write_records


@pytest.fixture
def seeded(store: VulnStore, tmp_path: Path) -> VulnStore:
    write_records(tmp_path / "seed", [osv_record("KEEP-1", "PyPI", "keep")])
    import_osv(store, tmp_path / "seed", source="victim")
    return store


def refused(store: VulnStore, run: object) -> MalformedInput:
    before = store.counts()
    with pytest.raises(MalformedInput) as caught:
        run()  # type: ignore[operator]
    assert store.counts() == before and store.get_advisory("KEEP-1") is not None
    return caught.value


# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e999}', "1e999 is beyond the range of a number"),
        ('{"a": ' + "9" * 5000 + "}", "a number has too many digits"),
        ('{"a": "\\ud800"}', "unpaired surrogate"),
        ('{"\\udfffkey": 1}', "unpaired surrogate"),
    ],
)
def test_json_that_cannot_be_written_back_is_refused(text: str, expected: str) -> None:
    with pytest.raises(MalformedInput, match=expected):
        load_json("x.json", text.encode())


def test_an_escaped_surrogate_pair_is_one_character() -> None:
    assert load_json("x.json", b'["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]


def test_an_osv_record_with_an_unpaired_surrogate_is_refused(
    seeded: VulnStore, tmp_path: Path
) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    (folder / "a.json").write_text('{"id": "OSV-1", "summary": "\\ud800"}')
    error = refused(seeded, lambda: import_osv(seeded, folder, source="victim"))
    assert "a.json" in str(error) and "surrogate" in str(error)


def test_a_tracker_description_with_an_unpaired_surrogate_is_refused(
    seeded: VulnStore, tmp_path: Path
) -> None:
    path = tmp_path / "tracker.json"
    path.write_text('{"pkg": {"CVE-1": {"description": "\\udfff", "releases": {}}}}')
    refused(seeded, lambda: import_debian(seeded, path))


def test_an_nvd_score_beyond_a_float_is_refused(seeded: VulnStore, tmp_path: Path) -> None:
    page = {
        "format": "NVD_CVE",
        "vulnerabilities": [
            {
                "cve": {
                    "id": "CVE-2024-0001",
                    "metrics": {
                        "cvssMetricV31": [
                            {"cvssData": {"version": "3.1", "vectorString": "x", "baseScore": 0}}
                        ]
                    },
                }
            }
        ],
    }
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page).replace('"baseScore": 0', '"baseScore": 1' + "0" * 400))
    error = refused(seeded, lambda: import_nvd(seeded, path))
    assert "baseScore must be a number" in str(error)


# --- YAML ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-45",
        "!!float abc",
        "!!int abc",
        "!!bool maybe",
        "!!timestamp yesterday",
        "1" + "0" * 5000,
        "0x" + "f" * 5000,
        ".nan",
        "-.inf",
    ],
)
def test_yaml_values_that_do_not_fit_their_type_are_refused(value: str) -> None:
    with pytest.raises(MalformedInput, match=r"x\.yaml"):
        load_yaml("x.yaml", f"id: OSV-1\nsummary: {value}\n".encode())


# --- messages ----------------------------------------------------------------------------------


def test_a_message_quotes_a_short_excerpt_of_a_huge_value(
    seeded: VulnStore, tmp_path: Path
) -> None:
    record = osv_record("OSV-1", "PyPI", "a", modified="x" * 200_000)
    folder = write_records(tmp_path / "feed", [record])
    caught = refused(seeded, lambda: import_osv(seeded, folder, source="victim"))
    assert "not an RFC 3339 time" in str(caught) and len(str(caught)) < 1000


# --- gzip ------------------------------------------------------------------------------------


def test_every_member_of_a_multi_member_gzip_is_read() -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second") + bytes(512)
    assert gunzip("feed.json.gz", data, 1024) == b"first second"


def test_data_after_a_gzip_stream_is_refused() -> None:
    with pytest.raises(MalformedInput, match="data after its gzip stream"):
        gunzip("feed.json.gz", gzip.compress(b"{}") + b"junk", 1024)


def test_the_members_of_a_gzip_file_count_against_one_limit() -> None:
    with pytest.raises(MalformedInput, match="more than 10 bytes"):
        gunzip("feed.json.gz", gzip.compress(b"x" * 6) + gzip.compress(b"y" * 6), 10)


def test_reading_a_small_file_does_not_allocate_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    path.write_bytes(b"{}" * 100)
    tracemalloc.start()
    try:
        assert read_file(path, 1024 * 1024 * 1024) == b"{}" * 100
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


# --- zip -------------------------------------------------------------------------------------


def _zip(flags: int = 0, method: int | None = None, name: bytes = b"a.json") -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("a.json", json.dumps(osv_record("OSV-1", "PyPI", "a")))
    data = bytearray(raw.getvalue().replace(b"a.json", name))
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, local + 6, flags)
    struct.pack_into("<H", data, central + 8, flags)
    if method is not None:
        struct.pack_into("<H", data, local + 8, method)
        struct.pack_into("<H", data, central + 10, method)
    return bytes(data)


@pytest.mark.parametrize(
    ("archive", "expected"),
    [
        (_zip(flags=0x800, name=b"\xff.json"), "not a readable zip archive"),
        (_zip(method=99), "compression method is not supported"),
        (_zip(flags=0x1), "member a.json is encrypted"),
    ],
    ids=["name-not-utf8", "unknown-method", "encrypted"],
)
def test_zips_the_standard_library_refuses_are_malformed_input(
    seeded: VulnStore, tmp_path: Path, archive: bytes, expected: str
) -> None:
    path = tmp_path / "all.zip"
    path.write_bytes(archive)
    error = refused(seeded, lambda: import_osv(seeded, path, source="victim"))
    assert expected in str(error) and "all.zip" in str(error)
