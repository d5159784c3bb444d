"""The apk cataloger: Alpine's installed database, its files, purls, attribution and
damaged databases. The sample follows the layout apk-tools writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portside.scanner import errors
from portside.scanner.analyze import analyze
from portside.scanner.catalogers.apk import ApkCataloger, parse_installed
from portside.scanner.model import Package
from tests.scanner.images import file, layer, oci_layout, symlink

OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'

MUSL = """C:Q1nZ4Rk6sXnU5F1Yc6bJ5zvIhV5wE=
P:musl
V:1.2.5-r0
A:x86_64
S:411270
I:634880
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712148120
c:cf6e9a2a0e8bf7c8c94a06b0f4a1e52e70a35a2e
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1ZmL4yJ9o0mz5y8bnzNmAUhJpoy0=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=
"""

SSL = """P:libssl3
V:3.3.2-r0
A:x86_64
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
D:so:libc.musl-x86_64.so.1 so:libcrypto.so.3
F:usr
F:usr/lib
R:libssl.so.3
F:usr/lib/engines-3
"""

CURL = """P:curl
V:8.10.1-r0
A:x86_64
L:curl
o:curl
F:usr/bin
R:curl
"""


def catalogued(tmp_path: Path, *layers: str) -> tuple[dict[str, Package], list[str]]:
    built = [layer([file("etc/os-release", OS_RELEASE)])]
    built += [layer([file("lib/apk/db/installed", text)]) for text in layers]
    oci_layout(tmp_path, built)
    found = analyze(tmp_path, catalogers=[ApkCataloger()]).inventory.packages
    return {p.name: p for p in found}, [x.digest for x in built]


def test_an_alpine_database(tmp_path: Path) -> None:
    found, _ = catalogued(tmp_path, f"{MUSL}\n{SSL}\n")
    musl, ssl = found["musl"], found["libssl3"]
    assert musl.purl == "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"
    assert musl.licenses == ("MIT",) and musl.cataloger == "apk"
    assert musl.files == ("/lib", "/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1")
    assert musl.metadata["maintainer"] == "Natanael Copa <ncopa@alpinelinux.org>"
    assert (ssl.source_name, ssl.source_version) == ("openssl", "3.3.2-r0")
    assert ssl.files == ("/usr", "/usr/lib", "/usr/lib/libssl.so.3", "/usr/lib/engines-3")
    assert ssl.paths == ("/lib/apk/db/installed",)


def test_a_rewritten_database_keeps_the_layer_of_packages_already_there(tmp_path: Path) -> None:
    found, digests = catalogued(tmp_path, f"{MUSL}\n{SSL}\n", f"{MUSL}\n{SSL}\n\n{CURL}")
    assert found["musl"].layer == found["libssl3"].layer == digests[1]
    assert found["curl"].layer == digests[2]


def test_merged_usr_location(tmp_path: Path) -> None:
    oci_layout(
        tmp_path,
        [layer([symlink("lib", "usr/lib"), file("usr/lib/apk/db/installed", CURL)])],
    )
    (curl,) = analyze(tmp_path, catalogers=[ApkCataloger()]).inventory.packages
    assert curl.paths == ("/usr/lib/apk/db/installed",)
    assert curl.purl == "pkg:apk/alpine/curl@8.10.1-r0?arch=x86_64"  # no os-release here


def test_wolfi_namespace(tmp_path: Path) -> None:
    oci_layout(
        tmp_path,
        [
            layer(
                [
                    file("etc/os-release", "ID=wolfi\nVERSION_ID=20230201\n"),
                    file("lib/apk/db/installed", CURL),
                ]
            )
        ],
    )
    (curl,) = analyze(tmp_path, catalogers=[ApkCataloger()]).inventory.packages
    assert curl.purl == "pkg:apk/wolfi/curl@8.10.1-r0?arch=x86_64&distro=wolfi-20230201"


def test_files_at_the_root_and_crlf_lines() -> None:
    (record,) = parse_installed(b"P:x\r\nV:1\r\nR:init\r\n")
    assert record.files == ["/init"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"P:a\nV:1\n\x00", "NUL"),
        (b"P:a\nthis is no field\n", "line 2 is not a field"),
        (b"P:a\nV:1\nV:2\n", "repeats the field V"),
        (b"V:1\nA:x86_64\n", "no valid name"),
        (b"P:a\nA:x86_64\n", "no valid version"),
        (b"P:a b\nV:1\n", "no valid name"),
        (b"P:a\nV:1 2\n", "no valid version"),
        (b"1:a\n", "not a field"),
    ],
)
def test_a_corrupt_database_is_a_clear_error(data: bytes, problem: str) -> None:
    with pytest.raises(errors.PackageDatabaseError, match=problem):
        parse_installed(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_database_errors(data: bytes) -> None:
    try:
        parse_installed(data)
    except errors.PackageDatabaseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="PVAoLFR:\n ab1.-r", max_size=200))
def test_database_like_text_raises_only_database_errors(text: str) -> None:
    try:
        parse_installed(text.encode())
    except errors.PackageDatabaseError:
        pass
