"""Composer, NuGet and crates.io packages matched against small OSV records imported in
the test: names as each ecosystem compares them, and each ecosystem's version order at
its edges (a fourth NuGet number, a ``v`` before a Composer version, prereleases,
Composer's stability labels and patch releases)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from portside.scanner.model import Package
from portside.vulndb import match
from portside.vulndb.importers import import_osv
from portside.vulndb.matcher import LANGUAGE_ECOSYSTEMS, language_name
from portside.vulndb.store import VulnStore
from portside.vulndb.versions import composer_version, normalise_name, scheme_for
from tests.vulndb.helpers import make_package, osv_record, write_records

RECORDS = [
    # Packagist names are lower case on Packagist; an advisory may capitalise them.
    osv_record(
        "GHSA-comp-0001",
        "Packagist",
        "Monolog/Monolog",
        events=[{"introduced": "1.0.0"}, {"fixed": "2.9.2"}],
        summary="monolog before 2.9.2",
    ),
    osv_record(
        "GHSA-comp-0002",
        "Packagist",
        "symfony/http-kernel",
        events=[{"introduced": "5.0.0-beta1"}, {"fixed": "v5.4.20"}],
    ),
    osv_record(
        "GHSA-nuget-0001",
        "NuGet",
        "newtonsoft.json",
        events=[{"introduced": "0"}, {"fixed": "13.0.1"}],
    ),
    osv_record(
        "GHSA-nuget-0002",
        "NuGet",
        "Some.Library",
        events=[{"introduced": "0"}, {"fixed": "1.0.0.1"}],
    ),
    osv_record(
        "RUSTSEC-2021-0003",
        "crates.io",
        "smallvec",
        events=[
            {"introduced": "0.6.3"},
            {"fixed": "0.6.14"},
            {"introduced": "1.0.0-alpha.1"},
            {"fixed": "1.6.1"},
        ],
        aliases=["CVE-2021-25900"],
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnStore]:
    root = tmp_path_factory.mktemp("ecosystems")
    opened = VulnStore.open(root / "vulndb.sqlite")
    import_osv(opened, write_records(root / "records", RECORDS), source="osv")
    yield opened
    opened.close()


def affected(store: VulnStore, package: Package) -> set[str]:
    result = match([package], None, store)
    assert not result.unmatched, result.unmatched
    return {f.advisory_id for f in result}


def composer(name: str, version: str) -> Package:
    vendor, _, project = name.partition("/")
    return make_package(
        "composer", name, version, purl=f"pkg:composer/{vendor}/{project}@{version}"
    )


def nuget(name: str, version: str) -> Package:
    return make_package("nuget", name, version, purl=f"pkg:nuget/{name}@{version}")


def cargo(name: str, version: str) -> Package:
    return make_package("cargo", name, version, purl=f"pkg:cargo/{name}@{version}")


def test_the_package_types_map_to_the_osv_ecosystems() -> None:
    assert LANGUAGE_ECOSYSTEMS["composer"] == "Packagist"
    assert LANGUAGE_ECOSYSTEMS["nuget"] == "NuGet"
    assert LANGUAGE_ECOSYSTEMS["cargo"] == "crates.io"


@pytest.mark.parametrize(
    ("version", "hit"),
    [
        ("2.9.1", True),
        ("v2.9.1", True),
        ("2.9.2-RC1", True),  # a release candidate of the fix is before it
        ("2.9.2-beta2", True),
        ("2.9.2", False),
        ("v2.9.2", False),  # "v2.9.2" is 2.9.2
        ("2.9.2.0", False),
        ("2.9.2-p1", False),  # a patch release comes after its release
        ("2.9.2.1", False),
        ("0.9.9", False),
        ("1.0.0-dev", False),  # development builds come before alphas
        ("1.0.0", True),
    ],
)
def test_a_composer_package(store: VulnStore, version: str, hit: bool) -> None:
    found = affected(store, composer("monolog/monolog", version))
    assert found == ({"GHSA-comp-0001"} if hit else set())


def test_composer_names_are_matched_without_regard_to_case(store: VulnStore) -> None:
    assert affected(store, composer("MONOLOG/monolog", "2.0.0")) == {"GHSA-comp-0001"}


def test_composer_names_without_vendor_take_it_from_the_purl(store: VulnStore) -> None:
    package = make_package(
        "composer", "monolog", "2.0.0", purl="pkg:composer/monolog/monolog@2.0.0"
    )
    assert language_name(package) == "monolog/monolog"
    assert affected(store, package) == {"GHSA-comp-0001"}


def test_composer_bounds_with_v_and_prereleases(store: VulnStore) -> None:
    kernel = "symfony/http-kernel"
    assert affected(store, composer(kernel, "v5.4.19")) == {"GHSA-comp-0002"}
    assert affected(store, composer(kernel, "5.0.0-BETA1")) == {"GHSA-comp-0002"}
    assert affected(store, composer(kernel, "5.0.0-alpha1")) == set()
    assert affected(store, composer(kernel, "5.4.20")) == set()
    (finding,) = match([composer(kernel, "v5.1.0")], None, store)
    assert finding.fixed_versions == ("v5.4.20",)
    assert finding.ecosystem == "Packagist"


def test_a_composer_branch_cannot_be_decided(store: VulnStore) -> None:
    result = match([composer("monolog/monolog", "dev-main")], None, store)
    assert list(result) == []
    (unmatched,) = result.unmatched
    assert "dev-main" in unmatched.reason and "Composer" in unmatched.reason


@pytest.mark.parametrize(
    ("name", "version", "hit"),
    [
        ("Newtonsoft.Json", "12.0.3", True),
        ("NEWTONSOFT.JSON", "12.0.3", True),
        ("Newtonsoft.Json", "13.0.1", False),
        ("Newtonsoft.Json", "13.0.1-beta1", True),
        ("Newtonsoft.Json", "13.0.1.0", False),  # 13.0.1.0 is 13.0.1
        ("Newtonsoft.Json", "13.0.01", False),  # NuGet reads numbers without leading zeros
        ("Some.Library", "1.0.0", True),
        ("some.library", "1.0.0.0", True),
        ("Some.Library", "1.0.0.1", False),  # the fourth number counts
        ("Some.Library", "1.0.0.2", False),
        ("Some.Library", "1.0.1-rc.1", False),
    ],
)
def test_a_nuget_package(store: VulnStore, name: str, version: str, hit: bool) -> None:
    found = affected(store, nuget(name, version))
    assert bool(found) is hit, found


@pytest.mark.parametrize(
    ("version", "hit"),
    [
        ("0.6.2", False),
        ("0.6.3", True),
        ("0.6.13", True),
        ("0.6.14", False),
        ("0.6.14+build.1", False),  # build metadata does not order
        ("1.0.0-alpha.1", True),
        ("1.0.0-alpha", False),  # before the introducing prerelease
        ("1.6.0", True),
        ("1.6.1-rc.1", True),
        ("1.6.1", False),
    ],
)
def test_a_cargo_package(store: VulnStore, version: str, hit: bool) -> None:
    found = affected(store, cargo("smallvec", version))
    assert found == ({"CVE-2021-25900"} if hit else set())


def test_crate_names_are_not_folded(store: VulnStore) -> None:
    assert affected(store, cargo("SmallVec", "0.6.3")) == set()


def test_names_are_normalised_per_ecosystem() -> None:
    assert normalise_name("Packagist", "Symfony/Http-Kernel") == "symfony/http-kernel"
    assert normalise_name("NuGet", "Newtonsoft.Json") == "newtonsoft.json"
    assert normalise_name("crates.io", "serde_json") == "serde_json"


# --- the orders themselves ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "ordered"),
    [
        (
            "Packagist",
            [
                "1.0.0-dev",
                "1.0.0-alpha1",
                "1.0.0-beta",
                "1.0.0-beta1",
                "1.0.0-beta.2",
                "1.0.0-b10",
                "1.0.0-RC1",
                "1.0.0",
                "1.0.0-patch1",
                "1.0.0.1",
                "1.0.1",
                "1.10.0",
                "1.x-dev",
                "2.0.0",
            ],
        ),
        (
            "NuGet",
            [
                "1.0.0-alpha",
                "1.0.0-alpha.2",
                "1.0.0-alpha.10",
                "1.0.0-beta",
                "1.0.0",
                "1.0.0.1",
                "1.0.1",
                "1.0.10",
            ],
        ),
        (
            "crates.io",
            ["0.1.0", "0.9.0", "0.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0"],
        ),
    ],
)
def test_each_order(ecosystem: str, ordered: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    keys = [scheme.parse(v) for v in ordered]
    assert all(a < b for a, b in itertools.pairwise(keys)), ordered


@pytest.mark.parametrize(
    ("ecosystem", "same"),
    [
        (
            "Packagist",
            [
                "v1.2.3",
                "1.2.3",
                "1.2.3.0",
                "V1.2.3",
                "1.2.3-stable",
                "1.2.3+build",
                "v1.2.3@stable",
            ],
        ),
        ("Packagist", ["1.2-b2", "1.2.0-beta2", "1.2.0.0-beta.2", "v1.2-BETA2"]),
        ("Packagist", ["1.0-p1", "1.0-pl1", "1.0.0-patch1"]),
        ("NuGet", ["1.0.0", "1.0", "1.0.0.0", "1.0.0+meta", "01.0.0"]),
        ("NuGet", ["1.0.0-Beta", "1.0.0-beta", "1.0.0-BETA+x"]),
        ("crates.io", ["1.0.0", "1.0.0+abc"]),
    ],
)
def test_spellings_of_one_version(ecosystem: str, same: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    keys = [scheme.parse(v) for v in same]
    assert all(key == keys[0] for key in keys), same


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("v1.2", "1.2.0.0"),
        ("1.0-b2", "1.0.0.0-beta2"),
        ("2.x-dev", "2.9999999.9999999.9999999-dev"),
        ("1.2.3-RC1", "1.2.3.0-RC1"),
        ("1.2.3-stable", "1.2.3.0"),
        ("1.2.3 as 1.3.0", "1.2.3.0"),
        ("2023-01-01", "2023.01.01"),
        ("1.0.0-alpha1-dev", "1.0.0.0-alpha1-dev"),
    ],
)
def test_composer_versions_are_normalised_as_composer_does(given: str, normal: str) -> None:
    assert composer_version(given) == normal


@pytest.mark.parametrize(
    ("ecosystem", "bad"),
    [
        ("Packagist", "dev-main"),
        ("Packagist", "master"),
        ("Packagist", "not a version"),
        ("Packagist", ""),
        ("Packagist", "1.2.3.4.5"),
        ("Packagist", "1" * 5000),
        ("Packagist", "1.0-gamma1"),
        ("NuGet", "1.0.0-"),
        ("crates.io", "v1.0.0"),
    ],
)
def test_what_an_ecosystem_cannot_read_is_refused(ecosystem: str, bad: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    assert scheme.try_parse(bad) is None


def test_records_are_imported_under_the_ecosystems(store: VulnStore, tmp_path: Path) -> None:
    found = match(
        [
            composer("monolog/monolog", "2.0.0"),
            nuget("Newtonsoft.Json", "9.0.1"),
            cargo("smallvec", "0.6.5"),
        ],
        None,
        store,
    )
    assert {(f.package_type, f.ecosystem) for f in found} == {
        ("composer", "Packagist"),
        ("nuget", "NuGet"),
        ("cargo", "crates.io"),
    }
