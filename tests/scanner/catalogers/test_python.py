"""The Python cataloger on distributions pip and uv really installed, and on hostile
metadata."""

from __future__ import annotations

import importlib.metadata
import time
from pathlib import Path

import packaging
import pytest

from portside.scanner.catalogers.base import FileVersion
from portside.scanner.catalogers.python import (
    MAX_METADATA_BYTES,
    MAX_RECORD_BYTES,
    PythonCataloger,
    PythonMetadataError,
    parse_metadata,
    parse_record,
)
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package
from tests.scanner.catalogers.conftest import Image, layer_digest

SITE = "/usr/local/lib/python3.12/site-packages"


def metadata(name: str, version: str, *extra: str) -> bytes:
    return "\n".join(
        [
            "Metadata-Version: 2.1",
            f"Name: {name}",
            f"Version: {version}",
            *extra,
            "",
            "A description.",
        ]
    ).encode()


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = PythonCataloger().catalog(*image.build(PythonCataloger()))
    return list(found), found.warnings


def test_a_wheel_installed_with_pip_target(six_target: Path) -> None:
    image = Image().add_tree(six_target, "/opt/app/lib", layer=1)
    (six,), warnings = catalog(image)

    assert warnings == []
    assert (six.name, six.version) == ("six", "1.16.0")
    assert six.purl == "pkg:pypi/six@1.16.0"
    assert six.type == "pypi" and six.cataloger == "python"
    assert six.licenses == ("MIT",)
    assert six.paths == ("/opt/app/lib/six-1.16.0.dist-info/METADATA",)
    assert six.layer == layer_digest(1)
    # RECORD lists the module and the metadata; pip's own files are relative to the target.
    assert "/opt/app/lib/six.py" in six.files
    assert "/opt/app/lib/six-1.16.0.dist-info/METADATA" in six.files
    assert all(f.startswith("/opt/app/lib/") for f in six.files)
    assert six.metadata["summary"] == "Python 2 and 3 compatibility utilities"
    assert six.metadata["site"] == "/opt/app/lib"


def test_distribution_installed_by_uv_with_a_license_expression() -> None:
    """packaging itself, as this project's lock installed it: PEP 639 metadata."""
    version = importlib.metadata.version("packaging")
    dist_info = Path(packaging.__file__).parent.parent / f"packaging-{version}.dist-info"
    assert dist_info.is_dir(), dist_info
    image = Image().add_tree(dist_info, f"{SITE}/{dist_info.name}")
    (found,), warnings = catalog(image)

    assert warnings == []
    assert (found.name, found.version) == ("packaging", version)
    assert found.licenses == ("Apache-2.0 OR BSD-2-Clause",)
    assert f"{SITE}/packaging/version.py" in found.files


def test_names_are_normalised_for_the_purl() -> None:
    image = Image().add(
        f"{SITE}/Foo.Bar_baz-1.0.dist-info/METADATA", metadata("Foo.Bar_baz", "1.0rc1")
    )
    (found,), _ = catalog(image)
    assert found.name == "Foo.Bar_baz"
    assert found.purl == "pkg:pypi/foo-bar-baz@1.0rc1"


def test_egg_info_directory_file_and_egg() -> None:
    image = (
        Image()
        .add(
            "/usr/lib/python3/dist-packages/chardet-5.1.0.egg-info/PKG-INFO",
            metadata("chardet", "5.1.0", "License: LGPL"),
        )
        .add(
            "/usr/lib/python3/dist-packages/chardet-5.1.0.egg-info/installed-files.txt",
            b"../chardet/__init__.py\nPKG-INFO\n",
        )
        .add(
            "/usr/lib/python3/dist-packages/distro_info-1.5.egg-info",
            metadata("distro-info", "1.5"),
        )
        .add(f"{SITE}/old-0.1-py3.12.egg/EGG-INFO/PKG-INFO", metadata("old", "0.1"))
    )
    found, warnings = catalog(image)
    assert warnings == []
    by_name = {p.name: p for p in found}
    assert set(by_name) == {"chardet", "distro-info", "old"}
    assert by_name["chardet"].licenses == ("LGPL",)
    assert by_name["chardet"].files == (
        "/usr/lib/python3/dist-packages/chardet/__init__.py",
        "/usr/lib/python3/dist-packages/chardet-5.1.0.egg-info/PKG-INFO",
    )


@pytest.mark.parametrize(
    ("fields", "licenses"),
    [
        (["License-Expression: MIT OR Apache-2.0", "License: MIT"], ("MIT OR Apache-2.0",)),
        (["License: BSD"], ("BSD",)),
        (["License: UNKNOWN", "Classifier: License :: OSI Approved :: MIT License"], ("MIT",)),
        (
            [
                "Classifier: License :: OSI Approved :: Apache Software License",
                "Classifier: License :: OSI Approved :: BSD License",
            ],
            ("Apache-2.0", "BSD-3-Clause"),
        ),
        (["Classifier: License :: OSI Approved :: Zope Public License"], ("Zope Public License",)),
        (["Classifier: License :: OSI Approved"], ()),
        # The whole licence text pasted into License names nothing.
        (["License: Copyright (c) 2010\n        Permission is hereby granted, free of charge"], ()),
    ],
)
def test_licenses(fields: list[str], licenses: tuple[str, ...]) -> None:
    assert parse_metadata(metadata("x", "1.0", *fields)).licenses == licenses


