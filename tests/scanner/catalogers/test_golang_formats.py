"""The Go cataloger on Windows (PE) and macOS (Mach-O) programs: real programs the
machine's Go cross-compiled (PE for amd64, 386 and arm64; Mach-O for amd64 and arm64) and
a universal file made from two of them, checked against what ``go version -m`` prints;
Mach-O files of every width and byte order and PE32 files written byte by byte, with the
build information of Go 1.18 and later (inline) and of older toolchains (pointers);
headers built to hurt (truncated at every point, offsets past the end), fuzzed; and
Syft 1.18.1 and Trivy 0.59.1 on an image holding the programs."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.scanner.analyze import analyze
from portside.scanner.catalogers import claims, sections
from portside.scanner.catalogers.golang import (
    BuildInfo,
    GoBuildInfoError,
    GoCataloger,
    read_build_info,
    read_build_infos,
)
from portside.scanner.model import Package
from tests.scanner import realimage
from tests.scanner.catalogers import goformats, rustelf
from tests.scanner.catalogers.conftest import Image, layer_digest
from tests.scanner.catalogers.goformats import (
    PE_BSS,
    PE_DATA,
    PE_IMAGE_BASE,
    PE_SECTION_RVA,
    PE_TEXT,
    inline_blob,
    module_info,
    pe32,
    pe_go_program,
    pointer_blob,
)
from tests.scanner.catalogers.rustformats import (
    CPU_ARM64,
    CPU_POWERPC,
    CPU_X86_64,
    macho,
    universal,
)
from tests.scanner.catalogers.test_golang import expected, go_version_m
from tests.scanner.images import file, layer, oci_layout
from tests.scanner.test_differential import (
    Key,
    _table,
    parse_syft,
    run_offline,
    syft_command,
    trivy_command,
)

# name: (GOOS, GOARCH, the number in its dependencies' versions, its path in the image)
TARGETS = {
    "pe-amd64": ("windows", "amd64", 1, "/opt/windows/app-pe-amd64.exe"),
    "pe-386": ("windows", "386", 2, "/opt/windows/app-pe-386.exe"),
    "pe-arm64": ("windows", "arm64", 3, "/opt/windows/bin/app-pe-arm64.EXE"),
    "macho-amd64": ("darwin", "amd64", 4, "/opt/macos/app-macho-amd64"),
    "macho-arm64": ("darwin", "arm64", 5, "/opt/macos/app-macho-arm64"),
}
UNIVERSAL = ("universal", 6, "/opt/macos/app-universal")


@dataclass
class Programs:
    work: Path
    data: dict[str, bytes]  # by name, the universal file's halves as universal-amd64/-arm64
    go_version: str

    def path(self, name: str) -> Path:
        found = self.work / f"{name}.bin"
        found.write_bytes(self.data[name])
        found.chmod(0o755)  # go version reads executables only
        return found


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Programs:
    work = tmp_path_factory.mktemp("go-formats")
    build = work / "build"
    try:
        data = {
            name: goformats.program(build, name, goos, goarch, number)
            for name, (goos, goarch, number, _) in TARGETS.items()
        }
        name, number, _ = UNIVERSAL
        for goarch in ("amd64", "arm64"):
            data[f"{name}-{goarch}"] = goformats.program(build, name, "darwin", goarch, number)
        version = goformats.go_version()
    except rustelf.ToolMissing as error:
        pytest.fail(f"these tests need go: {error}", pytrace=False)
    data[name] = universal((CPU_X86_64, data[f"{name}-amd64"]), (CPU_ARM64, data[f"{name}-arm64"]))
    return Programs(work, data, version)


def keys(infos: list[BuildInfo]) -> set[tuple[str, str]]:
    found = {("stdlib", info.go_version.removeprefix("go")) for info in infos}
    for info in infos:
        assert info.main is not None
        found.add((info.main.path, info.main.version))
        found |= {(dep.path, dep.version) for dep in info.deps}
    return found


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = GoCataloger().catalog(*image.build(GoCataloger()))
    return sorted(found, key=lambda p: (p.name, p.version)), found.warnings


# --- real programs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_real_program_reads_as_go_version_m_prints_it(programs: Programs, name: str) -> None:
    goos, goarch, number, path = TARGETS[name]
    data = programs.data[name]
    assert data[:2] == b"MZ" if goos == "windows" else data[:4] == b"\xcf\xfa\xed\xfe"
    info = read_build_info(data)
    assert info is not None
    assert info.go_version == programs.go_version
    assert info.path == f"example.com/app-{name}"
    assert info.main is not None and info.main.path == f"example.com/app-{name}"
    assert (info.settings["GOOS"], info.settings["GOARCH"]) == (goos, goarch)
    wanted = goformats.modules(name, number, programs.go_version)
    assert keys([info]) == wanted == expected(go_version_m(programs.path(name)))
    found, warnings = catalog(Image().add(path, data, layer=1, mode=0o755))
    assert warnings == []
    assert {(p.name, p.version) for p in found} == wanted
    assert {p.paths for p in found} == {(path,)}
    assert {p.layer for p in found} == {layer_digest(1)}
    by_name = {p.name: p for p in found}
    assert by_name[f"example.com/app-{name}"].metadata["main"] is True
    assert by_name["example.com/greet"].metadata["replaced_by"].endswith("/lib/greet")
    assert by_name["stdlib"].purl == f"pkg:golang/stdlib@{programs.go_version[2:]}"


def test_a_windows_program_without_an_executable_bit_is_read(programs: Programs) -> None:
    data = programs.data["pe-amd64"]
    for path in ("/srv/app.exe", "/srv/App.EXE", "/srv/plugin.dll"):
        assert GoCataloger().claims(path, 0o644, len(data))
        assert claims.wanted(path, 0o644, len(data))
        found, warnings = catalog(Image().add(path, data, mode=0o644))
        assert warnings == [] and len(found) == 4, path
    # Without the bit, only the Windows names: not any file, nor a tiny one.
    assert not GoCataloger().claims("/srv/app", 0o644, len(data))
    assert not GoCataloger().claims("/srv/app.exe.txt", 0o644, len(data))
    assert not GoCataloger().claims("/srv/app.exe", 0o644, 100)
    assert not claims.wanted("/srv/app", 0o644, len(data))
    found, _ = catalog(Image().add("/srv/app", data, mode=0o644))
    assert found == []


def test_a_universal_file_lists_the_modules_of_each_architecture_once(
    programs: Programs,
) -> None:
    name, number, path = UNIVERSAL
    infos = read_build_infos(programs.data[name])
    assert [info.settings["GOARCH"] for info in infos] == ["amd64", "arm64"]
    wanted = goformats.modules(name, number, programs.go_version)
    assert keys(infos) == wanted
    for wide in (False, True):
        data = universal(
            (CPU_X86_64, programs.data[f"{name}-amd64"]),
            (CPU_ARM64, programs.data[f"{name}-arm64"]),
            wide=wide,
        )
        found, warnings = catalog(Image().add(path, data, mode=0o755))
        assert warnings == []
        assert sorted((p.name, p.version) for p in found) == sorted(wanted)


def test_the_architectures_of_a_universal_file_may_differ(programs: Programs) -> None:
    """Each architecture's modules are reported: here two programs of different modules."""
    data = universal(
        (CPU_X86_64, programs.data["macho-amd64"]), (CPU_ARM64, programs.data["macho-arm64"])
    )
    found, warnings = catalog(Image().add("/opt/two", data, mode=0o755))
    assert warnings == []
    assert {(p.name, p.version) for p in found} == goformats.modules(
        "macho-amd64", 4, programs.go_version
    ) | goformats.modules("macho-arm64", 5, programs.go_version)
    # One architecture that is not Go: the other's modules alone.
    other = macho([(b"__TEXT", b"__text", b"\x00" * 64)])
    one = universal((CPU_POWERPC, other), (CPU_ARM64, programs.data["macho-arm64"]))
    assert keys(read_build_infos(one)) == goformats.modules("macho-arm64", 5, programs.go_version)


