"""The rpm cataloger against real databases of all three formats, with Debian's rpm as
the reference, and against damaged ones."""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.scanner import errors
from portside.scanner.analyze import analyze
from portside.scanner.catalogers import rpm
from portside.scanner.catalogers.rpm import RpmCataloger
from tests.scanner.images import file, layer, oci_layout

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / ".." / "shared" / "data" / "fixtures" / "rpmdb"
SQLITE = FIXTURES / "cbl-mariner-2.0" / "rpmdb.sqlite"
NDB = FIXTURES / "sle15-bci" / "Packages.db"
BDB = FIXTURES / "libuuid" / "Packages"
KINDS = {"sqlite": SQLITE, "ndb": NDB, "bdb": BDB}
IDENTITY = "%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}\\n"
needs_rpm = pytest.mark.skipif(shutil.which("rpm") is None, reason="needs Debian's rpm")


def query(kind: str, fmt: str, tmp_path: Path) -> list[str]:
    """What rpm itself reads from a copy of the fixture. Debian's rpm has no NDB backend,
    so the NDB blobs go through ``rpmdb --importdb`` (which checks each header) into a
    fresh database first."""
    db = tmp_path / f"rpmdb-{kind}"
    db.mkdir()
    backend = []
    if kind == "ndb":
        stream = b"".join(
            b"\x8e\xad\xe8\x01\x00\x00\x00\x00" + blob for blob in rpm.ndb_blobs(NDB.read_bytes())
        )
        subprocess.run(["rpmdb", "--importdb", "--dbpath", str(db)], input=stream, check=True)
    else:
        target = db / KINDS[kind].name
        shutil.copyfile(KINDS[kind], target)
        target.chmod(0o644)
        if kind == "bdb":
            backend = ["--define", "_db_backend bdb_ro"]
    result = subprocess.run(
        ["rpm", "-qa", "--dbpath", str(db), *backend, "--qf", fmt],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.splitlines()


def ours(kind: str) -> list[rpm.RpmPackage]:
    return rpm.read_packages(KINDS[kind].read_bytes(), kind)


@needs_rpm
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_packages_match_rpm(kind: str, tmp_path: Path) -> None:
    expected = sorted(x for x in query(kind, IDENTITY, tmp_path) if not x.startswith("gpg-pubkey "))
    got = sorted(f"{p.name} {p.epoch or 0}:{p.version}-{p.release} {p.arch}" for p in ours(kind))
    assert got == expected
    assert len(got) == {"sqlite": 129, "ndb": 35, "bdb": 1}[kind]  # as the fixtures' README says


@needs_rpm
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_file_lists_match_rpm(kind: str, tmp_path: Path) -> None:
    expected: dict[str, list[str]] = defaultdict(list)
    for line in query(kind, "[%{=NAME}\\t%{FILENAMES}\\n]", tmp_path):
        name, _, path = line.partition("\t")
        expected[name].append(path)
    got = {p.name: list(p.files) for p in ours(kind) if p.files}
    assert got == dict(expected)
    assert sum(len(v) for v in got.values()) > 5


@needs_rpm
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_source_licence_and_vendor_match_rpm(kind: str, tmp_path: Path) -> None:
    expected = sorted(query(kind, "%{NAME}\\t%{SOURCERPM}\\t%{LICENSE}\\t%{VENDOR}\\n", tmp_path))
    got = sorted(
        "\t".join([p.name, p.source_rpm or "(none)", p.license or "(none)", p.vendor or "(none)"])
        for p in ours(kind)
    )
    assert got == expected


MARINER_OS_RELEASE = (
    'NAME="Common Base Linux Mariner"\nVERSION="2.0.20220226"\nID=mariner\nVERSION_ID=2.0\n'
)


def _without_rows_after(limit: int) -> bytes:
    """The sqlite fixture with only its first ``limit`` packages, as an earlier layer."""
    image = bytearray(SQLITE.read_bytes())
    image[18:20] = b"\x01\x01"
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(bytes(image))
        connection.execute("DELETE FROM Packages WHERE hnum > ?", (limit,))
        connection.commit()
        return connection.serialize()
    finally:
        connection.close()


def test_the_cataloger_in_an_image_with_layer_attribution(tmp_path: Path) -> None:
    base = layer(
        [
            file("etc/os-release", MARINER_OS_RELEASE),
            file("var/lib/rpm/rpmdb.sqlite", _without_rows_after(100)),
        ],
        "zstd",
    )
    update = layer([file("var/lib/rpm/rpmdb.sqlite", SQLITE.read_bytes())], "zstd")
    oci_layout(tmp_path, [base, update])
    found = analyze(tmp_path, catalogers=[RpmCataloger()]).inventory.packages
    assert len(found) == 129
    first_hundred = {p.name for p in ours("sqlite")[:100]}
    for package in found:
        assert package.layer == (base.digest if package.name in first_hundred else update.digest)
    glibc = next(p for p in found if p.name == "glibc")
    assert glibc.purl == "pkg:rpm/mariner/glibc@2.34-2.cm2?arch=x86_64&distro=mariner-2.0"
    assert (glibc.source_name, glibc.source_version) == ("glibc", "2.34-2.cm2")
    assert glibc.paths == ("/var/lib/rpm/rpmdb.sqlite",)
    assert "/etc/ld.so.conf" in glibc.files and glibc.metadata["vendor"] == "Microsoft Corporation"


def test_epoch_in_version_and_purl(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file("usr/lib/sysimage/rpm/Packages.db", NDB.read_bytes())])])
    found = analyze(tmp_path, catalogers=[RpmCataloger()]).inventory.packages
    with_epoch = [p for p in found if p.metadata["epoch"]]
    without = [p for p in found if not p.metadata["epoch"]]
    assert without and all(":" not in p.version for p in without)
    for p in with_epoch:
        assert p.version.startswith(f"{p.metadata['epoch']}:")
        assert f"epoch={p.metadata['epoch']}" in p.purl
    assert all(p.purl.startswith("pkg:rpm/") and "distro=" not in p.purl for p in found)


