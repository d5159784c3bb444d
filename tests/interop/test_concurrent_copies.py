"""160 skopeo copies against one real `portside serve`, sixteen at a time: 80 pushes of
four images into eight repositories (the same blobs uploaded side by side into the same
and into different repositories), then 80 pulls of what was pushed. Every copy succeeds,
every pulled image is the one pushed (manifest digest, and every blob hashes to its
name and matches the source byte for byte), and the server logged no error."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.interop.images import make_layout, random_files
from tests.servers import Server

pytestmark = pytest.mark.e2e

IMAGES, REPOSITORIES, PUSHES, AT_ONCE = 4, 8, 80, 16


def _copy(skopeo: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A copy with skopeo's own retries off: a failed request fails the copy."""
    return subprocess.run(
        [skopeo, "copy", "--retry-times", "0", *args], capture_output=True, text=True, timeout=300
    )


def _blobs(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def test_160_concurrent_copies(server: Server, tmp_path: Path) -> None:
    skopeo = shutil.which("skopeo")
    assert skopeo is not None, "skopeo is not installed (scripts/system-packages.sh)"
    # An access token: the password's slow hash would be computed for every copy.
    token = server.cli(
        "token", "create", "alice", "--name", "load", "--scopes", "read", "write"
    ).stdout.strip()
    creds = f"alice:{token}"
    sources = []
    for n in range(IMAGES):
        layout = tmp_path / f"image{n}"
        digest = make_layout(layout, random_files(3, 40_000))
        sources.append((layout, digest))
    pushes = [
        (n, f"{server.host}/acme/load{n % REPOSITORIES}:t{n}", *sources[n % IMAGES])
        for n in range(PUSHES)
    ]

    def push(n: int, ref: str, layout: Path, digest: str) -> str:
        done = _copy(
            skopeo, "--dest-tls-verify=false", "--dest-creds", creds,
            f"oci:{layout}:latest", f"docker://{ref}",
        )  # fmt: skip
        return "" if done.returncode == 0 else f"push {n} to {ref}: {done.stderr.strip()}"

    def pull(n: int, ref: str, layout: Path, digest: str) -> str:
        out = tmp_path / f"pulled{n}"
        done = _copy(
            skopeo, "--src-tls-verify=false", "--src-creds", creds,
            f"docker://{ref}", f"oci:{out}:latest",
        )  # fmt: skip
        if done.returncode != 0:
            return f"pull {n} of {ref}: {done.stderr.strip()}"
        pulled = json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
        if pulled != digest:
            return f"pull {n} of {ref}: got {pulled}, pushed {digest}"
        blobs = _blobs(out)
        wrong = [name for name, data in blobs.items() if hashlib.sha256(data).hexdigest() != name]
        if wrong or blobs != _blobs(layout):
            return f"pull {n} of {ref}: blobs differ from the source ({wrong})"
        return ""

    with ThreadPoolExecutor(AT_ONCE) as pool:
        failures = [f for f in pool.map(lambda p: push(*p), pushes) if f]
        assert not failures, f"{len(failures)} of {PUSHES} pushes failed:\n" + "\n".join(failures)
        failures = [f for f in pool.map(lambda p: pull(*p), pushes) if f]
        assert not failures, f"{len(failures)} of {PUSHES} pulls failed:\n" + "\n".join(failures)
    log = (server.data_dir / "serve.log").read_text()
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-3000:]
