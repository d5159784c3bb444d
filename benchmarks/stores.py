"""The scratch store a benchmark generates and measures: a temporary data directory and,
for PostgreSQL, a database of its own on 127.0.0.1:5432 (user postgres), with the
environment a child process needs to use them; both removed afterwards unless kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass
class Scratch:
    work: Path  # the temporary folder (the data directory is work/data)
    env: dict[str, str]  # the environment of a child process that uses the store
    database: str  # the PostgreSQL database's name ("" on SQLite)


def _psql(sql: str, *, check: bool = True) -> str:
    done = subprocess.run(["psql", PG_ADMIN, "-tAqc", sql], capture_output=True, text=True)
    if check and done.returncode:
        raise RuntimeError(f"psql: {sql}: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def scratch_store(
    vendor: str, name: str, *, work: Path | None = None, database: str = "", keep: bool = False
) -> Iterator[Scratch]:
    """A store for ``vendor`` (sqlite or postgresql) named after the benchmark ``name``.
    ``work`` and ``database`` reuse a kept folder and database (created when missing);
    ``keep`` leaves both in place afterwards."""
    reused = work is not None
    work = work or Path(tempfile.mkdtemp(prefix=f"portside-{name}-{vendor}-"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        PORTSIDE_DATA_DIR=str(work / "data"),
        PORTSIDE_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="portside.config.settings",
        PYTHONPATH=f"{ROOT / 'src'}:{ROOT}",
    )
    if vendor == "postgresql":
        database = database or f"portside_{name}_{os.getpid()}"
        if not _psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'"):
            _psql(f"CREATE DATABASE {database}")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    else:
        database = ""
    try:
        yield Scratch(work, env, database)
    finally:
        if not keep and database:
            _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", check=False)
        if not keep and not reused:
            shutil.rmtree(work, ignore_errors=True)
