"""Registry throughput: Portside (embedded default) against the CNCF Distribution registry.

Both run on loopback with filesystem storage on the same disk. skopeo pushes and pulls,
alternating A B A B: a 1 GiB image (4 random, uncompressed layers of 256 MiB) and a batch
of small images (a few KiB each, one skopeo process per image); then wrk measures request
rates for a manifest GET, a blob HEAD and a 1 KiB blob GET with 16 keep-alive connections.
Prints MB/s, requests/s and the Portside/Distribution ratio of each.

    .venv/bin/python benchmarks/registry.py [--rounds 2] [--small 100] [--layer-mib 256]

Needs skopeo, docker-registry and wrk (Debian packages).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loopback import free_port, wait_http  # noqa: E402

PASSWORD = "benchmark-password-1"


# --- images -------------------------------------------------------------------------------


def write_layout(path: Path, layers: list[Callable[[io.BufferedWriter], None]], tag: str) -> int:
    """An OCI layout with uncompressed tar layers written by the callables; returns bytes."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def store(tmp: Path) -> tuple[str, int]:
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        target = blobs / digest.hexdigest()
        size = tmp.stat().st_size
        tmp.replace(target)
        return "sha256:" + digest.hexdigest(), size

    descriptors, diff_ids, total = [], [], 0
    for n, writer in enumerate(layers):
        tmp = path / f"layer{n}.tmp"
        with open(tmp, "wb") as fh:
            writer(fh)
        digest, size = store(tmp)
        total += size
        descriptors.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size}
        )
        diff_ids.append(digest)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    tmp = path / "config.tmp"
    tmp.write_bytes(config)
    config_digest, config_size = store(tmp)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": descriptors,
        }
    ).encode()
    tmp = path / "manifest.tmp"
    tmp.write_bytes(manifest)
    digest, size = store(tmp)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return total


def random_layer(size: int) -> Callable[[io.BufferedWriter], None]:
    def write(fh: io.BufferedWriter) -> None:
        with tarfile.open(fileobj=fh, mode="w|") as tar:
            info = tarfile.TarInfo("data.bin")
            info.size = size
            reader = io.BufferedReader(io.FileIO(os.open("/dev/urandom", os.O_RDONLY)))
            try:
                tar.addfile(info, _Limited(reader, size))
            finally:
                reader.close()

    return write


class _Limited(io.RawIOBase):
    def __init__(self, inner: io.BufferedIOBase, size: int) -> None:
        self.inner, self.left = inner, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.inner.read(n)
        self.left -= len(data)
        return data


