"""The worker's scheduled sync: the configured feeds fetched from loopback, every stored
image matched again, a failing feed reported without stopping the others."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from portside.scanning import services, tasks
from portside.scanning.models import Scan, ScanStatus
from tests.scanning.images import debian_with_python
from tests.vulndb.feedserver import FeedServer, Route
from tests.vulndb.feedserver import feeds as feed_server  # noqa: F401  (a fixture)

PYPA = (
    Path(__file__).parents[2] / ".." / "shared" / "data" / "vulndb" / "pypa" / "vulns"
).resolve()


def pypa_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in sorted((PYPA / "jinja2").glob("*.yaml")):
            archive.write(record, f"jinja2/{record.name}")
    return buffer.getvalue()


def test_the_scheduled_sync_matches_stored_images_again(
    as_owner,
    world,
    settings,
    tmp_path,
    feed_server: FeedServer,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    settings.VULNDB_MIRROR = ""
    feed_server.routes["/PyPI/all.zip"] = Route(pypa_zip(), etag='"p"')
    settings.VULNDB_SOURCES = [
        f"osv-pypi=osv:{feed_server.base}/PyPI/all.zip",
        f"nvd=nvd:{feed_server.base}/down",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = services.run(scan_id=Scan.objects.get(digest=digest).pk)
    assert scan.status == ScanStatus.DONE and scan.feeds == [] and not scan.findings.exists()
    outcome = tasks.sync_vulndb.call()
    assert outcome["synced"] == {"osv-pypi": "imported"}
    assert "answered 404" in outcome["failed"]["nvd"]
    assert outcome["rematched"] == {"scans": 1, "new_findings": scan.findings.count()}
    scan.refresh_from_db()
    assert [f["name"] for f in scan.feeds] == ["osv-pypi"]
    assert scan.findings.filter(package_name="Jinja2").exists()
    # The next run finds nothing new and matches nothing again.
    quiet = tasks.sync_vulndb.call()
    assert quiet["synced"] == {"osv-pypi": "not-modified"} and quiet["rematched"] is None


def test_the_sync_has_a_queue_of_its_own():
    """`portside serve` runs it in a worker of its own (tests/scanning/test_worker_processes)."""
    from django.conf import settings

    assert tasks.sync_vulndb.queue_name == "vulndb"
    assert tasks.run_scan.queue_name != "vulndb"
    assert "vulndb" in settings.TASKS["default"]["QUEUES"]
