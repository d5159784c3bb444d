"""Matching language packages: known answers on the real PyPA and Go data, alias
merging, withdrawn records, packages that cannot be decided, and speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from portside.scanner.model import Package
from portside.vulndb import MatchResult, SeverityClass, match
from portside.vulndb.importers import import_osv
from portside.vulndb.matcher import language_name, preferred_id
from portside.vulndb.store import VulnStore
from tests.vulndb.helpers import make_package, osv_record, write_records


def ids_for(result: MatchResult, name: str, version: str) -> dict[str, tuple[str, ...]]:
    """advisory id -> every id of the finding, for one package."""
    return {
        f.advisory_id: f.ids
        for f in result
        if f.package_name == name and f.package_version == version
    }


def all_ids(result: MatchResult, name: str, version: str) -> set[str]:
    return {i for ids in ids_for(result, name, version).values() for i in ids}


# --- known answers --------------------------------------------------------------------

KNOWN = [
    # package, affected version, ids it must have, the fixed version that clears them
    ("requests", "2.19.1", {"PYSEC-2018-28", "CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}, "2.20.0"),
    ("requests", "2.30.0", {"PYSEC-2023-74", "CVE-2023-32681", "GHSA-j8r2-6x86-q33q"}, "2.31.0"),
    ("urllib3", "1.24.1", {"PYSEC-2019-132", "CVE-2019-11236", "GHSA-r64q-w8jr-g9qp"}, "1.24.3"),
    ("urllib3", "1.24.1", {"PYSEC-2019-133", "CVE-2019-11324", "GHSA-mh33-7rrq-662w"}, "1.24.2"),
    ("Jinja2", "2.10", {"PYSEC-2019-217", "CVE-2019-10906", "GHSA-462w-v97r-4m45"}, "2.10.1"),
    ("jinja2", "2.10", {"PYSEC-2021-66", "CVE-2020-28493", "GHSA-g3rq-g295-4j3m"}, "2.11.3"),
    ("PyYAML", "5.3", {"PYSEC-2020-96", "CVE-2020-1747", "GHSA-6757-jp84-gxfx"}, "5.3.1"),
    ("pyyaml", "5.3", {"PYSEC-2021-142", "CVE-2020-14343", "GHSA-8q59-q68h-6hv4"}, "5.4"),
]


@pytest.mark.parametrize(("name", "version", "expected", "fixed"), KNOWN)
def test_known_pypi_answers(
    full_store: VulnStore, name: str, version: str, expected: set[str], fixed: str
) -> None:
    result = match([make_package("pypi", name, version)], None, full_store)
    findings = [f for f in result if expected <= set(f.ids)]
    assert len(findings) == 1, ids_for(result, name, version)
    (finding,) = findings
    assert finding.advisory_id.startswith("CVE-")
    assert fixed in finding.fixed_versions
    assert finding.ecosystem == "PyPI"
    assert finding.data_sources == ("pypa",)
    assert finding.references and finding.summary
    cleared = match([make_package("pypi", name, fixed)], None, full_store)
    assert not expected & all_ids(cleared, name, fixed)


def test_urllib3_scores_come_from_the_advisory(full_store: VulnStore) -> None:
    result = match([make_package("pypi", "urllib3", "1.24.1")], None, full_store)
    scored = {f.advisory_id: f for f in result if f.cvss_score is not None}
    finding = scored["CVE-2023-43804"]
    assert finding.cvss_score == 8.1
    assert finding.severity is SeverityClass.CRITICAL
    assert finding.score_source == "advisory"
    assert finding.cvss_version == "3.1"
    unscored = [f for f in result if f.cvss_score is None]
    assert unscored and all(f.severity is SeverityClass.UNKNOWN for f in unscored)


def test_a_go_module(full_store: VulnStore) -> None:
    gin = make_package("golang", "github.com/gin-gonic/gin", "v1.5.0")
    result = match([gin], None, full_store)
    found = ids_for(result, gin.name, "v1.5.0")
    assert found["CVE-2020-36567"] == ("CVE-2020-36567", "GHSA-6vm3-jj99-7229", "GO-2020-0001")
    (finding,) = [f for f in result if f.advisory_id == "CVE-2020-36567"]
    assert finding.fixed_versions == ("1.6.0",)
    assert finding.summary == "Arbitrary log line injection in github.com/gin-gonic/gin"
    later = match([make_package("golang", gin.name, "v1.6.0")], None, full_store)
    assert "GO-2020-0001" not in all_ids(later, gin.name, "v1.6.0")


@pytest.mark.parametrize("spelling", ["go1.20.1", "v1.20.1", "1.20.1"])
def test_the_go_standard_library(full_store: VulnStore, spelling: str) -> None:
    result = match([make_package("golang", "stdlib", spelling)], None, full_store)
    found = all_ids(result, "stdlib", spelling)
    assert {"GO-2023-1621", "CVE-2023-24532"} <= found
    (finding,) = [f for f in result if "GO-2023-1621" in f.ids]
    assert finding.fixed_versions == ("1.20.2",)
    fixed = match([make_package("golang", "stdlib", "go1.20.2")], None, full_store)
    assert "GO-2023-1621" not in all_ids(fixed, "stdlib", "go1.20.2")


def test_the_go_toolchain_release_candidates(full_store: VulnStore) -> None:
    """A release candidate sorts before its release, so it has the release's issues."""
    rc = match([make_package("golang", "stdlib", "go1.20rc1")], None, full_store)
    assert "GO-2023-1621" in all_ids(rc, "stdlib", "go1.20rc1")


