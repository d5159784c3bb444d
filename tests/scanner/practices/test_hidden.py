"""Bytes a later layer hides still ship: the checks about caches, credentials, build tools
and size look at every layer, through the real analysis pass over real tar layers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from portside.scanner import errors
from portside.scanner.analyze import Analysis, analyze
from portside.scanner.hidden import DELETED, REPLACED
from portside.scanner.layers import Overlay, TarEntry
from portside.scanner.practices import Policy, Result, Status, review
from tests.scanner import images
from tests.scanner.images import (
    Layer,
    Member,
    directory,
    file,
    layer,
    opaque,
    symlink,
    whiteout,
)

TODAY = dt.date(2026, 1, 15)
MiB = 1024 * 1024
LISTS = "var/lib/apt/lists"
PACKAGES = f"{LISTS}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
RELEASE = f"{LISTS}/deb.debian.org_debian_dists_bookworm_InRelease"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def base() -> Layer:
    return layer(
        [
            file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            directory("var/lib/apt/lists"),
            directory("var/lib/apt/lists/partial"),
        ],
        created_by="ADD rootfs.tar /",
    )


def scan(tmp_path: Path, layers: list[Layer]) -> Analysis:
    images.oci_layout(tmp_path, layers)
    return analyze(tmp_path)


def results(analysis: Analysis, **kwargs: Any) -> dict[str, Result]:
    return {r.id: r for r in review(analysis, today=TODAY, **kwargs)}


def short(one: Layer) -> str:
    return one.digest[: len("sha256:") + 12]


def named(index: int, one: Layer) -> str:
    """How a message names a layer: its index, short digest and command."""
    return f"layer {index} ({short(one)}, {one.created_by})"


# PS-007 --------------------------------------------------------------------------------------


def test_apt_lists_deleted_by_whiteouts_still_fail_naming_both_layers(tmp_path: Path) -> None:
    """The case a new user tried: 48 MiB of apt lists added, then deleted, passed."""
    update = layer(
        [file(PACKAGES, b"P" * (47 * MiB)), file(RELEASE, b"R" * MiB)],
        compression="none",
        created_by="RUN apt-get update",
    )
    clean = layer(
        [whiteout(PACKAGES), whiteout(RELEASE)], created_by="RUN rm -rf /var/lib/apt/lists/*"
    )
    analysis = scan(tmp_path, [base(), update, clean])
    assert f"/{PACKAGES}" not in analysis.context.index  # gone from the final view
    found = results(analysis)["PS-007"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert evidence.layer_index == 1
    assert evidence.layer_digest == update.digest
    assert evidence.created_by == "RUN apt-get update"
    assert evidence.paths == (f"/{RELEASE}", f"/{PACKAGES}")
    assert "apt package lists: 2 files, 48.0 MiB" in evidence.detail
    both = f"added by {named(1, update)} and deleted by {named(2, clean)}"
    assert both in evidence.detail
    assert "still ship in layer 1" in evidence.detail
    assert "48.0 MiB of it hidden by later layers" in found.message
    assert both in found.message


def test_apt_lists_hidden_by_an_opaque_directory_still_fail(tmp_path: Path) -> None:
    update = layer([file(PACKAGES, b"P" * 4096)], created_by="RUN apt-get update")
    emptied = layer(
        [directory(LISTS), opaque(LISTS)], created_by="RUN rm -rf /var/lib/apt/lists && mkdir"
    )
    found = results(scan(tmp_path, [base(), update, emptied]))["PS-007"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert evidence.layer_index == 1
    assert f"added by {named(1, update)} and deleted by {named(2, emptied)}" in evidence.detail
    assert "4.0 KiB" in found.message and named(2, emptied) in found.message


def test_a_cache_deleted_with_its_parent_directory_is_found(tmp_path: Path) -> None:
    cache = "root/.cache/pip/http-v2/a/b/c"
    install = layer([file(cache, b"w" * 2048)], created_by="RUN pip install flask")
    clean = layer([whiteout("root/.cache")], created_by="RUN rm -rf /root/.cache")
    found = results(scan(tmp_path, [base(), install, clean]))["PS-007"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert evidence.paths == (f"/{cache}",)
    assert evidence.detail.startswith("pip cache: 1 file, 2.0 KiB, added by layer 1")


def test_a_cache_never_hidden_is_reported_as_before(tmp_path: Path) -> None:
    update = layer([file(PACKAGES, b"P" * 2048)], created_by="RUN apt-get update")
    analysis = scan(tmp_path, [base(), update])
    assert list(analysis.hidden) == []
    found = results(analysis)["PS-007"]
    assert found.status is Status.FAIL
    assert found.message == "apt package lists left in the image (2.0 KiB)"
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths) == (1, (f"/{PACKAGES}",))
    assert evidence.detail == "apt package lists: 1 file, 2.0 KiB"


def test_a_cache_written_over_by_a_later_layer_counts_both_versions(tmp_path: Path) -> None:
    first = layer([file(PACKAGES, b"1" * 2048)], created_by="RUN apt-get update")
    again = layer([file(PACKAGES, b"2" * 1024)], created_by="RUN apt-get update && install")
    found = results(scan(tmp_path, [base(), first, again]))["PS-007"]
    assert found.status is Status.FAIL
    assert [e.layer_index for e in found.evidence] == [1, 2]
    lower, upper = found.evidence
    assert f"written over by {named(2, again)}" in lower.detail and "2.0 KiB" in lower.detail
    assert upper.detail == "apt package lists: 1 file, 1.0 KiB"
    assert "(3.0 KiB, 2.0 KiB of it hidden by later layers" in found.message


def test_a_cache_added_and_deleted_in_the_same_layer_is_not_hidden(tmp_path: Path) -> None:
    """A layer's own whiteouts never hide its own entries (as in a runtime)."""
    both = layer([file(PACKAGES, b"P" * 1024), whiteout(PACKAGES)], created_by="RUN odd")
    analysis = scan(tmp_path, [base(), both])
    assert list(analysis.hidden) == []
    found = results(analysis)["PS-007"]
    assert found.evidence[0].detail == "apt package lists: 1 file, 1.0 KiB"


