"""The Rust cataloger on the sections' older names and on PE names longer than 8 bytes,
and on Windows programs without an executable bit.

The older names are those of the project's first releases: ``.rust-deps-v0`` in ELF,
``rdep-v0`` (and before it ``.rust-deps-v0``) in PE, ``rust-deps-v0`` in Mach-O. ELF
programs are compiled by the machine's ``rustc`` with the list in a section of each
name; Windows programs are a real Go program given the section by ``objcopy``, which
writes a long name as ``/`` and an offset into the COFF string table; PE files written
by hand cover every field the string table is found by, and are fuzzed.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.scanner.analyze import analyze
from portside.scanner.catalogers import claims, sections
from portside.scanner.catalogers.rust import (
    MAX_SECTION_BYTES,
    PE_SECTIONS,
    RustCataloger,
    RustMetadataError,
    read_audit_info,
)
from portside.scanner.catalogers.sections import MAX_PE_NAME_BYTES, SectionError
from portside.scanner.model import Package
from tests.scanner.catalogers import rustelf, rustformats
from tests.scanner.catalogers.conftest import Image
from tests.scanner.catalogers.rustelf import AUDIT, RUNTIME_CRATES, compressed, elf
from tests.scanner.catalogers.rustformats import CPU_ARM64, CPU_X86_64, macho, universal
from tests.scanner.images import file, layer, oci_layout

SECTION = compressed(AUDIT)
OTHER = compressed({"packages": [{"name": "other", "version": "2.0.0"}]})
OTHER_CRATES = {("other", "2.0.0")}


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    work = tmp_path_factory.mktemp("rust-section-names")
    try:
        return {
            "elf-old": rustelf.rustc_program(work, {".rust-deps-v0": SECTION}, "old"),
            "elf-both": rustelf.rustc_program(
                work, {".rust-deps-v0": OTHER, ".dep-v0": SECTION}, "both"
            ),
            "elf-new": rustelf.rustc_program(work, {".dep-v0": SECTION}, "new"),
            "elf-plain": rustelf.rustc_program(work, {}, "plain"),
            "pe-rdep": rustformats.pe_binary(work, SECTION, "rdep.exe", "rdep-v0"),
            "pe-long": rustformats.pe_binary(work, SECTION, "long.exe", ".rust-deps-v0"),
            "pe-new": rustformats.pe_binary(work, SECTION, "new.exe"),
            "macho-old": rustformats.with_macho_section(
                rustformats.go_program(work, "darwin", "arm64"), SECTION, b"rust-deps-v0"
            ),
        }
    except rustelf.ToolMissing as error:
        pytest.fail(f"these tests need rustc, go and objcopy: {error}", pytrace=False)


def keys(data: bytes) -> set[tuple[str, str]]:
    found = read_audit_info(data)
    assert found is not None
    return {crate.key for crate in found}


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = RustCataloger().catalog(*image.build(RustCataloger()))
    return sorted(found, key=lambda p: (p.name, p.version)), found.warnings


def pe_names(data: bytes) -> list[bytes]:
    """The 8-byte name fields of a PE file's section table."""
    (at,) = struct.unpack_from("<I", data, 0x3C)
    (count,) = struct.unpack_from("<H", data, at + 6)
    (optional,) = struct.unpack_from("<H", data, at + 20)
    table = at + 24 + optional
    return [data[table + 40 * i : table + 40 * i + 8] for i in range(count)]


# --- the older names, in real programs ------------------------------------------------------


def test_an_elf_program_with_the_older_name(programs: dict[str, bytes]) -> None:
    assert b".dep-v0" not in programs["elf-old"]
    assert keys(programs["elf-old"]) == RUNTIME_CRATES
    assert keys(programs["elf-new"]) == RUNTIME_CRATES
    assert read_audit_info(programs["elf-plain"]) is None


def test_the_newer_name_is_read_when_a_program_has_both(programs: dict[str, bytes]) -> None:
    assert keys(programs["elf-both"]) == RUNTIME_CRATES


