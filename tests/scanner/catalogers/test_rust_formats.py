"""The Rust cataloger on Windows (PE) and macOS (Mach-O) programs built with ``cargo
auditable``: real programs given a ``.dep-v0`` section, Mach-O files of every width and
byte order written from the format's layout, universal files, and headers built to hurt
(truncated, with huge counts, offsets past the end, sections past the limit), fuzzed."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.scanner.analyze import analyze
from portside.scanner.catalogers import sections
from portside.scanner.catalogers.rust import (
    MAX_AUDIT_JSON_BYTES,
    MAX_SECTION_BYTES,
    RustCataloger,
    RustMetadataError,
    read_audit_info,
)
from portside.scanner.model import Package
from tests.scanner.catalogers import rustelf, rustformats
from tests.scanner.catalogers.conftest import Image, layer_digest
from tests.scanner.catalogers.rustelf import AUDIT, RUNTIME_CRATES, compressed
from tests.scanner.catalogers.rustformats import (
    CPU_ARM64,
    CPU_I386,
    CPU_POWERPC,
    CPU_X86_64,
    auditable_macho,
    macho,
    universal,
)
from tests.scanner.images import file, layer, oci_layout

SECTION = compressed(AUDIT)


def crates_of(version: str) -> bytes:
    """The crate list of AUDIT with serde at ``version``."""
    changed = json.loads(json.dumps(AUDIT))
    changed["packages"][1]["version"] = version
    return compressed(changed)


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real programs: Windows x86-64 with the section added by objcopy, macOS arm64 with
    the section added to its __DATA segment."""
    work = tmp_path_factory.mktemp("rust-formats")
    try:
        return {
            "pe": rustformats.pe_binary(work, SECTION),
            "pe-plain": rustformats.go_program(work, "windows"),
            "macho": rustformats.with_macho_section(
                rustformats.go_program(work, "darwin", "arm64"), SECTION
            ),
            "macho-plain": rustformats.go_program(work, "darwin", "arm64"),
        }
    except rustelf.ToolMissing as error:
        pytest.fail(f"these tests need go and objcopy: {error}", pytrace=False)


def keys(data: bytes) -> set[tuple[str, str]]:
    found = read_audit_info(data)
    assert found is not None
    return {crate.key for crate in found}


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = RustCataloger().catalog(*image.build(RustCataloger()))
    return sorted(found, key=lambda p: (p.name, p.version)), found.warnings


# --- what is found --------------------------------------------------------------------------


def test_a_windows_program(programs: dict[str, bytes]) -> None:
    assert programs["pe"][:2] == b"MZ"
    assert keys(programs["pe"]) == RUNTIME_CRATES
    found, warnings = catalog(Image().add("/opt/win/demo.exe", programs["pe"], mode=0o755))
    assert warnings == []
    assert {(p.name, p.version) for p in found} == RUNTIME_CRATES
    assert {p.paths for p in found} == {("/opt/win/demo.exe",)}
    assert {p.layer for p in found} == {layer_digest(0)}


def test_a_macos_program(programs: dict[str, bytes]) -> None:
    assert programs["macho"][:4] == b"\xcf\xfa\xed\xfe"
    assert keys(programs["macho"]) == RUNTIME_CRATES
    found, warnings = catalog(Image().add("/opt/mac/demo", programs["macho"], mode=0o755))
    assert warnings == []
    assert {(p.name, p.version) for p in found} == RUNTIME_CRATES
    assert found[0].metadata["binary"] == "/opt/mac/demo"


def test_programs_without_the_section_are_not_rust_programs(programs: dict[str, bytes]) -> None:
    assert read_audit_info(programs["pe-plain"]) is None
    assert read_audit_info(programs["macho-plain"]) is None
    # The name somewhere in the file, but not as a section.
    assert read_audit_info(programs["pe-plain"] + b".dep-v0") is None
    assert read_audit_info(programs["macho-plain"] + b".dep-v0") is None
    # A DOS program: MZ and no PE signature where 0x3C points.
    dos = b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"NE\x00\x00" + b".dep-v0" * 200
    assert read_audit_info(dos) is None
    # A Java class file starts with the universal magic; its "architecture count" is the
    # class file's version.
    java = b"\xca\xfe\xba\xbe\x00\x00\x00\x3d" + b".dep-v0" * 200
    assert read_audit_info(java) is None


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("big_endian", [False, True])
def test_every_mach_o_width_and_byte_order(wide: bool, big_endian: bool) -> None:
    data = auditable_macho(SECTION, wide=wide, big_endian=big_endian)
    assert keys(data) == RUNTIME_CRATES


