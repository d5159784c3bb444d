"""Scans as the worker runs them, in processes of their own on the embedded default
(SQLite in WAL mode): the rest of the store keeps writing while a large scan stores its
results, a scan's memory stays within its budget, and `portside serve` keeps the web
server up when its worker dies, starting the worker again, which finishes the scan the
dead one left running."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.scanning import bigscan
from tests.servers import Server, embedded_env

# Real processes on the embedded default, whatever the pass.
pytestmark = [pytest.mark.nodb, pytest.mark.e2e]

BUSY_TIMEOUT = 2.0  # seconds another writer waits for the database before giving up
MiB = 1024 * 1024


def portside(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "portside.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done


def prepare(env: dict[str, str], packages: int, python: int = 0) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tests.scanning.bigscan", "prepare", str(packages), str(python)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def start_run(env: dict[str, str], scan_id: int, output: Path) -> subprocess.Popen[bytes]:
    with open(output, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.scanning.bigscan", "run", str(scan_id)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(process: subprocess.Popen[bytes], output: Path) -> tuple[dict[str, Any], float]:
    """The run's result and its peak resident set size in MiB, as the kernel kept it for
    that process since it exec'd (its VmHWM, which it reports itself at the end)."""
    process.wait()
    text = output.read_text()
    assert process.returncode == 0, text
    result = json.loads(text.strip().splitlines()[-1])
    return result, float(result["peak_mib"])


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    env = embedded_env(tmp_path)
    portside(env, "migrate", "--no-input")
    return env


def test_the_store_takes_writes_while_a_large_scan_stores_its_results(store, tmp_path):
    """Another connection writes every 50 ms during the whole run of a scan of 30,000
    packages with 3,000 findings, waiting at most BUSY_TIMEOUT for the lock: it never
    fails, and the longest wait is measured. (The run used to hold one write transaction
    while it matched, rendered, validated and pushed its SBOM: other writers failed with
    "database is locked".)"""
    advisories = tmp_path / "osv"
    bigscan.osv_advisories(str(advisories), 3_000)
    portside(store, "vulndb", "import", "osv", str(advisories), "--no-rematch")
    env = store | {"PORTSIDE_SCAN_WRITE_BATCH": "1000"}
    scan_id = prepare(env, 30_000, 3_000)
    database = sqlite3.connect(
        tmp_path / "portside.sqlite3", timeout=BUSY_TIMEOUT, isolation_level=None
    )
    database.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, at REAL)")
    output = tmp_path / "run.out"
    run = start_run(env, scan_id, output)
    waits: list[float] = []
    refused: list[str] = []
    try:
        while run.poll() is None:
            started = time.monotonic()
            try:
                database.execute("BEGIN IMMEDIATE")
                database.execute("INSERT INTO probe (at) VALUES (?)", (started,))
                database.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                refused.append(str(exc))
                database.execute("ROLLBACK") if database.in_transaction else None
            waits.append(time.monotonic() - started)
            time.sleep(0.05)
    finally:
        result, _ = finish(run, output)
        database.close()
    assert result["status"] == "done", result
    assert result["packages"] == 33_000 and result["findings"] == 3_000
    longest = max(waits)
    print(f"{len(waits)} writes during a {result['seconds']} s run; longest wait {longest:.3f} s")
    assert len(waits) > 20  # the writes really overlapped the run
    assert not refused, f"{len(refused)} writes refused: {refused[0]}"
    assert longest < BUSY_TIMEOUT


def test_a_scan_stays_within_its_memory_budget(store, tmp_path):
    """With the package limit set to 20,000, a scan of 20,000 packages and one of an
    image that lists 60,000 both stay within 256 MiB (the second fails and says why;
    about 85 MiB of it is the worker's own code). The worker took about 11 KB a
    package, and no limit stopped it: 5.4 GB for a dpkg database of 52 MB."""
    env = store | {"PORTSIDE_SCAN_MAX_PACKAGES": "20000"}
    budget = 256
    at_limit, past_limit = prepare(env, 20_000), prepare(env, 60_000)
    run = start_run(env, at_limit, tmp_path / "at.out")
    done, peak = finish(run, tmp_path / "at.out")
    print(f"20,000 packages: {done['seconds']} s, peak {peak:.0f} MiB")
    assert done["status"] == "done" and done["packages"] == 20_000, done
    assert peak < budget
    run = start_run(env, past_limit, tmp_path / "past.out")
    refused, peak = finish(run, tmp_path / "past.out")
    print(f"60,000 packages: refused after {refused['seconds']} s, peak {peak:.0f} MiB")
    assert refused["status"] == "failed"
    assert "more than 20000 packages" in refused["error"]
    assert "max_packages" in refused["error"]
    assert peak < budget


