"""The .NET cataloger on a deps.json as ``dotnet publish`` writes it, with the layer that
introduced each package, and on files built to hurt.

No .NET SDK is installed on a machine of this project, so the file is kept here in the
shape the .NET 8 SDK writes it (trimmed to a few libraries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portside.scanner.analyze import analyze
from portside.scanner.catalogers.base import Cataloger
from portside.scanner.catalogers.dotnet import (
    MAX_DEPS_BYTES,
    MAX_LIBRARIES,
    DotnetCataloger,
    DotnetMetadataError,
    parse_deps,
    purl,
)
from portside.scanner.catalogers.dpkg import DpkgCataloger
from portside.scanner.model import Package
from tests.scanner.catalogers.conftest import Image, layer_digest
from tests.scanner.images import file, layer, oci_layout

TARGET = ".NETCoreApp,Version=v8.0"


def _library(sha: str) -> dict[str, Any]:
    return {
        "type": "package",
        "serviceable": True,
        "sha512": f"sha512-{sha}==",
        "path": "x/1.0.0",
        "hashPath": "x.1.0.0.nupkg.sha512",
    }


def deps(**libraries: dict[str, Any]) -> dict[str, Any]:
    listed = {key: value for key, value in libraries.items() if value.get("type") != "build"}
    return {
        "runtimeTarget": {"name": TARGET, "signature": ""},
        "compilationOptions": {},
        "targets": {
            TARGET: {
                "MyApp/1.0.0": {
                    "dependencies": {"Newtonsoft.Json": "13.0.1", "Serilog": "2.10.0"},
                    "runtime": {"MyApp.dll": {}},
                },
                **{key: {"runtime": {f"lib/net8.0/{key}.dll": {}}} for key in listed},
            }
        },
        "libraries": {
            "MyApp/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
            "Lib.Reference/2.0.0": {"type": "reference", "serviceable": False, "sha512": ""},
            **{key: {**value, "type": "package"} for key, value in libraries.items()},
        },
    }


APP = deps(
    **{
        "Newtonsoft.Json/13.0.1": _library("a"),
        "Serilog/2.10.0": _library("b"),
        "Microsoft.Extensions.Logging/8.0.0-rc.2.23479.6": _library("c"),
        "Build.Only/3.0.0": {**_library("d"), "type": "build"},
    }
)


def _json(document: object) -> bytes:
    return json.dumps(document, indent=2).encode()


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = DotnetCataloger().catalog(*image.build(DotnetCataloger()))
    return sorted(found, key=lambda p: (p.name, p.version)), found.warnings


def test_the_packages_of_a_deps_json() -> None:
    found, warnings = catalog(Image().add("/app/MyApp.deps.json", _json(APP)))
    assert warnings == []
    assert [(p.name, p.version, p.metadata["runtime"]) for p in found] == [
        ("Build.Only", "3.0.0", False),
        ("Microsoft.Extensions.Logging", "8.0.0-rc.2.23479.6", True),
        ("Newtonsoft.Json", "13.0.1", True),
        ("Serilog", "2.10.0", True),
    ]
    newtonsoft = found[2]
    assert newtonsoft.type == "nuget"
    assert newtonsoft.purl == "pkg:nuget/Newtonsoft.Json@13.0.1"
    assert newtonsoft.metadata["sha512"] == "sha512-a=="
    assert newtonsoft.paths == ("/app/MyApp.deps.json",)
    assert newtonsoft.layer == layer_digest(0)
    assert newtonsoft.cataloger == "dotnet"


def test_each_package_keeps_the_layer_that_introduced_it() -> None:
    upgraded = deps(**{"Newtonsoft.Json/13.0.1": _library("a"), "Serilog/3.1.1": _library("e")})
    image = (
        Image()
        .add("/app/MyApp.deps.json", _json(APP), layer=0)
        .add("/app/other", b"", layer=1)
        .add("/app/MyApp.deps.json", _json(upgraded), layer=2)
    )
    found, _ = catalog(image)
    assert {(p.name, p.version): p.layer for p in found} == {
        ("Newtonsoft.Json", "13.0.1"): layer_digest(0),
        ("Serilog", "3.1.1"): layer_digest(2),
    }


def test_without_a_runtime_target_every_target_counts() -> None:
    document = deps(**{"Serilog/2.10.0": _library("b")})
    del document["runtimeTarget"]
    (only,) = parse_deps(_json(document))
    assert only.runtime is True
    del document["targets"]
    (only,) = parse_deps(_json(document))
    assert only.runtime is False


def test_claims() -> None:
    cataloger = DotnetCataloger()
    assert cataloger.claims("/app/MyApp.deps.json", 0o644, 10)
    assert cataloger.claims(
        "/usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.0/Microsoft.NETCore.App.deps.json",
        0o644,
        10,
    )
    assert not cataloger.claims("/app/.deps.json", 0o644, 10)
    assert not cataloger.claims("/app/MyApp.runtimeconfig.json", 0o644, 10)
    assert not cataloger.claims("/app/deps.json", 0o644, 10)
    assert not cataloger.claims("/app/MyApp.deps.json", 0o644, MAX_DEPS_BYTES + 1)


def test_purls() -> None:
    assert purl("Newtonsoft.Json", "13.0.1") == "pkg:nuget/Newtonsoft.Json@13.0.1"


def test_a_deps_json_an_os_package_installed_is_the_os_package(tmp_path: Path) -> None:
    """Microsoft's dotnet-runtime deb installs the runtime's own deps.json."""
    owned = "usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.0/Microsoft.NETCore.App.deps.json"
    status = (
        "Package: dotnet-runtime-8.0\nStatus: install ok installed\nArchitecture: amd64\n"
        "Version: 8.0.0-1\nDescription: runtime\n the runtime\n"
    )
    base = layer(
        [
            file("var/lib/dpkg/status", status),
            file("var/lib/dpkg/info/dotnet-runtime-8.0.list", f"/{owned}\n"),
            file(owned, _json(deps(**{"System.Text.Json/8.0.0": _library("s")}))),
        ]
    )
    app = layer([file("app/MyApp.deps.json", _json(APP))])
    oci_layout(tmp_path, [base, app])
    catalogers: list[Cataloger] = [DpkgCataloger(), DotnetCataloger()]
    packages = analyze(tmp_path, catalogers=catalogers).inventory.packages
    nuget = {p.name: p.layer for p in packages if p.type == "nuget"}
    assert "System.Text.Json" not in nuget
    assert nuget["Newtonsoft.Json"] == app.digest
    assert len(nuget) == 4


# --- hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not valid JSON"),
        (b'{"libraries": {', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"{" * 50_000 + b"}" * 50_000, "nested too deeply|not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"libraries": []}', "libraries is not an object"),
        (b'{"libraries": "a/1.0.0"}', "libraries is not an object"),
    ],
)
def test_a_malformed_deps_json_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(DotnetMetadataError, match=reason):
        parse_deps(data)


def test_libraries_of_the_wrong_shape_are_passed_over() -> None:
    document = {
        "targets": [],
        "runtimeTarget": "x",
        "libraries": {
            "NoVersion": {"type": "package"},
            "Bad Name/1.0.0": {"type": "package"},
            "Name/not-a-version": {"type": "package"},
            "Name/1.0.0/extra": {"type": "package"},
            "Name/1.0.0.0.0": {"type": "package"},
            "Name/1.0.0": ["package"],
            "Other/1.0.0": {"type": ["package"]},
            "Null/1.0.0": None,
            "Ok/1.0.0": {"type": "package", "sha512": 7},
        },
    }
    (only,) = parse_deps(_json(document))
    assert (only.name, only.version, only.sha512, only.runtime) == ("Ok", "1.0.0", "", False)


def test_no_libraries_lists_none() -> None:
    assert parse_deps(b"{}") == []


def test_huge_files_and_too_many_libraries_are_refused() -> None:
    with pytest.raises(DotnetMetadataError, match="over"):
        parse_deps(b" " * (MAX_DEPS_BYTES + 1))
    many = {f"P{i}/1.0.0": {"type": "package"} for i in range(MAX_LIBRARIES + 1)}
    with pytest.raises(DotnetMetadataError, match="more than"):
        parse_deps(_json({"libraries": many}))


def test_a_bad_file_is_a_warning_and_the_others_are_read() -> None:
    image = Image().add("/a/A.deps.json", b"{").add("/b/B.deps.json", _json(APP))
    found, warnings = catalog(image)
    assert len(found) == 4
    (warning,) = warnings
    assert warning.startswith("/a/A.deps.json: not valid JSON")
