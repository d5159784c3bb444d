"""The checks about what a running container can do read its final file system, on
purpose: a setuid program (PS-005), a world-writable file (PS-006), sudo (PS-017) or an
account without a password (PS-020) that a later layer deleted or wrote over is not in
the container. Each test builds real tar layers and runs the real analysis: the hidden
version is in ``Analysis.hidden`` (and its bytes in the size check, PS-010), yet the
check passes; what a later layer makes worse is blamed on that layer; a hard link that
keeps a hidden file reachable counts; and hostile whiteout names change none of it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from portside.scanner.analyze import Analysis, analyze
from portside.scanner.hidden import DELETED, REPLACED
from portside.scanner.practices import Result, Status, review
from tests.scanner import images
from tests.scanner.images import Layer, Member, directory, file, layer, opaque, whiteout

TODAY = dt.date(2026, 1, 15)
LOCKED_SHADOW = "root:*:19000:0:99999:7:::\napp:!:19000::::::\n"
EMPTY_SHADOW = "root::19000:0:99999:7:::\napp:!:19000::::::\n"
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001::/home/app:/bin/sh\n"
CHECKS = ("PS-005", "PS-006", "PS-017", "PS-020")


def base() -> Layer:
    return layer(
        [
            file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            file("etc/passwd", PASSWD),
            file("etc/shadow", LOCKED_SHADOW, mode=0o640),
            directory("tmp"),
        ],
        created_by="ADD rootfs.tar /",
    )


def hard_link(path: str, target: str, mode: int) -> Member:
    """A hard link whose own entry carries ``mode`` (tar writes the file's mode there,
    and runtimes set it on the inode)."""
    return Member(path, kind="hardlink", linkname=target, mode=mode)


def dpkg(*packages: str) -> Member:
    paragraphs = [
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Version: 1.0-1\nDescription: {name}\n {name}\n"
        for name in packages
    ]
    return file("var/lib/dpkg/status", "\n".join(paragraphs))


def scan(tmp_path: Path, layers: list[Layer]) -> Analysis:
    images.oci_layout(tmp_path, layers)
    return analyze(tmp_path)


def results(analysis: Analysis) -> dict[str, Result]:
    return {r.id: r for r in review(analysis, today=TODAY)}


def hidden(analysis: Analysis) -> set[tuple[str, int, int, str]]:
    return {(h.path, h.layer, h.by, h.how) for h in analysis.hidden}


# PS-005 ------------------------------------------------------------------------------------


def test_a_setuid_program_a_later_layer_deleted_cannot_run_and_passes(tmp_path: Path) -> None:
    add = layer([file("usr/bin/newgrp", b"\x7fELF" * 300, mode=0o4755)], created_by="RUN add")
    remove = layer([whiteout("usr/bin/newgrp")], created_by="RUN rm /usr/bin/newgrp")
    analysis = scan(tmp_path, [base(), add, remove])
    assert hidden(analysis) == {("/usr/bin/newgrp", 1, 2, DELETED)}
    found = results(analysis)
    assert found["PS-005"].status is Status.PASS
    assert "1.2 KiB of them hidden by later layers" in found["PS-010"].message


def test_chmod_in_a_later_layer_decides_either_way(tmp_path: Path) -> None:
    """``chmod u-s`` writes a copy without the bits: fixed. ``chmod u+s`` writes a copy
    with them: the chmod's layer is the one to change, not the one that added the file."""
    add = layer(
        [file("usr/bin/chfn", b"a", mode=0o4755), file("usr/bin/tool", b"b", mode=0o755)],
        created_by="RUN install",
    )
    chmod = layer(
        [file("usr/bin/chfn", b"a", mode=0o755), file("usr/bin/tool", b"b", mode=0o4755)],
        created_by="RUN chmod u-s /usr/bin/chfn && chmod u+s /usr/bin/tool",
    )
    analysis = scan(tmp_path, [base(), add, chmod])
    assert {("/usr/bin/chfn", 1, 2, REPLACED), ("/usr/bin/tool", 1, 2, REPLACED)} <= hidden(
        analysis
    )
    found = results(analysis)["PS-005"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths) == (2, ("/usr/bin/tool",))


def test_a_hard_link_keeps_a_deleted_setuid_program_reachable(tmp_path: Path) -> None:
    add = layer(
        [
            file("usr/bin/su", b"\x7fELF", mode=0o4755),
            hard_link("usr/local/bin/become", "usr/bin/su", mode=0o4755),
        ],
        created_by="RUN install su",
    )
    remove = layer([whiteout("usr/bin/su")], created_by="RUN rm /usr/bin/su")
    analysis = scan(tmp_path, [base(), add, remove])
    found = results(analysis)["PS-005"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths) == (1, ("/usr/local/bin/become",))


