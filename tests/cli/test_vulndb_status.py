"""`portside vulndb status` as an operator runs it: a real process on the embedded default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import embedded_env

pytestmark = pytest.mark.nodb

PYPA = (
    Path(__file__).parents[2] / ".." / "shared" / "data" / "vulndb" / "pypa" / "vulns"
).resolve()


def portside(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", *args],
        env=embedded_env(data),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_data_is_said_and_fails(tmp_path: Path) -> None:
    done = portside(tmp_path, "vulndb", "status")
    assert done.returncode == 1
    assert "no vulnerability data" in done.stderr
    assert "portside vulndb sync" in done.stderr


def test_each_feed_with_its_records_and_age(tmp_path: Path) -> None:
    imported = portside(
        tmp_path, "vulndb", "import", "osv", str(PYPA / "jinja2"), "--name", "pypi", "--no-rematch"
    )
    assert imported.returncode == 0, imported.stderr
    count = int(imported.stdout.split("imported ")[1].split()[0])
    done = portside(tmp_path, "vulndb", "status")
    assert done.returncode == 0, done.stderr
    header, row, summary = done.stdout.strip().splitlines()
    assert header.split()[:5] == ["FEED", "KIND", "RECORDS", "IMPORTED", "CHECKED"]
    assert row.split()[:3] == ["pypi", "osv", f"{count:,}"]
    assert "min ago" in row and str(PYPA / "jinja2") in row
    assert summary.startswith(f"1 feed, {count:,} records; the oldest data is pypi's")
