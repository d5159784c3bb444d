"""Portside's Rust cataloger against Syft 1.18.1 and Trivy 0.59.1 on ``cargo auditable``
programs of every executable format: ELF (Linux), PE (Windows), Mach-O (macOS, a real
arm64 program and a 32-bit big-endian one written from the layout) and a universal
Mach-O file holding a real x86-64 and a real arm64 program.

Each program carries its own crates (``demo-FORMAT`` and serde and libc at a version
only it has), so every package tells which format it came from. The tools run as in
``tests/scanner/test_differential.py``, offline, on one OCI layout. Every crate Syft
and Trivy both report must be in Portside's inventory, and which tools read which
format is pinned in ``SEEN_BY``, with the reason where not all three do: a tool that
starts or stops reading a format fails the test until the table says so.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from portside.scanner.analyze import analyze
from tests.scanner import realimage
from tests.scanner.catalogers import rustelf, rustformats
from tests.scanner.images import file, layer, oci_layout
from tests.scanner.test_differential import (
    TOOLS,
    Found,
    Key,
    _table,
    parse_syft,
    parse_trivy,
    portside_found,
    run_offline,
    seen_by,
    syft_command,
    trivy_command,
)

ALL = frozenset(TOOLS)

# Which tools list the crates of each format, and why the others do not.
SEEN_BY: dict[str, tuple[frozenset[str], str]] = {
    "elf": (ALL, ""),
    "pe": (ALL, ""),
    "macho": (
        frozenset({"portside", "trivy"}),
        "Syft 1.18.1's reader answers 'unknown file format' for a little-endian Mach-O file "
        "(every x86-64 and arm64 one; its trace log says so), though it types the file as "
        "application/x-mach-binary",
    ),
    "macho-ppc": (ALL, ""),
    "universal": (
        frozenset({"portside"}),
        "Trivy opens only single-architecture Mach-O files, and Syft's reader answers "
        "'unknown file format' for a universal file as for a little-endian one",
    ),
}
NUMBER = {"elf": 1, "pe": 2, "macho": 3, "macho-ppc": 4, "universal": 5}
PATHS = {
    "elf": "/usr/local/bin/demo-elf",
    "pe": "/opt/windows/demo-pe.exe",
    "macho": "/opt/macos/demo-macho",
    "macho-ppc": "/opt/macos/demo-macho-ppc",
    "universal": "/opt/macos/demo-universal",
}


def audit(name: str) -> bytes:
    """A crate graph for one format: its own crate, two runtime crates at versions only
    it has, and a build-only crate no tool should list."""
    n = NUMBER[name]
    return zlib.compress(
        json.dumps(
            {
                "packages": [
                    {
                        "name": f"demo-{name}",
                        "version": "0.1.0",
                        "source": "local",
                        "dependencies": [1, 2, 3],
                        "root": True,
                    },
                    {"name": "serde", "version": f"1.0.{n}", "source": "crates.io"},
                    {"name": "cc", "version": f"1.0.{n}", "source": "crates.io", "kind": "build"},
                    {"name": "libc", "version": f"0.2.{n}", "source": "crates.io"},
                ]
            }
        ).encode()
    )


def expected(name: str) -> set[Key]:
    n = NUMBER[name]
    return {
        ("cargo", f"demo-{name}", "0.1.0"),
        ("cargo", "serde", f"1.0.{n}"),
        ("cargo", "libc", f"0.2.{n}"),
    }


def _programs(work: Path) -> dict[str, bytes]:
    go = rustformats.go_program
    builders: dict[str, Callable[[], bytes]] = {
        "elf": lambda: rustelf.auditable_binary(work, audit("elf")),
        "pe": lambda: rustformats.pe_binary(work, audit("pe")),
        "macho": lambda: rustformats.with_macho_section(
            go(work, "darwin", "arm64"), audit("macho")
        ),
        "macho-ppc": lambda: rustformats.auditable_macho(
            audit("macho-ppc"), wide=False, big_endian=True, cpu=rustformats.CPU_POWERPC
        ),
        "universal": lambda: rustformats.universal(
            (
                rustformats.CPU_X86_64,
                rustformats.with_macho_section(go(work, "darwin", "amd64"), audit("universal")),
            ),
            (
                rustformats.CPU_ARM64,
                rustformats.with_macho_section(go(work, "darwin", "arm64"), audit("universal")),
            ),
        ),
    }
    return {name: build() for name, build in builders.items()}


def _rust_results(report: bytes) -> bytes:
    """Trivy's report without its results of other kinds: the Go programs behind the PE
    and Mach-O files are Go binaries to Trivy too, listed with their main module, which
    has no version."""
    document = json.loads(report)
    document["Results"] = [
        result for result in document.get("Results") or [] if result.get("Type") == "rustbinary"
    ]
    return json.dumps(document).encode()


@dataclass
class FormatScans:
    path: Path
    diff_ids: tuple[str, ...]
    reports: dict[str, dict[Key, Found]]


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> FormatScans:
    scratch = tmp_path_factory.mktemp("rust-formats")
    try:
        programs = _programs(scratch / "work")
    except rustelf.ToolMissing as error:
        pytest.fail(f"the programs cannot be built: {error}", pytrace=False)
    layers = [
        layer([file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n')], created_by="base"),
        layer(
            [file(PATHS[name].lstrip("/"), data, mode=0o755) for name, data in programs.items()],
            created_by="COPY programs /",
        ),
    ]
    image = scratch / "image"
    oci_layout(image, layers)
    diff_ids = tuple(x.diff_id for x in layers)
    reports: dict[str, dict[Key, Found]] = {}
    for tool in TOOLS:
        if tool == "portside":
            found = portside_found(analyze(image))
        else:
            output = scratch / f"{tool}.json"
            if tool == "syft":
                command = syft_command(f"oci-dir:{image}", output)
                env = {
                    "SYFT_CHECK_FOR_APP_UPDATE": "false",
                    "XDG_CACHE_HOME": str(scratch / "syft-cache"),
                }
            else:
                command = trivy_command(image, output, scratch / "trivy-cache")
                env = {"TRIVY_DISABLE_VEX_NOTICE": "true"}
            try:
                run_offline(command, env=env, what=f"{tool} on the Rust programs")
            except realimage.RealImageError as error:
                pytest.fail(str(error), pytrace=False)
            data = output.read_bytes() if tool == "syft" else _rust_results(output.read_bytes())
            parse = parse_syft if tool == "syft" else parse_trivy
            found = parse(data, diff_ids)
        reports[tool] = {item.key: item for item in found if item.type == "cargo"}
    return FormatScans(image, diff_ids, reports)


def test_every_crate_syft_and_trivy_both_report_portside_reports(scans: FormatScans) -> None:
    syft, trivy, portside = (scans.reports[tool] for tool in ("syft", "trivy", "portside"))
    both = set(syft) & set(trivy)
    assert len(both) >= 9, f"the tools agree on too little: {sorted(both)}"
    missing = {key: frozenset({"syft", "trivy"}) for key in both - set(portside)}
    assert not missing, "Syft and Trivy report, Portside does not:\n" + _table(missing.items())


def test_portside_reports_the_crates_of_every_format_from_its_program(
    scans: FormatScans,
) -> None:
    portside = scans.reports["portside"]
    for name in NUMBER:
        for key in expected(name):
            assert portside[key].path == PATHS[name], key
            assert portside[key].layer == 1, key
    assert set(portside) == set().union(*(expected(name) for name in NUMBER))


@pytest.mark.parametrize("name", sorted(NUMBER))
def test_which_tools_read_each_format(scans: FormatScans, name: str) -> None:
    presence = seen_by(scans.reports)
    tools, reason = SEEN_BY[name]
    assert bool(reason) == (tools != ALL)
    found = {key: presence.get(key, frozenset()) for key in expected(name)}
    wrong = {key: seen for key, seen in found.items() if seen != tools}
    assert not wrong, f"{name} ({reason or 'all three'}); now:\n" + _table(wrong.items())
    for tool in tools - {"portside"}:
        for key in expected(name):
            assert scans.reports[tool][key].layer == 1, (tool, key)


def test_no_tool_reports_a_build_only_crate(scans: FormatScans) -> None:
    for tool, report in scans.reports.items():
        assert not [key for key in report if key[1] == "cc"], tool
