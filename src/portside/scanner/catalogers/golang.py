"""Go programs: the modules compiled into an executable, read from the build information
the Go linker embeds in every binary (``go version -m`` prints the same).

The build information is a 32-byte header, 16-byte aligned within the first 64 KiB of
where Go's ``debug/buildinfo`` looks for it:

- ELF (Linux): the section ``.go.buildinfo`` (or, for binaries without section headers,
  the start of the first writable ``PT_LOAD`` segment);
- PE (Windows, PE32 and PE32+): the first section of initialised, readable and writable
  data and nothing else (``.data``), whatever alignment bits it carries;
- Mach-O (macOS, either width and byte order): the section ``__go_buildinfo``, else the
  start of the first segment with an address, bytes in the file and both protections
  read-write (``__DATA``), else the section ``__DATA,__data``; a universal file is read
  once per architecture, and the modules of all its architectures are reported, each
  once.

The PE and Mach-O headers are read by ``sections.py``, which checks every count, offset
and size. The header starts with the magic ``\\xff Go buildinf:``, then one byte of
pointer size and one of flags: bit 0 means big-endian, bit 1 means the strings follow the
header inline (Go 1.18 and later), each as a varint length and its bytes. Older binaries
store instead two pointers to Go string headers (data pointer, length): virtual
addresses, mapped to the file through the ELF program headers, the PE sections (after
the image base) or the Mach-O segments (but ``__PAGEZERO``). The second string, the module
information, is framed by 16 bytes on each side and lists, one per line and tab-separated,
``path`` (the main package), ``mod`` (the main module), ``dep`` (each dependency),
``=>`` (the replacement of the line above) and ``build`` settings.

Reported: the main module, each dependency, and the Go standard library as
``pkg:golang/stdlib@1.22.5`` (the toolchain version without its ``go`` prefix, as
vulnerability databases key it). A dependency replaced by another module is reported as
that module (its code is what was compiled), with the original in ``metadata["replaces"]``;
one replaced by a local directory keeps its own path and version, with the directory in
``metadata["replaced_by"]``.

Only the headers and the few bytes the build information points to are read: never the
whole file, and nothing of a file without the magic. Hostile input: ``read_build_infos``
raises ``GoBuildInfoError`` (a ``PackageDatabaseError``, so a ``ScanError``) for a binary
that carries the magic but cannot be decoded (headers that cannot be followed, truncated,
pointing outside the file or the architecture's bytes, oversized strings); an executable
of another format, or not Go, is simply not a Go binary. ``catalog`` never raises:
it skips the file and returns a ``Findings`` list whose ``warnings`` name it and the
reason.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from typing import NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced, sections
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

MAX_BINARY_BYTES = claims.GO_MAX_BINARY_BYTES
MIN_BINARY_BYTES = claims.GO_MIN_BINARY_BYTES
MAGIC = b"\xff Go buildinf:"
HEADER_BYTES = 32
# The linker puts the header at the start of the data it searches; Go reads 64 KiB.
SEARCH_BYTES = 64 * 1024
MAX_STRING_BYTES = 8 * 1024 * 1024
MAX_MODULE_LINES = 100_000
_FRAMING = 16


class GoBuildInfoError(PackageDatabaseError):
    """A Go binary whose embedded build information cannot be decoded."""


# Named tuples, not frozen dataclasses: this module is loaded by every scan of an image
# with executables, and a named tuple costs a tenth as much to define.


class Module(NamedTuple):
    path: str
    version: str
    sum: str = ""
    replace: Module | None = None


class BuildInfo(NamedTuple):
    go_version: str
    path: str
    main: Module | None
    deps: tuple[Module, ...]
    settings: dict[str, str]


class _Image:
    """Reads of one program's bytes by file offset or virtual address, bounded by the
    program's bytes (an architecture's, in a universal file). ``loads`` are its mapped
    ranges, ``(address, file offset, bytes in the file)``; ``areas`` are where the header
    is looked for, ``(file offset, bytes)``, in order, each already cut to 64 KiB."""

    def __init__(
        self,
        data: bytes,
        loads: list[tuple[int, int, int]],
        areas: list[tuple[int, int]],
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self.data = memoryview(data)
        self.loads = loads
        self.areas = areas
        self.start = start
        self.end = len(data) if end is None else end

    def at_offset(self, offset: int, size: int) -> bytes:
        if offset < self.start or size < 0 or offset + size > self.end:
            raise GoBuildInfoError(f"{size} bytes at offset {offset} lie outside the file")
        return bytes(self.data[offset : offset + size])

    def at_address(self, address: int, size: int) -> bytes:
        for vaddr, offset, filesz in self.loads:
            if vaddr <= address and address + size <= vaddr + filesz:
                return self.at_offset(offset + address - vaddr, size)
        raise GoBuildInfoError(f"address {address:#x} (+{size}) is in no loaded segment")

    def area_at(self, address: int) -> tuple[int, int] | None:
        """The bytes from ``address`` to the end of the range that maps it, at most 64
        KiB, as Go reads them: ``(file offset, bytes)``."""
        for vaddr, offset, filesz in self.loads:
            if vaddr <= address < vaddr + filesz:
                return offset + address - vaddr, min(vaddr + filesz - address, SEARCH_BYTES)
        return None


def _elf_image(data: bytes) -> _Image:
    # pyelftools loads in tens of milliseconds, and only a file that carries the Go
    # build information marker gets here: most images never need it.
    from elftools.common.exceptions import ELFError
    from elftools.construct.core import ConstructError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        loads = [
            (seg["p_vaddr"], seg["p_offset"], seg["p_filesz"], seg["p_flags"])
            for seg in elf.iter_segments()
            if seg["p_type"] == "PT_LOAD"
        ]
        section = elf.get_section_by_name(".go.buildinfo")
        buildinfo = (
            (section["sh_offset"], section["sh_size"])
            if section is not None and section["sh_type"] != "SHT_NOBITS"
            else None
        )
    except (
        ELFError,
        ConstructError,
        struct.error,
        ValueError,
        IndexError,
        KeyError,
        OverflowError,
        TypeError,
    ) as e:
        raise GoBuildInfoError(f"unreadable ELF headers: {e}") from e
    areas: list[tuple[int, int]] = []
    if buildinfo is not None:
        areas.append((buildinfo[0], min(buildinfo[1], SEARCH_BYTES)))
    else:
        for _vaddr, offset, filesz, flags in loads:
            if flags & 0x2 and filesz > 0:  # PF_W: the first writable segment
                areas.append((offset, min(filesz, SEARCH_BYTES, max(len(data) - offset, 0))))
                break
    return _Image(data, [(v, o, f) for v, o, f, _ in loads], areas)


# A PE data section: initialised data, readable and writable, and nothing else but its
# alignment (bits 20 to 23, which linkers other than Go's write in executables too).
_PE_DATA = 0x40 | 0x4000_0000 | 0x8000_0000
_PE_ALIGNMENT = 0x00F0_0000


def _pe_image(data: bytes) -> _Image | None:
    """Go looks in the first section of initialised, writable data (``.data``) that has
    an address and bytes in the file; addresses are the image base plus a section's
    relative address."""
    try:
        layout = sections.pe_layout(data)
    except sections.SectionError as e:
        raise GoBuildInfoError(f"unreadable PE headers: {e}") from e
    if layout is None:
        return None
    loads = [(layout.image_base + s.address, s.offset, s.size) for s in layout.sections]
    areas = [
        (s.offset, min(s.size, SEARCH_BYTES))
        for s in layout.sections
        if s.address and s.size and s.characteristics & ~_PE_ALIGNMENT == _PE_DATA
    ]
    return _Image(data, loads, areas[:1])


_MACHO_SECTIONS = (b"__go_buildinfo", b"__data")
_READ_WRITE = 3


def _macho_images(data: bytes) -> list[_Image] | None:
    """One image per architecture. Go looks at the address of the section
    ``__go_buildinfo`` (Go 1.18 and later), else at the start of the first writable
    segment with an address and bytes in the file (``__DATA``); older toolchains' files
    are also looked at from ``__DATA,__data``. Addresses map through the segments, but
    ``__PAGEZERO``."""
    try:
        layouts = sections.macho_layouts(data, _MACHO_SECTIONS)
    except sections.SectionError as e:
        raise GoBuildInfoError(f"unreadable Mach-O headers: {e}") from e
    if layouts is None:
        return None
    images = []
    for layout in layouts:
        segments = layout.segments
        loads = [(s.address, s.offset, s.size) for s in segments if s.name != b"__PAGEZERO"]
        listed = [section for segment in segments for section in segment.sections]
        starts = [s.address for s in listed if s.name == b"__go_buildinfo"][:1]
        if not starts:
            writable = [
                s.address
                for s in segments
                if s.address
                and s.size
                and s.max_protection == _READ_WRITE
                and s.initial_protection == _READ_WRITE
            ]
            data_sections = [
                s.address for s in listed if s.name == b"__data" and s.segment == b"__DATA"
            ]
            starts = writable[:1] + data_sections[:1]
        image = _Image(data, loads, [], layout.start, layout.end)
        image.areas = [area for area in map(image.area_at, starts) if area is not None]
        images.append(image)
    return images


def _header(area: bytes) -> int:
    """Where the 16-byte aligned header starts in ``area``, or -1."""
    start = area.find(MAGIC)
    while start >= 0:
        if start % 16 == 0:
            return start if len(area) - start >= HEADER_BYTES else -1
        start = area.find(MAGIC, start + 1)
    return -1


def _uvarint(data: bytes, start: int) -> tuple[int, int]:
    """An unsigned LEB128 varint at ``start``: its value and the offset after it."""
    value = shift = 0
    for position in range(start, min(start + 10, len(data))):
        byte = data[position]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position + 1
        shift += 7
    raise GoBuildInfoError("truncated or overlong varint in the build information")


def _inline_strings(image: _Image, header_offset: int) -> tuple[str, str]:
    """Go 1.18+: two varint-prefixed strings right after the header. They may run past
    the 64 KiB searched, so they are read from the file itself."""
    position = header_offset + HEADER_BYTES
    found: list[str] = []
    for _ in range(2):
        prefix = image.at_offset(position, max(min(10, image.end - position), 0))
        length, used = _uvarint(prefix, 0)
        if length > MAX_STRING_BYTES:
            raise GoBuildInfoError(f"build information string of {length} bytes")
        found.append(image.at_offset(position + used, length).decode("utf-8", "replace"))
        position += used + length
    return found[0], found[1]


def _pointed_strings(image: _Image, header: bytes) -> tuple[str, str]:
    """Before Go 1.18: two pointers to Go string headers (data pointer, length)."""
    size = header[14]
    if size not in (4, 8):
        raise GoBuildInfoError(f"pointer size {size} is neither 4 nor 8")
    order = ">" if header[15] & 1 else "<"
    word = order + ("I" if size == 4 else "Q")
    found: list[str] = []
    for slot in (16, 16 + size):
        (address,) = struct.unpack_from(word, header, slot)
        string_header = image.at_address(address, 2 * size)
        pointer, length = struct.unpack(order + word[1] * 2, string_header)
        if length > MAX_STRING_BYTES:
            raise GoBuildInfoError(f"build information string of {length} bytes")
        found.append(image.at_address(pointer, length).decode("utf-8", "replace"))
    return found[0], found[1]


# Control characters cannot be stored as text; the Go toolchain never writes them here.
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _fields(line: str) -> list[str]:
    return _UNSTORABLE.sub("", line).split("\t")


def parse_module_info(go_version: str, text: str) -> BuildInfo:
    """The ``path``/``mod``/``dep``/``=>``/``build`` lines of the module information."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: dict[str, str] = {}
    last: str = ""
    lines = text.split("\n")
    if len(lines) > MAX_MODULE_LINES:
        raise GoBuildInfoError(f"module information has more than {MAX_MODULE_LINES} lines")
    for line in lines:
        parts = _fields(line)
        kind = parts[0]
        if kind == "path" and len(parts) >= 2:
            path = parts[1]
        elif kind in ("mod", "dep") and len(parts) >= 3 and parts[1]:
            module = Module(parts[1], parts[2], parts[3] if len(parts) > 3 else "")
            if kind == "mod":
                main = module
            else:
                deps.append(module)
            last = kind
        elif kind == "=>" and len(parts) >= 2 and parts[1] and last:
            replacement = Module(
                parts[1], parts[2] if len(parts) > 2 else "", parts[3] if len(parts) > 3 else ""
            )
            if last == "mod" and main is not None:
                main = Module(main.path, main.version, main.sum, replacement)
            elif deps:
                deps[-1] = Module(deps[-1].path, deps[-1].version, deps[-1].sum, replacement)
            last = ""
        elif kind == "build" and len(parts) >= 2:
            key, _, value = parts[1].partition("=")
            settings[key] = value
    return BuildInfo(go_version, path, main, tuple(deps), settings)


