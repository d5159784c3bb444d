"""Named sections of Windows (PE) and macOS (Mach-O) executables, read from the bytes.

Only what finding one section by name needs is read, from the formats' own descriptions:

- **PE** (Microsoft's PE/COFF specification): the DOS header's ``MZ`` and, at offset
  0x3C, where the ``PE\\0\\0`` signature lies; the COFF header after it (the number of
  sections and the size of the optional header); then the section table, 40 bytes a
  section: an 8-byte name padded with NULs, the virtual size, the size of the raw data
  and where it lies. In an executable the raw data is padded to the file alignment, so a
  section's bytes are its virtual size when that is smaller. A name longer than 8 bytes
  is written as ``/`` and a decimal offset into the COFF string table, which follows the
  symbol table (at PointerToSymbolTable + NumberOfSymbols * 18, both in the COFF
  header): a 4-byte size that counts itself, then NUL-terminated names. Microsoft's
  specification keeps such names to object files; GNU's linker writes them in
  executables too. The string table is read only when a long name is looked for and no
  name preferred to it was found.
- **Mach-O** (Apple's ``mach-o/loader.h`` and ``mach-o/fat.h``): a header whose magic
  number gives the width (``0xfeedface`` 32-bit, ``0xfeedfacf`` 64-bit) and, read
  backwards, the byte order; ``ncmds`` load commands in ``sizeofcmds`` bytes, each
  starting with its type and size; the segment commands (``LC_SEGMENT``,
  ``LC_SEGMENT_64``) list their sections with a 16-byte name, the size and the file
  offset. Zero-fill sections have no bytes in the file. A universal ("fat") file
  (``0xcafebabe``, or ``0xcafebabf`` with 64-bit offsets) holds one such file per
  architecture; each is read.

Besides one section's bytes (``pe_section``, ``macho_sections``), the layouts that reading
by virtual address needs: a PE file's image base (from the optional header, PE32 or
PE32+) and section table (``pe_layout``), and each architecture's segments with the
sections asked for (``macho_layouts``). Their offsets and sizes in the file are cut to
the file's bytes (an architecture's, in a universal file), so a caller reading one never
reads outside it.

Hostile input: every offset and size is checked against the file before it is used, a
count is bounded both by a fixed limit and by the bytes that would have to hold it (a
header that claims a million sections in a small file is refused before any is read),
a load command must be at least 8 bytes and stay inside the commands' area (so a size
of 0 cannot loop), and a section larger than the caller's limit is refused before it is
copied. A long PE name's string table must lie in the file, with a size of at least 4,
and the name must start inside it and end with a NUL within it and within
``MAX_PE_NAME_BYTES``; a ``/`` name that is not a decimal offset (LLVM's ``//`` base-64
form, or garbage) is no name looked for here. Any of these raises
:class:`SectionError`. A file that does not start like
either format is not one: the functions return None for it. ``0xcafebabe`` also starts
every Java class file; a "universal" header listing more architectures than any
universal file holds is taken for one and is not read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

MAX_PE_SECTIONS = 65_535  # the COFF header's count is 16 bits
MAX_LOAD_COMMANDS = 65_536
MAX_MACHO_SECTIONS = 65_536  # over all segments of one file
MAX_FAT_ARCHITECTURES = 32  # universal files hold a handful (Java class files start alike)
MAX_PE_NAME_BYTES = 256  # a section name read from the COFF string table, its NUL included

_PE_SIGNATURE = b"PE\x00\x00"
# machine, sections, time stamp, symbol table offset, symbols, optional header size, flags
_PE_COFF = struct.Struct("<HHIIIHH")
_PE_SYMBOL_BYTES = 18
_PE_SECTION = struct.Struct("<8sIIII")  # name, virtual size, address, raw size, raw offset
_PE_SECTION_BYTES = 40
_PE_UNINITIALIZED = 0x80  # IMAGE_SCN_CNT_UNINITIALIZED_DATA

_LC_SEGMENT = 0x1
_LC_SEGMENT_64 = 0x19
_ZEROFILL_TYPES = frozenset({0x1, 0xC, 0x12})  # S_ZEROFILL, S_GB_ZEROFILL, thread-local
_MACHO = {
    b"\xfe\xed\xfa\xce": (">", False),
    b"\xce\xfa\xed\xfe": ("<", False),
    b"\xfe\xed\xfa\xcf": (">", True),
    b"\xcf\xfa\xed\xfe": ("<", True),
}
_FAT = {b"\xca\xfe\xba\xbe": False, b"\xca\xfe\xba\xbf": True}


class SectionError(ValueError):
    """An executable whose headers cannot be followed to the section asked for."""


def is_pe(data: bytes) -> bool:
    return data[:2] == b"MZ"


def is_macho(data: bytes) -> bool:
    return data[:4] in _MACHO or data[:4] in _FAT


def _unpack(
    layout: struct.Struct | str, data: bytes, at: int, end: int, what: str
) -> tuple[Any, ...]:
    """``struct.unpack_from`` that refuses to read past ``end`` (or before the start)."""
    shape = layout if isinstance(layout, struct.Struct) else struct.Struct(layout)
    if at < 0 or at + shape.size > end:
        raise SectionError(f"{what} lies outside the file")
    return shape.unpack_from(data, at)


def _take(data: bytes, offset: int, size: int, end: int, name: bytes, limit: int) -> bytes:
    if size > limit:
        raise SectionError(f"section {name.decode(errors='replace')} of {size} bytes")
    if offset < 0 or offset + size > end:
        raise SectionError(f"section {name.decode(errors='replace')} lies outside the file")
    return bytes(data[offset : offset + size])


# --- PE -----------------------------------------------------------------------------------


def _pe_headers(data: bytes) -> tuple[int, int, int, int, int] | None:
    """The number of sections, where their table starts, where the symbol table starts,
    the number of symbols, and where the optional header starts; None for a file that
    is not PE. The whole section table is checked to lie in the file."""
    if not is_pe(data):
        return None
    end = len(data)
    (signature_at,) = _unpack("<I", data, 0x3C, end, "the DOS header")
    signature = _unpack("<4s", data, signature_at, end, "the PE signature")[0]
    if signature != _PE_SIGNATURE:
        return None  # a DOS program, or another format after the stub
    _, count, _, symbols_at, symbols, optional_size, _ = _unpack(
        _PE_COFF, data, signature_at + 4, end, "the COFF header"
    )
    optional_at = signature_at + 4 + _PE_COFF.size
    table = optional_at + optional_size
    if count > MAX_PE_SECTIONS:  # pragma: no cover - a 16-bit count cannot exceed it
        raise SectionError(f"{count} sections, more than {MAX_PE_SECTIONS}")
    if table + count * _PE_SECTION_BYTES > end:
        raise SectionError(f"the table of {count} sections lies outside the file")
    return count, table, symbols_at, symbols, optional_at


def pe_section(data: bytes, names: tuple[bytes, ...], limit: int) -> bytes | None:
    """The bytes of the PE section named the first of ``names`` (in order of preference)
    that the file has; None when the file is not PE, has none of them, or the first it
    has holds no bytes in the file."""
    if not names or any(not name or b"\x00" in name for name in names):
        raise ValueError("PE section names are one byte or more, without NULs")
    headers = _pe_headers(data)
    if headers is None:
        return None
    count, table, symbols_at, symbols, _ = headers
    short = {name.ljust(8, b"\x00"): name for name in names if len(name) <= 8}
    found: dict[bytes, int] = {}  # each name's first section header
    long_named: list[tuple[int, bytes]] = []  # sections whose names are in the string table
    for index in range(count):
        at = table + index * _PE_SECTION_BYTES
        raw_name = data[at : at + 8]
        if raw_name in short:
            found.setdefault(short[raw_name], at)
        elif raw_name[:1] == b"/":
            long_named.append((at, raw_name))
    strings: _StringTable | None = None
    for name in names:
        if name not in found and len(name) > 8 and long_named:
            strings = strings or _StringTable(data, symbols_at, symbols)
            for at, raw_name in long_named:
                if strings.name(raw_name) == name:
                    found.setdefault(name, at)
                    break
        if name in found:
            return _pe_bytes(data, found[name], name, limit)
    return None


def _pe_bytes(data: bytes, at: int, name: bytes, limit: int) -> bytes | None:
    """The bytes in the file of the section whose header is at ``at``."""
    _, virtual_size, _, raw_size, raw_at = _PE_SECTION.unpack_from(data, at)
    (characteristics,) = struct.unpack_from("<I", data, at + 36)
    if raw_size == 0 or characteristics & _PE_UNINITIALIZED:
        return None  # bytes only in memory, none in the file
    size = min(virtual_size, raw_size) if virtual_size else raw_size
    return _take(data, raw_at, size, len(data), name, limit)


class PeSection(NamedTuple):
    """A section header of a PE file. ``offset`` and ``size`` are the section's bytes in
    the file (none for uninitialised data), cut at the end of the file, so the two
    always lie inside it."""

    name: bytes  # the 8-byte name without its NUL padding (``/4`` for a long name)
    address: int  # relative to the image base
    virtual_size: int
    offset: int
    size: int
    characteristics: int


class PeLayout(NamedTuple):
    image_base: int  # 0 when the optional header does not give one
    sections: tuple[PeSection, ...]


_PE32, _PE32_PLUS = 0x10B, 0x20B


def pe_layout(data: bytes) -> PeLayout | None:
    """The image base and the section table of a PE file; None when the file is not
    PE. The headers are checked as ``pe_section`` checks them; the image base is read
    only from an optional header large enough to hold it."""
    headers = _pe_headers(data)
    if headers is None:
        return None
    count, table, _, _, optional_at = headers
    end = len(data)
    image_base = 0
    if table - optional_at >= 32:  # the optional header's size, checked to lie in the file
        (magic,) = struct.unpack_from("<H", data, optional_at)
        if magic == _PE32:
            (image_base,) = struct.unpack_from("<I", data, optional_at + 28)
        elif magic == _PE32_PLUS:
            (image_base,) = struct.unpack_from("<Q", data, optional_at + 24)
    found = []
    for index in range(count):
        at = table + index * _PE_SECTION_BYTES
        name, virtual_size, address, raw_size, raw_at = _PE_SECTION.unpack_from(data, at)
        (characteristics,) = struct.unpack_from("<I", data, at + 36)
        empty = characteristics & _PE_UNINITIALIZED or raw_at >= end
        in_file = 0 if empty else min(raw_size, end - raw_at)
        found.append(
            PeSection(name.rstrip(b"\x00"), address, virtual_size, raw_at, in_file, characteristics)
        )
    return PeLayout(image_base, tuple(found))


class _StringTable:
    """The COFF string table, for the section names that refer to it (``/NNN``)."""

    def __init__(self, data: bytes, symbols_at: int, symbols: int) -> None:
        self.data = data
        self.start = symbols_at + symbols * _PE_SYMBOL_BYTES
        self.size: int | None = None  # read when a name first needs it

    def _bounds(self, label: str) -> tuple[int, int]:
        if self.size is None:
            if self.start == 0 or self.start + 4 > len(self.data):
                raise SectionError(f"section name {label} needs a string table the file lacks")
            (size,) = struct.unpack_from("<I", self.data, self.start)
            if size < 4 or self.start + size > len(self.data):
                raise SectionError(f"the string table of {size} bytes lies outside the file")
            self.size = size
        return self.start, self.start + self.size

    def name(self, raw_name: bytes) -> bytes | None:
        """The name that ``raw_name`` (``/`` and a decimal offset, NUL-padded) refers to;
        None for a ``/`` name of another form."""
        digits = raw_name[1:].rstrip(b"\x00")
        if not digits or not digits.isdigit():
            return None  # not an offset in decimal (LLVM's "//" base-64 form, or garbage)
        label = raw_name.rstrip(b"\x00").decode("ascii")
        start, end = self._bounds(label)
        offset = int(digits)
        if not 4 <= offset < end - start:
            raise SectionError(f"section name {label} lies outside the string table")
        at = start + offset
        stop = self.data.find(b"\x00", at, min(end, at + MAX_PE_NAME_BYTES))
        if stop < 0:
            raise SectionError(
                f"section name {label} does not end within the string table"
                f" and {MAX_PE_NAME_BYTES} bytes"
            )
        return bytes(self.data[at:stop])


# --- Mach-O -------------------------------------------------------------------------------


def macho_sections(data: bytes, names: tuple[bytes, ...], limit: int) -> list[bytes] | None:
    """The bytes of the Mach-O section named the first of ``names`` (in order of
    preference, each 16 bytes or fewer) that an architecture has, once per architecture
    that has one (a universal file holds several); None when the file is not Mach-O, an
    empty list when no architecture has one with bytes in the file."""
    if not names or any(not 0 < len(name) <= 16 for name in names):
        raise ValueError("a Mach-O section name is 1 to 16 bytes")
    magic = data[:4]
    if magic in _MACHO:
        found = _thin_section(data, 0, len(data), names, limit)
        return [] if found is None else [found]
    if magic not in _FAT:
        return None
    slices = _fat_slices(data, wide=_FAT[magic])
    if slices is None:
        return None
    found_all = []
    for start, stop in slices:
        found = _thin_section(data, start, stop, names, limit)
        if found is not None:
            found_all.append(found)
    return found_all


def _fat_slices(data: bytes, *, wide: bool) -> list[tuple[int, int]] | None:
    """Where each architecture's file lies in a universal file (always big-endian)."""
    end = len(data)
    (count,) = _unpack(">I", data, 4, end, "the universal header")
    if count > MAX_FAT_ARCHITECTURES:
        return None  # not a universal file: a Java class file starts with the same magic
    entry = struct.Struct(">iiQQII" if wide else ">iiIII")
    slices = []
    for index in range(count):
        fields = _unpack(entry, data, 8 + index * entry.size, end, f"architecture {index}")
        offset, size = fields[2], fields[3]
        if offset + size > end or offset < 8 + count * entry.size:
            raise SectionError(f"architecture {index} lies outside the file")
        if data[offset : offset + 4] not in _MACHO:
            raise SectionError(f"architecture {index} is not a Mach-O file")
        slices.append((offset, offset + size))
    return slices


