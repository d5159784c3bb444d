"""The scan page after the Debian tracker is imported: an issue without a fix says what
the tracker says about it (end-of-life, undetermined, no DSA), a feed of one record says
so, and a re-match fills the fix state of findings stored before it was kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from portside.scanning import services
from portside.scanning.models import Finding, Scan, ScanStatus
from portside.vulndb.importers import import_debian
from portside.vulndb.store import VulnStore
from tests.html import text_of
from tests.registry.conftest import as_owner, world  # noqa: F401  (fixtures)
from tests.scanning.conftest import blob_store  # noqa: F401  (an autouse fixture)
from tests.scanning.images import debian_with_python

pytestmark = pytest.mark.django_db


def tracker() -> dict[str, object]:
    def open_issue(**release: str) -> dict[str, object]:
        return {
            "description": "a zlib flaw",
            "releases": {"bookworm": {"status": "open", **release}},
        }

    return {
        "zlib": {
            "CVE-2026-1001": open_issue(urgency="end-of-life"),
            "CVE-2026-1002": open_issue(status="undetermined"),
            "CVE-2026-1003": open_issue(
                urgency="low", nodsa="contrib/minizip not built", nodsa_reason="ignored"
            ),
            "TEMP-0000001-AAAAAA": open_issue(urgency="high"),
        }
    }


@pytest.fixture
def vulndb(settings, tmp_path: Path) -> Path:
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    return settings.VULNDB_PATH


def _import(path: Path, document: dict[str, object]) -> None:
    feed = path.parent / "tracker.json"
    feed.write_text(json.dumps(document))
    with VulnStore.open(path) as store:
        import_debian(store, feed)


def _scan(as_owner, django_capture_on_commit_callbacks) -> Scan:  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = services.run(scan_id=Scan.objects.get(digest=digest).pk)
    assert scan.status == ScanStatus.DONE, scan.error
    return scan


def test_the_page_says_why_there_is_no_fix(
    client,
    as_owner,  # noqa: F811
    world,  # noqa: F811
    vulndb: Path,
    django_capture_on_commit_callbacks,
) -> None:
    _import(vulndb, tracker())
    scan = _scan(as_owner, django_capture_on_commit_callbacks)
    stored = {f.advisory_id: f for f in scan.findings.all()}
    assert stored["CVE-2026-1001"].fix_status == "end-of-life"
    assert stored["CVE-2026-1003"].fix_note == "contrib/minizip not built"
    assert stored["TEMP-0000001-AAAAAA"].severity == "critical"
    assert stored["TEMP-0000001-AAAAAA"].score_source == "urgency"
    client.force_login(world.owner)
    page = text_of(client.get(reverse("scan_detail", args=["acme", scan.pk])).content.decode())
    assert "will not be fixed (end-of-life)" in page
    assert "fix undetermined" in page
    assert "will not be fixed: contrib/minizip not built" in page
    assert "(debian, 4 records)" in page


def test_one_record_is_singular_and_a_rematch_fills_older_findings(
    client,
    as_owner,  # noqa: F811
    world,  # noqa: F811
    vulndb: Path,
    django_capture_on_commit_callbacks,
) -> None:
    _import(vulndb, {"zlib": {"CVE-2026-1001": tracker()["zlib"]["CVE-2026-1001"]}})  # type: ignore[index]
    scan = _scan(as_owner, django_capture_on_commit_callbacks)
    client.force_login(world.owner)
    url = reverse("scan_detail", args=["acme", scan.pk])
    assert "(debian, 1 record)" in text_of(client.get(url).content.decode())
    # A finding stored before the fix state was kept: empty, so "no fix" ...
    Finding.objects.filter(scan=scan).update(fix_status="")
    assert "will not be fixed" not in text_of(client.get(url).content.decode())
    # ... until the data changes and the stored image is matched again.
    _import(vulndb, tracker())
    services.rematch_all()
    assert Finding.objects.get(scan=scan, advisory_id="CVE-2026-1001").fix_status == "end-of-life"
    assert "will not be fixed (end-of-life)" in text_of(client.get(url).content.decode())