def read_build_infos(data: bytes) -> list[BuildInfo]:
    """The build information of a Go program: one for an ELF, PE or single-architecture
    Mach-O program, one per Go architecture of a universal Mach-O file; none for
    anything else."""
    if MAGIC not in data:
        # Every Go binary carries the build-information magic; parsing the headers of the
        # hundreds of other executables in an image is what a scan would spend most on.
        return []
    images: list[_Image] | None
    if data[:4] == b"\x7fELF":
        images = [_elf_image(data)]
    elif sections.is_pe(data):
        image = _pe_image(data)
        images = None if image is None else [image]
    elif sections.is_macho(data):
        images = _macho_images(data)
    else:
        return []
    return [info for info in map(_decode, images or ()) if info is not None]


def read_build_info(data: bytes) -> BuildInfo | None:
    """The build information of a Go program (a universal file's first architecture
    that has one); None for anything else."""
    found = read_build_infos(data)
    return found[0] if found else None


def _decode(image: _Image) -> BuildInfo | None:
    for area_offset, size in image.areas:
        area = image.at_offset(area_offset, size)
        start = _header(area)
        if start >= 0:
            break
    else:
        return None
    header = area[start : start + HEADER_BYTES]
    if header[15] & 2:
        version, modinfo = _inline_strings(image, area_offset + start)
    else:
        version, modinfo = _pointed_strings(image, header)
    if not version:
        raise GoBuildInfoError("the build information names no Go version")
    if len(modinfo) >= 2 * _FRAMING + 1 and modinfo[-_FRAMING - 1] == "\n":
        modinfo = modinfo[_FRAMING:-_FRAMING]
    else:
        modinfo = ""  # built outside module mode: only the toolchain is known
    return parse_module_info(version, modinfo)