def test_a_cache_cleaned_in_its_own_step_passes(tmp_path: Path) -> None:
    """What the fix advice says: nothing of the cache reaches any layer."""
    install = layer([file("usr/bin/app", b"\x7fELF", mode=0o755)], created_by="RUN apt && rm")
    analysis = scan(tmp_path, [base(), install])
    assert results(analysis)["PS-007"].status is Status.PASS


@pytest.mark.parametrize(
    "deletions",
    [
        [whiteout(PACKAGES)],
        [whiteout("var/cache/apt/archives/curl_7.88.1-10_amd64.deb")],
        [directory("var/cache/apk"), opaque("var/cache/apk")],
        [whiteout("root/.cache")],
    ],
    ids=["list", "deb", "opaque", "directory"],
)
def test_a_whiteout_of_something_never_added_finds_nothing(
    tmp_path: Path, deletions: list[Member]
) -> None:
    analysis = scan(tmp_path, [base(), layer(deletions, created_by="RUN rm -rf caches")])
    assert list(analysis.hidden) == []
    found = results(analysis)
    assert found["PS-007"].status is Status.PASS
    assert found["PS-003"].status is Status.PASS
    assert found["PS-008"].status is Status.PASS
    assert "hidden" not in found["PS-010"].message


# PS-003 --------------------------------------------------------------------------------------


def test_a_private_key_added_then_deleted_fails_naming_both_layers(tmp_path: Path) -> None:
    leaked = layer(
        [file("root/.ssh/id_ed25519", PRIVATE_KEY, mode=0o600)], created_by="COPY key /root/.ssh/"
    )
    removed = layer([whiteout("root/.ssh/id_ed25519")], created_by="RUN rm /root/.ssh/id_ed25519")
    found = results(scan(tmp_path, [base(), leaked, removed]))["PS-003"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths) == (1, ("/root/.ssh/id_ed25519",))
    assert evidence.layer_digest == leaked.digest
    both = f"added by {named(1, leaked)} and deleted by {named(2, removed)}"
    assert both in evidence.detail
    assert "private key" in evidence.detail and "still readable in this layer" in evidence.detail
    assert both in found.message and "/root/.ssh/id_ed25519" in found.message
    shown = json.dumps(found.as_dict())
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in shown