def test_the_section_in_any_segment_and_zero_fill_sections() -> None:
    other = macho([(b"__TEXT", b"__text", b"\x90" * 64), (b"__DATA_CONST", b".dep-v0", SECTION)])
    assert keys(other) == RUNTIME_CRATES
    empty = macho(
        [(b"__TEXT", b"__text", b"\x90" * 64), (b"__DATA", b".dep-v0", SECTION)],
        zerofill=(b".dep-v0",),
    )
    assert read_audit_info(empty) is None
    longer = macho([(b"__DATA", b".dep-v0.old", SECTION)])
    assert read_audit_info(longer) is None


@pytest.mark.parametrize("wide", [False, True])
def test_a_universal_file_lists_the_crates_of_every_architecture_once(wide: bool) -> None:
    fat = universal(
        (CPU_X86_64, auditable_macho(SECTION, cpu=CPU_X86_64)),
        (CPU_ARM64, auditable_macho(crates_of("1.0.200"))),
        (CPU_I386, auditable_macho(SECTION, wide=False, cpu=CPU_I386)),
        (CPU_POWERPC, macho([(b"__TEXT", b"__text", b"\x00" * 64)], big_endian=True)),
        wide=wide,
    )
    found = read_audit_info(fat)
    assert found is not None
    assert sorted(c.key for c in found) == sorted(RUNTIME_CRATES | {("serde", "1.0.200")})
    assert len(found) == len({c.key for c in found})


def test_each_crate_keeps_the_layer_that_introduced_it(tmp_path: Path) -> None:
    old = universal((CPU_ARM64, auditable_macho(SECTION)))
    new = universal((CPU_ARM64, auditable_macho(crates_of("1.0.200"))))
    base = layer([file("opt/mac/demo", old, mode=0o755)])
    rebuilt = layer([file("opt/mac/demo", new, mode=0o755)])
    oci_layout(tmp_path, [base, rebuilt])
    packages = analyze(tmp_path, catalogers=[RustCataloger()]).inventory.packages
    layers = {(p.name, p.version): p.layer for p in packages}
    assert layers[("serde", "1.0.200")] == rebuilt.digest
    assert layers[("libc", "0.2.153")] == base.digest
    assert ("serde", "1.0.197") not in layers


# --- hostile headers --------------------------------------------------------------------


def _pe(
    sections_table: list[tuple[bytes, int, int, int, int]], *, count: int | None = None
) -> bytes:
    """A PE file: a DOS header pointing at the signature, a COFF header with no
    optional header, the given ``(name, virtual size, raw size, raw offset, flags)``
    section headers and 4 KiB of section data."""
    table = b"".join(
        struct.pack("<8sIIIIIIHHI", name, virtual, 0x1000, raw, at, 0, 0, 0, 0, flags)
        for name, virtual, raw, at, flags in sections_table
    )
    number = len(sections_table) if count is None else count
    coff = struct.pack("<HHIIIHH", 0x8664, number, 0, 0, 0, 0, 0x22)
    head = b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"PE\x00\x00" + coff + table
    return head.ljust(0x400, b"\x00") + SECTION.ljust(0x1000, b"\x00")


def test_a_pe_file_written_by_hand() -> None:
    good = _pe([(b".text", 10, 0x200, 0x400, 0), (b".dep-v0", len(SECTION), 0x200, 0x400, 0)])
    assert keys(good) == RUNTIME_CRATES
    # Raw data padded to the file alignment, with no virtual size: the padding is read
    # and ignored after the zlib stream ends.
    assert keys(_pe([(b".dep-v0", 0, 0x200, 0x400, 0)])) == RUNTIME_CRATES
    assert read_audit_info(_pe([(b".dep-v0", 0x1000, 0, 0, 0x80)])) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_pe([(b".dep-v0", 0, 0x200, 0x400, 0)], count=0xFFFF), "table of 65535 sections"),
        (_pe([(b".dep-v0", 0, 0x200, 0x7FFF_FFFF, 0)]), "outside the file"),
        (_pe([(b".dep-v0", 0, 0xFFFF_FFFF, 0x400, 0)]), "bytes"),
        (_pe([(b".dep-v0", 0, MAX_SECTION_BYTES + 1, 0x400, 0)]), "bytes"),
        (b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0xFFFF_FFF0) + b".dep-v0", "outside"),
        (b"MZ.dep-v0", "DOS header"),
    ],
)
def test_hostile_pe_headers_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(RustMetadataError, match=reason):
        read_audit_info(data)


