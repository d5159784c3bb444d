"""`portside vulndb` and `portside scan` as a user runs them: real processes, no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.interop.images import make_layout
from tests.servers import embedded_env

pytestmark = pytest.mark.nodb  # real processes on the embedded default, whatever the pass

PYPA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "vulndb" / "pypa" / "vulns"
METADATA = b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"
OS_RELEASE = b'ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'


def portside(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", *args],
        env=embedded_env(data),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A data directory whose vulnerability database holds the Jinja2 advisories."""
    data = tmp_path_factory.mktemp("scan-data")
    done = portside(data, "vulndb", "import", "osv", str(PYPA / "jinja2"), "--no-rematch")
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout
    again = portside(data, "vulndb", "import", "osv", str(PYPA / "jinja2"), "--no-rematch")
    assert again.returncode == 0 and "unchanged" in again.stdout
    return data


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("image") / "layout"
    make_layout(
        path,
        [
            ("etc/os-release", OS_RELEASE),
            ("usr/lib/python3.12/site-packages/Jinja2-2.10.dist-info/METADATA", METADATA),
        ],
    )
    return path


def test_scan_json_lists_packages_with_layers_and_findings(data, layout):
    done = portside(data, "scan", f"oci:{layout}", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["distro"]["id"] == "alpine"
    (jinja,) = [p for p in report["packages"] if p["name"] == "Jinja2"]
    assert jinja["version"] == "2.10" and jinja["layer"] == report["layers"][1]["digest"]
    ids = {f["id"] for f in report["findings"]}
    assert "CVE-2019-10906" in ids
    finding = next(f for f in report["findings"] if f["id"] == "CVE-2019-10906")
    assert finding["fixed_versions"] == ["2.10.1"] and finding["severity"] in (
        "critical",
        "major",
        "minor",
        "unknown",
    )
    assert any(r["id"] == "PS-001" and r["status"] == "fail" for r in report["practices"])
    # The report names the data it was matched against.
    assert report["vulnerability_data"]["matched"] is True
    (feed,) = report["vulnerability_data"]["feeds"]
    assert feed["kind"] == "osv" and feed["records"] > 0 and feed["updated"]


def test_the_table_names_the_feeds(data, layout):
    done = portside(data, "scan", str(layout))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("Vulnerability data:"))
    assert "(updated 20" in line and " UTC)" in line


def test_exit_code_and_severity_filter(data, layout):
    failing = portside(data, "scan", str(layout), "--exit-code", "3")
    assert failing.returncode == 3, failing.stderr
    assert "CVE-2019-10906" in failing.stdout
    # Findings filtered out do not fail the run.
    quiet = portside(data, "scan", str(layout), "--severity", "critical", "--exit-code", "3")
    assert quiet.returncode == 0 and "CVE-2019-10906" not in quiet.stdout


@pytest.mark.parametrize("kind, key", [("cyclonedx", "specVersion"), ("spdx", "spdxVersion")])
def test_sbom_formats(data, layout, kind, key, tmp_path):
    out = tmp_path / "sbom.json"
    done = portside(data, "scan", f"oci:{layout}", "--format", kind, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())[key] in ("1.6", "SPDX-2.3")
    if kind == "cyclonedx":
        # The command writes it without checking it against the schema: checked here, with
        # the vulnerabilities it carries, by the library's own validator.
        document = json.loads(out.read_text())
        assert any(v["id"] == "CVE-2019-10906" for v in document["vulnerabilities"])
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(out.read_text()) is None


def test_without_a_database_it_lists_packages_and_says_so(tmp_path, layout):
    done = portside(tmp_path, "scan", str(layout), "--format", "json")
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["findings"] == [] and report["packages"]
    assert report["vulnerability_data"] == {"matched": False, "feeds": []}
    assert "Not matched: no vulnerability data" in done.stderr
    assert "portside vulndb sync" in done.stderr
    table = portside(tmp_path, "scan", str(layout))
    assert "Not matched: no vulnerability data" in table.stdout
    assert "No known vulnerabilities" not in table.stdout
    sbom = portside(tmp_path, "scan", str(layout), "--format", "cyclonedx")
    properties = json.loads(sbom.stdout)["metadata"]["properties"]
    assert {"name": "portside:vulnerability-data", "value": "none: not matched"} in properties