def test_a_secret_deleted_with_an_opaque_directory_fails(tmp_path: Path) -> None:
    leaked = layer(
        [file("app/.env", "DATABASE_PASSWORD=hunter2hunter2\n")], created_by="COPY . /app"
    )
    emptied = layer([directory("app"), opaque("app")], created_by="RUN rm -rf /app/* /app/.env")
    found = results(scan(tmp_path, [base(), leaked, emptied]))["PS-003"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert f"deleted by {named(2, emptied)}" in evidence.detail
    assert "hunter2" not in json.dumps(found.as_dict())


def test_a_secret_in_the_final_image_is_reported_as_before(tmp_path: Path) -> None:
    leaked = layer([file("root/.ssh/id_rsa", PRIVATE_KEY)], created_by="COPY id_rsa /root/.ssh/")
    found = results(scan(tmp_path, [base(), leaked]))["PS-003"]
    assert found.message == "credentials in 1 file version"
    (evidence,) = found.evidence
    assert evidence.detail == "private key on line 1; value redacted"


def test_a_command_with_a_credential_is_redacted_before_it_is_cut_short(tmp_path: Path) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    command = "RUN " + "x" * 60 + f" && curl -H 'Authorization: token {token}' https://x"
    leaked = layer([file("root/.ssh/id_rsa", PRIVATE_KEY)], created_by=command)
    removed = layer([whiteout("root/.ssh/id_rsa")], created_by="RUN rm /root/.ssh/id_rsa")
    shown = json.dumps(results(scan(tmp_path, [base(), leaked, removed]))["PS-003"].as_dict())
    assert token[:8] not in shown


def test_several_hidden_secrets_are_counted_and_the_first_named(tmp_path: Path) -> None:
    leaked = layer(
        [
            file("root/.ssh/id_rsa", PRIVATE_KEY),
            file("root/.ssh/id_ed25519", PRIVATE_KEY),
            file("srv/.ssh/id_rsa", PRIVATE_KEY),
        ],
        created_by="/bin/sh -c #(nop) COPY keys /",
    )
    removed = layer([whiteout("root/.ssh")], created_by="/bin/sh -c rm -rf /root/.ssh")
    found = results(scan(tmp_path, [base(), leaked, removed]))["PS-003"]
    assert found.message.startswith(
        "credentials in 3 file versions; 2 of them hidden by a later layer but still shipped: "
        f"/root/.ssh/id_ed25519 added by layer 1 ({short(leaked)}, COPY keys /) and deleted "
        f"by layer 2 ({short(removed)}, rm -rf /root/.ssh) (and 1 more)"
    )
    assert [e.paths[0] for e in found.evidence] == [
        "/root/.ssh/id_ed25519",
        "/root/.ssh/id_rsa",
        "/srv/.ssh/id_rsa",
    ]
    assert "deleted by" not in found.evidence[2].detail


def test_a_hidden_candidate_too_big_to_read_is_not_passed_silently(tmp_path: Path) -> None:
    big = layer(
        [file("root/.ssh/id_rsa", b"k" * (2 * MiB))], compression="none", created_by="COPY key"
    )
    removed = layer([whiteout("root/.ssh/id_rsa")], created_by="RUN rm /root/.ssh/id_rsa")
    found = results(scan(tmp_path, [base(), big, removed]))["PS-003"]
    assert found.status is Status.SKIP
    assert "1 candidate file not read, e.g. /root/.ssh/id_rsa" in found.message


# PS-008 --------------------------------------------------------------------------------------


def test_a_compiler_removed_by_a_later_layer_still_fails(tmp_path: Path) -> None:
    install = layer(
        [file("usr/bin/gcc-12", b"\x7fELF", mode=0o755), symlink("usr/bin/gcc", "gcc-12")],
        created_by="RUN apt-get install -y gcc",
    )
    purge = layer(
        [whiteout("usr/bin/gcc-12"), whiteout("usr/bin/gcc")],
        created_by="RUN apt-get purge -y gcc",
    )
    found = results(scan(tmp_path, [base(), install, purge]))["PS-008"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert evidence.detail.split(" ")[0] == "gcc"
    assert (evidence.layer_index, evidence.paths) == (1, ("/usr/bin/gcc", "/usr/bin/gcc-12"))
    both = f"added by {named(1, install)} and deleted by {named(2, purge)}"
    assert both in evidence.detail
    assert found.message.startswith("build tools deleted by later layers but still shipped: gcc")
    assert both in found.message


def test_tools_in_the_final_image_are_reported_as_before(tmp_path: Path) -> None:
    install = layer(
        [file("usr/bin/curl", b"\x7fELF", mode=0o755), file("usr/bin/make", b"", mode=0o755)],
        created_by="RUN apt-get install -y curl make",
    )
    purge = layer([whiteout("usr/bin/make")], created_by="RUN apt-get purge -y make")
    found = results(scan(tmp_path, [base(), install, purge]))["PS-008"]
    assert found.message.startswith("build tools left: curl; and deleted by later layers")
    assert [e.detail.split(" ")[0] for e in found.evidence] == ["curl", "make"]
    assert found.evidence[0].detail == "curl (added by this layer)"


def test_a_tool_written_over_stays_one_finding(tmp_path: Path) -> None:
    first = layer([file("usr/bin/git", b"1", mode=0o755)], created_by="RUN install git")
    second = layer([file("usr/bin/git", b"2", mode=0o755)], created_by="RUN upgrade git")
    found = results(scan(tmp_path, [base(), first, second]))["PS-008"]
    assert found.message == "build tools left: git"
    (evidence,) = found.evidence
    assert evidence.layer_index == 2


# PS-010 --------------------------------------------------------------------------------------


def test_hidden_bytes_count_towards_the_image_size(tmp_path: Path) -> None:
    big = layer(
        [file("models/a.bin", b"m" * (3 * MiB))], compression="none", created_by="RUN fetch"
    )
    removed = layer([whiteout("models")], created_by="RUN rm -rf /models")
    analysis = scan(tmp_path, [base(), big, removed])
    found = results(analysis, policy=Policy(max_image_bytes=2 * MiB))["PS-010"]
    assert found.status is Status.FAIL
    assert "3.0 MiB of them hidden by later layers" in found.message
    top = found.evidence[0]
    assert top.layer_index == 1
    assert top.detail == f"3.0 MiB of files, 3.0 MiB of them hidden by {named(2, removed)}"
    passing = results(analysis)["PS-010"]
    assert passing.status is Status.PASS
    assert "3.0 MiB of them hidden by later layers" in passing.message


def test_size_without_hidden_bytes_reads_as_before(tmp_path: Path) -> None:
    big = layer([file("models/a.bin", b"m" * (3 * MiB))], compression="none", created_by="RUN x")
    analysis = scan(tmp_path, [base(), big])
    found = results(analysis, policy=Policy(max_image_bytes=2 * MiB))["PS-010"]
    assert found.message.startswith("3.0 MiB of files; the store's policy allows 2.0 MiB")
    assert found.evidence[0].detail == "3.0 MiB of the final files"


# hostile whiteouts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        [".wh."],  # a whiteout of nothing at the root
        ["var/lib/apt/lists/.wh."],
        [".wh..wh..opq"],  # the root made opaque: a whiteout of /
        [".wh..wh.plnk", "var/.wh..wh.aufs"],  # aufs bookkeeping
        ["var/lib/apt/lists/.wh..wh..opq", "var/lib/apt/lists/.wh..wh..opq"],
        ["etc/.wh.os-release/.wh.deeper"],
    ],
)
def test_hostile_whiteouts_neither_break_the_scan_nor_invent_findings(
    tmp_path: Path, names: list[str]
) -> None:
    hostile = layer([file(name) for name in names], created_by="RUN hostile")
    analysis = scan(tmp_path, [base(), hostile])
    found = results(analysis)
    for check in ("PS-003", "PS-007", "PS-008"):
        assert found[check].status is Status.PASS, found[check]
    assert {item.how for item in analysis.hidden} <= {DELETED}
    json.dumps([r.as_dict() for r in found.values()])


