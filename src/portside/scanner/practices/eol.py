"""When operating-system releases stop receiving security updates.

A small table of facts, each with its date, for the distributions that container images
are commonly built on. The date is the last day of free security support from the
project itself: Debian's includes its LTS period, Ubuntu's is the end of standard support
(Expanded Security Maintenance needs a subscription), RHEL's is the end of its
maintenance phase (UBI images report themselves as ``rhel``). Where a project names only a
month, the date is that month's last day. A release missing from the table is not
judged: the check that uses it says so instead of guessing.

The table needs updating as releases come and go; its newest facts are from 2026.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portside.scanner.model import Distro


@dataclass(frozen=True)
class Lifecycle:
    distribution: str
    release: str
    end_of_life: dt.date


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# (os-release ID, release as matched below, end of security support)
_FACTS: tuple[tuple[str, str, str], ...] = (
    ("debian", "7", "2018-05-31"),
    ("debian", "8", "2020-06-30"),
    ("debian", "9", "2022-06-30"),
    ("debian", "10", "2024-06-30"),
    ("debian", "11", "2026-08-31"),
    ("debian", "12", "2028-06-30"),
    ("debian", "13", "2030-06-30"),
    ("ubuntu", "14.04", "2019-04-30"),
    ("ubuntu", "16.04", "2021-04-30"),
    ("ubuntu", "18.04", "2023-05-31"),
    ("ubuntu", "20.04", "2025-05-31"),
    ("ubuntu", "22.04", "2027-04-30"),
    ("ubuntu", "22.10", "2023-07-20"),
    ("ubuntu", "23.04", "2024-01-25"),
    ("ubuntu", "23.10", "2024-07-11"),
    ("ubuntu", "24.04", "2029-04-30"),
    ("ubuntu", "24.10", "2025-07-10"),
    ("ubuntu", "25.04", "2026-01-31"),
    ("alpine", "3.12", "2022-05-01"),
    ("alpine", "3.13", "2022-11-01"),
    ("alpine", "3.14", "2023-05-01"),
    ("alpine", "3.15", "2023-11-01"),
    ("alpine", "3.16", "2024-05-23"),
    ("alpine", "3.17", "2024-11-22"),
    ("alpine", "3.18", "2025-05-09"),
    ("alpine", "3.19", "2025-11-01"),
    ("alpine", "3.20", "2026-04-01"),
    ("alpine", "3.21", "2026-11-01"),
    ("alpine", "3.22", "2027-05-01"),
    ("alpine", "3.23", "2027-11-01"),
    ("rhel", "7", "2024-06-30"),
    ("rhel", "8", "2029-05-31"),
    ("rhel", "9", "2032-05-31"),
    ("rhel", "10", "2035-05-31"),
    # CentOS 8 covers both CentOS Linux 8 and Stream 8, which report the same version.
    ("centos", "7", "2024-06-30"),
    ("centos", "8", "2024-05-31"),
    ("centos", "9", "2027-05-31"),
    ("rocky", "8", "2029-05-31"),
    ("rocky", "9", "2032-05-31"),
    ("almalinux", "8", "2029-03-01"),
    ("almalinux", "9", "2032-05-31"),
    ("amzn", "2018.03", "2023-12-31"),
    ("amzn", "2", "2026-06-30"),
    ("amzn", "2023", "2029-06-30"),
    ("sles", "12.5", "2024-10-31"),
    ("sles", "15.3", "2022-12-31"),
    ("sles", "15.4", "2023-12-31"),
    ("sles", "15.5", "2024-12-31"),
    ("sles", "15.6", "2025-12-31"),
    ("sles", "15.7", "2031-07-31"),
    ("opensuse-leap", "15.4", "2023-12-07"),
    ("opensuse-leap", "15.5", "2024-12-31"),
    ("opensuse-leap", "15.6", "2026-04-30"),
    ("fedora", "36", "2023-05-16"),
    ("fedora", "37", "2023-12-05"),
    ("fedora", "38", "2024-05-21"),
    ("fedora", "39", "2024-11-26"),
    ("fedora", "40", "2025-05-13"),
    ("fedora", "41", "2025-12-15"),
    ("fedora", "42", "2026-05-28"),
)

TABLE: dict[tuple[str, str], Lifecycle] = {
    (distro, release): Lifecycle(distro, release, _d(date)) for distro, release, date in _FACTS
}

# How much of VERSION_ID names the release: Debian "12" (point releases share it),
# Alpine "3.20" of "3.20.3", Ubuntu "22.04", RHEL "9" of "9.4", SLES "15.5" as is.
_MAJOR_ONLY = frozenset({"debian", "rhel", "centos", "rocky", "almalinux", "fedora"})
_MAJOR_MINOR = frozenset({"alpine", "ubuntu", "sles", "opensuse-leap"})
# Derivatives that report another ID but follow a listed release's support.
_ALIASES = {"redhat": "rhel", "sle_hpc": "sles", "sled": "sles"}


def release_of(distro: Distro) -> tuple[str, str]:
    """The table key for a distribution: its ID and the part of VERSION_ID that counts."""
    ident = distro.id.strip().lower()
    ident = _ALIASES.get(ident, ident)
    version = distro.version_id.strip()
    parts = version.split(".")
    if ident in _MAJOR_ONLY:
        return ident, parts[0]
    if ident in _MAJOR_MINOR:
        return ident, ".".join(parts[:2])
    return ident, version


def lifecycle(distro: Distro) -> Lifecycle | None:
    """The release's end of life, or None when the table does not know it."""
    return TABLE.get(release_of(distro))


KNOWN_DISTRIBUTIONS = frozenset(d for d, _ in TABLE)