def small_layer(seed: int) -> Callable[[io.BufferedWriter], None]:
    def write(fh: io.BufferedWriter) -> None:
        payload = os.urandom(2048) + str(seed).encode()
        with tarfile.open(fileobj=fh, mode="w") as tar:
            info = tarfile.TarInfo(f"file{seed}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

    return write


# --- the two registries -------------------------------------------------------------------


@dataclass
class Registry:
    label: str
    host: str
    creds: list[str] = field(default_factory=list)
    token_url: str | None = None
    basic: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def bearer(self, scope: str) -> str | None:
        if self.token_url is None:
            return None
        request = urllib.request.Request(
            f"{self.token_url}?service={self.host}&scope={scope}",
            headers={"Authorization": f"Basic {self.basic}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["token"])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_portside(work: Path) -> Registry:
    data = work / "portside"
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    # Distribution does nothing after a push; Portside's worker would scan every pushed
    # image on the same two cores while the pulls are measured.
    env.update(
        PORTSIDE_DATA_DIR=str(data), PORTSIDE_LOG_LEVEL="WARNING", PORTSIDE_SCAN_ON_PUSH="false"
    )
    cli = [sys.executable, "-m", "portside.cli.main"]

    def run(*args: str, stdin: str = "") -> str:
        done = subprocess.run([*cli, *args], env=env, input=stdin, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"portside {' '.join(args)} failed: {done.stderr}")
        return done.stdout.strip()

    run("migrate", "--no-input")
    run(
        "user",
        "create",
        "bencher",
        "--email",
        "bench@example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    run("org", "create", "bench", "--owner", "bencher")
    token = run("token", "create", "bencher", "--scopes", "read", "write", "delete")
    port = free_port()
    log = open(work / "portside.log", "wb")
    process = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    wait_http(f"http://127.0.0.1:{port}/health")
    basic = base64.b64encode(f"bencher:{token}".encode()).decode()
    return Registry(
        "Portside",
        f"127.0.0.1:{port}",
        ["--creds", f"bencher:{token}"],
        f"http://127.0.0.1:{port}/auth/token",
        basic,
        process,
    )


def start_distribution(work: Path) -> Registry:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    config = work / "distribution.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {work / 'distribution'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = open(work / "distribution.log", "wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/v2/")
    return Registry("Distribution", f"127.0.0.1:{port}", process=process)


# --- measurements -------------------------------------------------------------------------


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=1800)


def push(registry: Registry, layout: Path, ref: str) -> float:
    creds = ["--dest-creds", registry.creds[1]] if registry.creds else []
    start = time.perf_counter()
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        *creds,
        f"oci:{layout}:latest",
        f"docker://{registry.host}/{ref}",
    )
    return time.perf_counter() - start


def pull(registry: Registry, ref: str, target: Path) -> float:
    creds = ["--src-creds", registry.creds[1]] if registry.creds else []
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    skopeo(
        "copy",
        "--src-tls-verify=false",
        *creds,
        f"docker://{registry.host}/{ref}",
        f"oci:{target}:latest",
    )
    elapsed = time.perf_counter() - start
    shutil.rmtree(target, ignore_errors=True)
    return elapsed


def wrk(url: str, token: str | None, accept: str | None = None) -> float:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    args = [binary, "-t2", "-c16", "-d5s", "--latency"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    if accept:
        args += ["-H", f"Accept: {accept}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def head_rate(url: str, token: str | None, seconds: float = 5.0, connections: int = 16) -> float:
    """HEAD requests per second over keep-alive connections (wrk cannot parse HEAD replies
    that announce a Content-Length). One client for both registries keeps the ratio fair."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    counts = [0] * connections
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        while time.perf_counter() < stop:
            conn.request("HEAD", parts.path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"HEAD {url}: {response.status}")
            counts[n] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--layer-mib", type=int, default=256)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="portside-bench-"))
    registries: list[Registry] = []
    try:
        registries = [start_portside(work), start_distribution(work)]
        results: dict[str, dict[str, list[float]]] = {r.label: {} for r in registries}

        def record(label: str, key: str, value: float) -> None:
            results[label].setdefault(key, []).append(value)

        smalls: list[Path] = []
        for round_ in range(options.rounds):
            # New random content every round: a repeated push would only HEAD or mount
            # blobs the registry (and skopeo's blob cache) already knows.
            print(f"round {round_ + 1}: building images in {work} ...", flush=True)
            big = work / f"big{round_}"
            big_bytes = write_layout(
                big, [random_layer(options.layer_mib << 20) for _ in range(4)], "latest"
            )
            label = f"{big_bytes / 2**30:.2f} GiB image"
            smalls = []
            for n in range(options.small):
                layout = work / f"small{round_}-{n}"
                write_layout(layout, [small_layer(n)], "latest")
                smalls.append(layout)
            for registry in registries:  # A B, A B: alternating
                ref = f"bench/big{round_}:latest"
                seconds = push(registry, big, ref)
                record(registry.label, f"push {label} MB/s", big_bytes / seconds / 1e6)
                seconds = pull(registry, ref, work / "pulled")
                record(registry.label, f"pull {label} MB/s", big_bytes / seconds / 1e6)
                start = time.perf_counter()
                for n, layout in enumerate(smalls):
                    push(registry, layout, f"bench/small{round_}-{n}:latest")
                record(
                    registry.label,
                    f"push {options.small} small images/s",
                    options.small / (time.perf_counter() - start),
                )
                start = time.perf_counter()
                for n in range(options.small):
                    pull(registry, f"bench/small{round_}-{n}:latest", work / "pulled-small")
                record(
                    registry.label,
                    f"pull {options.small} small images/s",
                    options.small / (time.perf_counter() - start),
                )
            shutil.rmtree(big)

        for registry in registries:
            last = f"bench/small{options.rounds - 1}-0"
            manifest_url = f"http://{registry.host}/v2/{last}/manifests/latest"
            token = registry.bearer(f"repository:{last}:pull")
            accept = "application/vnd.oci.image.manifest.v1+json"
            record(registry.label, "manifest GET req/s", wrk(manifest_url, token, accept))
            layer = json.loads((smalls[0] / "index.json").read_text())
            manifest_digest = layer["manifests"][0]["digest"].split(":")[1]
            manifest = json.loads((smalls[0] / "blobs" / "sha256" / manifest_digest).read_text())
            config = manifest["config"]["digest"]
            blob_url = f"http://{registry.host}/v2/{last}/blobs/{config}"
            record(registry.label, "blob HEAD req/s", head_rate(blob_url, token))
            record(registry.label, "blob GET (small) req/s", wrk(blob_url, token))

        print()
        print(f"{'measure':34} {'Portside':>12} {'Distribution':>14} {'ratio':>7}")
        for key in results["Portside"]:
            a = statistics.median(results["Portside"][key])
            b = statistics.median(results["Distribution"][key])
            print(f"{key:34} {a:12.1f} {b:14.1f} {a / b:7.2f}")
        print(
            f"\n(medians of {options.rounds} rounds for transfers; layers of "
            f"{options.layer_mib} MiB; {os.cpu_count()} CPUs)"
        )
    finally:
        for registry in registries:
            registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
