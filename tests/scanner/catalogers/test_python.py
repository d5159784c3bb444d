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
    header_fields,
    normalized_name,
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


# Pieces of core metadata, ordinary and awkward, that the differential test below puts
# together: folded values, repeated and unknown fields, bytes that are not UTF-8, lines
# the email parser reads as the body, and what it treats in ways of its own.
_PIECES = [
    b"Metadata-Version: 2.1\n",
    b"Name: six\n",
    b"name: Six_Pkg.x\n",
    b"NAME:six\n",
    b"Version: 1.16.0\n",
    b"Version:\t 2.0 \n",
    b"Summary: Python 2 and 3 compatibility utilities\n",
    b"Summary: caf\xc3\xa9 \xe2\x80\x94 ok\n",
    b"Summary: \xff\xfe broken\n",
    b"Home-page: https://github.com/benjaminp/six\n",
    b"License: MIT\n",
    b"License: Licensed under\n  the MIT licence\n\tsecond line\n",
    b"License-Expression: MIT OR Apache-2.0\n",
    b"Classifier: License :: OSI Approved :: MIT License\n",
    b"Classifier: License :: OSI Approved :: BSD License\n",
    b"Classifier: Programming Language :: Python :: 3 \xc2\xa9\n",
    b"Requires-Python: >=3.8\n",
    b"Requires-Dist: requests (>=2.0)\n",
    b"Requires-Dist: idna; extra == 'x'\n",
    b"Requires-Dist: \xe9\n",
    b"Keywords: a, b\n",
    b"Project-URL: Home, https://example.com\n",
    b"X-Unknown-Field: whatever\n",
    b" continued\n",
    b"\t\n",
    b"Not a header line\n",
    b"Bad Name: with a space\n",
    b"\x00Name: nul\n",
    b"Name\x00: nul\n",
    b"Name: \x00\n",
    b":no name\n",
    b"From someone\n",
    b"From: person@example.com\n",
    b"Summary: carriage\r\n",
    b"\r\n",
    b"\n",
    b"\n\nbody text\nName: not-a-header\n",
    b"Description: header description\n",
    b"Name:",
    b"Version: 3",
    b"",
]


def test_header_fields_read_as_packaging_parses() -> None:
    """Every header ``header_fields`` reads gives the fields ``parse_email`` gives, and
    every metadata file ``parse_metadata`` reads (through either) gives the same
    distribution or the same error as through ``parse_email`` alone."""
    import random

    from packaging.metadata import parse_email

    from portside.scanner.catalogers import python as module

    rng = random.Random(1729)
    read = 0
    for count in range(4000):
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 9)))
        fields = header_fields(data)
        if fields is not None:
            read += 1
            raw, _ = parse_email(data)
            expected = {k: v for k, v in dict(raw).items() if k in _FIELD_KEYS}
            assert fields == expected, (count, data)
        try:
            ours: object = parse_metadata(data)
        except PythonMetadataError as error:
            ours = str(error)
        try:
            theirs: object = module._from_fields(module._parse_email(data))
        except PythonMetadataError as error:
            theirs = str(error)
        assert ours == theirs, (count, data)
    assert read > 2000  # most headers are read without the email package


_FIELD_KEYS = {
    "metadata_version",
    "name",
    "version",
    "summary",
    "home_page",
    "license",
    "license_expression",
    "requires_python",
    "classifiers",
    "requires_dist",
}


def test_names_normalise_as_packaging_does() -> None:
    from packaging.utils import canonicalize_name

    for name in ["Six", "zope.interface", "Foo__Bar", "a-_.b", "A.B-C_D", "x", "PyYAML"]:
        assert normalized_name(name) == canonicalize_name(name)
