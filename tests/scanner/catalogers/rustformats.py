"""Windows and macOS executables for the Rust cataloger's tests.

A PE file is a real Go program cross-compiled for Windows by the machine's Go, given a
``.dep-v0`` section by ``objcopy`` (binutils writes PE, placed after the program's last
section as a linker would). binutils cannot write Mach-O, so Mach-O files are written
byte by byte from Apple's ``mach-o/loader.h`` layout: a header, a ``__TEXT`` segment
holding a ``__text`` section and a ``__DATA`` segment holding ``.dep-v0`` (where
``cargo auditable`` puts it), in either width and byte order, and universal files
holding several of them.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
from pathlib import Path

from tests.scanner.catalogers.rustelf import ToolMissing, objcopy

PROGRAM = 'package main\n\nfunc main() { println("portside demo") }\n'


@functools.cache
def go_program(work: Path, goos: str, goarch: str = "amd64") -> bytes:
    """A small Go program cross-compiled for ``goos`` (stripped, no cgo, no network)."""
    go = shutil.which("go")
    if go is None:
        raise ToolMissing("go is not installed")
    source = work / f"src-{goos}-{goarch}"
    source.mkdir(parents=True, exist_ok=True)
    (source / "go.mod").write_text("module example.com/demo\n\ngo 1.19\n")
    (source / "main.go").write_text(PROGRAM)
    output = work / f"demo-{goos}-{goarch}"
    env = {
        **os.environ,
        "GOOS": goos,
        "GOARCH": goarch,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
        "GOPATH": str(work / "gopath"),
        "GOCACHE": str(work / "gocache"),
    }
    subprocess.run(
        [go, "build", "-ldflags=-s -w", "-o", str(output), "."],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return output.read_bytes()


def pe_binary(
    work: Path, section: bytes, name: str = "program.exe", section_name: str = ".dep-v0"
) -> bytes:
    """A Windows program (PE32+, x86-64) with ``section`` added as ``section_name``; a
    name longer than 8 bytes is written as binutils writes one, ``/`` and its offset in
    the COFF string table."""
    program = work / name
    program.write_bytes(go_program(work, "windows"))
    payload = work / f"{name}.{section_name}"
    payload.write_bytes(section)
    data = program.read_bytes()
    (pe_at,) = struct.unpack_from("<I", data, 0x3C)
    optional = pe_at + 24
    (image_base,) = struct.unpack_from("<Q", data, optional + 24)
    (image_size,) = struct.unpack_from("<I", data, optional + 56)
    subprocess.run(
        [
            objcopy(),
            *(["--long-section-names", "enable"] if len(section_name) > 8 else []),
            "--add-section",
            f"{section_name}={payload}",
            "--set-section-flags",
            f"{section_name}=readonly,data",
            "--change-section-address",
            f"{section_name}={image_base + image_size:#x}",
            str(program),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return program.read_bytes()


# --- Mach-O, written from the format's layout ---------------------------------------------

MH_EXECUTE = 2
LC_SEGMENT = 0x1
LC_SEGMENT_64 = 0x19
S_ZEROFILL = 0x1
CPU_X86_64 = 0x01000007
CPU_ARM64 = 0x0100000C
CPU_POWERPC = 18
CPU_I386 = 7


def _name(text: bytes) -> bytes:
    return text.ljust(16, b"\x00")


def macho(
    sections: list[tuple[bytes, bytes, bytes]],
    *,
    wide: bool = True,
    big_endian: bool = False,
    cpu: int = CPU_ARM64,
    zerofill: tuple[bytes, ...] = (),
) -> bytes:
    """A Mach-O executable whose segments hold ``(segment, section, data)`` sections,
    one segment per distinct segment name in order; each segment's data follows the
    load commands, page-aligned as a linker lays it out."""
    order = ">" if big_endian else "<"
    header_size = 32 if wide else 28
    segment_size = 72 if wide else 56
    section_size = 80 if wide else 68
    segments: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for segment, section, data in sections:
        segments.setdefault(segment, []).append((section, data))
    commands_size = sum(segment_size + section_size * len(s) for s in segments.values())
    page = 0x4000
    at = -(-(header_size + commands_size) // page) * page  # the first page after the commands
    commands = b""
    body = b""
    address = 0x100000000
    for segment, members in segments.items():
        start = at + len(body)
        headers = b""
        for section, data in members:
            offset = at + len(body)
            empty = section in zerofill
            flags = S_ZEROFILL if empty else 0
            if wide:
                headers += struct.pack(
                    order + "16s16sQQIIIIIIII",
                    _name(section),
                    _name(segment),
                    address + offset,
                    len(data),
                    0 if empty else offset,
                    0,
                    0,
                    0,
                    flags,
                    0,
                    0,
                    0,
                )
            else:
                headers += struct.pack(
                    order + "16s16sIIIIIIIII",
                    _name(section),
                    _name(segment),
                    (address + offset) & 0xFFFFFFFF,
                    len(data),
                    0 if empty else offset,
                    0,
                    0,
                    0,
                    flags,
                    0,
                    0,
                )
            if not empty:
                body += data
        body += b"\x00" * (-len(body) % page)
        length = at + len(body) - start
        command = LC_SEGMENT_64 if wide else LC_SEGMENT
        size = segment_size + section_size * len(members)
        if wide:
            commands += struct.pack(
                order + "II16sQQQQiiII",
                command,
                size,
                _name(segment),
                address + start,
                length,
                start,
                length,
                5,
                5,
                len(members),
                0,
            )
        else:
            commands += struct.pack(
                order + "II16sIIIIiiII",
                command,
                size,
                _name(segment),
                (address + start) & 0xFFFFFFFF,
                length,
                start,
                length,
                5,
                5,
                len(members),
                0,
            )
        commands += headers
    magic = 0xFEEDFACF if wide else 0xFEEDFACE
    fields = [magic, cpu, 0, MH_EXECUTE, len(segments), len(commands), 0x00200085]
    header = struct.pack(
        order + ("IiiIIIII" if wide else "IiiIIII"), *fields, *([0] if wide else [])
    )
    image = header + commands
    return image + b"\x00" * (at - len(image)) + body


def auditable_macho(section: bytes, **options: object) -> bytes:
    """A macOS program with code in ``__TEXT,__text`` and ``section`` in
    ``__DATA,.dep-v0``, as ``cargo auditable`` lays it out."""
    code = bytes(range(256)) * 16
    return macho(
        [(b"__TEXT", b"__text", code), (b"__DATA", b".dep-v0", section)],
        **options,  # type: ignore[arg-type]
    )


def universal(*files: tuple[int, bytes], wide: bool = False) -> bytes:
    """A universal file holding each ``(cpu type, Mach-O file)``, page-aligned."""
    entry_size = 32 if wide else 20
    page = 0x4000
    at = -(-(8 + entry_size * len(files)) // page) * page
    table = b""
    body = b""
    for cpu, data in files:
        offset = at + len(body)
        if wide:
            table += struct.pack(">iiQQII", cpu, 0, offset, len(data), 14, 0)
        else:
            table += struct.pack(">iiIII", cpu, 0, offset, len(data), 14)
        body += data + b"\x00" * (-len(data) % page)
    magic = 0xCAFEBABF if wide else 0xCAFEBABE
    head = struct.pack(">II", magic, len(files)) + table
    return head + b"\x00" * (at - len(head)) + body


def with_macho_section(program: bytes, section: bytes, name: bytes = b".dep-v0") -> bytes:
    """A real 64-bit little-endian Mach-O program (as Go's linker writes it for macOS)
    given ``section`` as ``__DATA,name``: one more section header in the ``__DATA``
    segment command, in the room a linker leaves between the load commands and the
    first section, and the bytes in the padding that ends the segment's last page."""
    magic, cpu, subtype, kind, count, size, flags, reserved = struct.unpack_from(
        "<IiiIIIII", program, 0
    )
    if magic != 0xFEEDFACF:
        raise ValueError("not a 64-bit little-endian Mach-O program")
    commands, at = [], 32
    for _ in range(count):
        command, length = struct.unpack_from("<II", program, at)
        commands.append(bytearray(program[at : at + length]))
        at += length
    first_section = min(
        struct.unpack_from("<I", c, 72 + 80 * i + 48)[0] or len(program)
        for c in commands
        if struct.unpack_from("<I", c)[0] == LC_SEGMENT_64
        for i in range(struct.unpack_from("<I", c, 64)[0])
    )
    if 32 + size + 80 > first_section:
        raise ValueError("no room for another section header")
    image = bytearray(program)
    for command in commands:
        if struct.unpack_from("<I", command)[0] != LC_SEGMENT_64 or command[8:24] != _name(
            b"__DATA"
        ):
            continue
        address, memory, offset, length = struct.unpack_from("<QQQQ", command, 24)
        place = -(-(offset + length) // 16) * 16
        if place + len(section) > -(-(offset + length) // 0x4000) * 0x4000:
            raise ValueError("no room after the __DATA segment's bytes")
        image[place : place + len(section)] = section
        header = struct.pack(
            "<16s16sQQIIIIIIII",
            _name(name),
            _name(b"__DATA"),
            address + place - offset,
            len(section),
            place,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        )
        nsects = struct.unpack_from("<I", command, 64)[0]
        struct.pack_into("<Q", command, 32, max(memory, place - offset + len(section)))
        struct.pack_into("<Q", command, 48, place - offset + len(section))
        struct.pack_into("<I", command, 64, nsects + 1)
        command[4:8] = struct.pack("<I", len(command) + 80)
        command.extend(header)
        break
    else:
        raise ValueError("the program has no __DATA segment")
    commands_bytes = b"".join(commands)
    head = struct.pack(
        "<IiiIIIII", magic, cpu, subtype, kind, count, len(commands_bytes), flags, reserved
    )
    image[: 32 + len(commands_bytes)] = head + commands_bytes
    return bytes(image)
