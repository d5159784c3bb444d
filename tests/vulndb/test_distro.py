"""Distribution packages: the Debian tracker and Alpine's secdb, written here in their
documented formats, matched through source packages with the distribution's verdict
taking precedence over OSV ranges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portside.scanner.model import Distro
from portside.vulndb import MatchOptions, match
from portside.vulndb.errors import InputTooLarge, MalformedInput
from portside.vulndb.importers import import_alpine, import_debian, import_osv
from portside.vulndb.store import VulnStore
from tests.vulndb.helpers import ALPINE_320, DEBIAN_12, make_package, osv_record, write_records

U2 = "3.0.11-1~deb12u2"


def tracker() -> dict[str, Any]:
    def resolved(version: str, urgency: str = "medium") -> dict[str, Any]:
        return {
            "status": "resolved",
            "repositories": {"bookworm": U2},
            "fixed_version": version,
            "urgency": urgency,
        }

    return {
        "openssl": {
            "CVE-2023-0001": {
                "description": "fixed in a later point release",
                "scope": "remote",
                "releases": {"bookworm": resolved("3.0.11-1~deb12u3", "high")},
            },
            "CVE-2023-0002": {"releases": {"bookworm": resolved("3.0.11-1~deb12u1")}},
            "CVE-2023-0003": {
                "description": "never affected bookworm",
                "releases": {"bookworm": resolved("0", "unimportant")},
            },
            "CVE-2023-0004": {
                "description": "negligible",
                "releases": {"bookworm": {"status": "open", "urgency": "unimportant"}},
            },
            "CVE-2023-0005": {
                "description": "no fix yet",
                "releases": {
                    "bookworm": {
                        "status": "open",
                        "urgency": "low",
                        "nodsa": "Minor issue",
                        "nodsa_reason": "postponed",
                    }
                },
            },
            "CVE-2023-0006": {"releases": {"bookworm": {"status": "undetermined"}}},
            "CVE-2023-0007": {
                "releases": {"bookworm": {"status": "open", "urgency": "end-of-life"}}
            },
            "CVE-2023-0008": {"releases": {"bullseye": {"status": "open", "urgency": "high"}}},
            "CVE-2023-0009": {"releases": {"bookworm": resolved("3.0.11-1~deb12u3")}},
            "TEMP-0000000-ABCDEF": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}},
        },
        "jinja2": {
            "CVE-2024-22195": {"releases": {"bookworm": resolved("3.1.2-1+deb12u1")}},
        },
    }


@pytest.fixture
def debian(store: VulnStore, tmp_path: Path) -> VulnStore:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(tracker()))
    result = import_debian(store, path)
    assert result.records == 11 and result.kind == "debian"
    osv = [
        # the tracker says bookworm was never affected: this range cannot overrule it
        osv_record("DEBIAN-CVE-2023-0003", "Debian:12", "openssl", aliases=["CVE-2023-0003"]),
        # the tracker's fixed version wins over this one; the DSA id joins the finding
        osv_record(
            "DSA-5555-1",
            "Debian:12",
            "openssl",
            aliases=["CVE-2023-0009"],
            events=[{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u9"}],
            summary="openssl security update",
        ),
        # unknown to the tracker: the OSV record stands
        osv_record(
            "DEBIAN-CVE-2023-0100",
            "Debian:12",
            "openssl",
            aliases=["CVE-2023-0100"],
            events=[{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u4"}],
        ),
        # an upstream record for the project the Debian source package is built from
        osv_record(
            "PYSEC-2024-99",
            "PyPI",
            "jinja2",
            aliases=["CVE-2024-22195"],
            events=[{"introduced": "0"}, {"fixed": "3.1.3"}],
        ),
    ]
    import_osv(store, write_records(tmp_path / "osv", osv), source="osv-debian")
    return store


def libssl(version: str = U2) -> Any:
    return make_package(
        "deb",
        "libssl3",
        version + "+b1",
        source_name="openssl",
        source_version=version,
        purl=f"pkg:deb/debian/libssl3@{version}+b1",
    )


def by_id(result: Any) -> dict[str, Any]:
    return {f.advisory_id: f for f in result}


def test_debian_tracker_verdicts(debian: VulnStore) -> None:
    found = by_id(match([libssl()], DEBIAN_12, debian))
    assert set(found) == {
        "CVE-2023-0001",
        "CVE-2023-0005",
        "CVE-2023-0006",
        "CVE-2023-0007",
        "CVE-2023-0009",
        "CVE-2023-0100",
        "TEMP-0000000-ABCDEF",
    }
    first = found["CVE-2023-0001"]
    assert first.fixed_versions == ("3.0.11-1~deb12u3",)
    assert first.distro_status == "resolved"
    assert first.package_name == "libssl3" and first.package_version == U2 + "+b1"
    assert first.ecosystem == "Debian:12"
    assert first.summary == "fixed in a later point release"
    assert first.references == ("https://security-tracker.debian.org/tracker/CVE-2023-0001",)
    assert first.data_sources == ("debian",)
    assert found["CVE-2023-0005"].fixed_versions == ()
    assert found["CVE-2023-0005"].distro_status == "postponed"  # open, with a nodsa reason
    assert found["CVE-2023-0005"].distro_note == "Minor issue"
    assert found["CVE-2023-0006"].distro_status == "undetermined"
    assert found["CVE-2023-0007"].distro_status == "end-of-life"


def test_the_distribution_fix_takes_precedence_over_osv(debian: VulnStore) -> None:
    found = by_id(match([libssl()], DEBIAN_12, debian))
    merged = found["CVE-2023-0009"]
    assert merged.fixed_versions == ("3.0.11-1~deb12u3",)  # not the OSV record's deb12u9
    assert merged.aliases == ("DSA-5555-1",)
    assert merged.data_sources == ("debian", "osv-debian")
    assert merged.summary == "openssl security update"
    # "never affected" in the tracker removes the OSV record's finding
    assert "CVE-2023-0003" not in found
    assert not any("DEBIAN-CVE-2023-0003" in f.ids for f in found.values())
    # an OSV record the tracker has no verdict on stands
    assert found["CVE-2023-0100"].fixed_versions == ("3.0.11-1~deb12u4",)
    assert found["CVE-2023-0100"].data_sources == ("osv-debian",)


def test_a_fixed_source_version_clears_the_findings(debian: VulnStore) -> None:
    found = by_id(match([libssl("3.0.11-1~deb12u4")], DEBIAN_12, debian))
    assert "CVE-2023-0001" not in found
    assert "CVE-2023-0009" not in found
    assert "CVE-2023-0100" not in found
    assert "CVE-2023-0005" in found  # still open


def test_unimportant_issues_are_left_out_unless_asked_for(debian: VulnStore) -> None:
    assert "CVE-2023-0004" not in by_id(match([libssl()], DEBIAN_12, debian))
    found = by_id(
        match([libssl()], DEBIAN_12, debian, options=MatchOptions(include_unimportant=True))
    )
    assert found["CVE-2023-0004"].distro_status == "unimportant"


def test_upstream_ranges_do_not_apply_to_distribution_packages(debian: VulnStore) -> None:
    package = make_package(
        "deb", "python3-jinja2", "3.1.2-1", source_name="jinja2", source_version="3.1.2-1"
    )
    found = by_id(match([package], DEBIAN_12, debian))
    assert list(found) == ["CVE-2024-22195"]
    assert found["CVE-2024-22195"].fixed_versions == ("3.1.2-1+deb12u1",)
    assert found["CVE-2024-22195"].aliases == ()  # the PyPI record is not involved


def test_every_binary_of_a_source_gets_its_findings(debian: VulnStore) -> None:
    binaries = [
        libssl(),
        make_package("deb", "openssl", U2, source_name="openssl"),
        make_package("deb", "openssl", U2, source_name="openssl", layer="sha256:" + "ef" * 32),
    ]
    result = match(binaries, DEBIAN_12, debian)
    per_package = {(f.package_name, f.layer) for f in result if f.advisory_id == "CVE-2023-0001"}
    assert per_package == {
        ("libssl3", "sha256:" + "ab" * 32),
        ("openssl", "sha256:" + "ab" * 32),
        ("openssl", "sha256:" + "ef" * 32),
    }


def test_the_release_comes_from_the_version_when_the_codename_is_missing(
    debian: VulnStore,
) -> None:
    result = match([libssl()], Distro(id="debian", version_id="12"), debian)
    assert "CVE-2023-0001" in by_id(result)


@pytest.mark.parametrize(
    ("distro", "reason"),
    [
        (None, "distribution is unknown"),
        (Distro(id="debian"), "Debian release is unknown"),
        (
            Distro(id="ubuntu", version_id="22.04"),
            "no vulnerability data for deb packages on ubuntu",
        ),
    ],
)
def test_distribution_packages_that_cannot_be_matched(
    debian: VulnStore, distro: Distro | None, reason: str
) -> None:
    result = match([libssl()], distro, debian)
    assert list(result) == []
    (unmatched,) = result.unmatched
    assert reason in unmatched.reason and unmatched.package_name == "libssl3"


def test_an_unparseable_debian_version_is_reported(debian: VulnStore) -> None:
    package = make_package("deb", "openssl", "not a version", source_name="openssl")
    result = match([package], DEBIAN_12, debian)
    assert list(result) == []
    (unmatched,) = result.unmatched
    assert "not a valid Debian version" in unmatched.reason


def test_only_some_releases_can_be_imported(store: VulnStore, tmp_path: Path) -> None:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(tracker()))
    result = import_debian(store, path, releases={"bullseye"})
    assert result.records == 1


# --- Alpine -------------------------------------------------------------------------------


def secdb(branch: str, packages: dict[str, dict[str, list[str]]], repo: str = "main") -> dict:
    return {
        "apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
        "archs": ["aarch64", "x86_64"],
        "reponame": repo,
        "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
        "distroversion": branch,
        "packages": [{"pkg": {"name": n, "secfixes": f}} for n, f in packages.items()],
    }


@pytest.fixture
def alpine(store: VulnStore, tmp_path: Path) -> VulnStore:
    folder = tmp_path / "secdb"
    (folder / "v3.20").mkdir(parents=True)
    (folder / "v3.19").mkdir()
    (folder / "v3.20" / "main.json").write_text(
        json.dumps(
            secdb(
                "v3.20",
                {
                    "openssl": {
                        "3.3.2-r0": ["CVE-2024-0001"],
                        "3.1.4-r1": ["CVE-2023-5678 (fixed upstream)"],
                        "0": ["CVE-2022-9999"],
                        "3.3.3-r0": ["CVE-2024-0002 CVE-2024-0003"],
                        "1.1.1t-r0": ["CVE-2023-0286"],
                        "3.3.2-r1": ["CVE-2023-0286"],
                    },
                    "foo": {"1.2_git20230301-r0": ["CVE-2023-1111"]},
                },
            )
        )
    )
    (folder / "v3.20" / "community.json").write_text(
        json.dumps(secdb("v3.20", {"py3-thing": {"2.0-r0": ["CVE-2023-2222"]}}, "community"))
    )
    (folder / "v3.19" / "main.json").write_text(
        json.dumps(secdb("v3.19", {"openssl": {"9.9.9-r0": ["CVE-2019-0001"]}}))
    )
    result = import_alpine(store, folder)
    assert result.records == 10 and result.kind == "alpine"
    osv = [
        osv_record("ALPINE-CVE-2022-9999", "Alpine:v3.20", "openssl", aliases=["CVE-2022-9999"]),
    ]
    import_osv(store, write_records(tmp_path / "osv", osv), source="osv-alpine")
    return store


def libcrypto(version: str) -> Any:
    return make_package("apk", "libcrypto3", version, source_name="openssl")


def test_alpine_secdb_verdicts(alpine: VulnStore) -> None:
    found = by_id(match([libcrypto("3.3.2-r0")], ALPINE_320, alpine))
    assert set(found) == {"CVE-2024-0002", "CVE-2024-0003", "CVE-2023-0286"}
    assert found["CVE-2024-0002"].fixed_versions == ("3.3.3-r0",)
    assert found["CVE-2024-0002"].ecosystem == "Alpine:v3.20"
    assert found["CVE-2024-0002"].references == (
        "https://security.alpinelinux.org/vuln/CVE-2024-0002",
    )
    # listed under two versions in the branch's history: the higher one is this line's fix
    assert found["CVE-2023-0286"].fixed_versions == ("3.3.2-r1",)


def test_alpine_never_affected_overrules_osv(alpine: VulnStore) -> None:
    found = by_id(match([libcrypto("3.0.0-r0")], ALPINE_320, alpine))
    assert "CVE-2022-9999" not in found
    assert "CVE-2024-0001" in found and "CVE-2023-5678" in found


def test_alpine_fixed_versions_clear_findings(alpine: VulnStore) -> None:
    assert list(match([libcrypto("3.3.3-r0")], ALPINE_320, alpine)) == []


def test_alpine_git_snapshots_and_other_repositories(alpine: VulnStore) -> None:
    result = match(
        [
            make_package("apk", "foo", "1.2_git20230101-r0"),
            make_package("apk", "foo-doc", "1.2_git20230301-r0", source_name="foo"),
            make_package("apk", "py3-thing", "1.9-r3"),
        ],
        ALPINE_320,
        alpine,
    )
    assert {(f.package_name, f.advisory_id) for f in result} == {
        ("foo", "CVE-2023-1111"),
        ("py3-thing", "CVE-2023-2222"),
    }


def test_alpine_branches_are_kept_apart(alpine: VulnStore) -> None:
    in_319 = match([libcrypto("3.3.3-r0")], Distro(id="alpine", version_id="3.19.1"), alpine)
    assert [f.advisory_id for f in in_319] == ["CVE-2019-0001"]
    bad = match([libcrypto("3.3.3-r0")], Distro(id="alpine", version_id="edge"), alpine)
    assert "not a v3.x branch" in bad.unmatched[0].reason


# --- hostile tracker and secdb files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "must be an object, not a list"),
        ({"openssl": []}, "must map to an object of issues"),
        (
            {"openssl": {"CVE-1": {"releases": {"bookworm": {"urgency": "low"}}}}},
            "field releases.bookworm.status is missing",
        ),
        ({"openssl": {"CVE-1": {"releases": []}}}, "must be an object"),
        ({"openssl": {"CVE-1": {"releases": {"bookworm": {"status": 3}}}}}, "must be a string"),
        ({"openssl": {"CVE 1": {"releases": {}}}}, "non-empty word"),
    ],
)
def test_malformed_tracker(store: VulnStore, tmp_path: Path, document: Any, expected: str) -> None:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(document))
    with pytest.raises(MalformedInput, match=expected) as caught:
        import_debian(store, path)
    assert str(path) in str(caught.value)
    assert store.sources() == []


def test_truncated_and_oversized_tracker(store: VulnStore, tmp_path: Path) -> None:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(tracker())[:500])
    with pytest.raises(MalformedInput, match="not valid JSON"):
        import_debian(store, path)
    with path.open("wb") as handle:
        handle.truncate(2 * 1024**3)
    with pytest.raises(InputTooLarge):
        import_debian(store, path)


def test_a_gzipped_tracker_and_a_gzip_bomb(store: VulnStore, tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "tracker.json.gz"
    path.write_bytes(gzip.compress(json.dumps(tracker()).encode()))
    assert import_debian(store, path).records == 11
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b" " * (20 * 1024 * 1024)))
    from portside.vulndb.importers import Limits

    with pytest.raises(InputTooLarge, match="decompresses to more than"):
        import_debian(store, bomb, source="other", limits=Limits(max_file=1024 * 1024))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"distroversion": "3.20", "packages": []}, "is not a branch"),
        ({"distroversion": "v3.20", "packages": {}}, "field packages must be a list"),
        (
            {
                "distroversion": "v3.20",
                "packages": [{"pkg": {"name": "a", "secfixes": {"1-r0": "CVE-1"}}}],
            },
            "must be a list of strings",
        ),
        (
            {
                "distroversion": "v3.20",
                "packages": [{"pkg": {"name": "a", "secfixes": {"1-r0": ["fixed it"]}}}],
            },
            "names no id",
        ),
        (
            {"distroversion": "v3.20", "packages": [{"pkg": {"secfixes": {}}}]},
            "field packages.0..pkg.name is missing",
        ),
        ({"distroversion": "v3.20", "packages": [{}]}, "field pkg is missing"),
    ],
)
def test_malformed_secdb(store: VulnStore, tmp_path: Path, document: Any, expected: str) -> None:
    path = tmp_path / "main.json"
    path.write_text(json.dumps(document))
    with pytest.raises(MalformedInput, match=expected):
        import_alpine(store, path)
    assert store.sources() == []