def _segment_commands(
    data: bytes, start: int, end: int
) -> Iterator[tuple[tuple[Any, ...], struct.Struct, int, int]]:
    """Each segment command of the single-architecture Mach-O file in ``data[start:end]``
    (its offsets count from ``start``): the command's fields after its type and size
    (name, address, size in memory, file offset, size in the file, maximum and initial
    protection, number of sections, flags), the layout of its section headers, where
    the first lies and how many there are, all checked to lie inside the command."""
    order, wide = _MACHO[bytes(data[start : start + 4])]
    header = struct.Struct(order + ("IiiIIIII" if wide else "IiiIIII"))
    fields = _unpack(header, data, start, end, "the Mach-O header")
    count, commands_size = fields[4], fields[5]
    if count > MAX_LOAD_COMMANDS:
        raise SectionError(f"{count} load commands, more than {MAX_LOAD_COMMANDS}")
    at = start + header.size
    commands_end = at + commands_size
    if commands_end > end or count * 8 > commands_size:
        raise SectionError(f"{count} load commands of {commands_size} bytes outside the file")
    sections = 0
    for index, (kind, size) in enumerate(_commands(data, at, commands_end, count, order)):
        if kind in (_LC_SEGMENT, _LC_SEGMENT_64):
            segment = struct.Struct(
                order + ("16sQQQQiiII" if kind == _LC_SEGMENT_64 else "16sIIIIiiII")
            )
            section = struct.Struct(
                order + ("16s16sQQIIIIIIII" if kind == _LC_SEGMENT_64 else "16s16sIIIIIIIII")
            )
            command = _unpack(segment, data, at + 8, at + size, f"segment command {index}")
            nsects = command[7]
            first = at + 8 + segment.size
            if first + nsects * section.size > at + size:
                raise SectionError(
                    f"segment command {index} lists {nsects} sections it cannot hold"
                )
            sections += nsects
            if sections > MAX_MACHO_SECTIONS:
                raise SectionError(f"more than {MAX_MACHO_SECTIONS} sections")
            yield command, section, first, nsects
        at += size


