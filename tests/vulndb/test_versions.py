"""Version schemes and OSV range evaluation, ending with a self-check over every PyPA
record: its ranges must agree with its enumerated ``versions`` list."""

from __future__ import annotations

import itertools

import pytest

from portside.vulndb.model import Affected, Event, PackageRef, Range
from portside.vulndb.versions import (
    CompiledEntry,
    go_version,
    normalise_name,
    scheme_for,
    sort_versions,
)
from tests.vulndb.helpers import PYPA_RECORDS


def entry(ecosystem: str, *ranges: Range, versions: tuple[str, ...] = ()) -> Affected:
    return Affected(PackageRef(ecosystem, "pkg"), ranges=ranges, versions=versions)


def rng(*events: tuple[str, str], type: str = "ECOSYSTEM") -> Range:
    return Range(type, tuple(Event(kind, version) for kind, version in events))  # type: ignore[arg-type]


def verdict(e: Affected, version: str) -> bool | None:
    return CompiledEntry(e).check(version).affected


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "name", "normal"),
    [
        ("PyPI", "Jinja2", "jinja2"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "Foo__Bar-.baz", "foo-bar-baz"),
        ("Go", "github.com/Masterminds/goutils", "github.com/Masterminds/goutils"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
        ("NuGet", "Newtonsoft.Json", "newtonsoft.json"),
        ("Debian:12", "openssl", "openssl"),
    ],
)
def test_names_are_normalised_per_ecosystem(ecosystem: str, name: str, normal: str) -> None:
    assert normalise_name(ecosystem, name) == normal