def test_layer_is_where_that_version_first_appeared() -> None:
    path = f"{SITE}/requests-2.31.0.dist-info/METADATA"
    rewritten = (
        Image()
        .add(path, metadata("requests", "2.31.0"), layer=0)
        .add(path, metadata("requests", "2.31.0", "Summary: touched"), layer=2)
    )
    (kept,), _ = catalog(rewritten)
    assert kept.layer == layer_digest(0)

    upgrade_path = f"{SITE}/requests-2.32.0.dist-info/METADATA"
    upgraded = (
        Image()
        .add(path, metadata("requests", "2.31.0"), layer=0)
        .delete(f"{SITE}/requests-2.31.0.dist-info", layer=1)
        .add(upgrade_path, metadata("requests", "2.32.0"), layer=1)
    )
    (new,), _ = catalog(upgraded)
    assert (new.version, new.layer, new.paths) == ("2.32.0", layer_digest(1), (upgrade_path,))


def test_only_its_own_files_are_read() -> None:
    image = Image().add(f"{SITE}/a-1.dist-info/METADATA", metadata("a", "1"))
    files, context = image.build(PythonCataloger())
    files.versions["/var/lib/dpkg/status"] = [FileVersion("/var/lib/dpkg/status", 0, b"\0", 0o644)]
    files.final_paths.add("/var/lib/dpkg/status")
    found = PythonCataloger().catalog(files, context)
    assert [p.name for p in found] == ["a"] and found.warnings == []


def test_claims() -> None:
    cataloger = PythonCataloger()
    assert cataloger.claims(f"{SITE}/a-1.dist-info/METADATA", 0o644, 100)
    assert cataloger.claims(f"{SITE}/a-1.dist-info/RECORD", 0o644, 100)
    assert cataloger.claims(f"{SITE}/a-1.egg-info/PKG-INFO", 0o644, 100)
    assert cataloger.claims(f"{SITE}/a-1.egg-info", 0o644, 100)
    assert not cataloger.claims(f"{SITE}/a-1.dist-info/WHEEL", 0o644, 100)
    assert not cataloger.claims(f"{SITE}/a/__init__.py", 0o644, 100)
    assert not cataloger.claims(f"{SITE}/a-1.dist-info/METADATA", 0o644, MAX_METADATA_BYTES + 1)
    assert not cataloger.claims(f"{SITE}/a-1.dist-info/RECORD", 0o644, MAX_RECORD_BYTES + 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\xff\xfe\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "no valid Name"),
        (b"Metadata-Version: 2.1\nName: \xff\xfe\nVersion: 1.0\n", "no valid Name"),
        (b"Metadata-Version: 2.1\nName: ok\n", "no valid Version"),
        (b"Metadata-Version: 2.1\nName: ok\nVersion: 1.0 ; rm -rf /\n", "no valid Version"),
        (b"Name: a\nName: b\nVersion: 1\n", "no valid Name"),
        (b"Name: ../../etc\nVersion: 1\n", "no valid Name"),
        (b"", "no valid Name"),
    ],
)
def test_hostile_metadata(data: bytes, message: str) -> None:
    with pytest.raises(PythonMetadataError, match=message) as caught:
        parse_metadata(data)
    assert isinstance(caught.value, PackageDatabaseError)
    found, warnings = catalog(Image().add(f"{SITE}/x-1.dist-info/METADATA", data))
    assert found == []
    assert len(warnings) == 1 and warnings[0].startswith(f"{SITE}/x-1.dist-info/METADATA: ")


def test_oversized_metadata() -> None:
    data = metadata("big", "1.0") + b"x" * MAX_METADATA_BYTES
    started = time.monotonic()
    with pytest.raises(PythonMetadataError, match="over"):
        parse_metadata(data)
    assert time.monotonic() - started < 1


def test_record_entries_that_leave_the_root_are_dropped() -> None:
    record = (
        b"../../../bin/tool,sha256=x,10\n"
        b"pkg/__init__.py,,\n"
        b"../../../../../../../../etc/shadow,,\n"
        b"/etc/pkg.conf,,\n"
    )
    paths, dropped = parse_record(record, SITE)
    assert paths == ("/usr/local/bin/tool", f"{SITE}/pkg/__init__.py", "/etc/pkg.conf")
    assert len(dropped) == 1 and "climbs above the root" in dropped[0]

    image = (
        Image()
        .add(f"{SITE}/pkg-1.dist-info/METADATA", metadata("pkg", "1"))
        .add(f"{SITE}/pkg-1.dist-info/RECORD", record)
    )
    (found,), warnings = catalog(image)
    assert found.files == paths
    assert len(warnings) == 1 and warnings[0].startswith(f"{SITE}/pkg-1.dist-info/RECORD: ")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (b"\xff\xfe\x00\x00", "not UTF-8"),
        (b'"' + b"x" * 200_000 + b'",,\n', "not valid CSV"),
    ],
)
def test_hostile_record_keeps_the_package(record: bytes, message: str) -> None:
    with pytest.raises(PythonMetadataError, match=message):
        parse_record(record, SITE)
    image = (
        Image()
        .add(f"{SITE}/pkg-1.dist-info/METADATA", metadata("pkg", "1"))
        .add(f"{SITE}/pkg-1.dist-info/RECORD", record)
    )
    (found,), warnings = catalog(image)
    assert found.files == () and len(warnings) == 1


def test_unstorable_characters_are_removed() -> None:
    dist = parse_metadata(metadata("x", "1.0", "Summary: a\x00b\x1bc", "License: MIT\x7f"))
    assert (dist.summary, dist.licenses) == ("abc", ("MIT",))
    paths, dropped = parse_record(b"ok.py,,\nbad\x00name.py,,\n", SITE)
    assert paths == (f"{SITE}/ok.py",) and "control characters" in dropped[0]
