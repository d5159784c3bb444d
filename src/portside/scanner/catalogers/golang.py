"""Go programs: the modules compiled into an executable, read from the build information
the Go linker embeds in every binary (``go version -m`` prints the same).

The build information is a 32-byte header, 16-byte aligned, in the ELF section
``.go.buildinfo`` (or, for binaries without section headers, near the start of the first
writable ``PT_LOAD`` segment). It starts with the magic ``\\xff Go buildinf:``, then one
byte of pointer size and one of flags: bit 0 means big-endian, bit 1 means the strings
follow the header inline (Go 1.18 and later), each as a varint length and its bytes. Older
binaries store instead two pointers to Go string headers (data pointer, length), which are
virtual addresses to translate through the program headers. The second string, the module
information, is framed by 16 bytes on each side and lists, one per line and tab-separated,
``path`` (the main package), ``mod`` (the main module), ``dep`` (each dependency),
``=>`` (the replacement of the line above) and ``build`` settings.

Reported: the main module, each dependency, and the Go standard library as
``pkg:golang/stdlib@1.22.5`` (the toolchain version without its ``go`` prefix, as
vulnerability databases key it). A dependency replaced by another module is reported as
that module (its code is what was compiled), with the original in ``metadata["replaces"]``;
one replaced by a local directory keeps its own path and version, with the directory in
``metadata["replaced_by"]``.

Only the ELF headers and the few bytes the build information points to are read: never
the whole file. Hostile input: ``read_build_info`` raises ``GoBuildInfoError`` (a
``PackageDatabaseError``, so a ``ScanError``) for a binary that carries the magic but
cannot be decoded (truncated, pointing outside the file, oversized strings); an
executable that is not ELF or not Go is simply not a Go binary. ``catalog`` never raises:
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
from portside.scanner.catalogers import claims, introduced
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
    """Reads of an ELF file by file offset or virtual address, bounded by the bytes."""

    def __init__(self, data: bytes) -> None:
        # pyelftools loads in tens of milliseconds, and only a file that carries the Go
        # build information marker gets here: most images never need it.
        from elftools.common.exceptions import ELFError
        from elftools.construct.core import ConstructError
        from elftools.elf.elffile import ELFFile

        self.data = memoryview(data)
        try:
            elf = ELFFile(io.BytesIO(data))
            self.loads = [
                (seg["p_vaddr"], seg["p_offset"], seg["p_filesz"], seg["p_flags"])
                for seg in elf.iter_segments()
                if seg["p_type"] == "PT_LOAD"
            ]
            section = elf.get_section_by_name(".go.buildinfo")
            self.buildinfo = (
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

    def at_offset(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise GoBuildInfoError(f"{size} bytes at offset {offset} lie outside the file")
        return bytes(self.data[offset : offset + size])

    def at_address(self, address: int, size: int) -> bytes:
        for vaddr, offset, filesz, _flags in self.loads:
            if vaddr <= address and address + size <= vaddr + filesz:
                return self.at_offset(offset + address - vaddr, size)
        raise GoBuildInfoError(f"address {address:#x} (+{size}) is in no loaded segment")

    def search_area(self) -> tuple[bytes, int]:
        """The bytes the header is searched in, and their offset in the file."""
        if self.buildinfo is not None:
            offset, size = self.buildinfo
            return self.at_offset(offset, min(size, SEARCH_BYTES)), offset
        for _vaddr, offset, filesz, flags in self.loads:
            if flags & 0x2 and filesz > 0:  # PF_W: the first writable segment
                size = min(filesz, SEARCH_BYTES, max(len(self.data) - offset, 0))
                return self.at_offset(offset, size), offset
        return b"", 0


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
        prefix = image.at_offset(position, min(10, len(image.data) - position))
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


def read_build_info(data: bytes) -> BuildInfo | None:
    """The build information of a Go ELF binary; None for anything else."""
    if data[:4] != b"\x7fELF" or MAGIC not in data:
        # Every Go binary carries the build-information magic; parsing the ELF of the
        # hundreds of other executables in an image is what a scan would spend most on.
        return None
    image = _Image(data)
    area, area_offset = image.search_area()
    start = _header(area)
    if start < 0:
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
                info = read_build_info(current.data)
            except GoBuildInfoError as error:
                found.warnings.append(f"{current.path}: {error}")
                continue
            if info is not None:
                found.extend(self._packages(current, info, files, context))
        return found

    def _packages(
        self, current: FileVersion, info: BuildInfo, files: Files, context: Context
    ) -> list[Package]:
        modules = list(_modules(info))

        def keys(data: bytes) -> list[tuple[str, str]]:
            earlier = info if data is current.data else read_build_info(data)
            return [(m.name, m.version) for m in _modules(earlier)] if earlier else []

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