def scan_row(data_dir: Path, scan_id: int, *columns: str) -> tuple[Any, ...]:
    with sqlite3.connect(data_dir / "portside.sqlite3", timeout=10) as database:
        row = database.execute(
            f"SELECT {', '.join(columns or ('status',))} FROM scanning_scan WHERE id = ?",
            (scan_id,),
        ).fetchone()
    return tuple(row)


def worker_pid(serve: int, which: bytes = b"--exclude-queue") -> int | None:
    """A `portside worker` child of the `portside serve` process, from /proc: the main one
    (every queue but the feeds' sync), or with ``which=b"--queue"`` the feeds' own."""
    children = Path(f"/proc/{serve}/task/{serve}/children").read_text().split()
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"worker" in command and b"portside.cli.main" in command and which in command:
            return int(child)
    return None


def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_serve_restarts_a_killed_worker_which_finishes_the_scan_it_left(store, tmp_path):
    """The worker is killed (SIGKILL) in the middle of a scan: the web server keeps
    answering, `portside serve` starts the worker again and says so (killed again at
    once, it waits longer the second time), and the new worker's sweep finds the scan
    silent and queues it again; the next attempt finishes it."""
    env = store | {
        "PORTSIDE_SCAN_ON_PUSH": "false",  # the scan below is queued by hand, once
        "PORTSIDE_SCAN_HEARTBEAT_SECONDS": "1",
        "PORTSIDE_SCAN_STALE_SECONDS": "8",
        "PORTSIDE_SCAN_SWEEP_SECONDS": "2",
    }
    scan_id = prepare(env, 30_000)
    server = Server(env=env, data_dir=tmp_path)
    server.start()
    assert server.process is not None
    serve = server.process.pid
    try:
        until(lambda: worker_pid(serve), 30, "the worker to start")
        first = worker_pid(serve)
        # The feeds' sync has a worker of its own, so that it never holds up a scan.
        until(lambda: worker_pid(serve, b"--queue"), 30, "the vulnerability-data worker")
        feeds_worker = worker_pid(serve, b"--queue")
        assert first is not None
        until(lambda: scan_row(tmp_path, scan_id)[0] == "running", 120, "the scan to start")
        time.sleep(1)
        os.kill(first, signal.SIGKILL)
        for _ in range(10):  # the web server does not notice
            with urllib.request.urlopen(f"{server.url}/health", timeout=10) as answer:
                assert answer.status == 200
            time.sleep(0.3)
        until(lambda: worker_pid(serve) not in (None, first), 30, "a new worker")
        second = worker_pid(serve)
        log = (tmp_path / "serve.log").read_text()
        assert f"The background worker (pid {first}) was killed by signal 9; " in log
        assert "starting it again in 1 s." in log
        assert f"The background worker is running (pid {second})" in log
        # Dying again soon after, it waits twice as long before it is started again.
        assert second is not None
        os.kill(second, signal.SIGKILL)
        until(lambda: worker_pid(serve) not in (None, first, second), 30, "a third worker")
        log = (tmp_path / "serve.log").read_text()
        assert f"The background worker (pid {second}) was killed by signal 9; " in log
        assert "starting it again in 2 s." in log
        assert f"The vulnerability-data worker is running (pid {feeds_worker})" in log
        assert worker_pid(serve, b"--queue") == feeds_worker  # untouched by the other's deaths
        until(lambda: scan_row(tmp_path, scan_id)[0] in ("done", "failed"), 300, "the scan")
        status, attempts, error = scan_row(tmp_path, scan_id, "status", "attempts", "error")
        assert (status, error) == ("done", "") and attempts >= 2
        with sqlite3.connect(tmp_path / "portside.sqlite3") as database:
            (requeued,) = database.execute(
                "SELECT count(*) FROM audit_auditevent WHERE action = 'scanning:scan:requeued'"
            ).fetchone()
        assert requeued >= 1
    finally:
        assert server.stop() == 0