def test_findings_carry_the_package_and_its_layer(full_store: VulnStore) -> None:
    package = make_package("pypi", "requests", "2.19.1", layer="sha256:" + "cd" * 32)
    (finding, *_) = match([package], None, full_store)
    assert finding.package_name == "requests"
    assert finding.package_version == "2.19.1"
    assert finding.package_purl == "pkg:pypi/requests@2.19.1"
    assert finding.package_type == "pypi"
    assert finding.layer == "sha256:" + "cd" * 32


def test_a_package_with_no_advisories(full_store: VulnStore) -> None:
    result = match(
        [make_package("pypi", "surely-nobody-calls-a-package-this", "1.0")], None, full_store
    )
    assert list(result) == [] and result.unmatched == []


# --- undecidable packages ---------------------------------------------------------------


def test_an_unparseable_version_is_reported_not_ignored(full_store: VulnStore) -> None:
    result = match(
        [make_package("golang", "github.com/gin-gonic/gin", "(devel)")], None, full_store
    )
    assert list(result) == []
    (unmatched,) = result.unmatched
    assert unmatched.package_name == "github.com/gin-gonic/gin"
    assert "'(devel)' is not a valid Go version" in unmatched.reason


def test_a_legacy_pypi_version_still_matches_its_listed_versions(full_store: VulnStore) -> None:
    # PYSEC-2008-8 lists the pre-PEP 440 release "0.9-eevee" among affected versions
    result = match([make_package("pypi", "paramiko", "0.9-eevee")], None, full_store)
    assert "PYSEC-2008-8" in all_ids(result, "paramiko", "0.9-eevee")
    assert any("not a valid PEP 440 version" in u.reason for u in result.unmatched)


def test_a_record_whose_bound_cannot_be_parsed_is_named(full_store: VulnStore) -> None:
    (record,) = [a for a in full_store.find_by_alias("PYSEC-2019-125")]
    name = record.affected[0].package.name
    result = match([make_package("pypi", name, "0.0.1")], None, full_store)
    causes = {u.advisory_id: u.reason for u in result.unmatched}
    assert "2019-09-12" in causes["PYSEC-2019-125"]


@pytest.mark.parametrize(
    ("package", "reason"),
    [
        (make_package("rpm", "openssl", "3.0.7-1.el9"), "no vulnerability data for rpm"),
        (make_package("generic", "busybox", "1.36.1"), "no vulnerability data for generic"),
        (make_package("pypi", "requests", ""), "has no version"),
    ],
)
def test_packages_without_data_are_listed(
    full_store: VulnStore, package: Package, reason: str
) -> None:
    result = match([package], None, full_store)
    (unmatched,) = result.unmatched
    assert reason in unmatched.reason