def _set(data: bytes, at: int, layout: str, *values: int) -> bytes:
    changed = bytearray(data)
    struct.pack_into(layout, changed, at, *values)
    return bytes(changed)


GOOD_MACHO = auditable_macho(SECTION)
# Where the fields lie in GOOD_MACHO (64-bit, little-endian): the header's ncmds and
# sizeofcmds; the first segment command (__TEXT, one section) and the second (__DATA).
NCMDS, SIZEOFCMDS = 16, 20
DATA_COMMAND = 32 + 72 + 80
DEP_SECTION = DATA_COMMAND + 72


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_set(GOOD_MACHO, NCMDS, "<I", 0xFFFF_FFFF), "load commands"),
        (_set(GOOD_MACHO, SIZEOFCMDS, "<I", 0x7FFF_FFFF), "outside the file"),
        (_set(GOOD_MACHO, NCMDS, "<I", 39), "39 load commands of 304 bytes"),
        (_set(GOOD_MACHO, 32 + 4, "<I", 0), "load command 0 of 0 bytes"),
        (_set(GOOD_MACHO, 32 + 4, "<I", 0xFFFF_FFF0), "load command 0"),
        (_set(GOOD_MACHO, DATA_COMMAND + 64, "<I", 0xFFFF_FFFF), "cannot hold"),
        (_set(GOOD_MACHO, DEP_SECTION + 48, "<I", 0xFFFF_FF00), "outside the file"),
        (_set(GOOD_MACHO, DEP_SECTION + 40, "<Q", 2**63), "bytes"),
        (_set(GOOD_MACHO, DEP_SECTION + 40, "<Q", MAX_SECTION_BYTES + 1), "bytes"),
        (universal((CPU_ARM64, GOOD_MACHO))[:8] + b".dep-v0", "outside the file"),
        (_set(universal((CPU_ARM64, GOOD_MACHO)), 8 + 8, ">I", 0xFFFF_0000), "outside"),
        (_set(universal((CPU_ARM64, GOOD_MACHO)), 8 + 12, ">I", 0xFFFF_0000), "outside"),
        (_set(universal((CPU_ARM64, GOOD_MACHO)), 8 + 8, ">I", 0), "outside"),
        (universal((CPU_ARM64, b"\x7fELF.dep-v0" + b"\x00" * 64)), "not a Mach-O"),
        (universal((CPU_ARM64, universal((CPU_ARM64, GOOD_MACHO)))), "not a Mach-O"),
    ],
)
def test_hostile_mach_o_headers_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(RustMetadataError, match=reason):
        read_audit_info(data)


def test_a_section_past_the_limit_is_refused_before_it_is_copied() -> None:
    big = macho([(b"__DATA", b".dep-v0", b"\x00" * (MAX_SECTION_BYTES + 1))])
    with pytest.raises(RustMetadataError, match=f"{MAX_SECTION_BYTES + 1} bytes"):
        read_audit_info(big)