def test_the_preferred_database_wins(tmp_path: Path) -> None:
    oci_layout(
        tmp_path,
        [
            layer(
                [
                    file("var/lib/rpm/Packages", BDB.read_bytes()),
                    file("var/lib/rpm/rpmdb.sqlite", SQLITE.read_bytes()),
                ]
            )
        ],
    )
    found = analyze(tmp_path, catalogers=[RpmCataloger()]).inventory.packages
    assert len(found) == 129  # the sqlite database, not the old Berkeley DB beside it


# --- damaged headers and databases ------------------------------------------------------------


def _header(entries: list[tuple[int, int, int, int]], data: bytes) -> bytes:
    index = b"".join(struct.pack(">IIII", *e) for e in entries)
    return struct.pack(">II", len(entries), len(data)) + index + data


def _good_header() -> tuple[list[tuple[int, int, int, int]], bytes]:
    data = b"pkg\x001.0\x001\x00x86_64\x00"
    entries = [
        (rpm.NAME, 6, 0, 1),
        (rpm.VERSION, 6, 4, 1),
        (rpm.RELEASE, 6, 8, 1),
        (rpm.ARCH, 6, 10, 1),
    ]
    return entries, data


def test_a_minimal_header_decodes() -> None:
    entries, data = _good_header()
    found = rpm.package(rpm.parse_header(_header(entries, data)))
    assert (found.name, found.evr, found.arch, found.files) == ("pkg", "1.0-1", "x86_64", ())


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda e, d: _header(e, d)[:20], "truncated"),
        (lambda e, d: b"\x00\x00", "shorter"),
        (lambda e, d: struct.pack(">II", 0, 0), "claims 0 tags"),
        (lambda e, d: struct.pack(">II", 0x10000, 4) + b"\0" * 16, "claims 65536 tags"),
        (lambda e, d: _header([*e[:3], (rpm.ARCH, 6, 400, 1)], d), "bad entry"),
        (lambda e, d: _header([*e[:3], (rpm.ARCH, 11, 10, 1)], d), "bad entry"),
        (lambda e, d: _header([*e, (rpm.EPOCH, 4, 16, 4)], d), "runs past"),
        (lambda e, d: _header([*e, (rpm.BASENAMES, 8, 10, 500)], d), "more strings"),
        (lambda e, d: _header(e, d[:-1]), "unterminated"),
        (lambda e, d: _header([*e[:2], (rpm.RELEASE, 6, 8, 2), e[3]], d), "count 2"),
        (lambda e, d: _header(e[1:], d), "lacks its name"),
    ],
)
def test_damaged_headers_are_clear_errors(mangle: object, problem: str) -> None:
    entries, data = _good_header()
    blob = mangle(entries, data)  # type: ignore[operator]
    with pytest.raises(errors.RpmHeaderError, match=problem):
        rpm.package(rpm.parse_header(blob))


