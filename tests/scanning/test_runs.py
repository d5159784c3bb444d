"""How a scan's run stores its result and recovers: results written in batches and shown
only when the match is switched, the package limit, runs left behind by a dead worker
queued again and then given up, scans deleted through the audit trail, and SBOMs made
once by the worker and served as files."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.tasks import task_backends

from portside.audit.models import AuditEvent
from portside.core import clock, schedule
from portside.scanner.model import inventory_from_dict
from portside.scanning import results, running, services
from portside.scanning.models import Finding, Scan, ScanInventory, ScanStatus
from portside.vulndb.importers.osv import import_osv
from portside.vulndb.store import VulnStore
from tests.factories import TEST_ORIGIN
from tests.scanning.images import debian_with_python

PYPA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "vulndb" / "pypa" / "vulns"


@pytest.fixture
def vulndb(settings, tmp_path):
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    return settings.VULNDB_PATH


@pytest.fixture(autouse=True)
def no_tasks_yet():
    task_backends["default"].results.clear()
    yield
    task_backends["default"].results.clear()


def enqueued(name: str) -> list[dict[str, Any]]:
    return [r.kwargs for r in task_backends["default"].results if r.task.name == name]


def load(path: Path, directories: list[str]) -> None:
    source = path.parent / "osv-src"
    shutil.rmtree(source, ignore_errors=True)
    for name in directories:
        shutil.copytree(PYPA / name, source / name)
    store = VulnStore.open(path)
    try:
        import_osv(store, source, source="pypa")
    finally:
        store.close()


def scanned(as_owner, django_capture_on_commit_callbacks) -> Scan:
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = services.run(scan_id=Scan.objects.get(digest=digest).pk)
    assert scan.status == ScanStatus.DONE, scan.error
    return scan


def stored(name: str) -> Any:
    with default_storage.open(name, "rb") as handle:
        return json.loads(handle.read())


def body(response) -> bytes:
    """A streamed download's bytes; the test client closes the response (and the
    stored file) once they have been read."""
    return b"".join(response.streaming_content)


# --- limits ---------------------------------------------------------------------------


def test_an_image_past_the_package_limit_fails_and_says_why(
    as_owner, world, vulndb, settings, django_capture_on_commit_callbacks
):
    settings.SCAN_MAX_PACKAGES = 2  # the image has a deb and two Python packages
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = services.run(scan_id=Scan.objects.get(digest=digest).pk)
    assert scan.status == ScanStatus.FAILED
    assert "more than 2 packages" in scan.error and "max_packages" in scan.error
    assert not scan.findings.exists() and scan.inventory == {}
    settings.SCAN_MAX_PACKAGES = 3
    assert services.run(scan_id=scan.pk).status == ScanStatus.DONE


# --- results: written in batches, switched at once --------------------------------------


def test_new_findings_stay_hidden_until_the_match_is_switched(
    as_owner, world, vulndb, settings, django_capture_on_commit_callbacks
):
    load(vulndb, ["jinja2"])
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    jinja = set(scan.findings.values_list("pk", flat=True))
    assert jinja and scan.match_count == 1
    counts = (scan.critical, scan.major, scan.minor, scan.unknown)
    load(vulndb, ["urllib3"])  # jinja2's advisories are gone, urllib3's are new
    settings.SCAN_WRITE_BATCH = 1
    with clock.frozen(clock.now() + dt.timedelta(days=1)) as later:
        planned = results.plan(scan, inventory_from_dict(scan.inventory))
        assert planned.new and planned.resolving == len(jinja) and not planned.seen_again
        results.write(planned)
        # Written, not shown: the scan, its pages and its API still give the old result.
        assert Finding.every_row.filter(scan=scan, pending=True).count() == len(planned.new)
        assert set(scan.findings.values_list("pk", flat=True)) == jinja
        assert scan.findings.filter(resolved_at__isnull=True).count() == len(jinja)
        scan.refresh_from_db()
        assert (scan.critical, scan.major, scan.minor, scan.unknown) == counts
        with transaction.atomic():
            assert results.switch(planned, condition={"status": ScanStatus.DONE}, fields={})
    scan.refresh_from_db()
    open_now = scan.findings.filter(resolved_at__isnull=True)
    assert {f.package_name for f in open_now} == {"urllib3"}
    assert all(f.first_seen_at == later() for f in open_now)
    assert all(f.resolved_at == later() for f in scan.findings.filter(pk__in=jinja))
    assert scan.critical + scan.major + scan.minor + scan.unknown == open_now.count()
    assert scan.match_count == 2 and not Finding.every_row.filter(pending=True).exists()


def test_a_match_overtaken_by_another_is_dropped(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    load(vulndb, ["jinja2"])
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    load(vulndb, ["jinja2", "urllib3"])
    stale = results.plan(scan, inventory_from_dict(scan.inventory))
    results.write(stale)
    assert services.rematch(Scan.objects.get(pk=scan.pk)) > 0  # another match, stored first
    with transaction.atomic():
        assert not results.switch(stale, condition={"status": ScanStatus.DONE}, fields={})
    assert results.discard_pending(scan.pk) == 0  # the other match cleared them already
    assert Scan.objects.get(pk=scan.pk).match_count == 2


def test_a_rescan_keeps_one_inventory_and_its_findings_clocks(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    load(vulndb, ["jinja2"])
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    first = {f.advisory_id: f.first_seen_at for f in scan.findings.all()}
    with clock.frozen(clock.now() + dt.timedelta(hours=2)):
        again = services.run(scan_id=scan.pk)
    assert again.status == ScanStatus.DONE and again.attempts == 2 and again.run_number == 2
    assert {f.advisory_id: f.first_seen_at for f in again.findings.all()} == first
    assert ScanInventory.objects.filter(scan=scan).count() == 1
    assert {p["name"] for p in again.inventory["packages"]} == {"zlib1g", "Jinja2", "urllib3"}


# --- runs a dead worker left -------------------------------------------------------------


def test_a_silent_run_is_queued_again_then_given_up(
    as_owner, world, vulndb, settings, django_capture_on_commit_callbacks
):
    settings.SCAN_STALE_SECONDS = 300
    settings.SCAN_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = Scan.objects.get(digest=digest)
    now = clock.now()
    # The worker died during the first attempt: its scan stays running, silent.
    Scan.objects.filter(pk=scan.pk).update(
        status=ScanStatus.RUNNING,
        attempts=1,
        run_number=1,
        started_at=now - dt.timedelta(minutes=10),
        heartbeat_at=now - dt.timedelta(minutes=6),
    )
    task_backends["default"].results.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep(now) == {"requeued": 1, "failed": 0, "unscanned": 0, "outdated": 0}
        assert services.sweep(now) == {
            "requeued": 0,
            "failed": 0,
            "unscanned": 0,
            "outdated": 0,
        }  # another worker's sweep
    scan.refresh_from_db()
    assert scan.status == ScanStatus.QUEUED and scan.heartbeat_at is None
    assert enqueued("run_scan") == [{"scan_id": scan.pk}]
    requeued = AuditEvent.objects.get(action="scanning:scan:requeued")
    assert requeued.actor_id is None and requeued.details["attempts"] == 1
    assert requeued.details["digest"] == digest
    # The second attempt dies too: that was the last one.
    Scan.objects.filter(pk=scan.pk).update(
        status=ScanStatus.RUNNING,
        attempts=2,
        run_number=2,
        heartbeat_at=now - dt.timedelta(minutes=6),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep(now) == {"requeued": 0, "failed": 1, "unscanned": 0, "outdated": 0}
    scan.refresh_from_db()
    assert scan.status == ScanStatus.FAILED
    assert "interrupted 2 times" in scan.error and "scan the image again" in scan.error
    assert AuditEvent.objects.filter(action="scanning:scan:abandoned").count() == 1
    # Asking again starts the count afresh.
    rescanned = services.request_scan(
        repository=scan.repository, digest=digest, user=world.owner, origin=TEST_ORIGIN
    )
    assert rescanned.attempts == 0
    assert services.run(scan_id=scan.pk).status == ScanStatus.DONE


def test_a_run_that_beats_is_left_alone_unless_it_runs_too_long(
    as_owner, world, vulndb, settings, django_capture_on_commit_callbacks
):
    settings.SCAN_STALE_SECONDS = 300
    settings.SCAN_MAX_RUN_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = Scan.objects.get(digest=digest)
    now = clock.now()
    Scan.objects.filter(pk=scan.pk).update(
        status=ScanStatus.RUNNING,
        attempts=1,
        run_number=1,
        started_at=now - dt.timedelta(minutes=30),
    )
    assert running.beat(scan.pk, 1)
    assert not running.beat(scan.pk, 7)  # not that run's scan
    assert services.sweep(now + dt.timedelta(minutes=1)) == {
        "requeued": 0,
        "failed": 0,
        "unscanned": 0,
        "outdated": 0,
    }
    assert services.sweep(now + dt.timedelta(minutes=40)) == {
        "requeued": 1,
        "failed": 0,
        "unscanned": 0,
        "outdated": 0,
    }


def test_a_scan_requested_again_while_it_runs_is_the_newer_runs(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = Scan.objects.get(digest=digest)
    older = running._claim(scan.pk)  # a worker began a run...
    services.request_scan(  # ...and the owner asks again meanwhile
        repository=scan.repository, digest=digest, user=world.owner, origin=TEST_ORIGIN
    )
    done = services.run(scan_id=scan.pk)
    assert done.status == ScanStatus.DONE and done.attempts == 1 and done.run_number == 2
    # The older run's beats and result no longer land.
    assert not running.beat(scan.pk, older)
    assert not running._mine(scan.pk, older).exists()


def test_a_run_stopped_by_an_unusable_database_fails_instead_of_running_forever(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = Scan.objects.get(digest=digest)
    Path(vulndb).write_bytes(b"not a vulnerability database" * 100)
    scan = services.run(scan_id=scan.pk)
    assert scan.status == ScanStatus.FAILED and scan.heartbeat_at is None
    assert scan.error.startswith("The vulnerability database cannot be used: ")
    assert "is not a vulnerability database" in scan.error
    assert not Finding.every_row.filter(scan=scan).exists()


def test_a_scan_whose_image_is_deleted_before_or_while_it_runs_ends_quietly(
    as_owner, world, vulndb, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = Scan.objects.get(digest=digest)
    gone = scan.pk
    Scan.objects.filter(pk=gone).delete()  # the image went, and its scan with it
    assert services.run(scan_id=gone) is None
    services.request_scan(
        repository=scan.repository, digest=digest, user=world.owner, origin=TEST_ORIGIN
    )
    scan = Scan.objects.get(digest=digest)

    def deleted_while_reading(manifest):
        Scan.objects.filter(pk=scan.pk).delete()
        raise OSError("the layer's blob is gone")  # what reading a collected blob raises

    monkeypatch.setattr(running, "_analyse", deleted_while_reading)
    with caplog.at_level("INFO", logger="portside.scanning.running"):
        assert services.run(scan_id=scan.pk) is None
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert any("deleted while it ran" in r.getMessage() for r in caplog.records)


def test_the_worker_sweeps_once_a_period(settings, db):
    job = next(j for j in schedule.jobs() if j.name == "scanning.sweep")
    assert job.seconds == 60  # PORTSIDE_SCAN_SWEEP_SECONDS
    start = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert "scanning.sweep" in schedule.tick(start)
    assert "scanning.sweep" not in schedule.tick(start + dt.timedelta(seconds=30))
    assert "scanning.sweep" in schedule.tick(start + dt.timedelta(seconds=60))
    assert schedule.interval() == 60


# --- deleting -----------------------------------------------------------------------------


def test_deleting_an_image_deletes_its_scan_through_the_audit_trail(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    load(vulndb, ["jinja2"])
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    documents = [scan.sbom_cyclonedx, scan.sbom_spdx]
    assert all(default_storage.exists(name) for name in documents)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_owner.call(
            "DELETE", f"/v2/acme/app/manifests/{scan.digest}", "repository:acme/app:delete"
        )
    assert response.status_code == 202
    assert not Scan.objects.filter(pk=scan.pk).exists()
    assert not Finding.every_row.filter(scan_id=scan.pk).exists()
    assert not ScanInventory.objects.filter(scan_id=scan.pk).exists()
    row = AuditEvent.objects.get(action="scanning:scan:deleted")
    assert row.actor_id is None and row.organization_id == world.org.pk
    assert row.details["repository"] == "acme/app" and row.details["digest"] == scan.digest
    assert not any(default_storage.exists(name) for name in documents)
    # A second delivery of the same event finds nothing left to delete.
    assert services.forget_image(repository="acme/app", digest=scan.digest, reason="x") == 0


# --- SBOMs: made once, served as files ------------------------------------------------------


def test_sbom_downloads_serve_the_documents_the_worker_stored(
    client, as_owner, world, vulndb, settings, django_capture_on_commit_callbacks
):
    load(vulndb, ["jinja2"])
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    client.force_login(world.viewer, backend="django.contrib.auth.backends.ModelBackend")
    for kind, name in (("spdx", scan.sbom_spdx), ("cyclonedx", scan.sbom_cyclonedx)):
        response = client.get(f"/orgs/acme/scans/{scan.pk}/sbom/{kind}")
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment; filename=")
        with default_storage.open(name, "rb") as document:
            assert body(response) == document.read()
    spdx = stored(scan.sbom_spdx)
    assert spdx["documentNamespace"].startswith(f"{settings.BASE_URL}/spdx/images/sha256/")
    # Served, never rendered: the stored document stands whatever the inventory says.
    ScanInventory.objects.filter(pk=scan.inventory_row_id).update(data={})
    response = client.get(f"/orgs/acme/scans/{scan.pk}/sbom/spdx")
    assert len(json.loads(body(response))["packages"]) == len(spdx["packages"])


def test_a_missing_sbom_is_made_by_the_worker_meanwhile_the_answer_is_503(
    client, as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    default_storage.delete(scan.sbom_spdx)  # a scan stored before SBOMs were files
    client.force_login(world.viewer, backend="django.contrib.auth.backends.ModelBackend")
    waiting = client.get(f"/orgs/acme/scans/{scan.pk}/sbom/spdx")
    assert waiting.status_code == 503 and waiting["Retry-After"] == "60"
    assert enqueued("refresh_sboms") == [{"scan_id": scan.pk, "kinds": ["spdx"]}]
    assert services.refresh_sboms(scan_id=scan.pk, kinds=["spdx"])
    ready = client.get(f"/orgs/acme/scans/{scan.pk}/sbom/spdx")
    assert ready.status_code == 200 and json.loads(body(ready))["spdxVersion"] == "SPDX-2.3"


def test_the_cyclonedx_sbom_follows_the_findings(
    client, as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    load(vulndb, ["jinja2"])
    scan = scanned(as_owner, django_capture_on_commit_callbacks)
    before = scan.sbom_cyclonedx
    finding = scan.findings.order_by("advisory_id").first()
    assert finding is not None
    with django_capture_on_commit_callbacks(execute=True):
        services.reclassify(
            finding=finding,
            severity="unknown",
            reason="not reachable",
            user=world.admin,
            origin=TEST_ORIGIN,
        )
    assert enqueued("refresh_sboms") == [{"scan_id": scan.pk, "kinds": ["cyclonedx"]}]
    task_backends["default"].results.clear()
    load(vulndb, ["jinja2", "urllib3"])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.rematch_all()["new_findings"] > 0
    assert enqueued("refresh_sboms") == [{"scan_id": scan.pk}]
    assert services.refresh_sboms(scan_id=scan.pk)
    scan.refresh_from_db()
    assert scan.sbom_cyclonedx != before and not default_storage.exists(before)
    document = stored(scan.sbom_cyclonedx)
    assert {v["id"] for v in document["vulnerabilities"]} == {
        f.advisory_id for f in scan.findings.filter(resolved_at__isnull=True)
    }
    assert any(f.package_name == "urllib3" for f in scan.findings.all())
