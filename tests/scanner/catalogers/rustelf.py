"""ELF files for the Rust cataloger's tests: a real executable given a ``.dep-v0`` section
by ``objcopy`` (what ``cargo auditable`` leaves in a program, without needing a Rust
toolchain and crates from the network), programs compiled by ``rustc`` with the list in
a section of their own, and small ELF files written byte by byte, in both widths and
byte orders, for the shapes no linker writes."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

# The crate graph of a small program: its own crate, a runtime dependency from
# crates.io, a build-only one (a build script's), one declared runtime explicitly, and
# one from git.
AUDIT: dict[str, Any] = {
    "packages": [
        {
            "name": "portside-demo",
            "version": "0.1.0",
            "source": "local",
            "dependencies": [1, 2, 3, 4],
            "root": True,
        },
        {"name": "serde", "version": "1.0.197", "source": "crates.io"},
        {"name": "cc", "version": "1.0.90", "source": "crates.io", "kind": "build"},
        {"name": "libc", "version": "0.2.153", "source": "crates.io", "kind": "runtime"},
        {"name": "gitdep", "version": "0.3.0", "source": "git"},
    ]
}
RUNTIME_CRATES = {
    ("portside-demo", "0.1.0"),
    ("serde", "1.0.197"),
    ("libc", "0.2.153"),
    ("gitdep", "0.3.0"),
}


class ToolMissing(Exception):
    """objcopy (binutils) is not installed."""


def objcopy() -> str:
    found = shutil.which("objcopy")
    if found is None:
        raise ToolMissing("objcopy is not installed (the binutils package)")
    return found


def small_executable() -> Path:
    """A small dynamically linked executable of this machine."""
    for candidate in ("/bin/true", "/usr/bin/true"):
        if Path(candidate).is_file():
            return Path(candidate)
    raise ToolMissing("no /bin/true to copy")


def auditable_binary(work: Path, section: bytes, name: str = "program") -> bytes:
    """A copy of a real executable with ``section`` added as ``.dep-v0``."""
    work.mkdir(parents=True, exist_ok=True)
    payload, program = work / f"{name}.dep-v0", work / name
    payload.write_bytes(section)
    shutil.copyfile(small_executable(), program)
    subprocess.run(
        [
            objcopy(),
            "--add-section",
            f".dep-v0={payload}",
            "--set-section-flags",
            ".dep-v0=noload,readonly",
            str(program),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return program.read_bytes()


def rustc_program(work: Path, lists: dict[str, bytes], name: str = "program") -> bytes:
    """A Rust program compiled by the machine's ``rustc``, holding each of ``lists`` in
    a section of that name: a ``#[used]`` static with ``#[link_section]``, the way the
    ``auditable`` crate of the first releases (``.rust-deps-v0``) placed the list, and
    referred to by ``main`` so that the linker keeps it."""
    rustc = shutil.which("rustc")
    if rustc is None:
        raise ToolMissing("rustc is not installed")
    work.mkdir(parents=True, exist_ok=True)
    statics, uses = [], []
    for index, (section, data) in enumerate(lists.items()):
        (work / f"{name}-{index}.bin").write_bytes(data)
        statics.append(
            f"#[used]\n#[link_section = {json.dumps(section)}]\n"
            f"static LIST{index}: [u8; {len(data)}] = *include_bytes!({json.dumps(f'{name}-{index}.bin')});\n"
        )
        uses.append(f"std::hint::black_box(&LIST{index}).len()")
    source = work / f"{name}.rs"
    total = " + ".join(uses) or "0"
    source.write_text("".join(statics) + f'fn main() {{\n    println!("{{}}", {total});\n}}\n')
    output = work / name
    subprocess.run(
        [
            rustc,
            "--edition",
            "2021",
            "-C",
            "opt-level=1",
            "-C",
            "strip=symbols",
            "-o",
            str(output),
            str(source),
        ],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return output.read_bytes()


def compressed(document: object) -> bytes:
    return zlib.compress(json.dumps(document).encode())


def elf(
    sections: list[tuple[bytes, bytes]],
    *,
    wide: bool = True,
    big_endian: bool = False,
    nobits: tuple[bytes, ...] = (),
    extended: bool = False,
) -> bytes:
    """An ELF file holding only a header, the ``(name, data)`` sections, a section name
    table and the section headers. ``extended`` writes the section count and the name
    table's index in section 0, as for a file with 65,280 sections or more."""
    order = ">" if big_endian else "<"
    header_size = 64 if wide else 52
    names = b"\x00"
    offsets: list[int] = []
    for name, _ in [*sections, (b".shstrtab", b"")]:
        offsets.append(len(names))
        names += name + b"\x00"
    body = b""
    placed: list[tuple[int, int]] = []
    for _, data in sections:
        placed.append((header_size + len(body), len(data)))
        body += data
    names_at = header_size + len(body)
    body += names
    shoff = header_size + len(body)
    count = len(sections) + 2  # the null section, the sections, the name table
    names_index = count - 1

    def section_header(name: int, kind: int, offset: int, size: int, link: int = 0) -> bytes:
        if wide:
            return struct.pack(order + "IIQQQQIIQQ", name, kind, 0, 0, offset, size, link, 0, 1, 0)
        return struct.pack(order + "IIIIIIIIII", name, kind, 0, 0, offset, size, link, 0, 1, 0)

    headers = section_header(0, 0, 0, count if extended else 0, names_index if extended else 0)
    for (name, _), name_at, (offset, size) in zip(sections, offsets, placed, strict=False):
        headers += section_header(name_at, 8 if name in nobits else 1, offset, size)
    headers += section_header(offsets[-1], 3, names_at, len(names))
    ident = b"\x7fELF" + bytes([2 if wide else 1, 2 if big_endian else 1, 1]) + b"\x00" * 9
    shnum, shstrndx = (0, 0xFFFF) if extended else (count, names_index)
    if wide:
        rest = struct.pack(
            order + "HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, shnum, shstrndx
        )
    else:
        rest = struct.pack(
            order + "HHIIIIIHHHHHH", 2, 3, 1, 0, 0, shoff, 0, 52, 32, 0, 40, shnum, shstrndx
        )
    return ident + rest + body + headers
