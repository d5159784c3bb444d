"""What a new operator meets first: a command run before `portside migrate`, and the
favicon every browser asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from portside.cli.main import _missing_table
from tests.servers import embedded_env


@pytest.mark.nodb
def test_a_command_before_migrate_says_to_migrate(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "org", "create", "acme", "--owner", "a"],
        env=embedded_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "run `portside migrate` first" in done.stderr
    assert "no such table: accounts_user" in done.stderr


@pytest.mark.nodb
def test_missing_tables_are_told_apart_from_other_database_errors() -> None:
    assert _missing_table(Exception('relation "accounts_user" does not exist\nLINE 1: ...'))
    assert _missing_table(Exception("no such table: accounts_user"))
    assert not _missing_table(Exception("database is locked"))
    assert not _missing_table(Exception('duplicate key value violates unique constraint "x"'))


@pytest.mark.django_db
def test_the_favicon_is_served(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO header
    page = client.get("/").content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page
    svg = client.get("/static/portside/favicon.svg")
    assert svg.status_code == 200
    assert b"<svg" in b"".join(svg.streaming_content)  # type: ignore[attr-defined]
