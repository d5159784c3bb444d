"""Small images of the language ecosystems Portside reads beside the OS packages: PHP
(Composer), .NET (deps.json), Rust (a ``cargo auditable`` program and a Cargo.lock) and an
npm application's own package. Each is an OCI layout of three layers: os-release, the
ecosystem's files, and a layer that adds to or rewrites them, so that each package's
layer can be checked. ``EXPECTED`` is what each image holds, with the index of the layer
that introduced each package. The differential tests run Syft and Trivy on them; the scan
benchmark reads the image that holds all four.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.scanner.catalogers import rustelf
from tests.scanner.images import Layer, Member, file, layer, oci_layout

ECOSYSTEMS = ("composer", "nuget", "cargo", "npm")

OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
OS_RELEASE += "VERSION_CODENAME=bookworm\n"


def _json(document: object) -> bytes:
    return json.dumps(document, indent=4).encode()


# --- PHP --------------------------------------------------------------------------------


def _composer_package(name: str, version: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "version_normalized": version.removeprefix("v") + ".0",
        "type": "library",
        "license": ["MIT"],
        "install-path": f"../{name}",
    }


def _installed_v2(*packages: tuple[str, str], dev: tuple[str, ...] = ()) -> bytes:
    return _json(
        {
            "packages": [_composer_package(n, v) for n, v in packages],
            "dev": True,
            "dev-package-names": list(dev),
        }
    )


def _composer(_work: Path) -> list[list[Member]]:
    first = [
        ("monolog/monolog", "2.9.1"),
        ("psr/log", "1.1.4"),
        ("symfony/polyfill-mbstring", "v1.28.0"),
        ("phpunit/phpunit", "9.6.0"),
    ]
    upgraded = [*first[:1], ("psr/log", "3.0.0"), *first[2:]]
    lock = {
        "content-hash": "0123456789abcdef",
        "packages": [_composer_package("symfony/console", "v5.4.0")],
        "packages-dev": [_composer_package("mockery/mockery", "1.6.0")],
    }
    legacy = [_composer_package("guzzlehttp/guzzle", "6.5.5")]
    return [
        [
            file(
                "srv/php/vendor/composer/installed.json",
                _installed_v2(*first, dev=("phpunit/phpunit",)),
            ),
            file("srv/legacy/vendor/composer/installed.json", _json(legacy)),
        ],
        [
            file(
                "srv/php/vendor/composer/installed.json",
                _installed_v2(*upgraded, dev=("phpunit/phpunit",)),
            ),
            file("srv/lockonly/composer.lock", _json(lock)),
        ],
    ]


# --- .NET -------------------------------------------------------------------------------

_TARGET = ".NETCoreApp,Version=v8.0"


def _deps(app: str, *packages: tuple[str, str]) -> bytes:
    keys = [f"{name}/{version}" for name, version in packages]
    return _json(
        {
            "runtimeTarget": {"name": _TARGET, "signature": ""},
            "compilationOptions": {},
            "targets": {
                _TARGET: {
                    f"{app}/1.0.0": {
                        "dependencies": dict(packages),
                        "runtime": {f"{app}.dll": {}},
                    },
                    **{
                        key: {"runtime": {f"lib/net8.0/{key.split('/')[0]}.dll": {}}}
                        for key in keys
                    },
                }
            },
            "libraries": {
                f"{app}/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
                **{
                    key: {
                        "type": "package",
                        "serviceable": True,
                        "sha512": "sha512-AAAA==",
                        "path": key.lower(),
                        "hashPath": key.lower().replace("/", ".") + ".nupkg.sha512",
                    }
                    for key in keys
                },
            },
        }
    )


def _nuget(_work: Path) -> list[list[Member]]:
    return [
        [
            file(
                "app/MyApp.deps.json",
                _deps("MyApp", ("Newtonsoft.Json", "13.0.1"), ("Serilog", "2.10.0")),
            )
        ],
        [
            file(
                "app/MyApp.deps.json",
                _deps("MyApp", ("Newtonsoft.Json", "13.0.1"), ("Serilog", "3.1.1")),
            ),
            file("srv/worker/Worker.deps.json", _deps("Worker", ("System.Text.Json", "8.0.4"))),
        ],
    ]


# --- Rust -------------------------------------------------------------------------------

CARGO_LOCK = """version = 3