def test_each_module_keeps_the_layer_that_introduced_it(programs: Programs) -> None:
    before = programs.data["pe-amd64"]
    after = programs.data["pe-386"]  # the same stdlib, other modules
    image = Image().add("/app/app.exe", before, layer=0).add("/app/app.exe", after, layer=2)
    found, warnings = catalog(image)
    assert warnings == []
    layers = {p.name: p.layer for p in found}
    assert layers["stdlib"] == layer_digest(0)
    assert layers["example.com/app-pe-386"] == layer_digest(2)


def test_programs_that_are_not_go_are_not_read(programs: Programs) -> None:
    no_magic = macho([(b"__TEXT", b"__text", b"\x00" * 64)])
    assert read_build_infos(no_magic) == []
    # The magic in the file but not where Go looks: after the sections, or in code.
    assert read_build_infos(no_magic + goformats.MAGIC * 8) == []
    text_only = pe32([(b".text", PE_TEXT, inline_blob("go1.22.0", module_info("a", [])))])
    assert read_build_infos(text_only) == []
    dos = b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"NE\x00\x00" + goformats.MAGIC
    assert read_build_infos(dos) == []
    java = b"\xca\xfe\xba\xbe\x00\x00\x00\x3d" + goformats.MAGIC * 4
    assert read_build_infos(java) == []