def _thin_section(
    data: bytes, start: int, end: int, names: tuple[bytes, ...], limit: int
) -> bytes | None:
    """The section named the first of ``names`` that the single-architecture Mach-O file
    in ``data[start:end]`` has; its offsets count from ``start``."""
    rank = {name.ljust(16, b"\x00"): index for index, name in enumerate(names)}
    best: tuple[int, bytes, tuple[Any, ...]] | None = None  # rank, name, section header
    for _, section, first, nsects in _segment_commands(data, start, end):
        for number in range(nsects):
            fields = section.unpack_from(data, first + number * section.size)
            found = rank.get(fields[0])
            if found is not None and (best is None or found < best[0]):
                best = (found, names[found], fields)
        if best is not None and best[0] == 0:
            break  # the name most preferred: no other is read
    if best is None:
        return None
    _, name, fields = best
    size_of, offset, flags = fields[3], fields[4], fields[8]
    if flags & 0xFF in _ZEROFILL_TYPES or size_of == 0:
        return None
    return _take(data, start + offset, size_of, end, name, limit)


class MachoSection(NamedTuple):
    """A section header of a Mach-O file, as a segment command lists it."""

    name: bytes  # without its NUL padding
    segment: bytes
    address: int
    size: int  # in memory
    flags: int