def test_windows_programs_with_the_older_names(programs: dict[str, bytes]) -> None:
    assert b"rdep-v0\x00" in pe_names(programs["pe-rdep"])
    assert keys(programs["pe-rdep"]) == RUNTIME_CRATES
    # binutils keeps the long name in the string table: the section table holds "/4".
    names = pe_names(programs["pe-long"])
    assert not any(name.startswith(b".rust-de") for name in names)
    assert any(name.startswith(b"/") for name in names)
    assert keys(programs["pe-long"]) == RUNTIME_CRATES
    assert keys(programs["pe-new"]) == RUNTIME_CRATES


def test_a_macos_program_with_the_older_name(programs: dict[str, bytes]) -> None:
    assert keys(programs["macho-old"]) == RUNTIME_CRATES


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("big_endian", [False, True])
def test_the_older_names_in_every_elf_and_mach_o_shape(wide: bool, big_endian: bool) -> None:
    old_elf = elf(
        [(b".text", b"\x90" * 16), (b".rust-deps-v0", SECTION)], wide=wide, big_endian=big_endian
    )
    assert keys(old_elf) == RUNTIME_CRATES
    old_macho = macho(
        [(b"__TEXT", b"__text", b"\x90" * 64), (b"__TEXT", b"rust-deps-v0", SECTION)],
        wide=wide,
        big_endian=big_endian,
    )
    assert keys(old_macho) == RUNTIME_CRATES


def test_the_most_preferred_name_a_file_has_decides() -> None:
    # ELF: whatever the order of the sections.
    for order in ([(b".rust-deps-v0", OTHER), (b".dep-v0", SECTION)], [(b".dep-v0", SECTION)]):
        assert keys(elf(order)) == RUNTIME_CRATES
    # The preferred section holding no bytes: the older one is not read instead.
    empty = elf([(b".rust-deps-v0", OTHER), (b".dep-v0", SECTION)], nobits=(b".dep-v0",))
    assert read_audit_info(empty) is None
    # Names that only start or end like one are not it.
    assert read_audit_info(elf([(b".rust-deps-v0.old", SECTION), (b"x.dep-v0", OTHER)])) is None
    # Mach-O: each architecture of a universal file by itself.
    both = macho([(b"__TEXT", b"rust-deps-v0", OTHER), (b"__DATA", b".dep-v0", SECTION)])
    assert keys(both) == RUNTIME_CRATES
    fat = universal(
        (CPU_ARM64, macho([(b"__TEXT", b"rust-deps-v0", OTHER)])),
        (CPU_X86_64, macho([(b"__DATA", b".dep-v0", SECTION)])),
    )
    assert keys(fat) == RUNTIME_CRATES | OTHER_CRATES
    # PE: ".dep-v0", then "rdep-v0", then ".rust-deps-v0".
    pe = build_pe([(b"rdep-v0", OTHER), (b".rust-deps-v0", OTHER), (b".dep-v0", SECTION)])
    assert keys(pe) == RUNTIME_CRATES
    pe = build_pe([(b".rust-deps-v0", SECTION), (b"rdep-v0", OTHER)])
    assert keys(pe) == OTHER_CRATES


def test_a_file_without_any_of_the_names_is_not_read_at_all() -> None:
    """Every name holds ``dep-v0`` or ``deps-v0``: a file holding neither is passed over
    before its headers are read, so a broken one is no warning."""
    broken = b"\x7fELF" + b"\xff" * 200
    assert read_audit_info(broken) is None
    with pytest.raises(RustMetadataError):
        read_audit_info(broken + b"deps-v0")


# --- Windows programs without an executable bit ---------------------------------------------


def test_windows_programs_are_claimed_by_name_whatever_their_mode() -> None:
    cataloger = RustCataloger()
    for path in ("/app/tool.exe", "/app/lib/zstd.dll", "/W/PROGRAM.EXE", "/w/Lib.Dll"):
        for mode in (0o644, 0o600, 0o755, 0o000):
            assert cataloger.claims(path, mode, 4096), (path, mode)
            assert claims.wanted(path, mode, 4096), (path, mode)
        assert not cataloger.claims(path, 0o644, claims.RUST_MIN_BINARY_BYTES - 1)
        assert not cataloger.claims(path, 0o644, claims.RUST_MAX_BINARY_BYTES + 1)
    for path in ("/app/tool.exe.txt", "/app/exe", "/app/.exe/x", "/app/toolexe", "/a/x.ex"):
        assert not cataloger.claims(path, 0o644, 4096), path
        assert not claims.wanted(path, 0o644, 4096), path
    # Other files without the bit are still not claimed.
    assert not cataloger.claims("/usr/bin/demo", 0o644, 4096)