# --- written by hand: every width, byte order and layout ---------------------------------

INFO = module_info("example.com/hand", [("example.com/dep", "v1.4.0")])
HAND = {("stdlib", "1.22.5"), ("example.com/hand", "(devel)"), ("example.com/dep", "v1.4.0")}


def _macho_go(
    blob_for: object,
    *,
    wide: bool = True,
    big_endian: bool = False,
    section: bytes = b"__go_buildinfo",
    cpu: int = CPU_ARM64,
) -> bytes:
    """A Mach-O program with code and the blob in ``__DATA,section``. ``blob_for`` is
    the blob, or a function of the section's address that makes it."""
    options = {"wide": wide, "big_endian": big_endian, "cpu": cpu}
    contents = [
        (b"__TEXT", b"__text", bytes(range(256)) * 4),
        (b"__DATA", b"__noptrdata", b"\x01" * 48),
        (b"__DATA", section, b"\x00" * 512),
    ]
    if callable(blob_for):
        draft = macho(contents, **options)  # type: ignore[arg-type]
        layouts = sections.macho_layouts(draft, (section,))
        assert layouts is not None
        (found,) = [s for segment in layouts[0].segments for s in segment.sections]
        blob = blob_for(found.address)
    else:
        assert isinstance(blob_for, bytes)
        blob = blob_for
    contents[2] = (b"__DATA", section, blob.ljust(512, b"\x00"))
    return macho(contents, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("layout", ["inline", "pointers"])
def test_every_mach_o_width_byte_order_and_layout(
    wide: bool, big_endian: bool, layout: str
) -> None:
    pointer = 8 if wide else 4
    if layout == "inline":
        blob: object = inline_blob("go1.22.5", INFO, pointer=pointer, big_endian=big_endian)
    else:

        def blob(address: int) -> bytes:
            return pointer_blob(address, "go1.22.5", INFO, pointer=pointer, big_endian=big_endian)

    data = _macho_go(blob, wide=wide, big_endian=big_endian)
    assert keys(read_build_infos(data)) == HAND
    found, warnings = catalog(Image().add("/usr/local/bin/hand", data, mode=0o755))
    assert warnings == [] and {(p.name, p.version) for p in found} == HAND


def _set(data: bytes, at: int, layout: str, *values: int) -> bytes:
    changed = bytearray(data)
    struct.pack_into(layout, changed, at, *values)
    return bytes(changed)


# Where the fields lie in _macho_go's 64-bit little-endian file: the __DATA segment
# command (after the header and the __TEXT command of one section) and its protections.
DATA_COMMAND = 32 + 72 + 80
MAX_PROTECTION, INITIAL_PROTECTION = DATA_COMMAND + 56, DATA_COMMAND + 60


def test_older_mach_o_files_are_read_from_the_writable_segment_or_data_section() -> None:
    """Without ``__go_buildinfo``, Go reads from the start of the first segment that is
    readable and writable (only); older toolchains' files have the blob in
    ``__DATA,__data``."""
    blob = inline_blob("go1.22.5", INFO)
    # The blob at the start of a read-write __DATA segment.
    first = macho(
        [(b"__TEXT", b"__text", b"\x00" * 64), (b"__DATA", b"__noptrdata", blob)], wide=True
    )
    assert read_build_infos(first) == []  # the segment is read-execute
    writable = _set(first, MAX_PROTECTION, "<ii", 3, 3)
    assert keys(read_build_infos(writable)) == HAND
    assert read_build_infos(_set(first, MAX_PROTECTION, "<ii", 7, 3)) == []
    # In __DATA,__data, whatever the protections.
    assert keys(read_build_infos(_macho_go(blob, section=b"__data"))) == HAND
    # Another segment's __data is not looked at.
    other = macho([(b"__TEXT", b"__text", b"\x00" * 64), (b"__OTHER", b"__data", blob)])
    assert read_build_infos(other) == []


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("layout", ["inline", "pointers"])
def test_pe_files_of_both_widths_and_layouts(wide: bool, layout: str) -> None:
    address = PE_IMAGE_BASE + PE_SECTION_RVA[".data"]
    pointer = 8 if wide else 4
    blob = (
        inline_blob("go1.22.5", INFO, pointer=pointer)
        if layout == "inline"
        else pointer_blob(address, "go1.22.5", INFO, pointer=pointer)
    )
    data = pe_go_program(blob, wide=wide)
    assert keys(read_build_infos(data)) == HAND
    found, warnings = catalog(Image().add("/app/hand.exe", data, mode=0o644))
    assert warnings == [] and {(p.name, p.version) for p in found} == HAND


def test_the_pe_data_section_is_the_first_of_initialised_writable_data() -> None:
    blob = inline_blob("go1.22.5", INFO)
    other = inline_blob("go1.21.0", module_info("example.com/other", []))
    # Read-only data, uninitialised data and code are passed over, even holding a blob.
    data = pe32(
        [
            (b".text", PE_TEXT, other),
            (b".rdata", 0x4000_0040, other),
            (b".bss", PE_BSS, b""),
            (b".data", PE_DATA, blob),
        ]
    )
    assert keys(read_build_infos(data)) == HAND
    # Alignment bits, as other linkers write them, do not matter; other flags do.
    assert keys(read_build_infos(pe32([(b".data", PE_DATA | 0x0060_0000, blob)]))) == HAND
    assert read_build_infos(pe32([(b".data", PE_DATA | 0x2000_0000, blob)])) == []
    # The first such section only: a second one is not searched.
    two = pe32([(b".rdata", PE_DATA, b"\x00" * 64), (b".data", PE_DATA, blob)])
    assert read_build_infos(two) == []


def test_the_header_must_be_16_byte_aligned_within_the_first_64_kib() -> None:
    blob = inline_blob("go1.22.5", INFO)
    assert read_build_infos(pe32([(b".data", PE_DATA, b"\x00" * 8 + blob)])) == []
    assert keys(read_build_infos(pe32([(b".data", PE_DATA, b"\x00" * 32 + blob)]))) == HAND
    far = pe32([(b".data", PE_DATA, b"\x00" * (64 * 1024) + blob)])
    assert read_build_infos(far) == []
    # A misaligned copy first does not hide an aligned one after it.
    both = pe32([(b".data", PE_DATA, b"\x00" * 8 + blob[:20] + b"\x00" * 4 + blob)])
    assert keys(read_build_infos(both)) == HAND


def test_a_module_information_past_64_kib_is_read_whole() -> None:
    deps = [(f"example.com/dep{i:05d}", "v1.0.0") for i in range(3000)]
    blob = inline_blob("go1.22.5", module_info("example.com/big", deps))
    assert len(blob) > 64 * 1024
    infos = read_build_infos(pe32([(b".data", PE_DATA, blob)]))
    assert len(infos[0].deps) == 3000


# --- hostile input ------------------------------------------------------------------------

SEEDS = {
    "pe32": pe_go_program(inline_blob("go1.22.5", INFO, pointer=4)),
    "pe32-pointers": pe_go_program(
        pointer_blob(PE_IMAGE_BASE + PE_SECTION_RVA[".data"], "go1.22.5", INFO, pointer=4)
    ),
    "pe32+": pe_go_program(inline_blob("go1.22.5", INFO), wide=True),
    "macho64": _macho_go(inline_blob("go1.22.5", INFO)),
    "macho32be-pointers": _macho_go(
        lambda address: pointer_blob(address, "go1.22.5", INFO, pointer=4, big_endian=True),
        wide=False,
        big_endian=True,
    ),
    "fat": universal((CPU_ARM64, _macho_go(inline_blob("go1.22.5", INFO)))),
    "fat64": universal((CPU_ARM64, _macho_go(inline_blob("go1.22.5", INFO))), wide=True),
}


def _survives(data: bytes) -> list[BuildInfo]:
    """Reading never raises anything but the cataloger's error, and the cataloger turns
    that into a warning."""
    try:
        found = read_build_infos(data)
    except GoBuildInfoError as error:
        assert str(error)
        found = []
    assert all(isinstance(info, BuildInfo) for info in found)
    return found


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_truncation_is_refused_or_not_a_program(seed: str) -> None:
    """Cut at every byte: the whole build information, or none of it."""
    data = SEEDS[seed]
    assert keys(_survives(data)) == HAND
    for cut in range(len(data)):
        found = _survives(data[:cut])
        assert found == [] or keys(found) == HAND, cut


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_real_programs_truncated_are_refused_or_not_programs(programs: Programs, name: str) -> None:
    data = programs.data[name]
    header = data.index(goformats.MAGIC)
    whole = keys(_survives(data))
    cuts = [*range(0, 0x1000, 3), *range(header - 64, header + 600), *range(0, len(data), 4093)]
    for cut in cuts:
        found = _survives(data[:cut])
        assert found == [] or keys(found) == whole, cut


# What a hostile file gives: an error whose message matches, nothing, or (for a size
# past the end, cut to the file) whatever the bytes that are there hold.
NOTHING, ANY = "", "*"


def _hostile() -> Iterator[tuple[str, bytes, str]]:
    pe, mac = SEEDS["pe32+"], SEEDS["macho64"]
    (pe_at,) = struct.unpack_from("<I", pe, 0x3C)
    table = pe_at + 24 + 240
    data_header = table + 2 * 40  # .text, .rdata, then .data
    header = pe.index(goformats.MAGIC)
    yield "pe data past the end", _set(pe, data_header + 20, "<I", 0x7FFF_0000), NOTHING
    yield "pe data size past the end", _set(pe, data_header + 16, "<I", 0xFFFF_FFF0), ANY
    yield "pe table past the end", _set(pe, pe_at + 6, "<H", 0xFFFF), "sections"
    yield "pe signature past the end", _set(pe, 0x3C, "<I", 0xFFFF_FFF0), "outside"
    yield "pe optional header past the end", _set(pe, pe_at + 20, "<H", 0xFFFF), "sections"
    yield "inline string past the end", _set(pe, header + 32, "<I", 0x03AB9FC0), "outside"
    yield (
        "inline string too long",
        _set(pe, header + 32, "<5B", 0xFF, 0xFF, 0xFF, 0xFF, 7),
        ("string of"),
    )
    yield "overlong varint", pe[: header + 32] + b"\xff" * 11 + pe[header + 43 :], "varint"
    pointers = SEEDS["pe32-pointers"]
    at = pointers.index(goformats.MAGIC)
    yield "pointer outside", _set(pointers, at + 16, "<I", 0xDEAD_0000), "no loaded segment"
    yield "pointer size", _set(pointers, at + 14, "<B", 3), "pointer size"
    string_header = at + 32
    yield "string length", _set(pointers, string_header + 4, "<I", 0xFFFF_FFF0), "string of"
    yield "string outside", _set(pointers, string_header, "<I", 0x10), "no loaded segment"
    # Mach-O: the segment's offset and size, the command counts.
    yield "macho segment past the end", _set(mac, DATA_COMMAND + 40, "<Q", 1 << 40), NOTHING
    yield "macho segment size", _set(mac, DATA_COMMAND + 48, "<Q", 1 << 62), ANY
    yield "macho commands", _set(mac, 16, "<I", 0xFFFF_FFFF), "load commands"
    yield "macho command size", _set(mac, 32 + 4, "<I", 0), "load command 0"
    yield "macho sections", _set(mac, DATA_COMMAND + 64, "<I", 0xFFFF_FFFF), "cannot hold"
    fat = SEEDS["fat"]
    yield "fat offset", _set(fat, 8 + 8, ">I", 0xFFFF_0000), "outside"
    yield "fat not macho", universal((CPU_ARM64, b"\x7fELF" + goformats.MAGIC * 4)), "not a Mach-O"


@pytest.mark.parametrize(
    ("data", "reason"), [(d, r) for _, d, r in _hostile()], ids=[n for n, _, _ in _hostile()]
)
def test_hostile_programs_are_refused_or_not_programs(data: bytes, reason: str) -> None:
    if reason == ANY:
        found = _survives(data)
        assert found == [] or keys(found) == HAND
    elif reason == NOTHING:
        assert _survives(data) == []
    else:
        with pytest.raises(GoBuildInfoError, match=reason):
            read_build_infos(data)
        packages, warnings = catalog(Image().add("/bin/bad.exe", data, mode=0o755))
        assert packages == [] and len(warnings) == 1
        assert warnings[0].startswith("/bin/bad.exe: ")


def test_a_hostile_program_in_an_image_is_a_warning_not_a_failed_scan() -> None:
    hostile = _set(SEEDS["macho64"], 16, "<I", 0xFFFF_FFFF)
    image = (
        Image()
        .add("/usr/bin/bad", hostile, mode=0o755)
        .add("/usr/bin/good", SEEDS["macho64"], mode=0o755)
    )
    found, warnings = catalog(image)
    assert {(p.name, p.version) for p in found} == HAND
    (warning,) = warnings
    assert warning.startswith("/usr/bin/bad: unreadable Mach-O headers: ")


def test_the_layouts_cut_every_span_to_the_file() -> None:
    pe = SEEDS["pe32+"]
    for cut in range(0, len(pe), 5):
        try:
            layout = sections.pe_layout(pe[:cut])
        except sections.SectionError:
            continue
        for section in layout.sections if layout else ():
            assert section.size == 0 or section.offset + section.size <= cut
    fat = SEEDS["fat"]
    for cut in range(0, len(fat), 5):
        try:
            layouts = sections.macho_layouts(fat[:cut], (b"__go_buildinfo",))
        except sections.SectionError:
            continue
        for architecture in layouts or ():
            assert architecture.end <= cut
            for segment in architecture.segments:
                assert architecture.start <= segment.offset or segment.size == 0
                assert segment.offset + segment.size <= architecture.end or segment.size == 0


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(st.tuples(st.integers(0, 0x800), st.binary(min_size=1, max_size=8)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 0x5000)),
)
def test_mutated_programs_never_raise_anything_else(
    seed: str, edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    data = bytearray(SEEDS[seed])
    for at, value in edits:
        data[at : at + len(value)] = value
    _survives(bytes(data[:cut] if cut is not None else data))


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    edits=st.lists(st.tuples(st.integers(0, 0x40), st.binary(min_size=1, max_size=4)), max_size=4),
)
def test_mutated_build_information_never_raises_anything_else(
    seed: str, edits: list[tuple[int, bytes]]
) -> None:
    data = bytearray(SEEDS[seed])
    header = data.index(goformats.MAGIC)
    for at, value in edits:
        data[header + at : header + at + len(value)] = value
    _survives(bytes(data))


