"""Large images scanned by the store in a process of their own, for the tests that need
a real worker's view: the memory a scan takes, and whether the rest of the store can
write while it stores its results.

    python -m tests.scanning.bigscan prepare PACKAGES [PYTHON]   (prints the scan's id)
    python -m tests.scanning.bigscan run SCAN_ID                 (prints the result as JSON)

Both run on the store in ``PORTSIDE_DATA_DIR`` (migrated beforehand). ``prepare`` stores
an image whose dpkg database lists PACKAGES installed packages (and, in a layer of its
own, PYTHON Python packages ``py0``, ``py1``... at version 1.0, which the advisories of
:func:`osv_advisories` affect), through the registry's services, and queues its scan;
``run`` runs it as the worker would and reports the scan's status, its error, its
findings and the time the run took.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import uuid

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def dpkg_status(count: int) -> bytes:
    """A status file of ``count`` installed packages, each paragraph the size of a real
    one (about 400 bytes)."""
    return "".join(
        f"Package: pkg{i:06d}\n"
        "Status: install ok installed\n"
        "Priority: optional\n"
        "Section: libs\n"
        f"Installed-Size: {i % 900 + 10}\n"
        "Maintainer: Debian Developers <debian-devel@lists.example.org>\n"
        "Architecture: amd64\n"
        "Multi-Arch: same\n"
        f"Source: src{i // 3:06d}\n"
        f"Version: 1.{i % 97}.{i % 13}-{i % 7}\n"
        "Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0)\n"
        f"Description: example library number {i}\n"
        " A package of a very large image, written to measure the scanner.\n"
        "\n"
        for i in range(count)
    ).encode()


def gzip_layer(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, compresslevel=1, mtime=0), "sha256:" + hashlib.sha256(
        data
    ).hexdigest()


def python_packages(count: int) -> list[tuple[str, bytes]]:
    site = "usr/local/lib/python3.11/site-packages"
    return [
        (
            f"{site}/py{i}-1.0.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: py{i}\nVersion: 1.0\n".encode(),
        )
        for i in range(count)
    ]


def osv_advisories(directory: str, count: int) -> None:
    """One OSV advisory for each of the Python packages ``py0``..., fixed in 2.0."""
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        record = {
            "id": f"PYSEC-2000-{i}",
            "modified": "2024-01-01T00:00:00Z",
            "summary": f"An example vulnerability of py{i}",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": f"py{i}"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                    ],
                }
            ],
        }
        with open(os.path.join(directory, f"PYSEC-2000-{i}.json"), "w") as handle:
            json.dump(record, handle)


def image(packages: int, python: int = 0) -> tuple[list[bytes], bytes, dict[str, object]]:
    """The layers, the config and the manifest (without digests filled in by the store)."""
    layers = [
        gzip_layer([("etc/os-release", OS_RELEASE)]),
        gzip_layer([("var/lib/dpkg/status", dpkg_status(packages))]),
    ]
    if python:
        layers.append(gzip_layer(python_packages(python)))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"User": "1000"},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]},
            "history": [{"created_by": f"layer {n}"} for n in range(len(layers))],
        }
    ).encode()
    return [data for data, _ in layers], config, {}


def prepare(packages: int, python: int = 0) -> int:
    from portside.accounts import services as accounts
    from portside.core import clock
    from portside.core.origin import CLI
    from portside.oci import mediatypes
    from portside.registry import services as registry
    from portside.registry.models import Repository
    from portside.scanning import services

    suffix = uuid.uuid4().hex[:8]
    owner = accounts.create_user(
        username=f"owner{suffix}",
        email=f"owner{suffix}@example.com",
        password="a-long-test-password-42",
        acting="cli",
        origin=CLI,
    )
    org = accounts.create_organization(name=f"big{suffix}", owner=owner, acting=owner, origin=CLI)
    repository = Repository.objects.create(
        organization=org, name=f"{org.name}/app", created_at=clock.now()
    )
    layers, config, _ = image(packages, python)
    stored = [registry.store_blob(repository=repository, data=data) for data in layers]
    config_blob = registry.store_blob(repository=repository, data=config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": config_blob.digest,
                "size": config_blob.size,
            },
            "layers": [
                {"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": b.digest, "size": b.size}
                for b in stored
            ],
        }
    ).encode()
    pushed, _ = registry.put_manifest(
        repository=repository,
        reference="v1",
        body=manifest,
        content_type=mediatypes.OCI_MANIFEST,
        user=owner,
        origin=CLI,
    )
    scan = services.request_scan(repository=repository, digest=pushed.digest, user=None)
    return scan.pk


def run(scan_id: int) -> dict[str, object]:
    from portside.scanning import services

    started = time.monotonic()
    scan = services.run(scan_id=scan_id)
    return {
        "status": scan.status,
        "error": scan.error,
        "packages": scan.package_count,
        "findings": scan.findings.count(),
        "seconds": round(time.monotonic() - started, 2),
    }


def _own_peak_mib() -> float:
    """This process's peak resident set since it started running Python (VmHWM, which
    exec resets; getrusage's ru_maxrss is not reset by exec, so it also counts the pages
    of the forked parent, a test worker that may hold hundreds of MiB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portside.config.settings")
    import django

    django.setup()
    if argv[0] == "prepare":
        print(prepare(*(int(value) for value in argv[1:3])), flush=True)
    elif argv[0] == "run":
        result = run(int(argv[1]))
        result["peak_mib"] = _own_peak_mib()
        print(json.dumps(result), flush=True)
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