# PS-006 ------------------------------------------------------------------------------------


def test_a_world_writable_file_a_later_layer_deleted_or_fixed_passes(tmp_path: Path) -> None:
    add = layer(
        [file("app/run.sh", "#!/bin/sh\n", mode=0o777), file("app/config.ini", "", mode=0o666)],
        created_by="COPY . /app",
    )
    fix = layer(
        [whiteout("app/run.sh"), file("app/config.ini", "", mode=0o644)],
        created_by="RUN rm /app/run.sh && chmod 644 /app/config.ini",
    )
    analysis = scan(tmp_path, [base(), add, fix])
    assert hidden(analysis) == {
        ("/app/run.sh", 1, 2, DELETED),
        ("/app/config.ini", 1, 2, REPLACED),
    }
    assert results(analysis)["PS-006"].status is Status.PASS


def test_a_world_writable_copy_or_link_in_the_final_image_fails(tmp_path: Path) -> None:
    add = layer(
        [file("app/config.ini", "", mode=0o644), file("app/data", "", mode=0o644)],
        created_by="COPY . /app",
    )
    worse = layer(
        [
            file("app/config.ini", "", mode=0o666),
            hard_link("app/data-link", "app/data", mode=0o666),
        ],
        created_by="RUN chmod 666 /app/config.ini",
    )
    found = results(scan(tmp_path, [base(), add, worse]))["PS-006"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths) == (2, ("/app/config.ini", "/app/data-link"))


# PS-017 ------------------------------------------------------------------------------------


def test_sudo_purged_by_a_later_layer_passes_and_its_bytes_still_count(tmp_path: Path) -> None:
    install = layer(
        [dpkg("sudo"), file("usr/bin/sudo", b"s" * 4096, mode=0o4755)],
        created_by="RUN apt-get install -y sudo",
    )
    purge = layer([dpkg(), whiteout("usr/bin/sudo")], created_by="RUN apt-get purge -y sudo")
    analysis = scan(tmp_path, [base(), install, purge])
    assert ("/usr/bin/sudo", 1, 2, DELETED) in hidden(analysis)
    assert not [p for p in analysis.inventory.packages if p.name == "sudo"]
    found = results(analysis)
    assert found["PS-017"].status is Status.PASS
    assert found["PS-005"].status is Status.PASS
    assert "hidden by later layers" in found["PS-010"].message


