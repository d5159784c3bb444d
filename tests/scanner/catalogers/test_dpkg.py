"""The dpkg cataloger: status and status.d, owned files, licences, purls, and damaged
databases. The real database of this machine, read by dpkg-query, is the reference."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from debian.copyright import Copyright, NotMachineReadableError
from hypothesis import given, settings
from hypothesis import strategies as st

from portside.scanner import errors
from portside.scanner.analyze import analyze
from portside.scanner.catalogers.dpkg import DpkgCataloger, parse_status
from portside.scanner.model import Package
from tests.scanner import images
from tests.scanner.images import directory, file, layer, oci_layout, symlink

DEP5 = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"


def packages(tmp_path: Path, *layers: list[images.Member]) -> dict[str, Package]:
    oci_layout(tmp_path, [layer(m, "none") for m in layers])
    found = analyze(tmp_path, catalogers=[DpkgCataloger()]).inventory.packages
    return {p.name: p for p in found}


def test_only_installed_packages_are_listed() -> None:
    status = b"""Package: a
Status: install ok installed
Version: 1.0-1
Architecture: amd64

Package: b
Status: deinstall ok config-files
Version: 2
Architecture: amd64

Package: c
Status: install reinstreq half-installed
Version: 3

Package: d
Status: hold ok installed
Version: 4
Architecture: all
"""
    assert [(r.name, r.version, r.architecture) for r in parse_status(status)] == [
        ("a", "1.0-1", "amd64"),
        ("d", "4", "all"),
    ]


def test_source_with_and_without_its_version() -> None:
    status = b"""Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u7
Source: glibc

Package: libssl3
Status: install ok installed
Version: 3.0.15-1~deb12u1
Source: openssl (3.0.15-1~deb12u1+b1)

Package: bash
Status: install ok installed
Version: 5.2.15-2+b7
"""
    found = [(r.name, r.source_name, r.source_version) for r in parse_status(status)]
    assert found == [
        ("libc6", "glibc", "2.36-9+deb12u7"),
        ("libssl3", "openssl", "3.0.15-1~deb12u1+b1"),
        ("bash", "bash", "5.2.15-2+b7"),
    ]


def test_a_debian_layer(tmp_path: Path) -> None:
    status = """Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Installed-Size: 12988
Source: glibc
Version: 2.36-9+deb12u7

Package: libfoo1
Status: install ok installed
Architecture: amd64
Version: 1:1.2-3
"""
    copyright_dep5 = f"""Format: {DEP5}
Upstream-Name: glibc

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 The GNU C Library is free software.

