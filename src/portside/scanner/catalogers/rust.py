"""Rust crates: those compiled into executables built with ``cargo auditable``, and those
a ``Cargo.lock`` pins.

``cargo auditable build`` embeds the crate graph in a section named ``.dep-v0`` (of an
ELF file on Linux, a PE file on Windows, a Mach-O file on macOS, in its ``__DATA``
segment):
zlib-compressed JSON whose ``packages`` list holds, for each crate, its ``name``,
``version``, ``source`` (``crates.io``, ``local``, ``git``, ``registry`` or ``other``), its
``kind`` (``build`` for a crate only the build ran, such as a build script's dependency;
``runtime``, the default, for a crate compiled into the program), the indices of its
``dependencies`` and ``root`` for the program's own crate. The crates compiled into the
program are reported, the program's own included; build-only crates are not, since none
of their code is in the file.

The same list under older names, from the project's first releases (as ``rust-audit``,
whose ``auditable`` crate placed it): ``.rust-deps-v0`` in ELF, ``rdep-v0`` in PE (and
``.rust-deps-v0`` before that, which only a long PE name can hold) and ``rust-deps-v0``
in Mach-O's ``__TEXT`` segment. Each is read as ``.dep-v0`` is; a file is read from the
first of these names it has, ``.dep-v0`` first.

A ``Cargo.lock`` lists every crate of a workspace as a ``[[package]]`` table with
``name``, ``version`` and, for a crate from a registry or git, ``source``. Every one is
reported (the workspace's own crates too, with no ``source``). A lock file inside
``.cargo/registry`` belongs to a downloaded crate's source and pins only that crate's
development tools; it is not read.

Only the section headers and the section itself are read (ELF here, PE and Mach-O in
``sections.py``). Hostile input: the parsers raise ``RustMetadataError`` (a
``PackageDatabaseError``, so a ``ScanError``) for an executable whose headers point
outside the file or hold too many sections or load commands, a section too
large or whose JSON decompresses past ``MAX_AUDIT_JSON_BYTES`` (a zlib bomb is cut off
there, never inflated in full; the architectures of a universal file share that budget)
or is truncated, JSON or TOML that cannot be read, and a
file listing more than ``MAX_PACKAGES`` crates; entries of the wrong type are passed
over. An executable of another format, or with none of these sections, is simply not a
``cargo auditable`` binary. ``catalog`` never raises: it skips the file and returns a
``Findings`` list whose ``warnings`` name it and the reason.
"""

from __future__ import annotations

import re
import struct
import tomllib
import zlib
from typing import Any, NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced, sections
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.catalogers.jsonfile import load_json
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

MAX_BINARY_BYTES = claims.RUST_MAX_BINARY_BYTES
MIN_BINARY_BYTES = claims.RUST_MIN_BINARY_BYTES
MAX_SECTIONS = 65_536
MAX_SECTION_BYTES = 8 * 1024 * 1024  # compressed
MAX_AUDIT_JSON_BYTES = 16 * 1024 * 1024  # decompressed
MAX_LOCK_BYTES = claims.RUST_MAX_LOCK_BYTES
MAX_PACKAGES = 100_000

SECTION = b".dep-v0"
# Each format's names for the section, in order of preference.
ELF_SECTIONS = (SECTION, b".rust-deps-v0")
PE_SECTIONS = (SECTION, b"rdep-v0", b".rust-deps-v0")
MACHO_SECTIONS = (SECTION, b"rust-deps-v0")
# What every one of those names holds: a file without it has none of the sections.
_NAMED = re.compile(rb"deps?-v0")
LOCK_FILE = claims.RUST_LOCK_FILE
_ELF = b"\x7fELF"
_SHT_NOBITS = 8

# Crate names: ASCII letters, digits, "-" and "_" (crates.io allows 64 characters; a
# workspace's own crates are not bound by that).
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# Cargo's versions are semantic versions.
_VERSION = re.compile(
    r"^[0-9]{1,18}\.[0-9]{1,18}\.[0-9]{1,18}"
    r"(?:-[0-9A-Za-z.-]{1,128})?(?:\+[0-9A-Za-z.-]{1,128})?$"
)


class RustMetadataError(PackageDatabaseError):
    """A ``.dep-v0`` section or a ``Cargo.lock`` that cannot be read as one."""


# A named tuple, not a frozen dataclass: a tenth of the cost to define, in every scan of
# an image with Rust files.
class Crate(NamedTuple):
    name: str
    version: str
    source: str = ""
    root: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