def test_a_file_in_a_directory_the_header_lacks() -> None:
    entries, data = _good_header()
    files = b"f\x00/usr/\x00" + struct.pack(">I", 7)  # one basename, one dirname, index 7
    offset = len(data)
    data += files
    entries += [
        (rpm.BASENAMES, 8, offset, 1),
        (rpm.DIRNAMES, 8, offset + 2, 1),
        (rpm.DIRINDEXES, 4, offset + 8, 1),
    ]
    with pytest.raises(errors.RpmHeaderError, match="directory it lacks"):
        rpm.package(rpm.parse_header(_header(entries, data)))
    entries[-1] = (rpm.DIRINDEXES, 4, offset + 8, 0)
    with pytest.raises(errors.RpmHeaderError, match="inconsistent file list"):
        rpm.package(rpm.parse_header(_header(entries, data)))


_REAL_BLOBS = rpm.sqlite_blobs(SQLITE.read_bytes())[:20] + rpm.ndb_blobs(NDB.read_bytes())[:10]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(0, len(_REAL_BLOBS) - 1),
    flips=st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.integers(0, 2**20),
)
def test_fuzzed_real_headers_raise_only_scan_errors(
    which: int, flips: list[tuple[int, int]], cut: int
) -> None:
    blob = bytearray(_REAL_BLOBS[which])
    for position, value in flips:
        # Most of a header is its data; aim half the changes at the index entries.
        limit = len(blob) if position % 2 else min(len(blob), 8 + 16 * 64)
        blob[position % limit] = value
    data = bytes(blob[: len(blob) - cut % 3])
    try:
        rpm.package(rpm.parse_header(data))
    except errors.ScanError:
        pass


