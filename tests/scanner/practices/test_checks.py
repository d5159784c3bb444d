"""Each check, passing on a clean image and failing on one spoiled in one way."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from portside.scanner.model import Distro, Package
from portside.scanner.practices import Level, Policy, Result, Status, checks, review
from tests.scanner.practices.builders import GOOD_LABELS, ImageBuilder, digest

TODAY = dt.date(2026, 1, 15)


def result_of(image: ImageBuilder, check_id: str, **kwargs: Any) -> Result:
    kwargs.setdefault("today", TODAY)
    (found,) = [r for r in review(image.build(), **kwargs) if r.id == check_id]
    return found


def fails(image: ImageBuilder, check_id: str, **kwargs: Any) -> Result:
    found = result_of(image, check_id, **kwargs)
    assert found.status is Status.FAIL, found
    return found


def passes(image: ImageBuilder, check_id: str, **kwargs: Any) -> Result:
    found = result_of(image, check_id, **kwargs)
    assert found.status is Status.PASS, found
    return found


def test_a_clean_image_passes_everything_it_can_decide() -> None:
    results = review(ImageBuilder.clean().build(), today=TODAY, tags=["1.4.2", "latest"])
    assert {r.id: r.status for r in results if r.status is not Status.PASS} == {
        "PS-019": Status.SKIP  # nothing names the base image
    }


def test_checks_have_stable_ids_and_say_why_and_how() -> None:
    listed = checks()
    assert [c.id for c in listed] == sorted(c.id for c in listed)
    assert len({c.id for c in listed}) == len(listed) >= 20
    for item in listed:
        assert re.fullmatch(r"PS-\d{3}", item.id)
        assert item.title and item.why and item.fix
        assert item.level in (Level.INFO, Level.WARN, Level.FATAL)


def test_results_serialise_to_json() -> None:
    results = review(ImageBuilder.clean().build(), today=TODAY)
    data = json.loads(json.dumps([r.as_dict() for r in results]))
    assert {d["id"] for d in data} == {c.id for c in checks()}
    assert all(d["status"] in ("pass", "fail", "skip") for d in data)


# PS-001 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:root", " 0 "])
def test_root_user_fails(user: str) -> None:
    image = ImageBuilder.clean()
    image.container["User"] = user
    assert "root" in fails(image, "PS-001").message


def test_user_with_uid_zero_in_passwd_fails() -> None:
    image = ImageBuilder.clean()
    image.file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n", layer=0)
    image.container["User"] = "toor"
    found = fails(image, "PS-001")
    assert found.evidence[0].paths == ("/etc/passwd",)


@pytest.mark.parametrize("user", ["app", "10001", "10001:10001", "nobody"])
def test_unprivileged_user_passes(user: str) -> None:
    image = ImageBuilder.clean()
    image.container["User"] = user
    passes(image, "PS-001")


# PS-002 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("healthcheck", [None, {"Test": ["NONE"]}, {"Test": []}, "CMD true"])
def test_missing_healthcheck_fails(healthcheck: Any) -> None:
    image = ImageBuilder.clean()
    image.container["Healthcheck"] = healthcheck
    fails(image, "PS-002")


def test_healthcheck_passes() -> None:
    passes(ImageBuilder.clean(), "PS-002")


# PS-003 (see test_secrets.py for each kind of credential) -------------------------------------


def test_private_key_in_a_file_fails_with_its_layer() -> None:
    image = ImageBuilder.clean()
    layer = image.layer("COPY deploy_key /root/.ssh/id_rsa")
    image.file("/root/.ssh/id_rsa", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n")
    found = fails(image, "PS-003")
    (evidence,) = found.evidence
    assert evidence.layer_index == layer
    assert evidence.layer_digest == digest(layer)
    assert evidence.created_by == "COPY deploy_key /root/.ssh/id_rsa"
    assert evidence.paths == ("/root/.ssh/id_rsa",)
    assert "private key" in evidence.detail


def test_secret_deleted_by_a_later_layer_still_fails() -> None:
    image = ImageBuilder.clean()
    added = image.layer("COPY .env /app/.env")
    image.file("/app/.env", b"DATABASE_PASSWORD=hunter2hunter2\n")
    image.layer("RUN rm /app/.env")
    image.delete("/app/.env")
    (evidence,) = fails(image, "PS-003").evidence
    assert evidence.layer_index == added
    assert "still readable in this layer" in evidence.detail


def test_no_secret_files_passes() -> None:
    image = ImageBuilder.clean()
    image.file(
        "/etc/ssl/certs/ca.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    image.file(
        "/app/.env", b"DEBUG=1\nPASSWORD_MIN_LENGTH=12\nAPI_TOKEN=\nDB_PASSWORD=${DB_PASSWORD}\n"
    )
    assert "2 candidate file versions" in passes(image, "PS-003").message


def test_candidate_files_not_read_make_the_check_skip() -> None:
    image = ImageBuilder.clean()
    image.collector.max_bytes = 0  # as if the analysis ran without the collector
    image.file("/root/.aws/credentials", b"[default]\naws_secret_access_key = x\n")
    found = result_of(image, "PS-003")
    assert found.status is Status.SKIP
    assert "/root/.aws/credentials" in found.message


# PS-004 ------------------------------------------------------------------------------------


def test_secret_environment_variable_fails_without_its_value() -> None:
    image = ImageBuilder.clean()
    image.container["Env"].append("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz")
    image.container["Env"].append("POSTGRES_PASSWORD=s3cr3t-value")
    found = fails(image, "PS-004")
    details = [e.detail for e in found.evidence]
    assert any("AWS_SECRET_ACCESS_KEY" in d for d in details)
    assert any("POSTGRES_PASSWORD" in d for d in details)
    text = json.dumps(found.as_dict())
    assert "s3cr3t-value" not in text and "wJalrXUtnFEMI" not in text


def test_build_argument_in_history_fails_and_is_redacted() -> None:
    image = ImageBuilder.clean()
    layer = image.layer("|1 NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz0123456789 /bin/sh -c npm ci")
    image.file("/app/node_modules/.package-lock.json", b"{}")
    found = fails(image, "PS-004")
    (evidence,) = found.evidence
    assert evidence.layer_index == layer
    assert "NPM_TOKEN=[REDACTED]" in evidence.created_by
    assert "npm_abcdef" not in json.dumps(found.as_dict())


def test_empty_or_placeholder_secret_variables_pass() -> None:
    image = ImageBuilder.clean()
    image.container["Env"] += [
        "DB_PASSWORD=",
        "API_TOKEN=$API_TOKEN",
        "PASSWORD_FILE=/run/secrets/db",
    ]
    image.container["Env"] += ["GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D", "PWD=/app"]
    passes(image, "PS-004")


# PS-005 ------------------------------------------------------------------------------------


def test_setuid_and_setgid_files_fail_per_layer() -> None:
    image = ImageBuilder.clean()
    image.file("/usr/bin/passwd", b"", mode=0o4755, layer=0)
    image.file("/usr/bin/wall", b"", mode=0o2755, layer=1)
    found = fails(image, "PS-005")
    assert [(e.layer_index, e.paths) for e in found.evidence] == [
        (0, ("/usr/bin/passwd",)),
        (1, ("/usr/bin/wall",)),
    ]


def test_no_setuid_files_passes() -> None:
    image = ImageBuilder.clean()
    image.dir("/srv", mode=0o2775)  # setgid directories are not programs
    passes(image, "PS-005")


# PS-006 ------------------------------------------------------------------------------------


def test_world_writable_files_fail() -> None:
    image = ImageBuilder.clean()
    image.file("/app/config.yaml", b"", mode=0o666)
    image.dir("/app/uploads", mode=0o777)
    found = fails(image, "PS-006")
    assert found.evidence[0].paths == ("/app/config.yaml", "/app/uploads")


def test_world_writable_in_tmp_or_sticky_passes() -> None:
    image = ImageBuilder.clean()
    image.file("/tmp/scratch", b"", mode=0o666)
    image.dir("/var/tmp", mode=0o777)
    image.dir("/var/spool/shared", mode=0o1777)
    image.link("/app/current", "/app/server")  # symbolic links are always 777
    passes(image, "PS-006")


# PS-007 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "apt package lists"),
        ("/var/cache/apt/archives/curl_7.88.1-10_amd64.deb", "apt downloaded packages"),
        ("/var/cache/apt/pkgcache.bin", "apt package cache"),
        ("/var/cache/apk/APKINDEX.abc.tar.gz", "apk cache"),
        ("/root/.cache/pip/http-v2/a/b/c", "pip cache"),
        ("/home/app/.npm/_cacache/index-v5/aa/bb", "npm cache"),
        ("/var/cache/dnf/fedora.solv", "dnf cache"),
        ("/var/cache/yum/x86_64/7/base/repomd.xml", "yum cache"),
    ],
)
def test_package_manager_caches_fail(path: str, name: str) -> None:
    image = ImageBuilder.clean()
    layer = image.layer("RUN install things")
    image.file(path, b"x" * 2048)
    found = fails(image, "PS-007")
    (evidence,) = found.evidence
    assert evidence.layer_index == layer
    assert evidence.paths == (path,)
    assert name in evidence.detail and "2.0 KiB" in evidence.detail


def test_cleaned_caches_pass() -> None:
    image = ImageBuilder.clean()
    image.dir("/var/lib/apt/lists")
    image.file("/var/lib/apt/lists/lock", b"")
    image.dir("/var/lib/apt/lists/partial")
    image.dir("/var/cache/apt/archives/partial")
    image.file("/var/cache/debconf/config.dat", b"x")
    passes(image, "PS-007")


# PS-008 ------------------------------------------------------------------------------------


def test_build_tools_fail_naming_the_layer_that_added_each() -> None:
    image = ImageBuilder.clean()
    gcc_layer = image.layer("RUN apt-get install -y build-essential")
    image.file("/usr/bin/x86_64-linux-gnu-gcc-12", b"", mode=0o755)
    image.link("/usr/bin/gcc", "gcc-12")
    image.file("/usr/bin/make", b"", mode=0o755)
    curl_layer = image.layer("RUN apk add curl git")
    image.file("/usr/bin/curl", b"", mode=0o755)
    image.file("/usr/bin/git", b"", mode=0o755)
    image.file("/usr/local/bin/pip3.12", b"", mode=0o755)
    found = fails(image, "PS-008")
    layers = {e.detail.split(" ")[0]: e.layer_index for e in found.evidence}
    assert layers == {
        "curl": curl_layer,
        "gcc": gcc_layer,
        "git": curl_layer,
        "make": gcc_layer,
        "pip": curl_layer,
    }
    gcc = next(e for e in found.evidence if e.detail.startswith("gcc"))
    assert gcc.paths == ("/usr/bin/gcc", "/usr/bin/x86_64-linux-gnu-gcc-12")


def test_similar_names_and_other_directories_pass() -> None:
    image = ImageBuilder.clean()
    for path in ["/usr/bin/git-shell-helper", "/usr/bin/ccache", "/usr/bin/gofmt", "/usr/bin/pipx"]:
        image.file(path, b"", mode=0o755)
    image.file("/usr/share/doc/git/README", b"")
    image.file("/usr/lib/gcc/x86_64-linux-gnu/12/cc1", b"")
    passes(image, "PS-008")


# PS-009 ------------------------------------------------------------------------------------


def test_too_many_layers_fails() -> None:
    image = ImageBuilder.clean()
    for number in range(20):
        image.layer(f"RUN step {number}")
    assert "22 layers" in fails(image, "PS-009").message
    passes(image, "PS-009", policy=Policy(max_layers=30))


def test_few_layers_pass() -> None:
    passes(ImageBuilder.clean(), "PS-009")


# PS-010 ------------------------------------------------------------------------------------


def test_large_image_fails_naming_the_largest_layers() -> None:
    image = ImageBuilder.clean()
    big = image.layer("RUN download models")
    image.file("/models/a.bin", size=900 * 1024**2)
    image.file("/models/b.bin", size=200 * 1024**2)
    found = fails(image, "PS-010")
    assert found.evidence[0].layer_index == big
    assert "1.1 GiB" in found.message


def test_small_image_passes() -> None:
    image = ImageBuilder.clean()
    image.file("/models/a.bin", size=900 * 1024**2)
    passes(image, "PS-010")
    fails(image, "PS-010", policy=Policy(max_image_bytes=100 * 1024**2))


# PS-011 and PS-012 ---------------------------------------------------------------------------


def test_unknown_operating_system_fails_and_support_is_skipped() -> None:
    image = ImageBuilder.clean()
    image.distro = None
    fails(image, "PS-011")
    assert result_of(image, "PS-012").status is Status.SKIP


def test_end_of_life_depends_on_the_injected_date() -> None:
    image = ImageBuilder.clean()
    image.distro = Distro(id="debian", version_id="10")
    assert "2024-06-30" in fails(image, "PS-012").message
    passes(image, "PS-012", today=dt.date(2024, 6, 30))  # the last supported day
    fails(image, "PS-012", today=dt.date(2024, 7, 1))


def test_supported_release_passes_and_unlisted_release_is_skipped() -> None:
    image = ImageBuilder.clean()
    image.distro = Distro(id="alpine", version_id="3.21.2")
    assert "2026-11-01" in passes(image, "PS-012").message
    image.distro = Distro(id="wolfi", version_id="20230201")
    passes(image, "PS-011")
    assert result_of(image, "PS-012").status is Status.SKIP


# PS-013 ------------------------------------------------------------------------------------


def test_only_latest_tag_fails() -> None:
    fails(ImageBuilder.clean(), "PS-013", tags=["latest"])
    fails(ImageBuilder.clean(), "PS-013", tags=["latest", "latest"])


def test_version_tag_passes_and_no_tags_skip() -> None:
    passes(ImageBuilder.clean(), "PS-013", tags=["latest", "2.0"])
    assert result_of(ImageBuilder.clean(), "PS-013").status is Status.SKIP
    assert result_of(ImageBuilder.clean(), "PS-013", tags=[]).status is Status.SKIP


# PS-014 ------------------------------------------------------------------------------------


def test_missing_oci_labels_are_named() -> None:
    image = ImageBuilder.clean()
    image.container["Labels"] = {
        "org.opencontainers.image.title": "web",
        "org.opencontainers.image.version": " ",  # blank counts as missing
    }
    (evidence,) = fails(image, "PS-014").evidence
    assert "org.opencontainers.image.source" in evidence.detail
    assert "org.opencontainers.image.version" in evidence.detail
    assert "org.opencontainers.image.vendor or org.opencontainers.image.authors" in evidence.detail
    assert "org.opencontainers.image.title," not in evidence.detail


def test_authors_can_stand_for_vendor() -> None:
    image = ImageBuilder.clean()
    labels = dict(GOOD_LABELS)
    del labels["org.opencontainers.image.vendor"]
    labels["org.opencontainers.image.authors"] = "ops@acme.example"
    image.container["Labels"] = labels
    passes(image, "PS-014")


# PS-015 ------------------------------------------------------------------------------------


def test_no_licence_anywhere_fails() -> None:
    image = ImageBuilder.clean()
    image.delete("/app/LICENSE")
    del image.container["Labels"]["org.opencontainers.image.licenses"]
    image.file("/usr/share/doc/bash/copyright", b"GPL")  # distribution docs are not enough
    fails(image, "PS-015")


@pytest.mark.parametrize(
    "path",
    ["/licenses/LICENSE", "/usr/share/licenses/openssl/LICENSE.txt", "/LICENCE.md", "/srv/COPYING"],
)
def test_licence_file_passes_without_label(path: str) -> None:
    image = ImageBuilder.clean()
    image.delete("/app/LICENSE")
    del image.container["Labels"]["org.opencontainers.image.licenses"]
    image.container["WorkingDir"] = "/srv"
    image.file(path, b"text")
    assert path in passes(image, "PS-015").message


def test_licence_label_passes_without_file() -> None:
    image = ImageBuilder.clean()
    image.delete("/app/LICENSE")
    assert "Apache-2.0" in passes(image, "PS-015").message


# PS-016 ------------------------------------------------------------------------------------


def test_remote_add_fails() -> None:
    image = ImageBuilder.clean()
    layer = image.layer("ADD https://downloads.example/tool.tar.gz /opt/ # buildkit")
    (evidence,) = fails(image, "PS-016").evidence
    assert evidence.layer_index == layer


def test_local_add_and_checksummed_add_pass() -> None:
    image = ImageBuilder.clean()
    image.layer("ADD --checksum=sha256:abc https://downloads.example/tool.tar.gz /opt/")
    image.layer("/bin/sh -c #(nop) ADD file:9f2c in /opt/")
    image.layer("RUN echo 'ADD the numbers' && curl https://x.example")
    passes(image, "PS-016")


# PS-017 ------------------------------------------------------------------------------------


def test_sudo_binary_or_package_fails() -> None:
    image = ImageBuilder.clean()
    layer = image.layer("RUN apt-get install -y sudo")
    image.file("/usr/bin/sudo", b"", mode=0o4755)
    image.packages.append(
        Package(
            "deb", "sudo", "1.9.13p3-1", "pkg:deb/debian/sudo@1.9.13p3-1", "dpkg", digest(layer)
        )
    )
    found = fails(image, "PS-017")
    assert [e.layer_index for e in found.evidence] == [layer, layer]


def test_no_sudo_passes() -> None:
    image = ImageBuilder.clean()
    image.file("/usr/share/doc/sudo-like/README", b"")
    passes(image, "PS-017")


# PS-018 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "RUN apt-get update && apt-get upgrade -y",
        "/bin/sh -c apt-get update && apt-get -y dist-upgrade",
        "RUN apt full-upgrade",
        "RUN apk upgrade --no-cache",
        "RUN dnf -y upgrade && dnf clean all",
    ],
)
def test_distribution_upgrade_fails(command: str) -> None:
    image = ImageBuilder.clean()
    layer = image.layer(command)
    (evidence,) = fails(image, "PS-018").evidence
    assert evidence.layer_index == layer


def test_installing_packages_passes() -> None:
    image = ImageBuilder.clean()
    image.layer("RUN apt-get update && apt-get install -y --no-install-recommends curl")
    image.layer("RUN dnf -y update openssl")  # a named package is a targeted update
    passes(image, "PS-018")


# PS-019 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference",
    ["debian:latest", "debian", "registry.example:5000/base", "ghcr.io/acme/base:LATEST"],
)
def test_floating_base_image_fails(reference: str) -> None:
    image = ImageBuilder.clean()
    image.container["Labels"]["org.opencontainers.image.base.name"] = reference
    (evidence,) = fails(image, "PS-019").evidence
    assert reference in evidence.detail and "not pinned" in evidence.detail


def test_base_named_in_history_is_checked() -> None:
    image = ImageBuilder.clean()
    image.history = [
        {"created_by": "FROM docker.io/library/alpine:latest", "empty_layer": True},
        {"created_by": "ADD file:0123 in / "},
        {"created_by": "COPY app /app # buildkit"},
    ]
    (evidence,) = fails(image, "PS-019").evidence
    assert evidence.layer_index is None
    assert evidence.created_by.startswith("FROM")


@pytest.mark.parametrize(
    "reference", ["debian:12.7-slim", "debian@sha256:" + "a" * 64, "registry.example:5000/base:1.0"]
)
def test_pinned_base_image_passes(reference: str) -> None:
    image = ImageBuilder.clean()
    image.container["Labels"]["org.opencontainers.image.base.name"] = reference
    passes(image, "PS-019")


# PS-020 ------------------------------------------------------------------------------------


def test_empty_password_fails_naming_accounts_not_hashes() -> None:
    image = ImageBuilder.clean()
    layer = image.layer("RUN passwd -d root")
    image.file("/etc/shadow", b"root::19000:0:99999:7:::\napp:$6$salt$hashhashhash:19000::::::\n")
    found = fails(image, "PS-020")
    (evidence,) = found.evidence
    assert evidence.layer_index == layer
    assert evidence.detail == "no password: root"
    assert "hashhash" not in json.dumps(found.as_dict())


def test_locked_accounts_pass_and_unread_shadow_skips() -> None:
    passes(ImageBuilder.clean(), "PS-020")
    image = ImageBuilder.clean()
    image.delete("/etc/shadow")
    passes(image, "PS-020")
    image.collector.max_bytes = 0
    image.versions.pop("/etc/shadow", None)
    image.file("/etc/shadow", b"root::1:::::::\n")
    assert result_of(image, "PS-020").status is Status.SKIP


# policy ------------------------------------------------------------------------------------


def test_disabled_checks_are_skipped() -> None:
    image = ImageBuilder.clean()
    image.container["Healthcheck"] = None
    found = result_of(image, "PS-002", policy=Policy(disabled=frozenset({"PS-002"})))
    assert found.status is Status.SKIP
    assert "policy" in found.message


def test_evidence_lists_a_bounded_number_of_paths() -> None:
    image = ImageBuilder.clean()
    for number in range(120):
        image.file(f"/app/data/{number:03}", b"", mode=0o666)
    (evidence,) = fails(image, "PS-006", policy=Policy(max_paths=10)).evidence
    assert len(evidence.paths) == 10
    assert "(and 110 more)" in evidence.detail