[[package]]
name = "anyhow"
version = "1.0.80"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "5ad32ce52e4161730f7098c077cd2ed6229b5804ccf99e5366be1ab72a98b4e1"

[[package]]
name = "lock-demo"
version = "0.1.0"
dependencies = [
 "anyhow",
]
"""


def _cargo(work: Path) -> list[list[Member]]:
    program = rustelf.auditable_binary(work, rustelf.compressed(rustelf.AUDIT))
    return [
        [file("usr/local/bin/portside-demo", program, mode=0o755)],
        [file("src/lock-demo/Cargo.lock", CARGO_LOCK)],
    ]


# --- npm --------------------------------------------------------------------------------


def _npm(_work: Path) -> list[list[Member]]:
    app = {"name": "portside-shop", "version": "1.4.0", "private": True}
    app["dependencies"] = {"left-pad": "1.3.0"}
    return [
        [
            file("srv/app/package.json", _json(app)),
            file(
                "srv/app/node_modules/left-pad/package.json",
                _json({"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}),
            ),
        ],
        [
            file("srv/tool/package.json", _json({"name": "portside-tool", "version": "0.2.0"})),
            file("srv/unversioned/package.json", _json({"name": "no-version"})),
        ],
    ]


BUILDERS: dict[str, Callable[[Path], list[list[Member]]]] = {
    "composer": _composer,
    "nuget": _nuget,
    "cargo": _cargo,
    "npm": _npm,
}

# (name, version) -> the layer that introduced it, as Portside must report it.
EXPECTED: dict[str, dict[tuple[str, str], int]] = {
    "composer": {
        ("monolog/monolog", "2.9.1"): 1,
        ("symfony/polyfill-mbstring", "v1.28.0"): 1,
        ("phpunit/phpunit", "9.6.0"): 1,
        ("guzzlehttp/guzzle", "6.5.5"): 1,
        ("psr/log", "3.0.0"): 2,
        ("symfony/console", "v5.4.0"): 2,
        ("mockery/mockery", "1.6.0"): 2,
    },
    "nuget": {
        ("Newtonsoft.Json", "13.0.1"): 1,
        ("Serilog", "3.1.1"): 2,
        ("System.Text.Json", "8.0.4"): 2,
    },
    "cargo": {
        **{crate: 1 for crate in sorted(rustelf.RUNTIME_CRATES)},
        ("anyhow", "1.0.80"): 2,
        ("lock-demo", "0.1.0"): 2,
    },
    "npm": {
        ("portside-shop", "1.4.0"): 1,
        ("left-pad", "1.3.0"): 1,
        ("portside-tool", "0.2.0"): 2,
    },
}


@dataclass(frozen=True)
class EcosystemImage:
    name: str
    path: Path  # the OCI layout
    diff_ids: tuple[str, ...]


def build(name: str, root: Path) -> EcosystemImage:
    """The OCI layout of one ecosystem's image (``all``: every ecosystem's layers, one
    after the other, after os-release), written under ``root``."""
    chosen = ECOSYSTEMS if name == "all" else (name,)
    layers: list[Layer] = [layer([file("etc/os-release", OS_RELEASE)], created_by="base")]
    for ecosystem in chosen:
        stages = BUILDERS[ecosystem](root / f"{name}-work" / ecosystem)
        layers.extend(
            layer(members, created_by=f"{ecosystem} {index}")
            for index, members in enumerate(stages, start=1)
        )
    target = root / name
    oci_layout(target, layers)
    return EcosystemImage(name, target, tuple(x.diff_id for x in layers))