@pytest.mark.parametrize(
    "name",
    [
        ".wh...",
        "var/.wh..",
        "var/lib/../.wh.passwd",
        "../.wh.etc",
        "etc/../../.wh.x",
        "var/lib/apt/lists/.wh.partial/../x",
    ],
)
def test_whiteouts_that_leave_the_root_stop_the_scan_with_its_error(
    tmp_path: Path, name: str
) -> None:
    """``..`` in a whiteout is refused like any path with ``..``: the scan ends with an
    ``UnsafePath`` error, never with another exception or a finding."""
    hostile = layer([file(name)], created_by="RUN hostile")
    images.oci_layout(tmp_path, [base(), hostile])
    with pytest.raises(errors.UnsafePath):
        analyze(tmp_path)


# the overlay's record ----------------------------------------------------------------------


class MemoryCache:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value


def test_layers_replayed_from_the_cache_hide_the_same_entries(tmp_path: Path) -> None:
    update = layer([file(PACKAGES, b"P" * 2048), file(RELEASE, b"R")], created_by="RUN update")
    clean = layer([opaque(LISTS)], created_by="RUN clean")
    images.oci_layout(tmp_path, [base(), update, clean])
    cache = MemoryCache()
    read = analyze(tmp_path, cache=cache)
    replayed = analyze(tmp_path, cache=cache)
    assert len(cache.data) == 3
    assert sorted((h.path, h.layer, h.by, h.how) for h in read.hidden) == [
        (f"/{RELEASE}", 1, 2, DELETED),
        (f"/{PACKAGES}", 1, 2, DELETED),
    ]
    assert list(replayed.hidden) == list(read.hidden)


