"""The scan page: its results in tabs with their counts, and packages filtered by name."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portside.scanning.models import ScanStatus
from tests.html import text_of
from tests.scanning.test_scanning import _import, _push_and_scan


@pytest.fixture
def vulndb(settings, tmp_path):
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    return settings.VULNDB_PATH


def _tabs(page: str) -> list[str]:
    tablist = page[page.index('<ul class="tab-list"') :]
    tablist = tablist[: tablist.index("</ul>")]
    return [text_of(item) for item in re.findall(r"<li>(.*?)</li>", tablist, re.S)]


def test_the_results_are_in_tabs_with_their_counts(
    client, as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    _import(vulndb, ["jinja2"])
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    assert scan.status == ScanStatus.DONE
    findings = scan.findings.filter(resolved_at__isnull=True).count()
    failed = len(scan.failed_practices)
    assert findings and failed
    client.force_login(world.owner)
    page = client.get(reverse("scan_detail", args=["acme", scan.pk])).content.decode()
    assert _tabs(page) == [
        f"Vulnerabilities {findings}",
        "Packages by layer 3",  # zlib1g in the first layer, Jinja2 and urllib3 in the second
        f"Best practices {failed} failed",
        "SBOM",
    ]
    # Each tab's panel, in order, with its heading, so the page reads without script.
    ids = re.findall(r'<section class="tab-panel" id="([a-z]+)"[^>]*>\s*<h2', page)
    assert ids == ["vulnerabilities", "packages", "practices", "sbom"]
    assert '<script src="/static/portside/tabs.js" defer></script>' in page
    # Every finding's row is there, each table in a box of its own for narrow screens.
    vulnerabilities = page[page.index('id="vulnerabilities"') : page.index('id="packages"')]
    assert vulnerabilities.count("<tr>\n    <td><strong>") == findings
    assert 'class="table findings no-actions"' in page  # an owner does not reclassify
    assert f"{failed} of {len(scan.practices)} checks failed." in text_of(page)
    assert f'href="/orgs/acme/scans/{scan.pk}/sbom/cyclonedx"' in page
    # The layers are closed until opened, so the page is short.
    assert page.count('<details class="panel layer">') == 2

    client.force_login(world.admin)
    page = client.get(reverse("scan_detail", args=["acme", scan.pk])).content.decode()
    assert page.count('name="reason"') == findings
    assert 'class="table findings"' in page


def test_packages_are_filtered_by_name(
    client, as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    client.force_login(world.viewer)
    url = reverse("scan_detail", args=["acme", scan.pk])

    def packages(page: str) -> list[str]:
        panel = page[page.index('id="packages"') : page.index('id="practices"')]
        return re.findall(r"<tr><td>([^<]+)</td>", panel)

    page = client.get(url).content.decode()
    assert packages(page) == ["zlib1g", "Jinja2", "urllib3"]
    page = client.get(url, {"package": "  JIN "}).content.decode()
    assert packages(page) == ["Jinja2"]
    visible = text_of(page)
    assert "1 of 3 packages match “JIN”, in 1 layer." in visible
    assert page.count('<details class="panel layer" open>') == 1  # the match is shown
    assert 'value="JIN"' in page and f'href="{url}#packages">Show every package' in page
    page = client.get(url, {"package": "nothing-like-it"}).content.decode()
    assert packages(page) == [] and "0 of 3 packages match" in text_of(page)
    page = client.get(url, {"package": "x" * 500}).content.decode()
    assert 'value="' + "x" * 100 + '"' in page
