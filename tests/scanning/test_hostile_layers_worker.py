"""Hostile layers pushed to a running store and scanned by a real `portside worker`
process: the scan fails and says why (or, for a link that points out of the image, ends
without following it), the worker's peak memory during the scan stays within its budget,
and the same worker process then scans an ordinary image.

The peak is the kernel's own figure for the worker process (``VmHWM`` in
``/proc/PID/status``), reset before each scan (``clear_refs``), so each scan is measured
alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.scanning import hostile
from tests.scanning.hostile import Layer
from tests.scanning.images import DPKG_STATUS, OS_RELEASE
from tests.servers import Server, scratch_environment

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
PASSWORD = "alice-has-a-long-password"
# The budget of one scan, for the whole worker process. Once it has scanned a small image
# the worker holds about 130 MiB (Django, the scanner and its catalogers, the database
# driver; ``baseline`` measures it). A layer is read as a stream: at most four pieces of
# 4 MiB wait between the reading thread and the parser, the compression ratio is checked
# after 16 MiB of output, and a file is read only if a cataloger claims it. What grows
# with a layer is the list of its entries, kept for the layer cache, about 420 bytes an
# entry: the 500,000 a layer may hold (``Limits.max_entries_per_layer``) come to about
# 210 MiB. Without those bounds the layers below would take gigabytes (a file of 240 MiB
# read whole, two million entries listed).
BUDGET_MIB = 384


@dataclass
class Store:
    server: Server
    worker: subprocess.Popen[bytes]
    pusher: hostile.Pusher
    api_token: str
    baseline_mib: float

    def peak_mib(self) -> float:
        for line in Path(f"/proc/{self.worker.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in the worker's status")

    def reset_peak(self) -> None:
        """Set the worker's peak back to its current size (Linux: "5" to clear_refs)."""
        Path(f"/proc/{self.worker.pid}/clear_refs").write_text("5")

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.server.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.api_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def scan(self, name: str, digest: str, timeout: float = 120) -> tuple[dict[str, Any], float]:
        """Ask for a scan through the API, wait for the worker to end it; returns the scan
        and the worker's peak resident size in MiB while it ran."""
        self.reset_peak()
        scan = self.api("POST", "/api/v1/scans", {"repository": name, "digest": digest})
        deadline = time.monotonic() + timeout
        while scan["status"] not in ("done", "failed"):
            assert self.worker.poll() is None, f"the worker exited ({self.worker.returncode})"
            assert time.monotonic() < deadline, f"the scan of {name} did not end: {scan}"
            time.sleep(0.2)
            scan = self.api("GET", f"/api/v1/scans/{scan['id']}")
        return scan, self.peak_mib()


def _cli(server: Server, *args: str, stdin: str = "") -> str:
    done = server.cli(*args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    data_dir = tmp_path_factory.mktemp("hostile")
    with scratch_environment(data_dir) as env:
        env = env | {"PORTSIDE_SCAN_ON_PUSH": "false"}  # scans are asked for, one at a time
        server = Server(env=env, data_dir=data_dir)
        server.start("--no-worker")  # which applies the migrations first
        with open(data_dir / "worker.log", "ab") as log:
            worker = subprocess.Popen(
                [
                    sys.executable, "-m", "portside.cli.main", "worker",
                    "--exclude-queue", "vulndb", "--interval", "0.2",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        _cli(
            server,
            "user", "create", "alice", "--email", "alice@example.com", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        _cli(server, "org", "create", "acme", "--owner", "alice")
        token = _cli(
            server, "token", "create", "alice", "--name", "ci", "--scopes", "read", "write"
        ).strip()
        try:
            store = Store(server, worker, hostile.Pusher(server.url, "alice", PASSWORD), token, 0)
            # The worker's size once it has loaded everything a scan uses: one small scan.
            ordinary(store, "acme/warmup")
            store.baseline_mib = store.peak_mib()
            yield store
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            server.stop()


def ordinary(store: Store, name: str = "acme/ordinary") -> float:
    """Scan an ordinary Debian image and check its result; the worker's peak in MiB."""
    layer = hostile.files_layer(
        [("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", DPKG_STATUS)]
    )
    digest = store.pusher.image(name, "v1", [layer])
    scan, peak = store.scan(name, digest)
    assert scan["status"] == "done", scan
    assert scan["distro"] == "Debian GNU/Linux 12 (bookworm)"
    assert [(p["type"], p["name"]) for p in scan["packages"]] == [("deb", "zlib1g")]
    return peak


@dataclass(frozen=True)
class Case:
    layers: Callable[[], list[Layer]]
    status: str
    reason: tuple[str, ...]  # every one of these is in the scan's error


CASES = {
    # 240 MiB of zeros in a file the dpkg cataloger reads, gzip'd a thousand times smaller.
    "gzip bomb": Case(
        lambda: [hostile.gzip_bomb(240 * MiB)],
        "failed",
        ("layer 0", "inflates more than 200 times its compressed size"),
    ),
    # Two million empty files in one layer: the read stops at the limit.
    "two million tiny entries": Case(
        lambda: [hostile.tiny_entries(2_000_000)],
        "failed",
        ("layer 0", "has more than 500000 entries"),
    ),
    "dot-dot path": Case(
        lambda: [hostile.raw_names_layer(["etc/ok", "../../../../etc/cron.d/evil"])],
        "failed",
        ("layer 0", "../../../../etc/cron.d/evil"),
    ),
    "hard link out of the root": Case(
        lambda: [hostile.link_layer([("etc/stolen", "../../../etc/shadow", tarfile.LNKTYPE)])],
        "failed",
        ("layer 0", "../../../etc/shadow"),
    ),
    "truncated gzip": Case(
        lambda: [hostile.truncated(hostile.files_layer([("etc/data", os.urandom(200_000))]))],
        "failed",
        ("layer 0", "the gzip stream is truncated"),
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_hostile_layer(store: Store, kind: str) -> None:
    case = CASES[kind]
    name = "acme/" + kind.replace(" ", "-")
    digest = store.pusher.image(name, "v1", case.layers())
    scan, peak = store.scan(name, digest)
    print(f"{kind}: {scan['status']} ({scan['error']!r}), peak {peak:.0f} MiB")
    assert scan["status"] == case.status, scan
    for words in case.reason:
        assert words in scan["error"], scan["error"]
    assert peak < BUDGET_MIB, f"{kind}: the worker reached {peak:.0f} MiB"
    # The same worker process, still alive, scans an ordinary image.
    assert store.worker.poll() is None
    ordinary(store)


def test_a_symbolic_link_out_of_the_root_is_not_followed(store: Store) -> None:
    """``etc/os-release`` pointing far above the root: resolved inside the image, where
    ``..`` stops at the root, it names the image's own (missing) file, never the worker
    host's, so the scan finds no distribution."""
    assert Path("/usr/lib/os-release").exists()  # the host has one to leak
    layer = hostile.link_layer(
        [("etc/os-release", "../../../../../../../../usr/lib/os-release", tarfile.SYMTYPE)]
    )
    digest = store.pusher.image("acme/symlink-out", "v1", [layer])
    scan, peak = store.scan("acme/symlink-out", digest)
    assert scan["status"] == "done", scan
    assert scan["distro"] == "" and scan["packages"] == []
    assert peak < BUDGET_MIB
