"""The Composer cataloger on installed.json in both of Composer's formats and on
composer.lock, with the layer that introduced each package, and on files built to hurt.

No PHP is installed on a machine of this project, so the files are kept here in the
shapes Composer 1 and Composer 2 write them (trimmed to the fields that matter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portside.scanner.analyze import analyze
from portside.scanner.catalogers.base import Cataloger
from portside.scanner.catalogers.composer import (
    MAX_ENTRIES,
    MAX_INSTALLED_BYTES,
    ComposerCataloger,
    ComposerMetadataError,
    parse_installed,
    parse_lock,
    purl,
)
from portside.scanner.catalogers.dpkg import DpkgCataloger
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package
from tests.scanner.catalogers.conftest import Image, layer_digest
from tests.scanner.images import file, layer, oci_layout


def _package(name: str, version: str, **extra: Any) -> dict[str, Any]:
    normalized = version.removeprefix("v") + ".0"
    return {
        "name": name,
        "version": version,
        "version_normalized": normalized,
        "source": {"type": "git", "url": f"https://github.com/{name}.git", "reference": "abc"},
        "type": "library",
        "license": ["MIT"],
        "install-path": f"../{name}",
        **extra,
    }


# Composer 2's vendor/composer/installed.json.
INSTALLED_V2_PACKAGES = [
    _package("monolog/monolog", "2.9.1"),
    _package("psr/log", "1.1.4"),
    _package("symfony/polyfill-mbstring", "v1.28.0", license="MIT"),
    _package("phpunit/phpunit", "9.6.0", license=["BSD-3-Clause"]),
]
INSTALLED_V2 = {
    "packages": INSTALLED_V2_PACKAGES,
    "dev": True,
    "dev-package-names": ["phpunit/phpunit"],
}
# Composer 1 wrote a bare list.
INSTALLED_V1 = [_package("guzzlehttp/guzzle", "6.5.5"), _package("Vendor/MixedCase", "1.0.0")]
LOCK = {
    "_readme": ["This file locks the dependencies of your project to a known state"],
    "content-hash": "0123456789abcdef",
    "packages": [_package("symfony/console", "v5.4.0"), _package("psr/container", "1.1.2")],
    "packages-dev": [_package("mockery/mockery", "1.6.0"), _package("psr/container", "1.1.2")],
    "aliases": [],
    "minimum-stability": "stable",
}


def _json(document: object) -> bytes:
    return json.dumps(document, indent=4).encode()


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = ComposerCataloger().catalog(*image.build(ComposerCataloger()))
    return sorted(found, key=lambda p: (p.name, p.version)), found.warnings


def test_installed_json_of_composer_2() -> None:
    image = Image().add("/srv/app/vendor/composer/installed.json", _json(INSTALLED_V2))
    found, warnings = catalog(image)
    assert warnings == []
    assert [(p.name, p.version) for p in found] == [
        ("monolog/monolog", "2.9.1"),
        ("phpunit/phpunit", "9.6.0"),
        ("psr/log", "1.1.4"),
        ("symfony/polyfill-mbstring", "v1.28.0"),
    ]
    by_name = {p.name: p for p in found}
    assert by_name["phpunit/phpunit"].metadata["dev"] is True
    assert by_name["psr/log"].metadata == {"source": "installed", "dev": False, "type": "library"}
    assert by_name["symfony/polyfill-mbstring"].purl == (
        "pkg:composer/symfony/polyfill-mbstring@v1.28.0"
    )
    assert by_name["phpunit/phpunit"].licenses == ("BSD-3-Clause",)
    assert by_name["symfony/polyfill-mbstring"].licenses == ("MIT",)
    assert {p.type for p in found} == {"composer"}
    assert {p.paths for p in found} == {("/srv/app/vendor/composer/installed.json",)}
    assert {p.layer for p in found} == {layer_digest(0)}


def test_installed_json_of_composer_1_is_a_bare_list() -> None:
    found, warnings = catalog(
        Image().add("/legacy/vendor/composer/installed.json", _json(INSTALLED_V1))
    )
    assert warnings == []
    assert [(p.name, p.version, p.purl) for p in found] == [
        # The purl specification lowercases Composer names; the name stays as written.
        ("Vendor/MixedCase", "1.0.0", "pkg:composer/vendor/mixedcase@1.0.0"),
        ("guzzlehttp/guzzle", "6.5.5", "pkg:composer/guzzlehttp/guzzle@6.5.5"),
    ]


def test_each_package_keeps_the_layer_that_installed_it() -> None:
    path = "/srv/app/vendor/composer/installed.json"
    upgraded = {
        "packages": [*INSTALLED_V2_PACKAGES[:1], _package("psr/log", "3.0.0")],
        "dev-package-names": [],
    }
    image = (
        Image()
        .add(path, _json(INSTALLED_V2), layer=0)
        .add("/srv/other", b"", layer=1)
        .add(path, _json(upgraded), layer=2)
    )
    found, _ = catalog(image)
    assert {(p.name, p.version): p.layer for p in found} == {
        ("monolog/monolog", "2.9.1"): layer_digest(0),
        ("psr/log", "3.0.0"): layer_digest(2),
    }


def test_a_lock_file_is_read_only_without_installed_packages_beside_it() -> None:
    image = (
        Image()
        .add("/srv/app/composer.lock", _json(LOCK))
        .add("/srv/app/vendor/composer/installed.json", _json(INSTALLED_V1))
        .add("/srv/lockonly/composer.lock", _json(LOCK), layer=1)
        # An installed package's own lock file pins its development tools only.
        .add("/srv/app/vendor/psr/log/composer.lock", _json(LOCK))
    )
    found, warnings = catalog(image)
    assert warnings == []
    locked = [
        (p.name, p.version, p.metadata["dev"]) for p in found if p.metadata["source"] == "lock_file"
    ]
    assert locked == [
        ("mockery/mockery", "1.6.0", True),
        ("psr/container", "1.1.2", False),  # needed outside development too
        ("symfony/console", "v5.4.0", False),
    ]
    assert {p.paths for p in found if p.metadata["source"] == "lock_file"} == {
        ("/srv/lockonly/composer.lock",)
    }
    assert {p.layer for p in found if p.metadata["source"] == "lock_file"} == {layer_digest(1)}
    installed = [p.name for p in found if p.metadata["source"] == "installed"]
    assert installed == ["Vendor/MixedCase", "guzzlehttp/guzzle"]


def test_a_deleted_installed_json_takes_its_packages_along() -> None:
    path = "/srv/app/vendor/composer/installed.json"
    image = Image().add(path, _json(INSTALLED_V2)).delete("/srv/app/vendor", layer=1)
    assert catalog(image) == ([], [])


def test_claims() -> None:
    cataloger = ComposerCataloger()
    assert cataloger.claims("/a/vendor/composer/installed.json", 0o644, 10)
    assert cataloger.claims("/vendor/composer/installed.json", 0o644, 10)
    assert cataloger.claims("/a/composer.lock", 0o644, 10)
    assert not cataloger.claims("/a/vendor/x/y/composer.lock", 0o644, 10)
    assert not cataloger.claims("/a/composer/installed.json", 0o644, 10)
    assert not cataloger.claims("/a/installed.json", 0o644, 10)
    assert not cataloger.claims("/a/vendor/composer/installed.json", 0o644, MAX_INSTALLED_BYTES + 1)
    assert not cataloger.claims("/a/notcomposer.lock", 0o644, 10)


def test_purls() -> None:
    assert purl("laravel/framework", "v10.0.0") == "pkg:composer/laravel/framework@v10.0.0"
    assert purl("a/b", "dev-feature/x") == "pkg:composer/a/b@dev-feature/x"


def test_packages_installed_by_the_os_are_left_to_the_os_cataloger(tmp_path: Path) -> None:
    """Debian ships PHP libraries whose installed.json dpkg owns: they are the debs."""
    owned = "usr/share/php/vendor/composer/installed.json"
    status = (
        "Package: php-psr-log\nStatus: install ok installed\nArchitecture: all\n"
        "Version: 3.0.0-1\nDescription: psr\n log\n"
    )
    base = layer(
        [
            file("var/lib/dpkg/status", status),
            file("var/lib/dpkg/info/php-psr-log.list", f"/{owned}\n"),
            file(owned, _json([_package("psr/log", "3.0.0")])),
        ]
    )
    app = layer([file("srv/app/vendor/composer/installed.json", _json(INSTALLED_V2))])
    oci_layout(tmp_path, [base, app])
    catalogers: list[Cataloger] = [DpkgCataloger(), ComposerCataloger()]
    packages = analyze(tmp_path, catalogers=catalogers).inventory.packages
    composer = {(p.name, p.version): p.layer for p in packages if p.type == "composer"}
    assert ("psr/log", "3.0.0") not in composer
    assert composer[("psr/log", "1.1.4")] == app.digest
    assert len(composer) == 4
    assert [p.name for p in packages if p.type == "deb"] == ["php-psr-log"]


# --- hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not valid JSON"),
        (b'{"packages": [', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b'"a string"', "neither a list nor an object"),
        (b'{"packages": {"a/b": "1.0"}}', "neither a list nor an object"),
        (b"{}", "neither a list nor an object"),
        (b"1e999999", "neither"),  # a float, infinite
    ],
)
def test_a_malformed_installed_json_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ComposerMetadataError, match=reason):
        parse_installed(data)


def test_entries_of_the_wrong_type_are_passed_over() -> None:
    document = {
        "packages": [
            None,
            7,
            "psr/log",
            ["psr/log", "1.0.0"],
            {"name": 7, "version": "1.0.0"},
            {"name": "psr/log", "version": 1.0},
            {"name": "psr/log"},
            {"name": "no-vendor", "version": "1.0.0"},
            {"name": "a/b/c", "version": "1.0.0"},
            {"name": "a/b", "version": "1.0 0"},
            {"name": "a/b", "version": "1.0.0\x00"},
            {"name": "a/b", "version": ""},
            {"name": "a/" + "b" * 500, "version": "1.0.0"},
            {"name": "ok/ok", "version": "1.0.0", "license": {"x": 1}, "type": ["library"]},
        ],
        "dev-package-names": "ok/ok",
    }
    (only,) = parse_installed(_json(document))
    assert (only.name, only.version, only.licenses, only.kind, only.dev) == (
        "ok/ok",
        "1.0.0",
        (),
        "",
        False,
    )


@pytest.mark.parametrize(
    "document",
    [[], {"packages": "x"}, {"packages-dev": {}}, None],
)
def test_a_malformed_lock_file_is_refused(document: object) -> None:
    with pytest.raises(ComposerMetadataError):
        parse_lock(_json(document))


def test_a_lock_file_with_no_packages_lists_none() -> None:
    assert parse_lock(b"{}") == []
    assert parse_lock(_json({"packages": [], "packages-dev": None})) == []


def test_huge_files_are_refused_before_they_are_decoded() -> None:
    huge = b" " * (MAX_INSTALLED_BYTES + 1)
    with pytest.raises(ComposerMetadataError, match="over"):
        parse_installed(huge)
    with pytest.raises(ComposerMetadataError, match="over"):
        parse_lock(huge)


def test_too_many_entries_are_refused() -> None:
    many = b"[" + b",".join([b'{"name":"a/b","version":"1"}'] * (MAX_ENTRIES + 1)) + b"]"
    with pytest.raises(ComposerMetadataError, match="more than"):
        parse_installed(many)


def test_a_bad_file_is_a_warning_and_the_others_are_read() -> None:
    image = (
        Image()
        .add("/a/vendor/composer/installed.json", b"{not json")
        .add("/b/vendor/composer/installed.json", _json(INSTALLED_V1))
    )
    found, warnings = catalog(image)
    assert [p.name for p in found] == ["Vendor/MixedCase", "guzzlehttp/guzzle"]
    (warning,) = warnings
    assert warning.startswith("/a/vendor/composer/installed.json: not valid JSON")
    assert issubclass(ComposerMetadataError, PackageDatabaseError)


def test_text_the_inventory_cannot_store_is_removed() -> None:
    document = [
        {"name": "a/b", "version": "1.0.0", "license": ["MIT\x00\ud800"], "type": "lib\x01"}
    ]
    (only,) = parse_installed(json.dumps(document).encode())
    assert only.licenses == ("MIT",)
    assert only.kind == "lib"
