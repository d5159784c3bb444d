"""A real `portside serve` shared by the interoperability tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import Server, running_server

PASSWORD = "alice-has-a-long-password"
BOB_PASSWORD = "bob-has-a-long-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("registry")) as server:
        for name, password in [("alice", PASSWORD), ("bob", BOB_PASSWORD)]:
            created = server.cli(
                "user",
                "create",
                name,
                "--email",
                f"{name}@example.com",
                "--password-stdin",
                stdin=password + "\n",
            )
            assert created.returncode == 0, created.stderr
        assert server.cli("org", "create", "acme", "--owner", "alice").returncode == 0
        assert server.cli("org", "create", "globex", "--owner", "bob").returncode == 0
        yield server
