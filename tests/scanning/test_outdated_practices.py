"""Best-practice results made by an older version of the checks: every stored result
says which version made it, pages mark the older ones, and the scan sweep queues a new
scan of those images a few at a time, the oldest results first, each once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.tasks import task_backends
from django.urls import reverse

from portside.core import clock
from portside.registry.models import Manifest
from portside.scanner.practices import RULES_VERSION
from portside.scanning import models, running
from portside.scanning.models import Scan, ScanStatus
from tests.html import text_of
from tests.moderation.world import PublishingWorld, build_publishing_world, push_image

START = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
FAILED_CHECK = {
    "id": "PS-005",
    "title": "Runs as a non-root user",
    "status": "fail",
    "message": "The image runs as root.",
    "why": "A process that escapes runs as root on the host.",
    "fix": "Add a USER instruction.",
    "evidence": [],
}


@pytest.fixture(autouse=True)
def no_tasks_yet(settings):
    settings.SCAN_ON_PUSH = False  # no missed image is queued: only the refresh is
    task_backends["default"].results.clear()
    yield
    task_backends["default"].results.clear()


@pytest.fixture
def pub(db) -> PublishingWorld:
    with clock.frozen(START):
        return build_publishing_world()


def queued_scans() -> list[int]:
    results = task_backends["default"].results
    return [r.kwargs["scan_id"] for r in results if r.task.name == "run_scan"]


def done(pub: PublishingWorld, seed: str, *, version: int, finished_ago: dt.timedelta) -> Scan:
    """A done scan of a new image whose best practices checks of ``version`` made."""
    digest = push_image(pub.repository, seed=seed)
    return Scan.objects.create(
        repository=pub.repository,
        digest=digest,
        status=ScanStatus.DONE,
        requested_at=START - finished_ago - dt.timedelta(minutes=1),
        started_at=START - finished_ago - dt.timedelta(minutes=1),
        finished_at=START - finished_ago,
        practices=[FAILED_CHECK],
        practices_version=version,
    )


def sweep(django_capture_on_commit_callbacks: Any, now: dt.datetime = START) -> int:
    with django_capture_on_commit_callbacks(execute=True):
        counts = running.sweep(now)
    assert counts["unscanned"] == 0
    return counts["outdated"]


# --- what a scan records, and how it is shown -------------------------------------------


def test_a_result_from_before_the_version_was_recorded_counts_as_older(pub):
    digest = push_image(pub.repository, seed="old")
    scan = Scan.objects.create(  # as the migration leaves a row from before it
        repository=pub.repository,
        digest=digest,
        status=ScanStatus.DONE,
        requested_at=START,
        practices=[FAILED_CHECK],
    )
    assert scan.practices_version == 0 < RULES_VERSION and scan.practices_outdated
    Scan.objects.filter(pk=scan.pk).update(practices_version=RULES_VERSION)
    scan.refresh_from_db()
    assert not scan.practices_outdated
    # Until a scan is done, it has no results to call older.
    Scan.objects.filter(pk=scan.pk).update(practices_version=0, status=ScanStatus.QUEUED)
    scan.refresh_from_db()
    assert not scan.practices_outdated


def test_the_scan_page_says_the_results_are_from_older_checks_and_being_refreshed(
    client, pub, settings
):
    older = done(pub, "older", version=0, finished_ago=dt.timedelta(days=3))
    current = done(pub, "current", version=RULES_VERSION, finished_ago=dt.timedelta(days=3))
    client.force_login(pub.owner)

    def practices(scan: Scan) -> str:
        page = client.get(reverse("scan_detail", args=["acme", scan.pk])).content.decode()
        start = page.index('<h2 class="tab-heading" id="practices-heading">')
        return text_of(page[start : page.index('<section class="tab-panel" id="sbom"')])

    shown = practices(older)
    assert shown.startswith("Best practices From an older set of checks.")
    assert "They are being refreshed: the store scans the image again" in shown
    assert "1 of 1 check failed." in shown and "PS-005" in shown  # still shown meanwhile
    page = text_of(client.get(reverse("scan_detail", args=["acme", older.pk])).content.decode())
    assert "Best practices checked by an older set of checks; being refreshed" in page
    assert "older set of checks" not in practices(current)
    # A store that refreshes none says how to refresh them instead.
    settings.SCAN_REFRESH_BATCH = 0
    shown = practices(older)
    assert "being refreshed" not in shown
    assert "Scanning the image again refreshes them." in shown


def test_the_repository_page_and_the_api_mark_results_from_older_checks(client, pub):
    older = done(pub, "older", version=0, finished_ago=dt.timedelta(days=3))
    current = done(pub, "current", version=RULES_VERSION, finished_ago=dt.timedelta(days=3))
    Manifest.objects.filter(digest=older.digest).first().tags.create(
        repository=pub.repository, name="older", updated_at=START
    )
    Manifest.objects.filter(digest=current.digest).first().tags.create(
        repository=pub.repository, name="current", updated_at=START
    )
    client.force_login(pub.owner)
    page = client.get(reverse("repository_detail", args=["acme", "db"])).content.decode()
    assert page.count('class="muted outdated-practices"') == 1
    row = page[page.index("<strong>older</strong>") :]
    assert "(best practices from older checks)" in text_of(row[: row.index("</tr>")])

    answer = client.get(f"/api/v1/scans/{older.pk}")
    assert answer.status_code == 200
    assert answer.json()["practices_version"] == 0 and answer.json()["practices_outdated"]
    answer = client.get(f"/api/v1/scans/{current.pk}").json()
    assert answer["practices_version"] == RULES_VERSION and not answer["practices_outdated"]


# --- the sweep's refresh ------------------------------------------------------------------


def test_the_sweep_queues_a_bounded_batch_oldest_first_and_each_once(
    pub, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SCAN_REFRESH_BATCH = 3
    # The checks are at version 3: results of version 1 are older than those of 2.
    monkeypatch.setattr(running, "RULES_VERSION", 3)
    monkeypatch.setattr(models, "RULES_VERSION", 3)
    day = dt.timedelta(days=1)
    v2_old = done(pub, "v2-old", version=2, finished_ago=9 * day)
    v1_new = done(pub, "v1-new", version=1, finished_ago=1 * day)
    v1_old = done(pub, "v1-old", version=1, finished_ago=5 * day)
    v2_new = done(pub, "v2-new", version=2, finished_ago=2 * day)
    current = done(pub, "current", version=3, finished_ago=30 * day)
    # Neither a failed scan nor one whose image is gone is queued.
    failed = done(pub, "failed", version=1, finished_ago=20 * day)
    Scan.objects.filter(pk=failed.pk).update(status=ScanStatus.FAILED)
    gone = done(pub, "gone", version=1, finished_ago=20 * day)
    Manifest.objects.filter(digest=gone.digest).delete()

    assert sweep(django_capture_on_commit_callbacks) == 3
    assert queued_scans() == [v1_old.pk, v1_new.pk, v2_old.pk]
    for scan in (v1_old, v1_new, v2_old):
        scan.refresh_from_db()
        assert scan.status == ScanStatus.QUEUED and scan.requested_at == START
        assert scan.requested_by_id is None and scan.attempts == 0
    # The worker has a full batch: nothing more until it has done some, and nothing twice.
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert len(queued_scans()) == 3
    # One runs, two are done with the current checks: there is room for one more.
    Scan.objects.filter(pk=v1_old.pk).update(
        status=ScanStatus.RUNNING, started_at=START, heartbeat_at=START
    )
    Scan.objects.filter(pk__in=[v1_new.pk, v2_old.pk]).update(
        status=ScanStatus.DONE, practices_version=3, finished_at=START
    )
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert queued_scans()[3:] == [v2_new.pk]
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert len(queued_scans()) == 4
    for scan, status in ((current, ScanStatus.DONE), (failed, ScanStatus.FAILED)):
        scan.refresh_from_db()
        assert scan.status == status


def test_scans_pushed_images_wait_for_take_up_the_batch_first(
    pub, settings, django_capture_on_commit_callbacks
):
    settings.SCAN_REFRESH_BATCH = 2
    older = done(pub, "older", version=0, finished_ago=dt.timedelta(days=3))
    pushed = done(pub, "pushed", version=0, finished_ago=dt.timedelta(days=3))
    Scan.objects.filter(pk=pushed.pk).update(
        status=ScanStatus.QUEUED, requested_at=START - dt.timedelta(minutes=5)
    )
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert queued_scans() == [older.pk]
    # A scan queued days ago whose task was lost is not work the worker has.
    Scan.objects.filter(pk__in=[pushed.pk, older.pk]).update(
        requested_at=START - dt.timedelta(days=2)
    )
    another = done(pub, "another", version=0, finished_ago=dt.timedelta(days=1))
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert queued_scans() == [older.pk, another.pk]


def test_nothing_is_queued_when_every_result_is_current_or_refreshes_are_off(
    pub, settings, django_capture_on_commit_callbacks
):
    settings.SCAN_REFRESH_BATCH = 10
    for seed in ("a", "b", "c"):
        done(pub, seed, version=RULES_VERSION, finished_ago=dt.timedelta(days=3))
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert queued_scans() == []
    assert set(Scan.objects.values_list("status", flat=True)) == {ScanStatus.DONE}

    older = done(pub, "older", version=0, finished_ago=dt.timedelta(days=3))
    settings.SCAN_REFRESH_BATCH = 0
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert queued_scans() == []
    older.refresh_from_db()
    assert older.status == ScanStatus.DONE and older.practices_outdated


def test_a_run_records_the_version_of_the_checks_that_made_its_results(
    as_owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    from tests.scanning.test_scanning import _push_and_scan

    settings.SCAN_ON_PUSH = True
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    assert scan.status == ScanStatus.DONE, scan.error
    assert scan.practices and scan.practices_version == RULES_VERSION
    assert not scan.practices_outdated
