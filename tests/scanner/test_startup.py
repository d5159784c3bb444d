"""What ``portside scan`` loads to write an SBOM: only the scanner and what the image needs.

A scan of a small image is mostly the time the process takes to start and import, so
the command must not import what its output does not use: Django, the best-practices
review, ``importlib.metadata`` (its version is read from the distribution's metadata
directly), the SPDX expression parser (licences that are SPDX ids need only the list),
packaging and the email package (plain Python metadata is read directly), the catalogers
whose files the image does not hold, ``uuid`` (the SBOM's identifiers are derived with
hashlib), ``shutil`` with its bz2 and lzma (the help formatter asks the terminal's width
itself), for small gzip layers ISA-L (zlib inflates them) and tarfile, ``dataclasses`` with the
``inspect`` it imports (the value types are records), packageurl (purls are built by the
scanner's own module) and pathlib. Nothing here is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from portside.config import paths
from tests.scanner.images import file, layer, oci_layout

DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
STATUS = (
    "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\n"
    "Version: 12.4+deb12u5\nDescription: base\n the base\n"
)
COPYRIGHT = (
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
    "Files: *\nCopyright: someone\nLicense: MIT\n"
)
METADATA = "Metadata-Version: 2.1\nName: Six\nVersion: 1.16.0\nLicense: MIT\n\nSix's text.\n"
SITE = "usr/lib/python3/dist-packages"
# What an SBOM scan of a small image must not load (each, and every module under it).
HEAVY = (
    "django",
    "importlib.metadata",
    "license_expression",
    "packaging",
    "email",
    "uuid",
    "platform",
    "shutil",
    "bz2",
    "lzma",
    "tarfile",
    "isal",
    "zstandard",
    "jsonschema",
    "sqlite3",
    "urllib.request",
    "http",
    "dataclasses",
    "inspect",
    "packageurl",
    "pathlib",
)


def scan_modules(target: Path, out: Path, *args: str) -> list[str]:
    """Run the scan in a fresh interpreter; the modules it had loaded when it ended."""
    script = (
        "import json, sys\n"
        "from portside.cli import scan\n"
        f"status = scan.main({[f'oci:{target}', '-o', str(out), '--no-progress', *args]!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
        "sys.exit(status)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    modules: list[str] = json.loads(run.stdout)
    return modules


def test_an_sbom_scan_loads_only_what_it_uses(tmp_path: Path) -> None:
    image = tmp_path / "image"
    oci_layout(
        image,
        [
            layer(
                [
                    file("etc/os-release", DEBIAN_OS_RELEASE),
                    file("var/lib/dpkg/status", STATUS),
                    file("usr/share/doc/base-files/copyright", COPYRIGHT),
                    file(f"{SITE}/six-1.16.0.dist-info/METADATA", METADATA),
                ]
            )
        ],
    )
    out = tmp_path / "sbom.json"
    modules = scan_modules(image, out, "--format", "cyclonedx")
    document = json.loads(out.read_text())
    components = {c["name"]: c for c in document["components"]}
    assert components["base-files"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert components["Six"]["purl"] == "pkg:pypi/six@1.16.0"
    assert document["metadata"]["tools"]["components"][0]["version"] == paths.portside_version()

    def loaded(prefix: str) -> list[str]:
        return [m for m in modules if m == prefix or m.startswith(prefix + ".")]

    for heavy in HEAVY:
        assert not loaded(heavy), heavy
    assert not loaded("portside.scanner.practices")
    catalogers = {m.rsplit(".", 1)[1] for m in loaded("portside.scanner.catalogers")}
    assert {"dpkg", "python"} <= catalogers
    assert not catalogers & {"apk", "rpm", "npm", "golang", "java", "ruby", "composer"}
    assert not catalogers & {"dotnet", "rust", "binaries"}


def test_the_table_report_still_reviews_the_image(tmp_path: Path) -> None:
    """The table and JSON reports run the review, so they keep its collector."""
    image = tmp_path / "image"
    oci_layout(image, [layer([file("etc/os-release", DEBIAN_OS_RELEASE)])])
    modules = scan_modules(image, tmp_path / "report.json", "--format", "json")
    assert "portside.scanner.practices.secrets" in modules
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["practices"]


def test_the_secret_patterns_are_compiled_when_first_used() -> None:
    """Importing the secrets module (the worker, the table and JSON reports do) compiles
    none of its patterns; the first file it scans compiles them."""
    script = (
        "from portside.scanner.practices import secrets\n"
        "before = secrets._re.cache_info().currsize\n"
        "hits = secrets.scan_file('/app/.env', b'DB_PASSWORD=hunter2hunter2\\n')\n"
        "print(before, secrets._re.cache_info().currsize, len(hits))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    before, after, hits = map(int, run.stdout.split())
    assert before == 0
    assert after > 0
    assert hits == 1
