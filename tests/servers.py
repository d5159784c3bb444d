"""Real `portside serve` processes for black-box tests: the embedded default in the
SQLite pass, a scratch PostgreSQL database in the PostgreSQL pass."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_env(data_dir: Path, workers: int = 2) -> dict[str, str]:
    """The environment of a `portside` process on the embedded default in ``data_dir``."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        PORTSIDE_DATA_DIR=str(data_dir),
        PORTSIDE_WEB_WORKERS=str(workers),
        PORTSIDE_LOG_LEVEL="WARNING",
    )
    return env


@contextlib.contextmanager
def scratch_environment(data_dir: Path) -> Iterator[dict[str, str]]:
    env = embedded_env(data_dir)
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield env
        return
    import psycopg

    name = f"portside_scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + name
    try:
        yield env
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    env: dict[str, str]
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "portside.cli.main", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self, *extra: str) -> None:
        log = self.data_dir / "serve.log"
        with open(log, "a") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "portside.cli.main",
                    "serve",
                    "--port",
                    str(self.port),
                    *extra,
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        marker = f"Portside is running at http://127.0.0.1:{self.port}/"
        while time.monotonic() < deadline and self.process.poll() is None:
            if log.read_text().count(marker) > getattr(self, "_starts", 0):
                self._starts = getattr(self, "_starts", 0) + 1
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError("portside serve did not start:\n" + log.read_text())

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.process = None
        return code


@contextlib.contextmanager
def running_server(data_dir: Path) -> Iterator[Server]:
    with scratch_environment(data_dir) as env:
        server = Server(env=env, data_dir=data_dir)
        migrated = server.cli("migrate", "--no-input")
        assert migrated.returncode == 0, migrated.stderr
        server.start()
        try:
            yield server
        finally:
            server.stop()