def test_a_windows_program_without_the_bit_in_an_image(programs: dict[str, bytes]) -> None:
    image = Image().add("/opt/win/demo.exe", programs["pe-new"], mode=0o644)
    image.add("/opt/win/OLD.DLL", programs["pe-long"], mode=0o644, layer=1)
    found, warnings = catalog(image)
    assert warnings == []
    assert {(p.name, p.version) for p in found} == RUNTIME_CRATES
    assert {p.paths for p in found} == {("/opt/win/demo.exe",), ("/opt/win/OLD.DLL",)}


def test_a_windows_program_without_the_bit_in_a_scanned_layout(
    programs: dict[str, bytes], tmp_path: Path
) -> None:
    """Through the whole analysis, with the Rust cataloger alone and with every built-in
    one (whose claims are asked together): the layer walk keeps the file's bytes."""
    oci_layout(tmp_path, [layer([file("app/Demo.exe", programs["pe-new"], mode=0o644)])])
    for catalogers in ([RustCataloger()], None):
        packages = analyze(tmp_path, catalogers=catalogers).inventory.packages
        cargo = [p for p in packages if p.type == "cargo"]
        assert {(p.name, p.version) for p in cargo} == RUNTIME_CRATES
        assert {p.paths for p in cargo} == {("/app/Demo.exe",)}


# --- PE names in the COFF string table, written by hand -------------------------------------

COFF_AT = 0x40 + 4  # the COFF header, after the signature
SYMBOLS_AT = COFF_AT + 8  # PointerToSymbolTable
SYMBOLS = COFF_AT + 12  # NumberOfSymbols
TABLE_AT = COFF_AT + 20  # the section table (no optional header)


