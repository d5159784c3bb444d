"""`portside serve --port P` without PORTSIDE_BASE_URL: links point where the store listens.

A review notification once linked to port 8000 (the default base URL) while the store
served on 8410. The derivation and the warning are checked here; tests/scanning's serve
tests run the whole command."""

from __future__ import annotations

import pytest

from portside.cli.management.commands.serve import base_url


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8410, "http://127.0.0.1:8410"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000"),
        ("::", 9000, "http://127.0.0.1:9000"),
        ("::1", 8410, "http://[::1]:8410"),
        ("store.example", 80, "http://store.example:80"),
    ],
)
def test_unset_it_is_where_the_store_listens(host: str, port: int, expected: str) -> None:
    assert base_url(host, port, None) == (expected, None)
    assert base_url(host, port, "") == (expected, None)


def test_set_to_another_local_port_it_is_kept_with_a_warning() -> None:
    derived, warning = base_url("127.0.0.1", 8410, "http://127.0.0.1:8000")
    assert derived is None and warning is not None
    assert "listens on port 8410" in warning and "point to port 8000" in warning


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8410",  # the same port
        "https://store.example",  # a public name behind a proxy
        "http://localhost:8410/",
    ],
)
def test_set_and_consistent_nothing_is_said(given: str) -> None:
    assert base_url("127.0.0.1", 8410, given) == (None, None)


def test_serve_passes_it_to_the_web_server_and_workers(tmp_path) -> None:
    """The environment of the children of a real `portside serve`."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.servers import embedded_env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = embedded_env(tmp_path)
    env.pop("PORTSIDE_BASE_URL", None)
    serve = subprocess.Popen(
        [sys.executable, "-m", "portside.cli.main", "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found = ""
        deadline = time.monotonic() + 120
        while not found and time.monotonic() < deadline:
            for child in Path(f"/proc/{serve.pid}/task/{serve.pid}/children").read_text().split():
                try:
                    environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                for item in environ:
                    if item.startswith(b"PORTSIDE_BASE_URL="):
                        found = item.decode().split("=", 1)[1]
            time.sleep(0.2)
        assert found == f"http://127.0.0.1:{port}"
    finally:
        serve.terminate()
        serve.wait(timeout=60)