def _purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return purls.build(
        type="golang", namespace=namespace or None, name=name, version=version or None
    )


def _local(path: str) -> bool:
    """Go's rule for a replacement that is a directory rather than a module path."""
    return path.startswith(("./", "../", "/")) or path in (".", "..")


def _stdlib_version(go_version: str) -> str:
    word = go_version.split()[0] if go_version.split() else go_version
    return word[2:] if word.startswith("go") else word


class _Found(NamedTuple):
    name: str
    version: str
    metadata: dict[str, object]


def _modules(info: BuildInfo) -> Iterator[_Found]:
    yield _Found("stdlib", _stdlib_version(info.go_version), {"go_version": info.go_version})
    if info.main is not None:
        yield _Found(info.main.path, info.main.version, {"main": True, "package": info.path})
    for dep in info.deps:
        metadata: dict[str, object] = {"sum": dep.sum} if dep.sum else {}
        if dep.replace is not None and not _local(dep.replace.path):
            metadata = {"replaces": f"{dep.path}@{dep.version}"}
            if dep.replace.sum:
                metadata["sum"] = dep.replace.sum
            yield _Found(dep.replace.path, dep.replace.version, metadata)
        elif dep.replace is not None:
            yield _Found(dep.path, dep.version, {"replaced_by": dep.replace.path})
        else:
            yield _Found(dep.path, dep.version, metadata)


