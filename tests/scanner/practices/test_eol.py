"""The end-of-life table and how os-release values find their row."""

from __future__ import annotations

import datetime as dt

import pytest

from portside.scanner.model import Distro
from portside.scanner.practices import eol


@pytest.mark.parametrize(
    ("ident", "version", "key"),
    [
        ("debian", "12", ("debian", "12")),
        ("debian", "12.7", ("debian", "12")),
        ("ubuntu", "22.04", ("ubuntu", "22.04")),
        ("alpine", "3.20.3", ("alpine", "3.20")),
        ("rhel", "9.4", ("rhel", "9")),
        ("rocky", "8.10", ("rocky", "8")),
        ("almalinux", "9.5", ("almalinux", "9")),
        ("amzn", "2023", ("amzn", "2023")),
        ("amzn", "2", ("amzn", "2")),
        ("sles", "15.5", ("sles", "15.5")),
        ("fedora", "40", ("fedora", "40")),
        (" Alpine ", " 3.19.1 ", ("alpine", "3.19")),
        ("redhat", "8.9", ("rhel", "8")),
    ],
)
def test_release_of(ident: str, version: str, key: tuple[str, str]) -> None:
    assert eol.release_of(Distro(id=ident, version_id=version)) == key
    assert eol.lifecycle(Distro(id=ident, version_id=version)) is not None


@pytest.mark.parametrize(
    ("ident", "version"),
    [("debian", ""), ("alpine", "edge"), ("ubuntu", "99.04"), ("wolfi", "20230201"), ("", "")],
)
def test_unknown_releases_have_no_lifecycle(ident: str, version: str) -> None:
    assert eol.lifecycle(Distro(id=ident, version_id=version)) is None


def test_every_fact_is_a_plausible_date() -> None:
    assert {d for d, _ in eol.TABLE} >= {
        "debian",
        "ubuntu",
        "alpine",
        "rhel",
        "rocky",
        "almalinux",
        "amzn",
        "sles",
        "fedora",
    }
    for (distro, release), fact in eol.TABLE.items():
        assert (fact.distribution, fact.release) == (distro, release)
        assert dt.date(2015, 1, 1) < fact.end_of_life < dt.date(2040, 1, 1)


def test_later_releases_of_a_line_live_longer() -> None:
    """A cheap consistency check on the table: LTS and enterprise lines only grow."""
    for distro, releases in {
        "debian": ["8", "9", "10", "11", "12", "13"],
        "alpine": ["3.16", "3.17", "3.18", "3.19", "3.20", "3.21", "3.22"],
        "ubuntu": ["16.04", "18.04", "20.04", "22.04", "24.04"],
        "rhel": ["7", "8", "9", "10"],
        "fedora": ["38", "39", "40", "41", "42"],
    }.items():
        dates = [eol.TABLE[(distro, r)].end_of_life for r in releases]
        assert dates == sorted(dates), distro
