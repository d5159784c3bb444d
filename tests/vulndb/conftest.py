"""Fixtures for the vulnerability database tests.

The real advisories (2,661 PyPA YAML records and 4,291 Go JSON records, CC-BY-4.0) are
read in place from ``../shared/data/vulndb`` next to the project root; ``full_store`` is
one database with both imported, built once per session and only read by the tests that
use it. Small Debian, Alpine, NVD and OSV records are written by the tests themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portside.vulndb.importers import import_osv
from portside.vulndb.importers.osv import read_osv
from portside.vulndb.model import Advisory
from portside.vulndb.store import VulnStore
from tests.vulndb.feedserver import feeds  # noqa: F401  (a fixture)
from tests.vulndb.helpers import GOLANG, PYPA


@pytest.fixture(scope="session")
def pypa_advisories() -> list[Advisory]:
    advisories, _ = read_osv(PYPA)
    return advisories


@pytest.fixture(scope="session")
def go_advisories() -> list[Advisory]:
    advisories, _ = read_osv(GOLANG)
    return advisories


@pytest.fixture(scope="session")
def full_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnStore]:
    """The PyPA and Go databases imported in full into one file; prints the timings."""
    path = tmp_path_factory.mktemp("vulndb") / "vulndb.sqlite"
    store = VulnStore.open(path)
    started = time.perf_counter()
    pypa = import_osv(store, PYPA, source="pypa")
    middle = time.perf_counter()
    go = import_osv(store, GOLANG, source="go")
    ended = time.perf_counter()
    print(
        f"\nimport: PyPA {pypa.records} records in {middle - started:.2f} s, "
        f"Go {go.records} records in {ended - middle:.2f} s, "
        f"database {path.stat().st_size / 1e6:.1f} MB"
    )
    store.close()
    readonly = VulnStore.open(path, readonly=True)
    yield readonly
    readonly.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VulnStore]:
    """An empty database of the test's own."""
    opened = VulnStore.open(tmp_path / "vulndb.sqlite")
    yield opened
    opened.close()