def _all_modules(infos: list[BuildInfo]) -> list[_Found]:
    """The modules of every architecture's build information, each once (the first
    architecture's record of it kept)."""
    seen: dict[tuple[str, str], _Found] = {}
    for info in infos:
        for module in _modules(info):
            seen.setdefault((module.name, module.version), module)
    return list(seen.values())


class GoCataloger:
    """Modules compiled into Go executables."""

    name = "golang"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.golang(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            try:
                infos = read_build_infos(current.data)
            except GoBuildInfoError as error:
                found.warnings.append(f"{current.path}: {error}")
                continue
            if infos:
                found.extend(self._packages(current, infos, files, context))
        return found

    def _packages(
        self, current: FileVersion, infos: list[BuildInfo], files: Files, context: Context
    ) -> list[Package]:
        modules = _all_modules(infos)

        def keys(data: bytes) -> list[tuple[str, str]]:
            earlier = infos if data is current.data else read_build_infos(data)
            return [(m.name, m.version) for m in _all_modules(earlier)]

        since = introduced(files.history(current.path), keys)
        return [
            Package(
                type="golang",
                name=module.name,
                version=module.version,
                purl=_purl(module.name, module.version),
                cataloger=self.name,
                layer=context.layer_digest(since.get((module.name, module.version), current.layer)),
                paths=(current.path,),
                metadata={**module.metadata, "binary": current.path},
            )
            for module in modules
        ]