@FUZZ
@given(words=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=120))
def test_random_header_words_never_raise_anything_else(words: list[int]) -> None:
    body = struct.pack(f"<{len(words)}I", *words)
    blob = inline_blob("go1.22.5", INFO)
    for magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        _survives(magic + body + blob)
    _survives(b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"PE\x00\x00" + body + blob)


# --- against Syft and Trivy ---------------------------------------------------------------

ALL_PATHS = {**{name: target[3] for name, target in TARGETS.items()}, UNIVERSAL[0]: UNIVERSAL[2]}
# A copy of the amd64 Windows program without an executable bit, as images often hold one.
NO_BIT = "/opt/windows/plain/app-pe-amd64.exe"


def _go_key(name: str, version: str) -> Key:
    """The tools' version texts made one: Syft writes the toolchain as ``go1.22.5``,
    Trivy as ``v1.22.5``; a main module built from a work tree has the version
    ``(devel)`` in Syft and Portside, none in Trivy."""
    if name == "stdlib":
        version = version.removeprefix("go").removeprefix("v")
    return ("golang", name, "" if version == "(devel)" else version)


def _trivy_go(report: bytes, diff_ids: tuple[str, ...]) -> dict[Key, set[str]]:
    """The Go modules of a Trivy report and the files each is in. Trivy lists a main
    module without a version, which the shared reader does not take."""
    found: dict[Key, set[str]] = {}
    for result in json.loads(report).get("Results") or []:
        if result.get("Type") != "gobinary":
            continue
        for item in result.get("Packages") or []:
            assert item["Layer"]["DiffID"] == diff_ids[1], item
            key = _go_key(item["Name"], item.get("Version") or "")
            found.setdefault(key, set()).add("/" + result["Target"].lstrip("/"))
    return found