# --- schemes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "ordered"),
    [
        ("PyPI", ["1.0.dev1", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.1", "1.10"]),
        ("Go", ["0.0.0-20210101000000-abcdef123456", "1.2.3-rc.1", "1.2.3", "1.10.0"]),
        ("npm", ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0", "2.0.0"]),
        ("Maven", ["1.0-alpha-1", "1.0-SNAPSHOT", "1.0", "1.0.1", "1.1"]),
        ("RubyGems", ["1.0.0.pre1", "1.0.0", "1.0.1", "1.10.0"]),
        ("Debian:12", ["2.36-9+deb12u3", "2.36-9+deb12u4", "1:0.9-1", "1:1.0~rc1-1", "1:1.0-1"]),
        ("Alpine:v3.20", ["1.2_rc1-r0", "1.2-r0", "1.2-r1", "1.2_git20230101-r0", "1.10-r0"]),
    ],
)
def test_each_scheme_orders_as_its_ecosystem(ecosystem: str, ordered: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    keys = [scheme.parse(v) for v in ordered]
    assert all(a < b for a, b in itertools.pairwise(keys)), ordered
    assert sort_versions(ecosystem, list(reversed(ordered))) == ordered


def test_pep440_equal_spellings_are_the_same_version() -> None:
    scheme = scheme_for("PyPI")
    assert scheme is not None
    assert scheme.parse("1.0") == scheme.parse("1.0.0") == scheme.parse("1.0.0.0")


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("go1.21.3", "1.21.3"),
        ("go1.20", "1.20.0"),
        ("go1.21rc2", "1.21.0-rc.2"),
        ("go1.19beta1", "1.19.0-beta.1"),
        ("v1.2.3", "1.2.3"),
        ("v2.7.0-rc.0+incompatible", "2.7.0-rc.0"),
    ],
)
def test_go_versions_are_spelled_as_the_go_database_spells_them(given: str, normal: str) -> None:
    assert go_version(given) == normal


def test_go_orders_toolchain_prereleases_before_the_release() -> None:
    go = scheme_for("Go")
    assert go is not None
    assert go.parse("1.21.0-0") < go.parse("go1.21rc2") < go.parse("go1.21.0")
    assert go.parse("v2.7.0+incompatible") == go.parse("2.7.0")


@pytest.mark.parametrize(
    ("ecosystem", "bad"),
    [
        ("PyPI", "0.1-bulbasaur"),
        ("PyPI", "trunk"),
        ("Go", "(devel)"),
        ("npm", "not-a-version"),
        ("Debian", "abc"),
        ("Alpine", "x.y-r0"),
    ],
)
def test_unparseable_versions_are_refused_not_guessed(ecosystem: str, bad: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    assert scheme.try_parse(bad) is None
    with pytest.raises(Exception, match="not a valid"):
        scheme.parse(bad)


def test_an_ecosystem_without_ordering_has_no_scheme() -> None:
    assert scheme_for("OSS-Fuzz") is None


# --- OSV evaluation --------------------------------------------------------------------


def test_introduced_zero_and_fixed() -> None:
    e = entry("PyPI", rng(("introduced", "0"), ("fixed", "2.0")))
    assert verdict(e, "0.1") is True
    assert verdict(e, "1.9.9") is True
    assert verdict(e, "2.0") is False
    assert verdict(e, "2.0.1") is False


def test_several_branches_in_one_range_and_the_fix_of_the_branch() -> None:
    e = entry(
        "PyPI",
        rng(("introduced", "1.0"), ("fixed", "1.2.5"), ("introduced", "2.0"), ("fixed", "2.3")),
    )
    assert verdict(e, "0.9") is False
    assert CompiledEntry(e).check("1.1").fixed == ("1.2.5",)
    assert verdict(e, "1.2.5") is False
    assert verdict(e, "1.9") is False
    assert CompiledEntry(e).check("2.1").fixed == ("2.3",)
    assert verdict(e, "2.3") is False


def test_events_are_sorted_before_evaluation() -> None:
    shuffled = entry(
        "PyPI",
        rng(("fixed", "2.3"), ("introduced", "2.0"), ("fixed", "1.2.5"), ("introduced", "1.0")),
    )
    assert [verdict(shuffled, v) for v in ("0.9", "1.1", "1.5", "2.1", "2.4")] == [
        False,
        True,
        False,
        True,
        False,
    ]


def test_last_affected_includes_itself() -> None:
    e = entry("PyPI", rng(("introduced", "1.0"), ("last_affected", "1.4")))
    assert verdict(e, "1.4") is True
    assert verdict(e, "1.4.1") is False
    assert CompiledEntry(e).check("1.2").fixed == ()


def test_limit_caps_the_range_and_star_is_infinity() -> None:
    capped = entry("npm", rng(("introduced", "0"), ("limit", "3.0.0"), type="SEMVER"))
    assert verdict(capped, "2.9.9") is True
    assert verdict(capped, "3.0.0") is False
    unlimited = entry("npm", rng(("introduced", "1.0.0"), ("limit", "*"), type="SEMVER"))
    assert verdict(unlimited, "99.0.0") is True


def test_ranges_are_or_ed_and_the_versions_list_counts_too() -> None:
    e = entry(
        "PyPI",
        rng(("introduced", "1.0"), ("fixed", "1.1")),
        rng(("introduced", "3.0"), ("fixed", "3.1")),
        versions=("2.5",),
    )
    assert [verdict(e, v) for v in ("1.0.5", "2.5", "2.6", "3.0.1", "3.1")] == [
        True,
        True,
        False,
        True,
        False,
    ]


def test_versions_list_compares_by_the_scheme_not_the_spelling() -> None:
    e = entry("PyPI", versions=("1.0",))
    assert verdict(e, "1.0.0") is True
    assert verdict(e, "1.0.1") is False


def test_git_ranges_are_left_to_the_versions_list() -> None:
    e = entry(
        "PyPI",
        rng(("introduced", "0"), ("fixed", "a" * 40), type="GIT"),
        versions=("1.0",),
    )
    assert verdict(e, "1.0") is True
    assert verdict(e, "1.1") is False


def test_semver_ranges_use_semantic_versions_whatever_the_ecosystem() -> None:
    e = entry("crates.io", rng(("introduced", "0.5.0"), ("fixed", "0.5.3"), type="SEMVER"))
    assert verdict(e, "0.5.2") is True
    assert verdict(e, "0.5.3-alpha.1") is True  # a prerelease of the fix is before it
    assert verdict(e, "0.5.3") is False


def test_a_bound_that_cannot_be_parsed_gives_no_verdict_with_a_reason() -> None:
    e = entry("PyPI", rng(("introduced", "0"), ("fixed", "2019-09-12")))
    result = CompiledEntry(e).check("1.0")
    assert result.affected is None
    assert "2019-09-12" in result.reason


def test_an_installed_version_that_cannot_be_parsed_gives_no_verdict() -> None:
    e = entry("PyPI", rng(("introduced", "0"), ("fixed", "2.0")))
    result = CompiledEntry(e).check("0.1-bulbasaur")
    assert result.affected is None
    assert "not a valid PEP 440 version" in result.reason


def test_an_unparseable_installed_version_still_matches_the_versions_list() -> None:
    e = entry("PyPI", rng(("introduced", "0"), ("fixed", "2.0")), versions=("0.1-bulbasaur",))
    assert verdict(e, "0.1-bulbasaur") is True


def test_no_ordering_means_no_verdict_unless_listed() -> None:
    e = entry("OSS-Fuzz", rng(("introduced", "1"), ("fixed", "2")), versions=("1.5",))
    assert verdict(e, "1.5") is True
    assert verdict(e, "1.7") is None


# --- the PyPA self-check --------------------------------------------------------------

#: Records whose ranges and versions list disagree because of the record itself; for
#: each, the listed versions that the ranges (evaluated exactly as the OSV schema says)
#: do not contain.
RECORD_FAULTS = {
    # The list enumerates the pre-releases 3.2a1 ... 4.2rc1, which PEP 440 orders below
    # the range's introduced bounds "3.2" and "4.2".
    "PYSEC-2023-61": {"3.2a1", "3.2b1", "3.2rc1", "4.2a1", "4.2b1", "4.2rc1"},
    # The list was derived from the GIT range and includes 23.9.0 and 23.9.0.post1,
    # which the ECOSYSTEM range itself says are fixed ("fixed: 23.9.0").
    "PYSEC-2023-177": {"23.9.0", "23.9.0.post1"},
    # One range mixes two timelines (introduced 0 / fixed 2.11.6 and introduced 2.11 /
    # fixed 2.11.7); sorted, "fixed: 2.11.6" ends the 2.11 branch, while the list
    # counts 2.11.6 as affected.
    "PYSEC-2021-114": {"2.11.6"},
}


def test_pypa_ranges_agree_with_their_versions_lists(pypa_advisories: list) -> None:
    """For every record and affected entry with ranges and a versions list: each listed
    version is inside the ranges, and each ``fixed`` bound that is not listed is outside
    them (the version just past the affected ones). Versions that are not PEP 440 cannot
    be placed in a range; they are counted, and must still be matched through the list."""
    assert len(pypa_advisories) == PYPA_RECORDS
    checked = 0
    not_pep440: set[tuple[str, str]] = set()
    faults: dict[str, set[str]] = {}
    wrongly_inside: list[tuple[str, str]] = []
    for advisory in pypa_advisories:
        for affected in advisory.affected:
            if not affected.versions or all(r.type == "GIT" for r in affected.ranges):
                continue
            ranges_only = CompiledEntry(
                Affected(affected.package, ranges=affected.ranges, versions=())
            )
            whole = CompiledEntry(affected)
            listed = set(affected.versions)
            for version in affected.versions:
                checked += 1
                result = ranges_only.check(version)
                if result.affected is None:
                    assert "not a valid PEP 440 version" in result.reason
                    not_pep440.add((advisory.id, version))
                    assert whole.check(version).affected is True
                elif not result.affected:
                    faults.setdefault(advisory.id, set()).add(version)
            for r in affected.ranges:
                if r.type == "GIT":
                    continue
                for event in r.events:
                    if event.kind == "fixed" and event.version not in listed:
                        checked += 1
                        if ranges_only.check(event.version).affected:
                            wrongly_inside.append((advisory.id, event.version))
    print(
        f"\nPyPA self-check: {checked} versions checked, "
        f"{len(not_pep440)} listed versions are not PEP 440"
    )
    assert checked > 140_000
    assert faults == RECORD_FAULTS
    assert wrongly_inside == []
    assert 100 < len(not_pep440) < 120  # 0.1-bulbasaur, 2.0.1rc2-git, trunk, ...


def test_pypa_bounds_that_are_not_versions_are_reported(pypa_advisories: list) -> None:
    """Two records carry ECOSYSTEM bounds that PEP 440 cannot read; evaluating them
    gives no verdict, with the bound named, instead of a silent "not affected"."""
    by_id = {a.id: a for a in pypa_advisories}
    for ident, bound in (("PYSEC-2021-371", "0.2.0-n653"), ("PYSEC-2019-125", "2019-09-12")):
        (affected,) = by_id[ident].affected
        result = CompiledEntry(Affected(affected.package, ranges=affected.ranges)).check("0.0.1")
        assert result.affected is None
        assert bound in result.reason