def entry(path: str, kind: str = "file", size: int = 0) -> TarEntry:
    return TarEntry(path, kind, size, 0o644)


def test_the_overlay_records_what_each_layer_hides_once() -> None:
    overlay = Overlay()
    for item in (
        entry("/a", "dir"),
        entry("/a/f", size=5),
        entry("/a/link", "symlink"),
        entry("/a/sub", "dir"),
        entry("/a/sub/g", size=7),
        entry("/dev/null", "char"),
        entry("/w", size=3),
    ):
        overlay.add(item, 0)
    overlay.end_layer()
    overlay.add(entry("/a", "whiteout"), 1)
    overlay.add(entry("/w", size=4), 1)
    overlay.add(entry("/dev/null", "whiteout"), 1)
    overlay.end_layer()
    overlay.add(entry("/w", "whiteout"), 2)
    overlay.add(entry("/w", size=9), 2)  # deleted and written again: one record
    overlay.add(entry("/nothing", "whiteout"), 2)
    overlay.end_layer()
    seen = sorted((h.path, h.layer, h.by, h.how, h.entry.size) for h in overlay.hidden)
    assert seen == [
        ("/a/f", 0, 1, DELETED, 5),
        ("/a/link", 0, 1, DELETED, 0),
        ("/a/sub/g", 0, 1, DELETED, 7),
        ("/w", 0, 1, REPLACED, 3),
        ("/w", 1, 2, DELETED, 4),
    ]
    assert set(overlay.index) == {"/w"} and overlay.index["/w"].size == 9


def test_a_file_written_over_a_directory_hides_the_tree() -> None:
    overlay = Overlay()
    overlay.add(entry("/d", "dir"), 0)
    overlay.add(entry("/d/x", size=2), 0)
    overlay.end_layer()
    overlay.add(entry("/d", size=1), 1)
    overlay.end_layer()
    assert [(h.path, h.by, h.how) for h in overlay.hidden] == [("/d/x", 1, DELETED)]