def _valid(name: object, version: object) -> bool:
    return (
        isinstance(name, str)
        and isinstance(version, str)
        and _NAME.match(name) is not None
        and _VERSION.match(version) is not None
    )


def _once(crates: list[Crate]) -> list[Crate]:
    found: dict[tuple[str, str], Crate] = {}
    for crate in crates:
        found.setdefault(crate.key, crate)
    return list(found.values())


# --- ELF ----------------------------------------------------------------------------------


def _section(data: bytes, wanted: tuple[bytes, ...] = ELF_SECTIONS) -> bytes | None:
    """The bytes of the ELF section named the first of ``wanted`` that the file has, or
    None when it has none (or that section holds no bytes in the file)."""
    if len(data) < 64 or data[:4] != _ELF or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise RustMetadataError("not a readable ELF header")
    wide = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if wide:
        (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
        entsize, count, names_index = struct.unpack_from(order + "HHH", data, 0x3A)
        header = order + "IIQQQQIIQQ"
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 0x20)
        entsize, count, names_index = struct.unpack_from(order + "HHH", data, 0x2E)
        header = order + "IIIIIIIIII"
    if shoff == 0:
        return None  # no section headers (a stripped program keeps them; this one did not)
    needed = struct.calcsize(header)
    if entsize < needed:
        raise RustMetadataError(f"section headers of {entsize} bytes, fewer than {needed}")

    def section(index: int) -> tuple[int, int, int, int, int]:
        """name offset, type, file offset, size, link"""
        at = shoff + index * entsize
        if at < 0 or at + needed > len(data):
            raise RustMetadataError(f"section header {index} lies outside the file")
        fields = struct.unpack_from(header, data, at)
        return fields[0], fields[1], fields[4], fields[5], fields[6]

    if count == 0 or names_index == 0xFFFF:  # more sections than the header can say
        _, _, _, real_count, link = section(0)
        count = real_count if count == 0 else count
        names_index = link if names_index == 0xFFFF else names_index
    if count > MAX_SECTIONS:
        raise RustMetadataError(f"{count} sections, more than {MAX_SECTIONS}")
    if names_index >= count:
        raise RustMetadataError(f"section name table {names_index} of {count} sections")
    _, _, names_at, names_size, _ = section(names_index)
    if names_at + names_size > len(data):
        raise RustMetadataError("the section name table lies outside the file")
    names = memoryview(data)[names_at : names_at + names_size]
    terminated = [name + b"\x00" for name in wanted]
    best: tuple[int, int, int, int] | None = None  # rank, type, file offset, size
    for index in range(count):
        name, kind, offset, size, _ = section(index)
        better = len(terminated) if best is None else best[0]  # the ranks still worth a look
        for rank in range(better):
            if bytes(names[name : name + len(terminated[rank])]) == terminated[rank]:
                best = (rank, kind, offset, size)
                break
        if best is not None and best[0] == 0:
            break  # the name most preferred: no other is looked for
    if best is None:
        return None
    rank, kind, offset, size = best
    label = wanted[rank].decode()
    if kind == _SHT_NOBITS:
        return None
    if size > MAX_SECTION_BYTES:
        raise RustMetadataError(f"section {label} of {size} bytes")
    if offset + size > len(data):
        raise RustMetadataError(f"section {label} lies outside the file")
    return data[offset : offset + size]


def _inflate(compressed: bytes, limit: int = MAX_AUDIT_JSON_BYTES) -> bytes:
    """The JSON of the section, never more than ``limit`` bytes of it."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed, limit + 1)
    except zlib.error as error:
        raise RustMetadataError(f"the crate list is not zlib data: {error}") from error
    if len(out) > limit or inflater.unconsumed_tail:
        raise RustMetadataError(f"the crate list inflates past {MAX_AUDIT_JSON_BYTES} bytes")
    if not inflater.eof:
        raise RustMetadataError("the crate list is truncated")
    return out


def parse_audit_json(data: bytes) -> list[Crate]:
    """The crates compiled into the program, from the section's JSON."""
    document = load_json(data, MAX_AUDIT_JSON_BYTES, RustMetadataError)
    packages = document.get("packages") if isinstance(document, dict) else None
    if not isinstance(packages, list):
        raise RustMetadataError("the crate list has no packages list")
    if len(packages) > MAX_PACKAGES:
        raise RustMetadataError(f"the crate list has more than {MAX_PACKAGES} packages")
    found: list[Crate] = []
    for entry in packages:
        if not isinstance(entry, dict) or entry.get("kind", "runtime") != "runtime":
            continue  # a build-only crate: none of its code is in the program
        name, version, source = entry.get("name"), entry.get("version"), entry.get("source")
        if _valid(name, version):
            assert isinstance(name, str) and isinstance(version, str)
            found.append(
                Crate(
                    name=name,
                    version=version,
                    source=source if isinstance(source, str) and len(source) <= 20 else "",
                    root=entry.get("root") is True,
                )
            )
    return _once(found)