def build_pe(
    entries: list[tuple[bytes, bytes]], *, symbols: int = 0, extra_strings: bytes = b""
) -> bytes:
    """A PE file holding each ``(name, data)`` section; a name longer than 8 bytes is
    written as ``/`` and its offset in the string table, which follows ``symbols``
    symbol records after the sections' data (``extra_strings`` first in it)."""
    strings = b"" + extra_strings
    fields: list[bytes] = []
    for name, _ in entries:
        if len(name) > 8:
            fields.append(b"/%d" % (4 + len(strings)))
            strings += name + b"\x00"
        else:
            fields.append(name)
    header_end = TABLE_AT + 40 * len(entries)
    at = -(-header_end // 0x200) * 0x200
    table, body = b"", b""
    for field, (_, data) in zip(fields, entries, strict=True):
        padded = data.ljust(-(-len(data) // 0x200) * 0x200, b"\x00")
        raw_at = at + len(body)
        table += struct.pack(
            "<8sIIIIIIHHI", field, len(data), 0x1000, len(padded), raw_at, 0, 0, 0, 0, 0x40000040
        )
        body += padded
    symbols_at = at + len(body)
    coff = struct.pack("<HHIIIHH", 0x8664, len(entries), 0, symbols_at, symbols, 0, 0x22)
    head = b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"PE\x00\x00" + coff + table
    string_table = struct.pack("<I", 4 + len(strings)) + strings
    return head.ljust(at, b"\x00") + body + b"\x00" * (18 * symbols) + string_table


def _set(data: bytes, at: int, layout: str, *values: int) -> bytes:
    changed = bytearray(data)
    struct.pack_into(layout, changed, at, *values)
    return bytes(changed)


def _name(data: bytes, index: int, raw: bytes) -> bytes:
    """``data`` with section ``index``'s 8-byte name field set to ``raw``."""
    changed = bytearray(data)
    changed[TABLE_AT + 40 * index : TABLE_AT + 40 * index + 8] = raw.ljust(8, b"\x00")
    return bytes(changed)


LONG = build_pe(
    [(b".text", b"\x90" * 64), (b".debug_info", b"\x00" * 8), (b".rust-deps-v0", SECTION)]
)
STRINGS_AT = struct.unpack_from("<I", LONG, SYMBOLS_AT)[0]


def test_long_names_are_read_from_the_string_table() -> None:
    assert LONG[TABLE_AT + 80 : TABLE_AT + 88] == b"/16\x00\x00\x00\x00\x00"
    assert keys(LONG) == RUNTIME_CRATES
    # After symbol records: the table lies at PointerToSymbolTable + 18 * NumberOfSymbols.
    with_symbols = build_pe([(b".rust-deps-v0", SECTION)], symbols=5)
    assert keys(with_symbols) == RUNTIME_CRATES
    # One symbol fewer: the table is looked for among the (zeroed) symbol records.
    with pytest.raises(RustMetadataError, match="string table of 0 bytes"):
        read_audit_info(_set(with_symbols, SYMBOLS, "<I", 4))
    # Leading zeros, and the name last in the table.
    padded = _name(LONG, 2, b"/0000016")
    assert keys(padded) == RUNTIME_CRATES
    # A long name that only starts like the one looked for.
    other = build_pe([(b".rust-deps-v0.old", SECTION), (b".rust-deps-v", OTHER)])
    assert read_audit_info(other) is None


def test_the_string_table_is_read_only_when_a_long_name_is_needed() -> None:
    """A file with ``.dep-v0`` (or ``rdep-v0``) is read whatever its string table holds;
    so is a long name looked for when no section has a ``/`` name."""
    broken = build_pe([(b".debug_info", b"\x00" * 8), (b".dep-v0", SECTION)])
    broken = _set(broken, SYMBOLS_AT, "<I", 0xFFFF_FFFF)
    assert keys(broken) == RUNTIME_CRATES
    with pytest.raises(SectionError, match="/4 needs a string table the file lacks"):
        sections.pe_section(broken, (b".rust-deps-v0",), MAX_SECTION_BYTES)
    plain = _set(build_pe([(b".text", b"\x90"), (b"rdep-v0", SECTION)]), SYMBOLS_AT, "<I", 0)
    assert keys(plain) == RUNTIME_CRATES
    assert sections.pe_section(plain, (b".rust-deps-v0",), MAX_SECTION_BYTES) is None


@pytest.mark.parametrize(
    "raw", [b"/", b"//AAAAAA", b"/abc", b"/1\x002", b"/-4", b"/+16", b"/ 16", b"/\xd9\xa1"]
)
def test_slash_names_that_are_no_decimal_offset_are_not_the_name(raw: bytes) -> None:
    data = _name(LONG, 2, raw)
    assert read_audit_info(data) is None
    assert sections.pe_section(data, PE_SECTIONS, MAX_SECTION_BYTES) is None


def _strings_size(data: bytes, size: int) -> bytes:
    return _set(data, STRINGS_AT, "<I", size)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_set(LONG, SYMBOLS_AT, "<I", 0), "needs a string table the file lacks"),
        (_set(LONG, SYMBOLS_AT, "<I", len(LONG) - 3), "needs a string table the file lacks"),
        (_set(LONG, SYMBOLS_AT, "<I", 0xFFFF_FFFF), "needs a string table the file lacks"),
        (_set(LONG, SYMBOLS, "<I", 0xFFFF_FFFF), "needs a string table the file lacks"),
        (_set(LONG, SYMBOLS, "<I", 1), "lies outside the file|outside the string table"),
        (LONG[:-1], "string table of 30 bytes lies outside the file"),
        (_strings_size(LONG, 0), "string table of 0 bytes"),
        (_strings_size(LONG, 3), "string table of 3 bytes"),
        (_strings_size(LONG, 0xFFFF_FFFF), "string table of 4294967295 bytes"),
        (_strings_size(LONG, 20), "/16 does not end within the string table"),
        (_name(LONG, 2, b"/0"), "/0 lies outside the string table"),
        (_name(LONG, 2, b"/3"), "/3 lies outside the string table"),
        (_name(LONG, 2, b"/30"), "/30 lies outside the string table"),
        (_name(LONG, 2, b"/9999999"), "/9999999 lies outside the string table"),
        (_name(LONG, 1, b"/9999999"), "/9999999 lies outside the string table"),
    ],
)
def test_hostile_string_tables_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(RustMetadataError, match=reason):
        read_audit_info(data)
    with pytest.raises(SectionError, match=reason):
        sections.pe_section(data, (b".rust-deps-v0",), MAX_SECTION_BYTES)


