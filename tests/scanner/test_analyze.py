"""The one-pass analysis: claimed files, the final index, the distro, attribution, and
the rules that apply across catalogers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from portside.core import records
from portside.scanner import errors
from portside.scanner.analyze import Analysis, analyze
from portside.scanner.catalogers import (
    LANGUAGE_MODULES,
    Deferred,
    _optional,
    default_catalogers,
)
from portside.scanner.catalogers.apk import ApkCataloger
from portside.scanner.catalogers.base import Cataloger, Context, Files
from portside.scanner.catalogers.dpkg import DpkgCataloger
from portside.scanner.catalogers.rpm import RpmCataloger
from portside.scanner.model import Package
from portside.scanner.reader import open_image
from tests.scanner import images
from tests.scanner.images import directory, file, hardlink, layer, oci_layout, symlink, whiteout

DEBIAN_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""


def status(*packages: tuple[str, str, str]) -> str:
    """A dpkg status file; each package is (name, version, state)."""
    return "\n".join(
        f"Package: {name}\nStatus: install ok {state}\nArchitecture: amd64\nVersion: {version}\n"
        f"Description: {name}\n the {name} package\n"
        for name, version, state in packages
    )


def debian_base(extra: list[images.Member] | None = None) -> list[images.Member]:
    return [
        directory("etc"),
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file(
            "var/lib/dpkg/status",
            status(("base-files", "12.4+deb12u5", "installed"), ("gone", "1.0", "config-files")),
        ),
        file("var/lib/dpkg/info/base-files.list", "/.\n/etc\n/etc/issue\n"),
        file("etc/issue", "Debian\n"),
        *(extra or []),
    ]


def test_analysis_holds_inventory_files_context_and_warnings(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file("a", "1")])])
    result = analyze(tmp_path)
    assert [f.name for f in records.fields(Analysis)] == [
        "inventory",
        "files",
        "context",
        "warnings",
        "hidden",
    ]
    assert result.warnings == () and list(result.hidden) == []
    assert isinstance(result.files, Files) and isinstance(result.context, Context)
    assert result.inventory.distro is None and result.inventory.packages == ()
    assert set(result.context.index) == {"/a"}


def test_a_debian_image_end_to_end(tmp_path: Path) -> None:
    base = layer(debian_base(), created_by="ADD rootfs.tar /")
    installed = status(
        ("base-files", "12.4+deb12u5", "installed"), ("curl", "7.88.1-10+deb12u5", "installed")
    )
    second = layer(
        [
            file("var/lib/dpkg/status", installed),
            file("var/lib/dpkg/info/curl:amd64.list", "/usr/bin/curl\n"),
        ],
        created_by="RUN apt-get install -y curl",
    )
    history: list[dict[str, Any]] = [
        {"created_by": "ADD rootfs.tar /"},
        {"created_by": 'CMD ["bash"]', "empty_layer": True},
        {"created_by": "RUN apt-get install -y curl"},
    ]
    digest = oci_layout(
        tmp_path, [base, second], config=images.config_of([base, second], history=history)
    )
    result = analyze(tmp_path)
    inventory = result.inventory
    assert inventory.image == digest and inventory.platform == "linux/amd64"
    assert inventory.distro is not None and inventory.distro.id == "debian"
    assert inventory.distro.version_id == "12" and inventory.distro.version_codename == "bookworm"
    assert [x.created_by for x in inventory.layers] == [
        "ADD rootfs.tar /",
        "RUN apt-get install -y curl",
    ]
    assert [x.digest for x in inventory.layers] == [base.digest, second.digest]
    assert [x.diff_id for x in inventory.layers] == [base.diff_id, second.diff_id]
    by_name = {p.name: p for p in inventory.packages}
    assert set(by_name) == {"base-files", "curl"}  # "gone" only left its configuration
    assert by_name["base-files"].layer == base.digest  # kept although layer 1 rewrote status
    assert by_name["curl"].layer == second.digest
    assert (
        by_name["curl"].purl
        == "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12"
    )
    assert by_name["curl"].files == ("/usr/bin/curl",)
    assert by_name["base-files"].files == ("/etc", "/etc/issue")
    assert by_name["base-files"].paths == ("/var/lib/dpkg/status",)
    # Every version of the claimed status file is kept, the final one is the last.
    history_layers = [v.layer for v in result.files.history("/var/lib/dpkg/status")]
    assert history_layers == [0, 1]
    final = result.files.final("/var/lib/dpkg/status")
    assert final is not None and b"curl" in final.data
    assert result.context.index["/etc/issue"].layer == 0
    assert inventory.config["rootfs"]["diff_ids"] == [base.diff_id, second.diff_id]


def test_an_upgraded_package_gets_the_layer_that_upgraded_it(tmp_path: Path) -> None:
    first = layer(debian_base())
    upgraded = layer([file("var/lib/dpkg/status", status(("base-files", "12.5", "installed")))])
    oci_layout(tmp_path, [first, upgraded])
    (package,) = analyze(tmp_path).inventory.packages
    assert package.version == "12.5" and package.layer == upgraded.digest


def test_a_package_removed_and_installed_again_counts_from_its_return(tmp_path: Path) -> None:
    installed = status(("tool", "1", "installed"))
    layers = [
        layer([file("var/lib/dpkg/status", installed)]),
        layer([file("var/lib/dpkg/status", status(("tool", "1", "config-files")))]),
        layer([file("var/lib/dpkg/status", installed)]),
    ]
    oci_layout(tmp_path, layers)
    (package,) = analyze(tmp_path).inventory.packages
    assert package.layer == layers[2].digest


def test_a_deleted_database_lists_nothing_but_keeps_its_history(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer(debian_base()), layer([whiteout("var/lib/dpkg/status")])])
    result = analyze(tmp_path)
    assert result.inventory.packages == ()
    assert result.files.final("/var/lib/dpkg/status") is None
    assert len(result.files.history("/var/lib/dpkg/status")) == 1
    assert "/var/lib/dpkg/status" not in result.context.index


def test_an_opaque_directory_hides_a_lower_database(tmp_path: Path) -> None:
    oci_layout(
        tmp_path,
        [layer(debian_base()), layer([directory("var/lib/dpkg"), images.opaque("var/lib/dpkg")])],
    )
    result = analyze(tmp_path)
    assert result.inventory.packages == ()
    assert "/var/lib/dpkg" in result.context.index
    assert not any(p.startswith("/var/lib/dpkg/") for p in result.context.index)


class SiteCataloger:
    """A real (if tiny) cataloger for the rules of the pass: every METADATA file is a
    PyPI package named after its directory; it leaves the layer to the pass."""

    name = "site"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return path.endswith(".dist-info/METADATA")

    def catalog(self, files: Files, context: Context) -> Iterable[Package]:
        for version in files.present():
            name, _, number = version.path.split("/")[-2].removesuffix(".dist-info").partition("-")
            yield Package(
                type="pypi",
                name=name,
                version=number,
                purl=f"pkg:pypi/{name}@{number}",
                cataloger=self.name,
                paths=(version.path,),
            )


def test_language_packages_owned_by_an_os_package_are_dropped(tmp_path: Path) -> None:
    six = "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA"
    attrs = "usr/lib/python3/dist-packages/attrs-22.2.0.dist-info/METADATA"
    requests = "usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA"
    listed = status(
        ("base-files", "12.4+deb12u5", "installed"),
        ("python3-six", "1.16.0-4", "installed"),
        ("python3-attrs", "22.2.0-1", "installed"),
    )
    members = [
        symlink("lib", "usr/lib"),
        file("var/lib/dpkg/status", listed),
        file("var/lib/dpkg/info/python3-six.list", f"/{six}\n"),
        # dpkg lists the path through /lib, the image stores it under /usr/lib.
        file("var/lib/dpkg/info/python3-attrs.list", "/" + attrs.removeprefix("usr/") + "\n"),
        file(six, "Name: six"),
        file(attrs, "Name: attrs"),
    ]
    pip = layer([file(requests, "Name: requests")], created_by="RUN pip install requests")
    oci_layout(tmp_path, [layer(members), pip])
    catalogers: list[Cataloger] = [DpkgCataloger(), SiteCataloger()]
    packages = analyze(tmp_path, catalogers=catalogers).inventory.packages
    kinds = {(p.type, p.name) for p in packages}
    assert ("pypi", "six") not in kinds and ("pypi", "attrs") not in kinds
    assert {("deb", "python3-six"), ("deb", "python3-attrs"), ("pypi", "requests")} <= kinds
    (found,) = [p for p in packages if p.name == "requests"]
    assert found.layer == pip.digest  # the pass attributes what the cataloger left open


def test_the_distro_follows_links_and_hard_links(tmp_path: Path) -> None:
    hard = [
        file("usr/lib/os-release", "ID=fedora\nVERSION_ID=40\n"),
        hardlink("etc/os-release", "usr/lib/os-release"),
    ]
    oci_layout(tmp_path / "hard", [layer(hard)])
    distro = analyze(tmp_path / "hard").inventory.distro
    assert distro is not None and (distro.id, distro.version_id) == ("fedora", "40")
    only_usr = [file("usr/lib/os-release", 'ID=alpine\nVERSION_ID=3.20.3\nID_LIKE="busybox x"\n')]
    oci_layout(tmp_path / "usr", [layer(only_usr)])
    distro = analyze(tmp_path / "usr").inventory.distro
    assert distro is not None and distro.id == "alpine" and distro.id_like == ("busybox", "x")
    chained = [
        directory("etc"),
        symlink("etc/os-release", "/etc/alternatives/os-release"),
        symlink("etc/alternatives/os-release", "../../opt/release/os-release"),
        file("opt/release/os-release", "ID=wolfi\n"),
    ]
    oci_layout(tmp_path / "chain", [layer(chained)])
    distro = analyze(tmp_path / "chain").inventory.distro
    assert distro is not None and distro.id == "wolfi"


def test_an_os_release_link_out_of_the_image_reads_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "host" / "os-release"
    outside.parent.mkdir()
    outside.write_text("ID=host\n")
    members = [symlink("etc/os-release", "../../../../../../.." + str(outside))]
    oci_layout(tmp_path / "img", [layer(members)])
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert analyze(tmp_path / "img").inventory.distro is None
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing was written


def test_a_hostile_image_writes_nothing_and_stops_with_a_clear_error(tmp_path: Path) -> None:
    escape = images.tar_of([file("../../../../tmp/escaped", "1")])
    hostile = images.tar_of([file("etc/a", ""), hardlink("etc/b", "../../../../etc/passwd")])
    before = set(Path.cwd().iterdir()), set(tmp_path.iterdir())
    for name, blob in (("escape", escape), ("hardlink", hostile)):
        oci_layout(tmp_path / name, [layer(blob)])
        with pytest.raises(errors.ScanError):
            analyze(tmp_path / name)
    assert set(Path.cwd().iterdir()) == before[0]
    assert set(tmp_path.iterdir()) - before[1] == {tmp_path / "escape", tmp_path / "hardlink"}


def test_without_a_distro_the_purl_has_no_distro_qualifier(tmp_path: Path) -> None:
    oci_layout(
        tmp_path,
        [layer([file("var/lib/dpkg/status", status(("tzdata", "2024a-0+deb12u1", "installed")))])],
    )
    (package,) = analyze(tmp_path).inventory.packages
    assert package.purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=amd64"


def test_a_docker_archive_is_analysed_like_a_layout(tmp_path: Path) -> None:
    archive = images.docker_archive(tmp_path / "i.tar", [layer(debian_base())])
    with open_image(archive) as image:
        result = analyze(image, name="debian:12")
    assert result.inventory.image == "debian:12"
    assert [p.name for p in result.inventory.packages] == ["base-files"]
    (only,) = result.inventory.layers
    assert only.digest.startswith("sha256:") and only.digest == only.diff_id  # an uncompressed tar
    assert only.media_type == "application/vnd.docker.image.rootfs.diff.tar"


def test_a_corrupt_database_stops_the_analysis_with_its_error(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file("var/lib/dpkg/status", "Package: a\n\x00\n")])])
    with pytest.raises(errors.PackageDatabaseError, match="NUL"):
        analyze(tmp_path)


def test_default_catalogers() -> None:
    first, second = default_catalogers(), default_catalogers()
    assert [c.name for c in first[:3]] == ["dpkg", "apk", "rpm"]
    deferred = [c for c in first if isinstance(c, Deferred)]
    assert isinstance(deferred[0].load(), DpkgCataloger)
    assert isinstance(deferred[1].load(), ApkCataloger)
    assert isinstance(deferred[2].load(), RpmCataloger)
    assert first[0] is not second[0]  # a fresh list each time
    present = [m for m in LANGUAGE_MODULES if _optional(f"portside.scanner.catalogers.{m}")]
    assert len(first) >= 3 + len(present)
    assert _optional("portside.scanner.catalogers.no_such_module") is None
    # Without the review, the secrets collector is left out and nothing else.
    assert [c.name for c in default_catalogers(review=False)] == [c.name for c in deferred]


def test_deferred_catalogers_claim_as_their_catalogers_do() -> None:
    """Each built-in cataloger's ``claims`` is the function ``Deferred`` offers files to,
    and its name is the one it is known by before its module is loaded."""
    for item in default_catalogers(review=False):
        assert isinstance(item, Deferred)
        loaded = item.load()
        assert loaded is not None and loaded.name == item.name
        for path, mode, size in [
            ("/var/lib/dpkg/status", 0o644, 10),
            ("/usr/share/doc/bash/copyright", 0o644, 10),
            ("/lib/apk/db/installed", 0o644, 10),
            ("/var/lib/rpm/rpmdb.sqlite", 0o644, 10),
            ("/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", 0o644, 10),
            ("/app/node_modules/lodash/package.json", 0o644, 10),
            ("/usr/local/bin/tool", 0o755, 4096),
            ("/opt/app/lib/log4j-core-2.14.1.jar", 0o644, 4096),
            ("/usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", 0o644, 10),
            ("/srv/vendor/composer/installed.json", 0o644, 10),
            ("/app/shop.deps.json", 0o644, 10),
            ("/src/Cargo.lock", 0o644, 10),
            ("/usr/lib/x86_64-linux-gnu/libcrypto.so.3", 0o644, 4096),
            ("/etc/passwd", 0o644, 10),
        ]:
            assert item.claims(path, mode, size) == loaded.claims(path, mode, size), path


def test_binary_rules_are_the_names_claims_tests() -> None:
    from portside.scanner.catalogers import binaries, claims

    assert {rule.files.pattern for rule in binaries.RULES} == set(claims.BINARY_FILES.values())


def test_a_cataloger_without_files_of_its_own_is_not_loaded(tmp_path: Path) -> None:
    """An image of Debian packages loads the dpkg cataloger and no other: the others'
    modules, and what they import, cost a small image's scan a third of its time."""
    oci_layout(tmp_path, [layer(debian_base())])
    script = (
        "import json, sys\n"
        "from portside.scanner.analyze import analyze\n"
        f"packages = analyze({str(tmp_path)!r}).inventory.packages\n"
        "print(json.dumps(sorted(p.name for p in packages)))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('portside.scanner.'))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    names, modules = (json.loads(line) for line in run.stdout.splitlines())
    assert names == ["base-files"]
    prefix = "portside.scanner.catalogers."
    loaded = {m.removeprefix(prefix) for m in modules if m.startswith(prefix)}
    assert "dpkg" in loaded
    assert not loaded & {"apk", "rpm", "python", "npm", "golang", "java", "ruby", "composer"}
    assert not loaded & {"dotnet", "rust", "binaries"}


def test_deferred_and_loaded_catalogers_find_the_same(tmp_path: Path) -> None:
    """The same image through the deferred catalogers and through the catalogers
    themselves: the same packages and warnings, for an image with files of several
    catalogers and none of the others."""
    base = "usr/lib/python3/dist-packages"
    metadata = "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n"
    oci_layout(
        tmp_path,
        [
            layer(debian_base()),
            layer(
                [
                    file(f"{base}/six-1.16.0.dist-info/METADATA", metadata),
                    file(f"{base}/six-1.16.0.dist-info/RECORD", "six.py,,\n"),
                    file(f"{base}/bad-1.dist-info/METADATA", "Name: bad\n"),
                    file("app/package.json", '{"name": "app", "version": "1.0.0"}'),
                ]
            ),
        ],
    )
    deferred = analyze(tmp_path, catalogers=default_catalogers(review=False))
    loaded = [c.load() for c in default_catalogers(review=False) if isinstance(c, Deferred)]
    eager = analyze(tmp_path, catalogers=[c for c in loaded if c is not None])
    assert deferred.inventory == eager.inventory
    assert deferred.warnings == eager.warnings and deferred.warnings
    assert {p.type for p in deferred.inventory.packages} == {"deb", "pypi", "npm"}


def test_claims_are_offered_every_regular_file_once(tmp_path: Path) -> None:
    offered: list[tuple[str, int, int]] = []

    class Recorder:
        name = "recorder"

        def claims(self, path: str, mode: int, size: int) -> bool:
            offered.append((path, mode, size))
            return path == "/x"

        def catalog(self, files: Files, context: Context) -> Iterable[Package]:
            return []

    oci_layout(
        tmp_path,
        [
            layer([directory("d"), file("x", "12", mode=0o600), symlink("s", "x")]),
            layer([file("x", "345")]),
        ],
    )
    result = analyze(tmp_path, catalogers=[Recorder()])
    assert offered == [("/x", 0o600, 2), ("/x", 0o644, 3)]
    assert [(v.layer, v.data) for v in result.files.history("/x")] == [(0, b"12"), (1, b"345")]
    assert json.dumps(sorted(result.context.index)) == '["/d", "/s", "/x"]'


def test_files_a_cataloger_skips_become_warnings(tmp_path: Path) -> None:
    base = "usr/lib/python3/site-packages"
    oci_layout(
        tmp_path,
        [
            layer(
                [
                    file(f"{base}/good-1.0.dist-info/METADATA", "Name: good\nVersion: 1.0\n"),
                    file(f"{base}/bad-1.0.dist-info/METADATA", b"\xff\xfe\x00junk"),
                ]
            )
        ],
    )
    result = analyze(tmp_path)
    assert [p.name for p in result.inventory.packages] == ["good"]
    assert any("bad-1.0.dist-info/METADATA" in w for w in result.warnings), result.warnings


def test_the_package_limit_counts_every_cataloger(tmp_path: Path) -> None:
    """Three Python packages and a deb make four: past a limit of three, the analysis
    stops with TooManyPackages, whichever catalogers found them."""
    from portside.scanner.layers import Limits

    status = "Package: zlib1g\nStatus: install ok installed\nVersion: 1\n"
    site = "usr/lib/python3/site-packages"
    members = [file("var/lib/dpkg/status", status)] + [
        file(f"{site}/p{i}-1.0.dist-info/METADATA", f"Name: p{i}\nVersion: 1.0\n") for i in range(3)
    ]
    images.oci_layout(tmp_path, [layer(members)])
    assert len(analyze(tmp_path, limits=Limits(max_packages=4)).inventory.packages) == 4
    with pytest.raises(errors.TooManyPackages, match="the image lists more than 3 packages"):
        analyze(tmp_path, limits=Limits(max_packages=3))


# Layers read in place (uncompressed) are hashed ahead, and the analysis checks them once
# its catalogers are done: the checks and their order must be what they were when each
# layer was checked as its walk ended.


def _wrong_diff_id(layers: list[images.Layer], index: int) -> bytes:
    diff_ids = [x.diff_id for x in layers]
    diff_ids[index] = images.sha256(b"not the tar")
    return images.config_of(layers, diff_ids=diff_ids)


def test_a_layer_hashed_ahead_is_checked_before_the_analysis_returns(tmp_path: Path) -> None:
    layers = [layer(debian_base(), "none"), layer([file("opt/a", "1")], "none")]
    oci_layout(tmp_path / "good", layers)
    analysis = analyze(tmp_path / "good")
    assert [x.digest for x in analysis.inventory.layers] == [x.diff_id for x in layers]
    assert [p.name for p in analysis.inventory.packages] == ["base-files"]
    oci_layout(tmp_path / "bad", layers, config=_wrong_diff_id(layers, 1))
    with pytest.raises(errors.DiffIDMismatch, match=r"layer 1 .* diff_id"):
        analyze(tmp_path / "bad")
    archive = images.docker_archive(tmp_path / "image.tar", layers)
    assert analyze(archive).inventory.layers[0].digest == layers[0].diff_id


def test_a_layer_digest_error_comes_before_a_later_layer_error(tmp_path: Path) -> None:
    layers = [layer(debian_base(), "none"), layer(b"not a tar at all" * 64, "none")]
    oci_layout(tmp_path, layers, config=_wrong_diff_id(layers, 0))
    with pytest.raises(errors.DiffIDMismatch, match=r"layer 0 .* diff_id"):
        analyze(tmp_path)


def test_a_layer_digest_error_comes_before_a_catalogers_error(tmp_path: Path) -> None:
    layers = [layer([file("var/lib/dpkg/status", "Package: a\n\x00\n")], "none")]
    oci_layout(tmp_path / "bad", layers, config=_wrong_diff_id(layers, 0))
    with pytest.raises(errors.DiffIDMismatch, match=r"layer 0 .* diff_id"):
        analyze(tmp_path / "bad")
    oci_layout(tmp_path / "good", layers)
    with pytest.raises(errors.PackageDatabaseError, match="NUL"):
        analyze(tmp_path / "good")


def _swap_blob(root: Path, original: images.Layer, blob: bytes) -> None:
    """Put other bytes where the layout keeps the layer, under the descriptor's digest."""
    (root / "blobs" / "sha256" / original.digest.split(":")[1]).write_bytes(blob)


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_a_compressed_blob_hashed_ahead_is_checked(tmp_path: Path, how: str) -> None:
    """A compressed layer is hashed ahead for its blob digest while another thread
    inflates it: a blob that inflates to the right tar but is not the blob the manifest
    names is refused, after the diff_id, as when the reading thread hashed it."""
    import gzip

    import zstandard

    members = [*debian_base(), file("opt/a", "x" * 5000)]
    good = layer(members, how)
    tar = images.layer(members, "none").blob
    other = (
        gzip.compress(tar, compresslevel=1, mtime=0)
        if how == "gzip"
        else zstandard.ZstdCompressor(level=1).compress(tar)
    )
    assert other != good.blob
    oci_layout(tmp_path / "good", [good])
    assert [p.name for p in analyze(tmp_path / "good").inventory.packages] == ["base-files"]
    oci_layout(tmp_path / "swapped", [good])
    _swap_blob(tmp_path / "swapped", good, other + b"\0" * (len(good.blob) - len(other)))
    with pytest.raises(errors.ScanError) as caught:
        analyze(tmp_path / "swapped")
    assert isinstance(caught.value, errors.DigestMismatch | errors.LayerFormatError)
    oci_layout(tmp_path / "resized", [good])
    _swap_blob(tmp_path / "resized", good, other)
    with pytest.raises(errors.DigestMismatch, match="its descriptor says"):
        analyze(tmp_path / "resized")


def test_a_compressed_blob_of_the_right_size_but_other_bytes_is_refused(tmp_path: Path) -> None:
    """Same size, same tar, other bytes: only the blob's digest can tell."""
    members = [*debian_base()]
    good = layer(members, "gzip")
    blob = bytearray(good.blob)
    blob[4:8] = b"\x01\x00\x00\x00"  # the gzip header's mtime: not part of the tar
    oci_layout(tmp_path / "one", [good])
    _swap_blob(tmp_path / "one", good, bytes(blob))
    with pytest.raises(errors.DigestMismatch, match="hashes to"):
        analyze(tmp_path / "one")
    # With a wrong diff_id as well, the diff_id is named first.
    oci_layout(tmp_path / "both", [good], config=_wrong_diff_id([good], 0))
    _swap_blob(tmp_path / "both", good, bytes(blob))
    with pytest.raises(errors.DiffIDMismatch):
        analyze(tmp_path / "both")