@dataclass
class GoScans:
    reports: dict[str, dict[Key, set[str]]]  # tool: module: the files it was found in
    replaced: dict[str, Key]  # a directory a module was replaced by: Portside's key


@pytest.fixture(scope="module")
def scans(programs: Programs, tmp_path_factory: pytest.TempPathFactory) -> GoScans:
    scratch = tmp_path_factory.mktemp("go-formats-tools")
    members = [
        file(path.lstrip("/"), programs.data[name], mode=0o755) for name, path in ALL_PATHS.items()
    ]
    members.append(file(NO_BIT.lstrip("/"), programs.data["pe-amd64"], mode=0o644))
    layers = [
        layer([file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n')], created_by="base"),
        layer(members, created_by="COPY programs /"),
    ]
    image = scratch / "image"
    oci_layout(image, layers)
    diff_ids = tuple(x.diff_id for x in layers)
    reports: dict[str, dict[Key, set[str]]] = {}
    replaced: dict[str, Key] = {}
    analysis = analyze(image)
    found: dict[Key, set[str]] = {}
    for package in analysis.inventory.packages:
        if package.type != "golang":
            continue
        assert package.layer == analysis.inventory.layers[1].digest, package
        key = _go_key(package.name, package.version)
        found.setdefault(key, set()).update(package.paths)
        directory = package.metadata.get("replaced_by")
        if isinstance(directory, str):
            replaced[directory] = key
    reports["portside"] = found
    syft_out, trivy_out = scratch / "syft.json", scratch / "trivy.json"
    try:
        run_offline(
            syft_command(f"oci-dir:{image}", syft_out),
            env={"SYFT_CHECK_FOR_APP_UPDATE": "false", "XDG_CACHE_HOME": str(scratch / "sc")},
            what="syft on the Go programs",
        )
        run_offline(
            trivy_command(image, trivy_out, scratch / "trivy-cache"),
            env={"TRIVY_DISABLE_VEX_NOTICE": "true"},
            what="trivy on the Go programs",
        )
    except realimage.RealImageError as error:
        pytest.fail(str(error), pytrace=False)
    syft: dict[Key, set[str]] = {}
    for item in parse_syft(syft_out.read_bytes(), diff_ids):
        if item.type == "golang":
            assert item.layer == 1, item
            syft.setdefault(_go_key(item.name, item.version), set()).add(item.path)
    reports["syft"] = syft
    reports["trivy"] = _trivy_go(trivy_out.read_bytes(), diff_ids)
    return GoScans(reports, replaced)


def _as_portside(key: Key, replaced: dict[str, Key]) -> Key:
    """Syft and Trivy name a module replaced by a local directory by the directory, with
    no version; Portside keeps the module's path and version (what vulnerability
    databases know it by) and records the directory."""
    return replaced.get(key[1], key)


def test_every_go_module_syft_and_trivy_both_list_portside_lists(
    scans: GoScans, programs: Programs
) -> None:
    syft, trivy, portside = (scans.reports[tool] for tool in ("syft", "trivy", "portside"))
    both = set(syft) & set(trivy)
    stdlib = _go_key("stdlib", programs.go_version)
    assert stdlib in both
    assert {_go_key(f"example.com/app-{name}", "(devel)") for name in ALL_PATHS} <= both
    assert len(both) >= len(ALL_PATHS) + 3, f"the tools agree on too little: {sorted(both)}"
    missing = {
        key: frozenset({"syft", "trivy"})
        for key in both
        if _as_portside(key, scans.replaced) not in portside
    }
    assert not missing, "Syft and Trivy list, Portside does not:\n" + _table(missing.items())


def test_each_tool_finds_each_program_in_its_file(scans: GoScans) -> None:
    """Every program, the universal file and the copy without an executable bit, in
    all three tools, from the file it is in."""
    for name, path in ALL_PATHS.items():
        main = _go_key(f"example.com/app-{name}", "(devel)")
        for tool, report in scans.reports.items():
            wanted = {path, NO_BIT} if name == "pe-amd64" else {path}
            assert report.get(main) == wanted, (tool, name, report.get(main))


def test_portside_lists_the_replaced_modules_by_their_own_path_and_version(
    scans: GoScans,
) -> None:
    portside = scans.reports["portside"]
    for name, (_, _, number, path) in {**TARGETS, UNIVERSAL[0]: ("", "", *UNIVERSAL[1:])}.items():
        paths = {path, NO_BIT} if name == "pe-amd64" else {path}
        assert portside[("golang", "example.com/greet", f"v1.2.{number}")] == paths, name
        assert portside[("golang", "example.com/colour", f"v0.{number}.0")] == paths, name
    directories = {key[1] for tool in ("syft", "trivy") for key in scans.reports[tool]}
    assert {d for d in directories if d.endswith(("/lib/greet", "/lib/colour"))} == set(
        scans.replaced
    )