class MachoSegment(NamedTuple):
    """A segment of one architecture's Mach-O file. ``offset`` counts from the start of
    the whole file (a universal file's architecture's offset included) and ``size`` is
    the segment's bytes in the file cut at the end of the architecture's bytes, so the
    two always lie inside them."""

    name: bytes
    address: int
    offset: int
    size: int
    max_protection: int
    initial_protection: int
    sections: tuple[MachoSection, ...]  # those named in the request only


class MachoLayout(NamedTuple):
    """One architecture's file: where its bytes lie in the whole file, and its segments."""

    start: int
    end: int
    segments: tuple[MachoSegment, ...]


def macho_layouts(data: bytes, section_names: tuple[bytes, ...]) -> list[MachoLayout] | None:
    """The segments of each architecture of a Mach-O file (one for a single-architecture
    file, several for a universal one), each with those of its sections named in
    ``section_names``; None when the file is not Mach-O. Checked as ``macho_sections``
    checks, and every segment's bytes are cut to the architecture's."""
    if any(not 0 < len(name) <= 16 for name in section_names):
        raise ValueError("a Mach-O section name is 1 to 16 bytes")
    magic = data[:4]
    if magic in _MACHO:
        return [_layout(data, 0, len(data), section_names)]
    if magic not in _FAT:
        return None
    slices = _fat_slices(data, wide=_FAT[magic])
    if slices is None:
        return None
    return [_layout(data, start, stop, section_names) for start, stop in slices]