def test_a_name_longer_than_the_limit_is_refused_not_scanned_for() -> None:
    long_name = b"." + b"x" * (MAX_PE_NAME_BYTES + 10)
    data = build_pe([(long_name, b"\x00"), (b".rust-deps-v0", SECTION)])
    with pytest.raises(RustMetadataError, match=f"within the string table and {MAX_PE_NAME_BYTES}"):
        read_audit_info(data)
    # One byte less than the limit, its NUL included, is a name.
    fits = build_pe([(b"." + b"x" * (MAX_PE_NAME_BYTES - 2), b"\x00"), (b".rust-deps-v0", SECTION)])
    assert keys(fits) == RUNTIME_CRATES


def test_every_truncation_of_a_long_named_program(programs: dict[str, bytes]) -> None:
    """Cut anywhere in the headers, the section or the string table: never another
    exception, never crates from a file that is not all there."""
    for data in (programs["pe-long"], LONG):
        section_at = data.index(SECTION)
        cuts = [
            *range(0, 0x400, 5),
            section_at + len(SECTION) // 2,
            *range(len(data) - 40, len(data)),
        ]
        for cut in cuts:
            try:
                found = read_audit_info(data[:cut])
            except RustMetadataError:
                continue
            assert found is None, cut


# --- fuzzed -----------------------------------------------------------------------------

SEEDS = {
    "long": LONG,
    "symbols": build_pe([(b".text", b"\x90" * 8), (b".rust-deps-v0", SECTION)], symbols=3),
    "many": build_pe(
        [(b".debug_%d_section" % i, b"\x00") for i in range(6)] + [(b".rust-deps-v0", SECTION)],
        extra_strings=b"junk\x00",
    ),
}
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = (b".dep-v0", b"rdep-v0", b".rust-deps-v0", b".debug_info")


def _survives(data: bytes) -> None:
    """Only the formats' own errors, and any bytes found lie in the file."""
    for names in (PE_SECTIONS, NAMES[2:], NAMES[3:]):
        try:
            found = sections.pe_section(data, names, MAX_SECTION_BYTES)
        except SectionError:
            continue
        assert found is None or found in data
    try:
        crates = read_audit_info(data)
    except RustMetadataError:
        return
    assert crates is None or all(isinstance(c.name, str) for c in crates)


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(st.tuples(st.integers(0, 0x300), st.binary(min_size=1, max_size=8)), max_size=6),
    tail_edits=st.lists(
        st.tuples(st.integers(1, 0x80), st.binary(min_size=1, max_size=4)), max_size=4
    ),
    cut=st.one_of(st.none(), st.integers(0, 0x1400)),
)
def test_mutated_long_named_files_never_raise_anything_else(
    seed: str, edits: list[tuple[int, bytes]], tail_edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    data = bytearray(SEEDS[seed])
    for at, value in edits:
        data[at : at + len(value)] = value
    for back, value in tail_edits:  # in the string table, counted from the end
        at = max(0, len(data) - back)
        data[at : at + len(value)] = value
    _survives(bytes(data[:cut] if cut is not None else data))


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    symbols_at=st.integers(0, 2**32 - 1),
    symbols=st.integers(0, 2**32 - 1),
    strings_size=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    raw=st.one_of(
        st.none(),
        st.builds(lambda n: b"/%d" % n, st.integers(0, 9_999_999)),
        st.binary(min_size=1, max_size=8).map(lambda b: b"/" + b[:7]),
    ),
)
def test_random_string_table_fields_never_raise_anything_else(
    seed: str, symbols_at: int, symbols: int, strings_size: int | None, raw: bytes | None
) -> None:
    """The fields the string table is found and read by, set to any value: near the
    real one, and anywhere."""
    data = SEEDS[seed]
    real, real_symbols = struct.unpack_from("<II", data, SYMBOLS_AT)
    strings_at = real + 18 * real_symbols
    for pointer in (symbols_at, real + symbols_at % 64 - 32):
        changed = _set(data, SYMBOLS_AT, "<II", max(0, pointer) & 0xFFFF_FFFF, symbols % 8)
        if strings_size is not None:
            changed = _set(changed, strings_at, "<I", strings_size)
        if raw is not None:
            (count,) = struct.unpack_from("<H", changed, COFF_AT + 2)
            changed = _name(changed, count - 1, raw)
        _survives(changed)
    _survives(_set(data, SYMBOLS, "<I", symbols))
