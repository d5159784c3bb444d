"""SBOM generation: SPDX 2.3 and CycloneDX 1.6 documents of 5,000, 20,000 and 200,000
packages, validated, written to a file as the store's worker writes them.

The inventory is made up: nine in ten packages are debs (with a source package and one of
a dozen licences), one in ten Python packages, spread over three layers, each with its
purl. Each document is written in a process of its own, timed from the start of the
writer to the end of the file (building the inventory is not timed), in wall-clock and in
CPU seconds (the second depends less on what else the machine runs), with the process's
peak resident memory; the figures are the median of the rounds. For comparison, the
SPDX documents up to ``--reference-up-to`` packages are then read back with spdx-tools and
put through its own full validator, the step that made the previous writer quadratic
(the probe measured that writer at 22 s for 5,000 packages and 331 s for 20,000; it never
finished 200,000).

    .venv/bin/python benchmarks/sbom.py [--sizes 5000,20000,200000] [--formats spdx,cyclonedx]
                                        [--rounds 1] [--reference-up-to 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

LICENCES = (
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "LGPL-2.1-or-later",
    "MIT",
    "BSD-3-Clause",
    "Apache-2.0",
    "Zlib",
    "public-domain",
    "GPL-3.0-or-later",
    "Artistic-1.0 OR GPL-1.0-or-later",
    "ISC",
    "MPL-2.0",
)
BEFORE = {5_000: "22 s", 20_000: "331 s", 200_000: "never finished"}


def inventory(count: int) -> object:
    from portside.scanner.model import Distro, Inventory, Layer, Package

    layers = tuple(
        Layer(
            n,
            f"sha256:{n:064x}",
            f"sha256:{n + 7:064x}",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            1000,
            f"RUN step {n}",
        )
        for n in range(3)
    )
    packages = []
    for i in range(count):
        layer = layers[i % 3].digest
        if i % 10 == 9:
            packages.append(
                Package(
                    type="pypi",
                    name=f"py{i}",
                    version=f"1.{i % 50}.{i % 7}",
                    purl=f"pkg:pypi/py{i}@1.{i % 50}.{i % 7}",
                    cataloger="python",
                    layer=layer,
                    paths=(f"/usr/lib/python3/dist-packages/py{i}-1.0.dist-info/METADATA",),
                    licenses=(LICENCES[i % len(LICENCES)],),
                )
            )
            continue
        version = f"{i % 9}.{i % 97}-{i % 5}+deb12u{i % 3}"
        packages.append(
            Package(
                type="deb",
                name=f"lib{i}",
                version=version,
                purl=f"pkg:deb/debian/lib{i}@{version}?arch=amd64&distro=debian-12",
                cataloger="dpkg",
                layer=layer,
                paths=("/var/lib/dpkg/status",),
                source_name=f"src{i // 4}",
                source_version=version,
                licenses=(LICENCES[i % len(LICENCES)],),
            )
        )
    return Inventory(
        image=f"acme/bench@sha256:{'e' * 64}",
        layers=layers,
        distro=Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)"),
        packages=tuple(packages),
        platform="linux/amd64",
    )


def one(kind: str, count: int, output: Path) -> None:
    """Write one document (in this process) and print its figures as JSON."""
    from portside.scanner.sbom import write_cyclonedx, write_spdx

    made = inventory(count)
    if kind == "spdx":
        import spdx_tools.spdx.model  # noqa: F401  (loaded before the clock starts)
    started, cpu = time.perf_counter(), time.process_time()
    with open(output, "w", encoding="utf-8") as out:
        if kind == "spdx":
            write_spdx(out, made, tool_version="bench", namespace_base="https://store.example/spdx")
        else:
            write_cyclonedx(out, made, tool_version="bench")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"seconds": seconds, "cpu": cpu, "peak_mib": peak, "bytes": output.stat().st_size}
    print(json.dumps(figures))


def reference(output: Path) -> None:
    """spdx-tools' own full validation of a written SPDX document, timed."""
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = JsonLikeDictParser().parse(json.loads(output.read_text()))
    started, cpu = time.perf_counter(), time.process_time()
    messages = validate_full_spdx_document(document, "SPDX-2.3")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "messages": len(messages)}))


def child(*args: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,200000")
    parser.add_argument("--formats", default="spdx,cyclonedx")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--reference-up-to", type=int, default=5000)
    parser.add_argument(
        "--one", nargs=3, metavar=("KIND", "COUNT", "OUTPUT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--reference", metavar="OUTPUT", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        one(options.one[0], int(options.one[1]), Path(options.one[2]))
        return
    if options.reference:
        reference(Path(options.reference))
        return
    sizes = [int(s) for s in options.sizes.split(",")]
    kinds = options.formats.split(",")
    print(
        f"{'format':<10} {'packages':>9} {'time':>9} {'cpu':>9} {'cpu/package':>12}"
        f" {'peak':>9} {'size':>9}"
    )
    with tempfile.TemporaryDirectory(prefix="portside-sbom-") as scratch:
        for kind in kinds:
            for count in sizes:
                output = Path(scratch) / f"{kind}-{count}.json"
                runs = [
                    child("--one", kind, str(count), str(output)) for _ in range(options.rounds)
                ]
                seconds = statistics.median(r["seconds"] for r in runs)
                cpu = statistics.median(r["cpu"] for r in runs)
                peak = statistics.median(r["peak_mib"] for r in runs)
                size = runs[-1]["bytes"] / 1024 / 1024
                note = f"   (before: {BEFORE[count]})" if kind == "spdx" and count in BEFORE else ""
                print(
                    f"{kind:<10} {count:>9,} {seconds:>8.2f}s {cpu:>8.2f}s"
                    f" {cpu / count * 1e6:>9.0f} us {peak:>5.0f} MiB {size:>5.1f} MiB{note}",
                    flush=True,
                )
                if kind == "spdx" and count <= options.reference_up_to:
                    checked = child("--reference", str(output))
                    print(
                        f"{'':<10} {'':>9} spdx-tools' full validator on the same document: "
                        f"{checked['seconds']:.2f} s ({checked['cpu']:.2f} s of CPU), "
                        f"{int(checked['messages'])} messages",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