def test_sudo_whose_binary_alone_was_deleted_fails_through_its_package(tmp_path: Path) -> None:
    install = layer(
        [dpkg("sudo"), file("usr/bin/sudo", b"s", mode=0o4755)], created_by="RUN apt-get install"
    )
    remove = layer([whiteout("usr/bin/sudo")], created_by="RUN rm /usr/bin/sudo")
    found = results(scan(tmp_path, [base(), install, remove]))["PS-017"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert evidence.layer_index == 1 and evidence.detail.startswith("sudo package")


def test_sudo_reinstalled_after_a_purge_is_blamed_on_the_reinstall(tmp_path: Path) -> None:
    first = layer([file("usr/bin/sudo", b"1", mode=0o4755)], created_by="RUN install sudo")
    purge = layer([whiteout("usr/bin/sudo")], created_by="RUN purge sudo")
    again = layer([file("usr/bin/sudo", b"2", mode=0o4755)], created_by="RUN install sudo again")
    found = results(scan(tmp_path, [base(), first, purge, again]))["PS-017"]
    assert [(e.layer_index, e.paths) for e in found.evidence] == [(3, ("/usr/bin/sudo",))]


# PS-020 ------------------------------------------------------------------------------------


def test_an_empty_password_a_later_layer_replaced_or_deleted_passes(tmp_path: Path) -> None:
    opened = layer([file("etc/shadow", EMPTY_SHADOW, mode=0o640)], created_by="RUN passwd -d root")
    locked = layer([file("etc/shadow", LOCKED_SHADOW, mode=0o640)], created_by="RUN passwd -l root")
    analysis = scan(tmp_path / "replaced", [base(), opened, locked])
    assert ("/etc/shadow", 1, 2, REPLACED) in hidden(analysis)
    assert results(analysis)["PS-020"].status is Status.PASS
    gone = layer([whiteout("etc/shadow")], created_by="RUN rm /etc/shadow")
    analysis = scan(tmp_path / "deleted", [base(), opened, gone])
    assert ("/etc/shadow", 1, 2, DELETED) in hidden(analysis)
    found = results(analysis)["PS-020"]
    assert found.status is Status.PASS  # passwd says "x" and there is no shadow: locked
    assert found.message == "every account has a password or is locked"


def test_an_empty_password_a_later_layer_sets_is_blamed_on_it(tmp_path: Path) -> None:
    opened = layer([file("etc/shadow", EMPTY_SHADOW, mode=0o640)], created_by="RUN passwd -d root")
    found = results(scan(tmp_path, [base(), opened]))["PS-020"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths, evidence.detail) == (
        1,
        ("/etc/shadow",),
        "no password: root",
    )


def test_an_empty_password_field_in_passwd_fails_with_or_without_shadow(tmp_path: Path) -> None:
    """The passwd field points at shadow only when it is ``x``; empty, it is the password."""
    opened = layer(
        [file("etc/passwd", PASSWD.replace("app:x:", "app::"))], created_by="RUN usermod -p ''"
    )
    found = results(scan(tmp_path / "with", [base(), opened]))["PS-020"]
    assert found.status is Status.FAIL
    assert found.message == "1 account with an empty password"
    (evidence,) = found.evidence
    assert (evidence.layer_index, evidence.paths, evidence.detail) == (
        1,
        ("/etc/passwd",),
        "no password: app",
    )
    no_shadow = layer(
        [file("etc/passwd", "root::0:0::/root:/bin/sh\n+::::::\n"), whiteout("etc/shadow")],
        created_by="RUN rm /etc/shadow",
    )
    found = results(scan(tmp_path / "without", [base(), no_shadow]))["PS-020"]
    assert found.status is Status.FAIL
    assert [e.detail for e in found.evidence] == ["no password: root"]  # not the NIS "+"


# hostile whiteouts -------------------------------------------------------------------------


def spoiling() -> list[Member]:
    """Everything these checks fail on."""
    return [
        dpkg("sudo"),
        file("usr/bin/sudo", b"s", mode=0o4755),
        file("usr/bin/passwd", b"p", mode=0o4755),
        file("srv/shared.cfg", "", mode=0o666),
        file("etc/shadow", EMPTY_SHADOW, mode=0o640),
    ]


def spoiled() -> Layer:
    return layer(spoiling(), created_by="RUN spoil")


def test_a_root_made_opaque_hides_everything_below_and_the_checks_pass(tmp_path: Path) -> None:
    """``/.wh..wh..opq``: the layer starts the file system again; what it hid ships."""
    fresh = layer(
        [
            opaque(""),
            file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            file("etc/passwd", PASSWD),
        ],
        created_by="COPY --from=build / /",
    )
    analysis = scan(tmp_path, [base(), spoiled(), fresh])
    assert {"/usr/bin/sudo", "/usr/bin/passwd", "/srv/shared.cfg", "/etc/shadow"} <= {
        h.path for h in analysis.hidden
    }
    found = results(analysis)
    for check in CHECKS:
        assert found[check].status is Status.PASS, found[check]
    assert "hidden by later layers" in found["PS-010"].message


@pytest.mark.parametrize(
    "names",
    [
        [".wh."],  # names nothing: ignored
        ["usr/bin/.wh."],
        ["usr/bin/.WH.sudo", "etc/.WH.shadow"],  # not whiteouts: plain files
        ["usr/bin/.wh..wh.plnk", "etc/.wh..wh.aufs"],  # aufs bookkeeping
        ["usr/bin/.wh.sudo-not", "etc/.wh.shadow-"],  # other names
        ["usr/bin/.wh.sudo", "etc/.wh..wh..opq"],  # in the same layer: never hides its own
    ],
)
def test_hostile_whiteouts_hide_nothing_they_do_not_name(tmp_path: Path, names: list[str]) -> None:
    """A whiteout can only hide what a lower layer wrote under the name it gives; none of
    these can make a check pass on a spoiled image."""
    if names[-1].endswith("opq"):  # the whiteouts ride in the spoiling layer itself
        layers = [base(), layer([*spoiling(), *(file(n) for n in names)], created_by="RUN x")]
    else:
        layers = [base(), spoiled(), layer([file(n) for n in names], created_by="RUN hostile")]
    found = results(scan(tmp_path, layers))
    for check in CHECKS:
        assert found[check].status is Status.FAIL, (check, found[check])
