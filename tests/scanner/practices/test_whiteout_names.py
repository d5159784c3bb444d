"""Whiteouts whose names hold ``..``, ``.`` or nothing, read by the real analysis.

The rule (``docs/architecture.md``, "The analysis"): a whiteout is a path like any
other, so a ``..`` component anywhere in its name (``a/../.wh.b``) stops the scan with
``UnsafePath`` before the name is read as a whiteout: what such a name hides depends on
how ``..`` is resolved (by its text, or through a symbolic link a lower layer made), and
the scanner will not guess what a runtime hides. A whiteout naming ``..`` or ``.``
(``.wh...``, ``.wh..``) names the directory holding it or that directory's parent, not an
entry in it, and stops the scan too. ``.wh.`` names nothing and hides nothing. No check
ever sees a file system that hides more than the image says.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from portside.scanner import errors
from portside.scanner.analyze import analyze
from tests.scanner import images
from tests.scanner.images import Layer, file, layer

BASE = [
    file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
    file("etc/shadow", "root::19000:0:99999:7:::\n"),
    file("b", "lower"),
    file("a/b", "lower"),
    file("...", "a file named three dots"),
]


def scan(tmp_path: Path, layers: list[Layer]) -> dict[str, object]:
    images.oci_layout(tmp_path, layers)
    return dict(analyze(tmp_path).context.index)


def refused(tmp_path: Path, layers: list[Layer]) -> str:
    images.oci_layout(tmp_path, layers)
    with pytest.raises(errors.UnsafePath) as raised:
        analyze(tmp_path)
    return str(raised.value)


@pytest.mark.parametrize(
    "name",
    [
        "a/../.wh.b",  # lexically the whiteout of /b
        "a/../a/.wh.b",
        "./a/../.wh.shadow",
        "etc/../etc/.wh.shadow",
        "../.wh.b",
        "a/.wh.b/../.wh.b",
    ],
)
def test_a_whiteout_with_a_dot_dot_component_stops_the_scan(tmp_path: Path, name: str) -> None:
    message = refused(tmp_path, [layer(BASE), layer([file(name)], created_by="RUN x")])
    assert repr(name)[:40].strip("'") in message


@pytest.mark.parametrize("form", ["pax", "gnu"])
def test_the_rule_holds_for_long_names_in_extension_headers(tmp_path: Path, form: str) -> None:
    """Names past 100 bytes travel in a PAX or GNU header, read before the rule applies."""
    name = "d" * 120 + "/../.wh.b"
    raw = io.BytesIO()
    fmt = tarfile.PAX_FORMAT if form == "pax" else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        tar.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
    message = refused(tmp_path, [layer(BASE), layer(raw.getvalue())])
    assert "leaves the image's root" in message


@pytest.mark.parametrize(
    ("name", "target"),
    [(".wh...", ".."), ("a/.wh...", ".."), ("etc/.wh..", "."), (".wh..", ".")],
)
def test_a_whiteout_naming_dot_or_dot_dot_stops_the_scan(
    tmp_path: Path, name: str, target: str
) -> None:
    message = refused(tmp_path, [layer(BASE), layer([file(name)], created_by="RUN x")])
    assert message.endswith(f"the whiteout /{name} names {target}")


def test_it_stops_the_scan_even_when_it_would_hide_nothing(tmp_path: Path) -> None:
    """Refused for what it says, not for what it would do: in the first layer, over an
    empty file system, it still ends the scan."""
    refused(tmp_path, [layer([file("x/.wh..."), *BASE])])


def test_three_dots_and_an_empty_name(tmp_path: Path) -> None:
    """``.wh....`` hides the file named ``...``; ``.wh.`` names nothing and hides nothing
    (runtimes refuse a layer holding it: such an image is scanned for all it holds)."""
    index = scan(
        tmp_path,
        [layer(BASE), layer([file(".wh...."), file(".wh."), file("a/.wh.")], created_by="RUN x")],
    )
    assert "/..." not in index
    assert {"/b", "/a/b", "/etc/shadow"} <= set(index)
    assert not [path for path in index if ".wh." in path]


def test_a_docker_archive_follows_the_same_rule(tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    images.docker_archive(archive, [layer(BASE), layer([file("a/../.wh.b")])])
    with pytest.raises(errors.UnsafePath):
        analyze(archive)