def test_an_empty_database_is_no_data_either(tmp_path, layout):
    """A database file with no feed in it (created by `vulndb status`, or emptied) is not
    a scan that found nothing."""
    from portside.vulndb.store import VulnStore, default_path

    VulnStore.open(default_path(tmp_path)).close()
    done = portside(tmp_path, "scan", str(layout))
    assert done.returncode == 0, done.stderr
    assert "Not matched: no vulnerability data" in done.stdout
    assert "Vulnerability data: none" in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan", "/no/such/image"], "no such file"),
        (["scan", "oci:/etc"], "neither an OCI image layout"),
        (["scan", "x", "--severity", "urgent"], "--severity"),
        (["vulndb", "import", "osv", "/no/such/dir"], "no such file"),
        (["vulndb", "import", "nosuch", "/tmp"], "invalid choice"),
        (["vulndb", "sync"], "13 of 13 feeds failed"),  # loopback only: see tests/conftest.py
        (["vulndb", "sync", "--feed", "nosuch"], "no configured feed named nosuch"),
        (["vulndb", "sync", "--from", "/no/such/folder"], "no such folder"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, args, message):
    done = portside(tmp_path, *args)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_hostile_archive_is_refused(tmp_path, data):
    import io
    import tarfile

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        body = json.dumps([{"Config": "../../etc/passwd", "Layers": ["../x.tar"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    done = portside(data, "scan", f"docker-archive:{evil}")
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr


def test_scan_runs_without_django(tmp_path, layout):
    # `portside scan` needs no server: it must not pay for setting Django up.
    out = tmp_path / "report.json"
    code = (
        "import sys\n"
        "from portside.cli.main import main\n"
        "try:\n"
        "    main(['scan', sys.argv[1], '--format', 'json', '-o', sys.argv[2]])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(layout), str(out)],
        env=embedded_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert any(p["name"] == "Jinja2" for p in json.loads(out.read_text())["packages"])


def test_the_management_command_gives_the_same_report(layout, settings):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    buffer = io.StringIO()
    call_command("scan", str(layout), "--format", "json", stdout=buffer, stderr=io.StringIO())
    report = json.loads(buffer.getvalue())
    assert any(p["name"] == "Jinja2" for p in report["packages"])
    with pytest.raises(CommandError, match="--severity"):
        call_command("scan", str(layout), "--severity", "urgent")


def test_an_exit_code_gate_fails_when_there_is_no_data(tmp_path, layout):
    """``--exit-code`` asks the scan to decide; with nothing to match against it cannot, and
    says so instead of passing."""
    done = portside(tmp_path, "scan", str(layout), "--exit-code", "3")
    assert done.returncode == 1
    assert "--exit-code needs vulnerability data" in done.stderr
    assert "Not matched: no vulnerability data" in done.stdout  # the report is still written
    assert portside(tmp_path, "scan", str(layout)).returncode == 0  # no gate, no failure


def test_many_feeds_are_summed_up_on_one_line():
    from portside.cli.scan import _feeds_line

    feeds = [
        {"name": "osv-pypi", "updated": "2026-12-05T09:58:00+00:00"},
        {"name": "debian", "updated": "2026-12-05T10:00:30+00:00"},
        {"name": "nvd", "updated": None},
    ]
    assert _feeds_line(feeds) == (
        "Vulnerability data: 3 feeds, updated never to 2026-12-05 10:00 UTC (oldest: nvd)"
    )
    assert _feeds_line(feeds[:2]) == (
        "Vulnerability data: 2 feeds, updated 2026-12-05 09:58 UTC to 2026-12-05 10:00 UTC"
        " (oldest: osv-pypi)"
    )
    assert _feeds_line(feeds[:1]) == ("Vulnerability data: osv-pypi (updated 2026-12-05 09:58 UTC)")
    assert _feeds_line([]) == "Vulnerability data: none"


DPKG_STATUS = (
    b"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
    b"Source: zlib\nVersion: 1:1.2.13.dfsg-1\nDescription: compression\n"
)


def test_the_table_says_why_a_debian_issue_has_no_fix(tmp_path):
    """The FIXED column gives the tracker's reason, and an unscored issue names the urgency
    its class came from."""

    def issue(**release: str) -> dict[str, object]:
        return {"description": "zlib", "releases": {"bookworm": {"status": "open", **release}}}

    tracker = tmp_path / "tracker.json"
    tracker.write_text(
        json.dumps(
            {
                "zlib": {
                    "CVE-2026-1001": issue(urgency="end-of-life"),
                    "CVE-2026-1003": issue(
                        urgency="low", nodsa="minizip \x1b[31mnot built", nodsa_reason="ignored"
                    ),
                    "TEMP-0000001-AAAAAA": issue(urgency="high"),
                }
            }
        )
    )
    data = tmp_path / "data"
    done = portside(data, "vulndb", "import", "debian", str(tracker), "--no-rematch")
    assert done.returncode == 0, done.stderr
    image = tmp_path / "layout"
    make_layout(
        image,
        [
            ("etc/os-release", b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'),
            ("var/lib/dpkg/status", DPKG_STATUS),
        ],
    )
    table = portside(data, "scan", str(image))
    assert table.returncode == 0, table.stderr
    rows = {line.split()[1]: line for line in table.stdout.splitlines() if "zlib1g" in line}
    assert "will not be fixed (end-of-life)" in rows["CVE-2026-1001"]
    assert (
        "will not be fixed: minizip  [31mnot built" in rows["CVE-2026-1003"]
    )  # ESC shown as a space
    assert "\x1b" not in table.stdout
    assert rows["TEMP-0000001-AAAAAA"].startswith("CRITICAL")
    assert rows["TEMP-0000001-AAAAAA"].split()[-3:] == ["fix", "by", "urgency"]
    report = json.loads(portside(data, "scan", str(image), "--format", "json").stdout)
    found = {f["id"]: f for f in report["findings"]}
    assert found["CVE-2026-1001"]["distro_status"] == "end-of-life"
    assert found["CVE-2026-1003"]["distro_note"] == "minizip \x1b[31mnot built"  # JSON escapes it
    assert found["TEMP-0000001-AAAAAA"]["score_source"] == "urgency"
