"""Image scanning: Portside's analyser against Syft and Trivy, making a CycloneDX SBOM.

The image is the real test image of ``tests/scanner/realimage.py`` (Debian bookworm from
debootstrap, old PyPI and npm packages, a whiteout layer: about 200 MiB uncompressed),
built or taken from its cache, and (source ``ecosystems``) the small image of
``tests/scanner/catalogers/ecosystems.py``, built here: Composer, .NET, a ``cargo
auditable`` program with a Cargo.lock and an npm application, 21 packages in 9 layers,
where the time is mostly each tool's start. Each run is one process, timed from start to exit; its
peak memory is the maximum resident set size that ``wait4`` reports for it (and the
children it waited for). Per round the tools alternate, in an order that rotates from
round to round, on the OCI layout, on the docker archive skopeo writes and on the
ecosystems' OCI layout:

* Portside: ``portside scan oci:DIR|docker-archive:FILE --format cyclonedx -o FILE``
  (as ``python -m portside.cli.main``) with an empty data directory, so with no
  vulnerability database, as the other two run; and with the bytecode an installed
  program has (pip compiles modules when it installs them; this checkout's virtualenv
  holds none, and ``PYTHONDONTWRITEBYTECODE`` may be set): an untimed first run writes
  it under a scratch ``PYTHONPYCACHEPREFIX``, unless ``--no-bytecode``;
* ``syft scan oci-dir:DIR|docker-archive:FILE -o cyclonedx-json``;
* ``trivy image --input DIR|FILE --format cyclonedx`` with no database and a fresh cache
  directory each run (Trivy caches layer analyses: a warm cache would time nothing).

Every tool runs with its offline switches, under ``unshare --net`` when the kernel
allows it. Trivy's ``--format cyclonedx`` turns its vulnerability and secret scanners off,
and Portside without a database matches nothing, so all three write an SBOM only.
Prints the medians, Portside's ratios to the other two and the targets (faster than
Syft, at most 0.85x of Trivy's time; 0.5x is the aim), and the load average before and
after the rounds: other work on the machine slows the tools unevenly.

    .venv/bin/python benchmarks/scan.py [--rounds 5] [--sources oci,archive,ecosystems]
        [--no-bytecode]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scanner import realimage  # noqa: E402
from tests.scanner.catalogers import ecosystems  # noqa: E402

SOURCES = ("oci", "archive", "newer-archive", "ecosystems")
LAYOUTS = ("oci", "ecosystems")  # the sources that are OCI layouts

TOOLS = ("portside", "syft", "trivy")
SYFT_TARGET = 1.0  # Portside's time / Syft's: below this
TRIVY_TARGET = 0.85  # Portside's time / Trivy's: at most this (and 0.5 to aim for)


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    components: int


def isolation() -> list[str]:
    """``unshare --net`` when it works: no tool can reach the network or spend time
    trying to."""
    unshare = shutil.which("unshare")
    probe = [unshare or "unshare", "--net", "true"]
    if unshare and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return [unshare, "--net"]
    return []


def command(tool: str, source: str, target: Path, output: Path, scratch: Path) -> list[str]:
    if tool == "portside":
        scheme = "oci" if source in LAYOUTS else "docker-archive"
        return [
            sys.executable,
            "-m",
            "portside.cli.main",
            "scan",
            f"{scheme}:{target}",
            "--format",
            "cyclonedx",
            "--no-progress",
            "-o",
            str(output),
        ]
    if tool == "syft":
        scheme = "oci-dir" if source in LAYOUTS else "docker-archive"
        syft = str(realimage.syft_binary())
        return [syft, "scan", f"{scheme}:{target}", "-o", f"cyclonedx-json={output}", "-q"]
    return [
        str(realimage.trivy_binary()),
        "image",
        "--input",
        str(target),
        "--format",
        "cyclonedx",
        "--offline-scan",
        "--skip-db-update",
        "--skip-java-db-update",
        "--cache-dir",
        str(scratch / "trivy-cache"),
        "--quiet",
        "--output",
        str(output),
    ]


def measure(argv: Sequence[str], output: Path, scratch: Path, bytecode: Path | None = None) -> Run:
    """Run once; wall time, the process's peak resident memory, and the number of
    components in the SBOM it wrote (a run that wrote none is an error, not a time).
    With ``bytecode``, Python keeps and reads compiled modules there."""
    env = {
        **os.environ,
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "TMPDIR": str(scratch),  # Syft unpacks layers there; removed after each run
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "PORTSIDE_DATA_DIR": str(scratch / "portside"),  # empty: no vulnerability database
    }
    if bytecode is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    log = scratch / "stderr.log"  # a file, not a pipe: nothing blocks while we wait
    with log.open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        errors = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{argv[0]} failed ({process.returncode}):\n{errors}")
    components = len(json.loads(output.read_text()).get("components", []))
    if components == 0:
        raise SystemExit(f"{argv[0]} wrote an SBOM with no components")
    return Run(seconds, usage.ru_maxrss / 1024, components)  # ru_maxrss is in KiB


def warm(image: realimage.RealImage) -> None:
    """Read the image once so that no tool pays for the first read from disk."""
    paths = [image.archive, *sorted((image.oci_dir / "blobs" / "sha256").iterdir())]
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 20):
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sources", default="oci,archive,ecosystems", help=", ".join(SOURCES))
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="time Portside compiling its modules on every run, as without bytecode",
    )
    options = parser.parse_args()
    sources = [s.strip() for s in options.sources.split(",") if s.strip()]
    if options.rounds < 1 or not sources or set(sources) - set(SOURCES):
        parser.error(f"--rounds must be at least 1; --sources takes {', '.join(SOURCES)}")

    try:
        image = realimage.ensure_image()
        realimage.syft_binary()
        realimage.trivy_binary()
    except realimage.RealImageError as error:
        raise SystemExit(f"cannot benchmark: {error}") from error
    targets = {"oci": image.oci_dir, "archive": image.archive, "newer-archive": image.newer_archive}
    print(f"image {image.manifest_digest} in {image.root}", flush=True)
    print(f"load average before: {_load()}", flush=True)
    warm(image)
    prefix = isolation()
    runs: dict[tuple[str, str], list[Run]] = {}
    work = Path(tempfile.mkdtemp(prefix="portside-scan-bench-"))
    bytecode = None if options.no_bytecode else work / "bytecode"
    try:
        if "ecosystems" in sources:
            try:
                targets["ecosystems"] = ecosystems.build("all", work / "ecosystems").path
            except ecosystems.rustelf.ToolMissing as error:
                raise SystemExit(f"cannot build the ecosystems image: {error}") from error
            print(f"ecosystems image in {targets['ecosystems']}", flush=True)
        if bytecode is not None:  # the untimed run that compiles what a scan imports
            scratch = work / "compile"
            scratch.mkdir()
            argv = command("portside", sources[0], targets[sources[0]], work / "x.json", scratch)
            measure([*prefix, *argv], work / "x.json", scratch, bytecode)
            shutil.rmtree(scratch)
        for number in range(options.rounds):
            order = TOOLS[number % len(TOOLS) :] + TOOLS[: number % len(TOOLS)]
            for source in sources:
                for tool in order:
                    scratch = work / f"{tool}-{source}-{number}"
                    scratch.mkdir()
                    output = work / f"{tool}-{source}-{number}.cdx.json"
                    argv = command(tool, source, targets[source], output, scratch)
                    run = measure(
                        [*prefix, *argv], output, scratch, bytecode if tool == "portside" else None
                    )
                    shutil.rmtree(scratch)
                    runs.setdefault((source, tool), []).append(run)
                    print(
                        f"round {number + 1} {source:13} {tool:8} {run.seconds:7.3f} s "
                        f"{run.peak_mib:7.0f} MiB {run.components:4} components",
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs, sources, options.rounds)
    print(f"load average after: {_load()}")


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def report(runs: dict[tuple[str, str], list[Run]], sources: Sequence[str], rounds: int) -> None:
    print(f"\nmedian of {rounds} run(s) per tool and source")
    print(f"{'source':13} {'tool':8} {'seconds':>8} {'peak MiB':>9} {'components':>10}")
    for source in sources:
        for tool in TOOLS:
            done = runs[source, tool]
            print(
                f"{source:13} {tool:8} {statistics.median(r.seconds for r in done):8.3f} "
                f"{statistics.median(r.peak_mib for r in done):9.0f} "
                f"{done[-1].components:10}"
            )
    print("\nPortside / other (time; memory)   target")
    for source in sources:
        ours = statistics.median(r.seconds for r in runs[source, "portside"])
        our_memory = statistics.median(r.peak_mib for r in runs[source, "portside"])
        for tool, target, wanted in (("syft", SYFT_TARGET, "<"), ("trivy", TRIVY_TARGET, "<=")):
            theirs = statistics.median(r.seconds for r in runs[source, tool])
            memory = statistics.median(r.peak_mib for r in runs[source, tool])
            ratio = ours / theirs
            met = ratio < target if wanted == "<" else ratio <= target
            print(
                f"{source:13} vs {tool:6} {ratio:5.2f}x; {our_memory / memory:5.2f}x   "
                f"{wanted} {target}x: {'met' if met else 'MISSED'}"
            )


if __name__ == "__main__":
    main()