# --- merging and withdrawn records ---------------------------------------------------


def test_overlapping_ids_from_two_feeds_merge_into_one_finding(
    store: VulnStore, tmp_path: Path
) -> None:
    ghsa = osv_record(
        "GHSA-1111-2222-3333",
        "PyPI",
        "Flask-Thing",
        aliases=["CVE-2024-0001"],
        events=[{"introduced": "0"}, {"fixed": "2.0"}],
        summary="Thing is broken",
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    )
    pysec = osv_record(
        "PYSEC-2024-1",
        "PyPI",
        "flask_thing",
        aliases=["CVE-2024-0001", "CVE-2024-0002"],
        events=[{"introduced": "1.0"}, {"fixed": "2.0.1"}],
    )
    # shares only CVE-2024-0002 with PYSEC-2024-1, so it joins through it
    go_like = osv_record(
        "OSV-2024-77",
        "PyPI",
        "flask-thing",
        aliases=["CVE-2024-0002"],
        events=[{"introduced": "0"}],
    )
    other = osv_record("PYSEC-2024-2", "PyPI", "flask-thing", aliases=["CVE-2024-0009"])
    import_osv(store, write_records(tmp_path / "ghsa", [ghsa]), source="ghsa")
    import_osv(store, write_records(tmp_path / "pysec", [pysec, go_like, other]), source="pypa")
    result = match([make_package("pypi", "Flask.Thing", "1.5")], None, store)
    assert len(result) == 2
    merged = next(f for f in result if f.advisory_id == "CVE-2024-0001")
    assert merged.aliases == (
        "CVE-2024-0002",
        "GHSA-1111-2222-3333",
        "OSV-2024-77",
        "PYSEC-2024-1",
    )
    assert merged.fixed_versions == ("2.0", "2.0.1")
    assert merged.data_sources == ("ghsa", "pypa")
    assert merged.summary == "Thing is broken"
    assert merged.cvss_score == 7.5 and merged.severity is SeverityClass.CRITICAL
    assert {f.advisory_id for f in result} == {"CVE-2024-0001", "CVE-2024-0009"}


def test_findings_of_different_packages_are_not_merged(store: VulnStore, tmp_path: Path) -> None:
    record = osv_record("PYSEC-2024-5", "PyPI", "alpha", aliases=["CVE-2024-5"])
    record["affected"].append(
        {
            "package": {"ecosystem": "PyPI", "name": "beta"},
            "ranges": record["affected"][0]["ranges"],
        }
    )
    import_osv(store, write_records(tmp_path / "f", [record]), source="pypa")
    result = match(
        [make_package("pypi", "alpha", "1.0"), make_package("pypi", "beta", "1.0")], None, store
    )
    assert [(f.package_name, f.advisory_id) for f in result] == [
        ("alpha", "CVE-2024-5"),
        ("beta", "CVE-2024-5"),
    ]


def test_withdrawn_records_are_never_matched(store: VulnStore, tmp_path: Path) -> None:
    live = osv_record("GHSA-aaaa-aaaa-aaaa", "npm", "left-pad")
    gone = osv_record("GHSA-bbbb-bbbb-bbbb", "npm", "left-pad", withdrawn="2024-02-01T00:00:00Z")
    import_osv(store, write_records(tmp_path / "f", [live, gone]), source="ghsa")
    result = match([make_package("npm", "left-pad", "1.0.0")], None, store)
    assert [f.advisory_id for f in result] == ["GHSA-aaaa-aaaa-aaaa"]
    assert store.get_advisory("GHSA-bbbb-bbbb-bbbb") is not None


def test_withdrawn_real_records_do_not_match(full_store: VulnStore, go_advisories: list) -> None:
    withdrawn = [a for a in go_advisories if a.withdrawn is not None]
    packages = [
        make_package("golang", e.package.name, "v0.0.1") for a in withdrawn for e in a.affected
    ]
    found = {i for f in match(packages, None, full_store) for i in f.ids}
    assert not found & {a.id for a in withdrawn}