@pytest.mark.parametrize("kind", ["pe", "macho"])
def test_every_truncation_is_refused_or_not_a_program(
    programs: dict[str, bytes], kind: str
) -> None:
    """Cut anywhere in the headers, or in the section: never another exception, and
    never crates from a section that is not all there."""
    data = programs[kind] if kind == "pe" else GOOD_MACHO
    section_at = data.index(SECTION)
    cuts = [*range(0, 0x800, 7), section_at, section_at + len(SECTION) // 2]
    for cut in cuts:
        try:
            found = read_audit_info(data[:cut])
        except RustMetadataError:
            continue
        assert found is None, cut


def test_a_hostile_program_in_an_image_is_a_warning_not_a_failed_scan() -> None:
    hostile = _set(GOOD_MACHO, NCMDS, "<I", 0xFFFF_FFFF)
    image = (
        Image()
        .add("/usr/bin/bad", hostile, mode=0o755)
        .add("/usr/bin/good", GOOD_MACHO, mode=0o755)
    )
    found, warnings = catalog(image)
    assert {(p.name, p.version) for p in found} == RUNTIME_CRATES
    (warning,) = warnings
    assert warning.startswith("/usr/bin/bad: ") and "load commands" in warning


def test_names_the_formats_cannot_hold_are_a_programming_error() -> None:
    for names in [(), (b"",), (b".dep\x00v0",)]:
        with pytest.raises(ValueError, match="without NULs"):
            sections.pe_section(b"MZ", names, 10)
    for names in [(), (b"",), (b"x" * 17,), (b".dep-v0", b"x" * 17)]:
        with pytest.raises(ValueError, match="1 to 16 bytes"):
            sections.macho_sections(b"\xcf\xfa\xed\xfe", names, 10)


# --- fuzzed -----------------------------------------------------------------------------


SEEDS = {
    "pe": _pe([(b".text", 10, 0x200, 0x400, 0), (b".dep-v0", len(SECTION), 0x200, 0x400, 0)]),
    "macho64": GOOD_MACHO,
    "macho32be": auditable_macho(SECTION, wide=False, big_endian=True),
    "fat": universal((CPU_ARM64, GOOD_MACHO)),
    "fat64": universal((CPU_ARM64, GOOD_MACHO), wide=True),
}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _survives(data: bytes) -> None:
    try:
        found = read_audit_info(data)
    except RustMetadataError:
        return
    assert found is None or all(isinstance(c.name, str) for c in found)


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(st.tuples(st.integers(0, 0x600), st.binary(min_size=1, max_size=8)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 0x4200)),
)
def test_mutated_headers_never_raise_anything_else(
    seed: str, edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    data = bytearray(SEEDS[seed])
    for at, value in edits:
        data[at : at + len(value)] = value
    _survives(bytes(data[:cut] if cut is not None else data))


@FUZZ
@given(
    magic=st.sampled_from(
        [b"MZ", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xce", b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"]
    ),
    body=st.binary(max_size=600),
)
def test_random_bytes_after_a_magic_number_never_raise_anything_else(
    magic: bytes, body: bytes
) -> None:
    _survives(magic + body + b".dep-v0")


@FUZZ
@given(words=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=120))
def test_random_header_words_never_raise_anything_else(words: list[int]) -> None:
    """Words are where counts, offsets and sizes lie: random ones reach the checks of
    every field more often than random bytes do."""
    body = struct.pack(f"<{len(words)}I", *words)
    for magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        _survives(magic + body + b".dep-v0")
    _survives(b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"PE\x00\x00" + body + b".dep-v0")


def test_the_zlib_stream_of_a_pe_section_is_read_as_for_elf() -> None:
    bad = _pe([(b".dep-v0", 20, 0x200, 0x400, 0)])  # the stream cut at 20 bytes
    with pytest.raises(RustMetadataError, match="truncated"):
        read_audit_info(bad)
    assert zlib.decompress(SECTION)


def test_the_architectures_of_a_universal_file_share_one_inflation_budget() -> None:
    """Each list alone is within the limit; together they are not: a file of many
    architectures cannot multiply the work."""
    big = {
        "packages": [{"name": f"c{i}", "version": "1.0.0", "pad": "x" * 600} for i in range(15_000)]
    }
    one = zlib.compress(json.dumps(big).encode())
    assert MAX_AUDIT_JSON_BYTES // 2 < len(zlib.decompress(one)) <= MAX_AUDIT_JSON_BYTES
    other = zlib.compress(json.dumps({**big, "extra": 1}).encode())
    assert read_audit_info(universal((CPU_ARM64, auditable_macho(one)))) is not None
    same_twice = universal((CPU_ARM64, auditable_macho(one)), (CPU_X86_64, auditable_macho(one)))
    assert read_audit_info(same_twice) is not None  # the same list is read once
    two = universal((CPU_ARM64, auditable_macho(one)), (CPU_X86_64, auditable_macho(other)))
    with pytest.raises(RustMetadataError, match="inflates past"):
        read_audit_info(two)