def _layout(data: bytes, start: int, end: int, section_names: tuple[bytes, ...]) -> MachoLayout:
    wanted = frozenset(name.ljust(16, b"\x00") for name in section_names)
    segments = []
    for command, section, first, nsects in _segment_commands(data, start, end):
        listed = []
        for number in range(nsects):
            fields = section.unpack_from(data, first + number * section.size)
            if fields[0] in wanted:
                listed.append(
                    MachoSection(
                        fields[0].rstrip(b"\x00"),
                        fields[1].rstrip(b"\x00"),
                        fields[2],
                        fields[3],
                        fields[8],
                    )
                )
        name, address, _, offset, size, max_protection, initial_protection = command[:7]
        at = start + offset
        in_file = min(size, end - at) if at < end else 0
        segments.append(
            MachoSegment(
                name.rstrip(b"\x00"),
                address,
                at,
                in_file,
                max_protection,
                initial_protection,
                tuple(listed),
            )
        )
    return MachoLayout(start, end, tuple(segments))


def _commands(data: bytes, at: int, end: int, count: int, order: str) -> Iterator[tuple[int, int]]:
    """Each load command's type and size, checked to stay inside the commands' area."""
    for index in range(count):
        kind, size = _unpack(order + "II", data, at, end, f"load command {index}")
        if size < 8 or at + size > end:
            raise SectionError(f"load command {index} of {size} bytes")
        yield kind, size
        at += size