def read_audit_info(data: bytes) -> list[Crate] | None:
    """The crates of a ``cargo auditable`` binary (ELF, PE or Mach-O); None for any
    other file. A universal Mach-O file lists the crates of each architecture once."""
    if _NAMED.search(data) is None:
        return None  # every such binary names the section in its headers
    if data[:4] == _ELF:
        try:
            found = _section(data)
        except struct.error as error:
            raise RustMetadataError(f"unreadable ELF headers: {error}") from error
        compressed = [] if found is None else [found]
    else:
        try:
            if sections.is_pe(data):
                found = sections.pe_section(data, PE_SECTIONS, MAX_SECTION_BYTES)
                compressed = [] if found is None else [found]
            elif sections.is_macho(data):
                compressed = sections.macho_sections(data, MACHO_SECTIONS, MAX_SECTION_BYTES) or []
            else:
                return None
        except sections.SectionError as error:
            raise RustMetadataError(str(error)) from error
    if not compressed:
        return None
    # A universal file's architectures usually carry the same list: it is read once, and
    # all of them together inflate to no more than one list may.
    crates: list[Crate] = []
    budget = MAX_AUDIT_JSON_BYTES
    for one in dict.fromkeys(compressed):
        document = _inflate(one, budget)
        budget -= len(document)
        crates.extend(parse_audit_json(document))
    return _once(crates)


# --- Cargo.lock ---------------------------------------------------------------------------


def parse_lock(data: bytes) -> list[Crate]:
    """The crates a ``Cargo.lock`` lists."""
    if len(data) > MAX_LOCK_BYTES:
        raise RustMetadataError(f"file is {len(data)} bytes, over {MAX_LOCK_BYTES}")
    try:
        document: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RustMetadataError(f"Cargo.lock is not UTF-8: {error}") from error
    except RecursionError as error:
        raise RustMetadataError("TOML is nested too deeply") from error
    except tomllib.TOMLDecodeError as error:
        raise RustMetadataError(f"not valid TOML: {str(error)[:200]}") from error
    packages = document.get("package", [])
    if not isinstance(packages, list):
        raise RustMetadataError("Cargo.lock's package is not an array of tables")
    if len(packages) > MAX_PACKAGES:
        raise RustMetadataError(f"Cargo.lock lists more than {MAX_PACKAGES} packages")
    found: list[Crate] = []
    for entry in packages:
        if not isinstance(entry, dict):
            continue
        name, version, source = entry.get("name"), entry.get("version"), entry.get("source")
        if _valid(name, version):
            assert isinstance(name, str) and isinstance(version, str)
            source = source.split("+", 1)[0] if isinstance(source, str) else "local"
            found.append(Crate(name=name, version=version, source=source[:20]))
    return _once(found)


def purl(name: str, version: str) -> str:
    return purls.build(type="cargo", name=name, version=version)


class RustCataloger:
    """Crates compiled into ``cargo auditable`` binaries and listed by ``Cargo.lock``."""

    name = "rust"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.rust(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            lock = current.path.rpartition("/")[2] == LOCK_FILE
            try:
                crates = parse_lock(current.data) if lock else read_audit_info(current.data)
            except RustMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
                continue
            if crates is not None:
                found.extend(self._packages(current, crates, files, context, lock))
        return found

    def _packages(
        self, current: FileVersion, crates: list[Crate], files: Files, context: Context, lock: bool
    ) -> list[Package]:
        def keys(data: bytes) -> list[tuple[str, str]]:
            if data is current.data:
                return [crate.key for crate in crates]
            earlier = parse_lock(data) if lock else read_audit_info(data)
            return [crate.key for crate in earlier or ()]

        since = introduced(files.history(current.path), keys)
        origin = {"lock_file": current.path} if lock else {"binary": current.path}
        return [
            Package(
                type="cargo",
                name=crate.name,
                version=crate.version,
                purl=purl(crate.name, crate.version),
                cataloger=self.name,
                layer=context.layer_digest(since.get(crate.key, current.layer)),
                paths=(current.path,),
                metadata={
                    **origin,
                    **({"source": crate.source} if crate.source else {}),
                    **({"root": True} if crate.root else {}),
                },
            )
            for crate in crates
        ]
