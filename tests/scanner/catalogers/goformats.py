"""Go programs for the Go cataloger's tests of Windows (PE) and macOS (Mach-O) files.

Real programs are cross-compiled by the machine's Go, offline: each is its own module
(``example.com/app-NAME``) requiring two modules at versions only it has, both replaced
by local directories, so nothing is downloaded and every module tells which program it
came from. Files no Go toolchain on this machine writes (32-bit and big-endian Mach-O,
the build information of toolchains before 1.18, a 32-bit PE file with it) are written
byte by byte: the build information blob as the Go linker lays it out (a 32-byte header
then, since Go 1.18, the two strings inline, each after its length as a varint; before,
two pointers to string headers), in a Mach-O file from ``rustformats.macho`` or a small
PE32 file written from Microsoft's layout.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

from tests.scanner.catalogers.rustelf import ToolMissing

MAGIC = b"\xff Go buildinf:"
# The sentinels ``cmd/go`` frames the module information with (16 bytes each).
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")


def _environment(work: Path, goos: str, goarch: str) -> dict[str, str]:
    return {
        **os.environ,
        "GOOS": goos,
        "GOARCH": goarch,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
        "GOPATH": str(work / "gopath"),
        "GOCACHE": str(work / "gocache"),
    }


def go() -> str:
    found = shutil.which("go")
    if found is None:
        raise ToolMissing("go is not installed")
    return found


def _library(work: Path, path: str, package: str) -> Path:
    directory = work / "lib" / package
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "go.mod").write_text(f"module {path}\n\ngo 1.19\n")
    (directory / f"{package}.go").write_text(
        f'package {package}\n\nfunc Name() string {{ return "{package}" }}\n'
    )
    return directory


def program(work: Path, name: str, goos: str, goarch: str, number: int) -> bytes:
    """``example.com/app-NAME`` for ``goos``/``goarch``, requiring ``example.com/greet``
    at v1.2.NUMBER and ``example.com/colour`` at v0.NUMBER.0, both replaced by local
    directories (the second by a directory holding a module of another path)."""
    work.mkdir(parents=True, exist_ok=True)
    greet = _library(work, "example.com/greet", "greet")
    fork = _library(work, "example.com/colourfork", "colour")
    app = work / f"app-{name}"
    app.mkdir(parents=True, exist_ok=True)
    (app / "go.mod").write_text(
        f"module example.com/app-{name}\n\ngo 1.19\n\n"
        f"require (\n\texample.com/greet v1.2.{number}\n\texample.com/colour v0.{number}.0\n)\n\n"
        f"replace example.com/greet => {greet}\n\nreplace example.com/colour => {fork}\n"
    )
    (app / "main.go").write_text(
        'package main\n\nimport (\n\t"example.com/colour"\n\t"example.com/greet"\n)\n\n'
        "func main() { println(greet.Name(), colour.Name()) }\n"
    )
    output = work / f"app-{name}-{goos}-{goarch}.bin"
    subprocess.run(
        [go(), "build", "-o", str(output), "."],
        cwd=app,
        env=_environment(work, goos, goarch),
        check=True,
        capture_output=True,
        timeout=600,
    )
    return output.read_bytes()


def modules(name: str, number: int, go_version: str) -> set[tuple[str, str]]:
    """What the cataloger reports for ``program(work, name, ..., number)``: a module
    replaced by a directory keeps its own path and version."""
    return {
        ("stdlib", go_version.removeprefix("go")),
        (f"example.com/app-{name}", "(devel)"),
        ("example.com/greet", f"v1.2.{number}"),
        ("example.com/colour", f"v0.{number}.0"),
    }


def go_version() -> str:
    done = subprocess.run(
        [go(), "env", "GOVERSION"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    return done.stdout.strip()


# --- the build information, written by hand ------------------------------------------


def module_info(main: str, deps: list[tuple[str, str]]) -> bytes:
    lines = [f"path\t{main}", f"mod\t{main}\t(devel)\t"]
    lines += [f"dep\t{path}\t{version}\th1:x=" for path, version in deps]
    return INFO_START + ("\n".join(lines) + "\n").encode() + INFO_END


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def inline_blob(version: str, info: bytes, *, pointer: int = 8, big_endian: bool = False) -> bytes:
    """Go 1.18 and later: the header, then both strings inline."""
    header = MAGIC + bytes([pointer, 2 | int(big_endian)]) + b"\x00" * 16
    encoded = version.encode()
    return header + _uvarint(len(encoded)) + encoded + _uvarint(len(info)) + info


def pointer_blob(
    address: int, version: str, info: bytes, *, pointer: int = 8, big_endian: bool = False
) -> bytes:
    """Before Go 1.18: the header holds the addresses of two string headers (a data
    pointer and a length), which here follow it, then the strings; ``address`` is where
    the blob is loaded."""
    order = ">" if big_endian else "<"
    word = "Q" if pointer == 8 else "I"
    headers_at = address + 32
    strings_at = headers_at + 4 * pointer
    encoded = version.encode()
    header = MAGIC + bytes([pointer, int(big_endian)])
    header += struct.pack(order + word * 2, headers_at, headers_at + 2 * pointer).ljust(16, b"\0")
    string_headers = struct.pack(
        order + word * 4, strings_at, len(encoded), strings_at + len(encoded), len(info)
    )
    return header + string_headers + encoded + info


# --- a PE32 file, written from Microsoft's layout -------------------------------------

PE_TEXT = 0x6000_0020  # code, executable, readable
PE_DATA = 0xC000_0040  # initialised data, readable, writable
PE_BSS = 0xC000_0080  # uninitialised data, readable, writable
PE_IMAGE_BASE = 0x40_0000
PE_SECTION_RVA = {".text": 0x1000, ".rdata": 0x2000, ".data": 0x3000, ".bss": 0x4000}
PE_FIRST_DATA = 0x400


def pe32(section_data: list[tuple[bytes, int, bytes]], *, wide: bool = False) -> bytes:
    """A PE file (PE32, or PE32+ when ``wide``) with the ``(name, characteristics,
    bytes)`` sections, each at the relative address ``PE_SECTION_RVA`` gives its name
    and its bytes from ``PE_FIRST_DATA`` on, padded to 0x200."""
    optional_size = 240 if wide else 224
    optional = bytearray(optional_size)
    struct.pack_into("<H", optional, 0, 0x20B if wide else 0x10B)
    if wide:
        struct.pack_into("<Q", optional, 24, PE_IMAGE_BASE)
    else:
        struct.pack_into("<I", optional, 28, PE_IMAGE_BASE)
    coff = struct.pack(
        "<HHIIIHH", 0x8664 if wide else 0x14C, len(section_data), 0, 0, 0, optional_size, 0x102
    )
    table = b""
    body = b""
    for name, characteristics, data in section_data:
        raw = -(-len(data) // 0x200) * 0x200
        at = 0 if characteristics == PE_BSS else PE_FIRST_DATA + len(body)
        table += struct.pack(
            "<8sIIIIIIHHI",
            name,
            len(data),
            PE_SECTION_RVA[name.decode()],
            0 if characteristics == PE_BSS else raw,
            at,
            0,
            0,
            0,
            0,
            characteristics,
        )
        if characteristics != PE_BSS:
            body += data.ljust(raw, b"\x00")
    head = b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"PE\x00\x00" + coff
    head += bytes(optional) + table
    if len(head) > PE_FIRST_DATA:
        raise ValueError("too many sections for the room before the first one's bytes")
    return head.ljust(PE_FIRST_DATA, b"\x00") + body


def pe_go_program(blob: bytes, *, wide: bool = False) -> bytes:
    """A PE file with code, read-only data, the blob at the start of ``.data`` and an
    uninitialised ``.bss``."""
    return pe32(
        [
            (b".text", PE_TEXT, bytes(range(256)) * 4),
            (b".rdata", 0x4000_0040, b"read-only" * 40),
            (b".data", PE_DATA, blob + b"\x00" * 64),
            (b".bss", PE_BSS, b"\x00" * 0x100),
        ],
        wide=wide,
    )