def test_preferred_ids() -> None:
    assert preferred_id({"PYSEC-2024-1", "GHSA-x", "CVE-2024-2", "CVE-2024-1"}) == "CVE-2024-1"
    assert preferred_id({"PYSEC-2024-1", "GHSA-x"}) == "GHSA-x"
    assert preferred_id({"PYSEC-2024-1", "GO-2024-1"}) == "GO-2024-1"


# --- names from package URLs ------------------------------------------------------------


def test_maven_and_npm_names_come_from_the_package_url(store: VulnStore, tmp_path: Path) -> None:
    log4j = osv_record(
        "GHSA-jfh8-c2jp-5v3q",
        "Maven",
        "org.apache.logging.log4j:log4j-core",
        events=[{"introduced": "2.0-beta9"}, {"fixed": "2.15.0"}],
    )
    babel = osv_record(
        "GHSA-67hx-6x53-jw92",
        "npm",
        "@babel/traverse",
        range_type="SEMVER",
        events=[{"introduced": "0"}, {"fixed": "7.23.2"}],
    )
    import_osv(store, write_records(tmp_path / "f", [log4j, babel]), source="ghsa")
    core = make_package(
        "maven",
        "log4j-core",
        "2.14.1",
        purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    )
    traverse = make_package("npm", "traverse", "7.23.1", purl="pkg:npm/%40babel/traverse@7.23.1")
    assert language_name(core) == "org.apache.logging.log4j:log4j-core"
    assert language_name(traverse) == "@babel/traverse"
    result = match([core, traverse], None, store)
    assert {f.advisory_id for f in result} == {"GHSA-jfh8-c2jp-5v3q", "GHSA-67hx-6x53-jw92"}
    fixed = match(
        [
            make_package(
                "maven",
                "org.apache.logging.log4j:log4j-core",
                "2.15.0",
                purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.15.0",
            )
        ],
        None,
        store,
    )
    assert list(fixed) == []


# --- speed ------------------------------------------------------------------------------


def test_matching_the_whole_data_at_old_and_patched_versions(
    full_store: VulnStore, pypa_advisories: list, go_advisories: list
) -> None:
    """Every package named in the data at an old version (affected by most of its
    advisories), then at the highest version any of its advisories fixes, each set with as
    many packages no advisory mentions; then everything again, which must find exactly
    what the two sets found apart. Prints the rates (the speed target is measured by
    benchmarks/match.py, not asserted here)."""
    newest: dict[tuple[str, str], str] = {}
    for advisory in pypa_advisories + go_advisories:
        for entry in advisory.affected:
            kind = "pypi" if entry.package.ecosystem == "PyPI" else "golang"
            key = (kind, entry.package.name)
            newest.setdefault(key, "0")
            for r in entry.ranges:
                for event in r.events:
                    if event.kind == "fixed" and all(
                        c.isdigit() or c == "." for c in event.version
                    ):
                        newest[key] = max(
                            newest[key], event.version, key=lambda v: tuple(map(int, v.split(".")))
                        )
    old = [make_package(kind, name, "0.0.1") for kind, name in newest]
    patched = [make_package(kind, name, v) for (kind, name), v in newest.items() if v != "0"]
    old += [make_package("pypi", f"unrelated-{i}", "1.0") for i in range(len(old))]
    patched += [make_package("pypi", f"other-{i}", "1.0") for i in range(len(patched))]
    fresh = VulnStore.open(full_store.path, readonly=True)
    rates = []
    found = []
    try:
        for label, packages in (
            ("old versions, new connection", old),
            ("patched versions, same connection", patched),
            ("all again, same connection", old + patched),
        ):
            started = time.perf_counter()
            result = match(packages, None, fresh)
            seconds = time.perf_counter() - started
            rates.append(len(packages) / seconds)
            found.append(len(result))
            print(
                f"\nmatch, {label}: {len(packages)} packages, {len(result)} findings "
                f"in {seconds:.2f} s ({rates[-1]:,.0f} packages/s)",
                end="",
            )
    finally:
        fresh.close()
    print()
    assert found[0] > 5_000
    assert found[1] < found[0]  # the fixed versions leave most advisories behind
    assert found[2] == found[0] + found[1]