_FILES = {kind: path.read_bytes() for kind, path in KINDS.items() if kind != "sqlite"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(_FILES)),
    flips=st.lists(st.tuples(st.integers(0, 2**24), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_fuzzed_ndb_and_bdb_files_raise_only_scan_errors(
    kind: str, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(_FILES[kind])
    for position, value in flips:
        # The structures live in the first pages and the slot area; aim there mostly.
        data[position % (len(data) if position % 3 == 0 else 8192)] = value
    try:
        rpm.read_packages(bytes(data), kind)
    except errors.ScanError:
        pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(st.tuples(st.integers(0, 2**22), st.integers(0, 255)), min_size=1, max_size=6)
)
def test_fuzzed_sqlite_raises_only_scan_errors(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_SMALL_SQLITE)
    for position, value in flips:
        data[position % len(data)] = value
    try:
        rpm.read_packages(bytes(data), "sqlite")
    except errors.ScanError:
        pass


_SMALL_SQLITE = _without_rows_after(5)


def test_ndb_damage_is_named() -> None:
    good = bytearray(NDB.read_bytes())
    start = struct.unpack_from("<I", good, 32 + 8)[0] * 16
    cases = {
        "not an rpm NDB": b"XXXX" + bytes(good[4:]),
        "damaged slot": bytes(good[:32]) + b"Slxt" + bytes(good[36:]),
        "outside the file": bytes(good[:40]) + struct.pack("<I", 10**8) + bytes(good[44:]),
        "checksum": bytes(good[: start + 100]) + b"\xff" + bytes(good[start + 101 :]),
        "blob header": bytes(good[:start]) + b"BlbX" + bytes(good[start + 4 :]),
    }
    for problem, data in cases.items():
        with pytest.raises(errors.PackageDatabaseError, match=problem):
            rpm.ndb_blobs(data)
    duplicate = bytearray(good)
    duplicate[48:64] = good[32:48]  # the second slot repeats the first
    with pytest.raises(errors.PackageDatabaseError, match="twice"):
        rpm.ndb_blobs(bytes(duplicate))


def test_bdb_damage_is_named() -> None:
    good = bytearray(BDB.read_bytes())
    page_size = 4096
    with pytest.raises(errors.PackageDatabaseError, match="not a Berkeley DB hash"):
        rpm.bdb_blobs(bytes(512) + bytes(good[512:]))
    looped = bytearray(good)
    last = 22 * page_size
    struct.pack_into("<I", looped, last + 16, 3)  # the last overflow page points back
    struct.pack_into("<H", looped, last + 22, 4070)
    started = time.monotonic()
    with pytest.raises(errors.PackageDatabaseError, match="overflow"):
        rpm.bdb_blobs(bytes(looped))
    assert time.monotonic() - started < 2
    encrypted = bytearray(good)
    encrypted[24] = 1
    with pytest.raises(errors.PackageDatabaseError, match="encrypted"):
        rpm.bdb_blobs(bytes(encrypted))
    with pytest.raises(errors.PackageDatabaseError, match="too short"):
        rpm.bdb_blobs(bytes(good[:100]))


def _sqlite_with(statements: list[str]) -> bytes:
    connection = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
        return connection.serialize()
    finally:
        connection.close()


def test_sqlite_damage_is_named() -> None:
    with pytest.raises(errors.PackageDatabaseError, match="not an SQLite"):
        rpm.sqlite_blobs(b"not a database at all" * 10)
    truncated = SQLITE.read_bytes()[:8192]
    with pytest.raises(errors.PackageDatabaseError, match="cannot be read"):
        rpm.sqlite_blobs(truncated)
    other = _sqlite_with(["CREATE TABLE Other (x)"])
    with pytest.raises(errors.PackageDatabaseError, match="no Packages table"):
        rpm.sqlite_blobs(other)
    text = _sqlite_with(
        [
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)",
            "INSERT INTO Packages VALUES (1, 'text')",
        ]
    )
    with pytest.raises(errors.PackageDatabaseError, match="not a blob"):
        rpm.sqlite_blobs(text)


def test_a_hostile_sqlite_schema_cannot_make_the_reader_work_forever() -> None:
    endless_view = _sqlite_with(
        [
            "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
            " SELECT x AS hnum, zeroblob(10) AS blob FROM c"
        ]
    )
    generated = _sqlite_with(
        [
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB GENERATED ALWAYS AS (zeroblob(1000000000)))",
            "INSERT INTO Packages (hnum) VALUES (1)",
        ]
    )
    started = time.monotonic()
    for data in (endless_view, generated):
        with pytest.raises(errors.PackageDatabaseError, match="no Packages table"):
            rpm.sqlite_blobs(data)
    assert time.monotonic() - started < 5


def test_an_error_message_that_is_not_utf8_is_a_database_error(tmp_path: Path) -> None:
    """SQLite's message for a broken schema quotes the schema's bytes: when they are not
    UTF-8 the message cannot be read as text, and the database is still refused as broken,
    not with an exception out of the cataloger."""
    path = tmp_path / "rpmdb.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB, c ZZZQ)")
    connection.commit()
    connection.close()
    data = path.read_bytes()
    assert data.count(b"ZZZQ") == 1
    broken = data.replace(b"ZZZQ", b"T(\x80)")  # a syntax error at a byte that is not UTF-8
    with pytest.raises(errors.PackageDatabaseError, match="cannot be read"):
        rpm.sqlite_blobs(broken)