Files: debian/*
Copyright: 1998 Someone
License: GPL-2+

Files: other/*
Copyright: 1998 Someone
License: LGPL-2.1+

License: GPL-2+
 The text of the licence.
"""
    members = [
        file("etc/os-release", "ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n"),
        file("var/lib/dpkg/status", status),
        file("var/lib/dpkg/info/libc6:amd64.list", "/.\n/lib\n/lib/x86_64-linux-gnu/libc.so.6\n"),
        file("var/lib/dpkg/info/libfoo1.list", "/usr/lib/libfoo.so.1\n"),
        file("usr/share/doc/libc6/copyright", copyright_dep5),
        directory("usr/share/doc/libfoo-common"),
        file(
            "usr/share/doc/libfoo-common/copyright", f"Format: {DEP5}\n\nFiles: *\nLicense: MIT\n"
        ),
        symlink("usr/share/doc/libfoo1", "libfoo-common"),
    ]
    found = packages(tmp_path, members)
    libc = found["libc6"]
    assert libc.purl == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=debian-12"
    assert libc.files == ("/lib", "/lib/x86_64-linux-gnu/libc.so.6")
    assert libc.licenses == ("LGPL-2.1+", "GPL-2+")
    assert (libc.source_name, libc.source_version) == ("glibc", "2.36-9+deb12u7")
    assert libc.metadata["maintainer"].startswith("GNU Libc") and libc.cataloger == "dpkg"
    assert libc.metadata["installed_size"] == "12988"
    foo = found["libfoo1"]
    assert foo.version == "1:1.2-3" and foo.licenses == ("MIT",)  # through the doc link
    assert foo.purl == "pkg:deb/debian/libfoo1@1:1.2-3?arch=amd64&distro=debian-12"


def test_a_free_text_copyright_gives_no_licence(tmp_path: Path) -> None:
    members = [
        file("var/lib/dpkg/status", "Package: x\nStatus: install ok installed\nVersion: 1\n"),
        file("usr/share/doc/x/copyright", "This is free software.\n\nLicense: not a field file\n"),
    ]
    assert packages(tmp_path, members)["x"].licenses == ()


def test_ubuntu_and_testing_distro_qualifiers(tmp_path: Path) -> None:
    status = "Package: x\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1\n"
    ubuntu = packages(
        tmp_path / "u",
        [
            file("etc/os-release", 'ID=ubuntu\nVERSION_ID="24.04"\n'),
            file("var/lib/dpkg/status", status),
        ],
    )
    assert ubuntu["x"].purl == "pkg:deb/ubuntu/x@1?arch=arm64&distro=ubuntu-24.04"
    testing = packages(
        tmp_path / "t",
        [
            file("etc/os-release", "ID=debian\nVERSION_CODENAME=trixie\n"),
            file("var/lib/dpkg/status", status),
        ],
    )
    assert testing["x"].purl == "pkg:deb/debian/x@1?arch=arm64&distro=debian-trixie"


def test_distroless_status_d(tmp_path: Path) -> None:
    control = "Package: {0}\nVersion: {1}\nArchitecture: amd64\nSource: {2}\n"
    members = [
        file(
            "var/lib/dpkg/status.d/base-files",
            control.format("base-files", "12.4+deb12u5", "base-files"),
        ),
        file(
            "var/lib/dpkg/status.d/base-files.md5sums",
            "d41d8cd98f00b204e9800998ecf8427e  etc/debian_version\nbroken line\n",
        ),
        file("var/lib/dpkg/status.d/tzdata", control.format("tzdata", "2024a-0+deb12u1", "tzdata")),
    ]
    tzdata_later = layer(
        [
            file(
                "var/lib/dpkg/status.d/tzdata",
                control.format("tzdata", "2024a-0+deb12u1", "tzdata"),
            )
        ]
    )
    first = layer(members)
    oci_layout(tmp_path, [first, tzdata_later])
    found = {p.name: p for p in analyze(tmp_path, catalogers=[DpkgCataloger()]).inventory.packages}
    assert found["base-files"].files == ("/etc/debian_version",)
    assert found["base-files"].paths == ("/var/lib/dpkg/status.d/base-files",)
    assert found["tzdata"].files == ()
    assert found["tzdata"].layer == first.digest  # rewritten, not new


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        (b"Package: a\x00\nVersion: 1\n", "NUL"),
        (b"Package: a\nthis is not a field\n", "line 2 is not a field"),
        (b" continuation\nPackage: a\n", "line 1 continues no field"),
        (b"Package: a\nVersion: 1\nVersion: 2\nStatus: install ok installed\n", "repeats"),
        (b"Package: a\nStatus: install ok installed\n", "no valid version"),
        (b"Status: install ok installed\nVersion: 1\n", "no valid name"),
        (b"Package: a b\nStatus: install ok installed\nVersion: 1\n", "no valid name"),
        (b"Package: a\nStatus: installed\nVersion: 1\n", "malformed Status"),
        (b"Package: a\nStatus: install ok installed\nVersion: 1\nSource: x (1) y\n", "Source"),
        (b"Package: a\nStatus: install ok installed\nVersion: 1 2\n", "no valid version"),
        (b"-Package: a\n", "not a field"),
    ],
)
def test_a_corrupt_status_file_is_a_clear_error(status: bytes, problem: str) -> None:
    with pytest.raises(errors.PackageDatabaseError, match=problem):
        parse_status(status, "/var/lib/dpkg/status")


def test_a_damaged_older_version_does_not_hide_attribution(tmp_path: Path) -> None:
    good = "Package: a\nStatus: install ok installed\nVersion: 1\n"
    first = layer([file("var/lib/dpkg/status", good)])
    broken = layer([file("var/lib/dpkg/status", "garbage\n")])
    fixed = layer([file("var/lib/dpkg/status", good)])
    oci_layout(tmp_path, [first, broken, fixed])
    (found,) = analyze(tmp_path, catalogers=[DpkgCataloger()]).inventory.packages
    assert found.layer == first.digest


def test_latin1_descriptions_are_tolerated() -> None:
    status = "Package: a\nStatus: install ok installed\nVersion: 1\nDescription: caf\xe9\n".encode(
        "latin-1"
    )
    assert [r.name for r in parse_status(status)] == ["a"]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_database_errors(data: bytes) -> None:
    try:
        parse_status(data)
    except errors.PackageDatabaseError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="PackgeVrsionStatu: \n\tinstalokd-+1.~()#", max_size=300))
def test_status_like_text_raises_only_database_errors(text: str) -> None:
    try:
        parse_status(text.encode())
    except errors.PackageDatabaseError:
        pass


def _reference_records(data: bytes, *, status_d: bool = False) -> list[tuple[str, ...]]:
    """The installed packages as python-debian's general deb822 parser reads them, after
    the same line checks: the reference for the cataloger's own one-pass reader."""
    from debian import deb822

    text = data.decode("utf-8", errors="replace")
    # The line grammar is checked by parse_status itself; an input it refuses is not
    # compared.
    records = []
    for paragraph in deb822.Deb822.iter_paragraphs(text, use_apt_pkg=False):
        if not paragraph:
            continue
        status = paragraph.get("Status", "").split()
        if status_d and not status:
            status = ["install", "ok", "installed"]
        if len(status) == 3 and status[2] == "installed":
            records.append(
                tuple(
                    paragraph.get(name, "").strip()
                    for name in ("Package", "Version", "Architecture", "Maintainer")
                )
            )
    return records


_PIECES = [
    "Package: foo",
    "Package:bar",
    "package:  baz  ",
    "Status: install ok installed",
    "Status: deinstall ok config-files",
    "Status: install ok\n installed",
    "Version: 1.0",
    "Version:2:1.0-1 ",
    "Architecture: amd64",
    "Maintainer: A <a@example.org>",
    "Maintainer: A\n continued",
    "Description: x\n long\n .\n more",
    "X-Foo: \u00a0v\u00a0",
    "Multi: a\r\n b",
    "Package: q\u2028Status: install ok installed",
    "",
    " ",
    "\t",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14), st.booleans())
def test_the_one_pass_reader_agrees_with_python_debian(pieces: list[str], status_d: bool) -> None:
    data = "\n".join(pieces).encode()
    try:
        found = parse_status(data, status_d=status_d)
    except errors.PackageDatabaseError:
        return
    assert [(r.name, r.version, r.architecture, r.maintainer) for r in found] == _reference_records(
        data, status_d=status_d
    )


def _status(count: int) -> bytes:
    return "".join(
        f"Package: p{i}\nStatus: install ok installed\nVersion: 1.{i}\n"
        f"Description: package {i}\n a longer description\n\n"
        for i in range(count)
    ).encode()


def test_more_packages_than_the_limit_is_a_clear_error(tmp_path: Path) -> None:
    assert len(parse_status(_status(20), limit=20)) == 20
    with pytest.raises(errors.TooManyPackages, match=r"more than 19 packages.*max_packages"):
        parse_status(_status(20), "/var/lib/dpkg/status", limit=19)
    # Packages only listed (not installed) do not count.
    removed = _status(5).replace(b"install ok installed", b"deinstall ok config-files")
    assert parse_status(removed + _status(3), limit=3)
    # The image's limit reaches the cataloger through the analysis.
    from portside.scanner.layers import Limits

    oci_layout(tmp_path, [layer([file("var/lib/dpkg/status", _status(30))], "none")])
    with pytest.raises(errors.TooManyPackages) as raised:
        analyze(tmp_path, catalogers=[DpkgCataloger()], limits=Limits(max_packages=29))
    assert raised.value.limit == 29 and raised.value.limit_name == "max_packages"
    assert len(analyze(tmp_path, limits=Limits(max_packages=30)).inventory.packages) == 30


def _licence_synopses(path: Path) -> tuple[str, ...] | None:
    """python-debian's own DEP-5 model: the reference for machine-readable files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                parsed = Copyright(handle, strict=False)
        except (NotMachineReadableError, ValueError):
            return None
    found: list[str] = []
    for paragraph in parsed.all_files_paragraphs():
        licence: Any = paragraph.license
        if licence is not None and licence.synopsis:
            synopsis = licence.synopsis.strip()
            if synopsis not in found:
                found.append(synopsis)
    return tuple(found)


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg")
def test_this_machines_database_matches_dpkg_query(tmp_path: Path) -> None:
    admin = tmp_path / "admin"
    (admin / "updates").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", admin / "status")  # one snapshot for both readers
    expected = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={admin}",
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    wanted = sorted(
        " ".join(line.split()[1:]) for line in expected if line.startswith("installed ")
    )
    members = [file("var/lib/dpkg/status", (admin / "status").read_bytes())]
    for listing in sorted(Path("/var/lib/dpkg/info").glob("*.list"))[:400]:
        members.append(file(f"var/lib/dpkg/info/{listing.name}", listing.read_bytes()))
    copyrights = sorted(Path("/usr/share/doc").glob("*/copyright"))[:300]
    for path in copyrights:
        if path.is_file() and not path.parent.is_symlink():
            members.append(file(str(path).lstrip("/"), path.read_bytes()))
    oci_layout(tmp_path / "image", [layer(members, "none")])
    listed = analyze(tmp_path / "image", catalogers=[DpkgCataloger()]).inventory.packages
    got = sorted(
        f"{p.name} {p.version} {p.metadata['architecture']} {p.source_name} {p.source_version}"
        for p in listed
    )
    assert got == wanted and len(got) > 50
    found = {p.name: p for p in listed}
    with_files = [p for p in listed if p.files]
    assert len(with_files) > 100
    for p in with_files[:25]:
        listing = Path("/var/lib/dpkg/info") / f"{p.name}:{p.metadata['architecture']}.list"
        if not listing.exists():
            listing = Path("/var/lib/dpkg/info") / f"{p.name}.list"
        lines = [x for x in listing.read_text(errors="surrogateescape").splitlines() if x != "/."]
        assert list(p.files) == lines
    compared = 0
    for path in copyrights[:80]:  # python-debian's full model is slow on long licence texts
        name = path.parent.name
        if name in found and not path.parent.is_symlink():
            reference = _licence_synopses(path)
            if reference is not None:
                assert found[name].licenses == reference, name
                compared += 1
    assert compared > 20
