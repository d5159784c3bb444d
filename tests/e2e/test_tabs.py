"""Tabs on the product page and the scan page in Chromium: arrow keys, Home and End move
between tabs, ``#tags`` opens Tags, the pages read in order without script, the copy
buttons work from the keyboard, axe-core finds nothing serious, the findings tables fit
their card at 1366 px, and nothing is wider than a 375 px screen.
Screenshots: ``test-artifacts/screenshots/tabs-*``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from portside.core import clock
from portside.scanning.models import Finding, Scan, ScanInventory, ScanStatus
from tests.commerce.world import build_store
from tests.e2e.test_accessibility import AXE, RUN_AXE, WIDEST
from tests.factories import TEST_ORIGIN, make_user
from tests.moderation.world import ensure_categories
from tests.storefront.test_product_tabs import Images

PRODUCT_TABS = ["Overview", "Tags", "Pricing", "Security", "Support"]


@pytest.fixture(autouse=True)
def blob_store(settings: Any, tmp_path: Any) -> Any:
    from portside.registry import storage

    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    storage._store.cache_clear()
    yield
    storage._store.cache_clear()


def _page(browser: Any, live_server: Any, user: Any, width: int = 1366, **options: Any) -> Any:
    # bypass_csp: the store's policy forbids injected scripts, axe-core's included.
    context = browser.new_context(
        viewport={"width": width, "height": 900}, bypass_csp=True, **options
    )
    if user is not None:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
    return context.new_page()


def _selected(page: Any) -> str:
    return str(page.locator('[role="tab"][aria-selected="true"]').inner_text()).split()[0]


def _visible_panels(page: Any) -> list[str]:
    return [
        str(page.locator(".tab-panel").nth(i).get_attribute("id"))
        for i in range(page.locator(".tab-panel").count())
        if page.locator(".tab-panel").nth(i).is_visible()
    ]


def _axe(page: Any, where: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['help']}; at {', '.join(v['nodes'])}"
        for v in page.evaluate(RUN_AXE)
        if v["impact"] in ("serious", "critical")
    ]


def _narrow(page: Any, where: str) -> list[str]:
    page.set_viewport_size({"width": 375, "height": 800})
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > 375:
        return [f"{where}: {wide} px wide at 375 px ({page.evaluate(WIDEST)})"]
    return []


def _scan(store: Any, images: Images) -> Scan:
    """A done scan of the 1.0 image: findings of every class with long references, three
    layers of packages (300 in the first), failed and passed checks."""
    now = clock.now()
    layers = [
        {"index": n, "digest": f"sha256:{n}" + "c" * 63, "created_by": f"RUN step {n}"}
        for n in range(3)
    ]
    packages = [
        {"name": f"libexample{n:03d}", "version": f"1.{n}.0-1", "type": "deb",
         "licenses": ["GPL-2.0-or-later"], "layer": layers[0]["digest"]}
        for n in range(300)
    ] + [
        {"name": "Jinja2", "version": "2.10", "type": "python", "licenses": ["BSD-3-Clause"],
         "layer": layers[2]["digest"]},
        {"name": "urllib3", "version": "1.24.1", "type": "python", "licenses": ["MIT"],
         "layer": layers[2]["digest"]},
    ]  # fmt: skip
    scan = Scan.objects.create(
        repository=store.pub.repository,
        digest=images.single.digest,
        status=ScanStatus.DONE,
        requested_at=now,
        finished_at=now,
        matched_at=now,
        platform="linux/amd64",
        distro="Debian GNU/Linux 12 (bookworm)",
        package_count=len(packages),
        layer_count=3,
        feeds=[{"name": "pypa", "kind": "osv", "records": 4321,
                "updated": now.isoformat(), "checked": now.isoformat()}],
        practices=[
            {"id": "PS-001", "title": "Runs as a user other than root", "status": "fail",
             "message": "No USER: the image runs as root.", "why": "A break-out is root.",
             "fix": "Add USER 10001.", "evidence": []},
            {"id": "PS-002", "title": "Declares a HEALTHCHECK", "status": "pass",
             "message": "HEALTHCHECK is declared.", "evidence": []},
        ],
    )  # fmt: skip
    for n, severity in enumerate(["critical", "critical", "major", "major", "minor", "unknown"]):
        Finding.objects.create(
            scan=scan,
            advisory_id=f"GHSA-{n}abc-defg-hijk",
            aliases=[f"CVE-2026-{31000 + n}", f"PYSEC-2026-{n}"],
            package_type="python",
            package_name="Jinja2" if n % 2 else "urllib3",
            package_version="2.10",
            severity=severity,
            score=None if severity == "unknown" else 9.8 - n,
            vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            fixed_versions=["2.10.1", "2.11.3", "3.0.0rc1"],
            summary="Sandbox escape through the format method of strings, reachable from "
            "templates that render untrusted input with the sandboxed environment",
            urls=[
                "https://github.com/pallets/jinja/security/advisories/GHSA-h5c8-rqwp-cp95",
                "https://nvd.nist.gov/vuln/detail/CVE-2026-31000-with-a-very-long-suffix",
            ],
            first_seen_at=now,
            last_seen_at=now,
        )
    scan.inventory_row = ScanInventory.objects.create(
        scan=scan, data={"layers": layers, "packages": packages}, created_at=now
    )
    scan.critical, scan.major, scan.minor, scan.unknown = 2, 2, 1, 1
    scan.save()
    return scan


# serialized_rollback: like the other browser tests, so the next one that restores the
# migrations' rows finds the tables as it expects, whatever the order
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_tabs_on_the_product_and_scan_pages(
    live_server: Any, browser: Any, screenshots: Any
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (scripts/test does)")
    from portside.commerce import services as commerce

    ensure_categories()
    store = build_store()
    images = Images(store)
    scan = _scan(store, images)
    store.listing.security_hold_since = dt.datetime(2026, 4, 10, 12, 0, tzinfo=dt.UTC)
    store.listing.save(update_fields=["security_hold_since"])
    carol = make_user("carol")
    commerce.take_free_tier(
        listing=store.listing, tier_id=store.free_tier, user=carol, accept_licence=True,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    product_url = f"{live_server.url}/products/acme/{store.product.slug}"
    failures: list[str] = []

    # Anyone: Overview first; arrows, Home and End move between the tabs and open them.
    page = _page(browser, live_server, None)
    page.goto(product_url)
    tabs = page.get_by_role("tab")
    assert [t.split()[0] for t in tabs.all_inner_texts()] == PRODUCT_TABS
    assert _selected(page) == "Overview" and _visible_panels(page) == ["overview"]
    # The hold label is above the tabs, whichever is open.
    label = page.locator("#warnings")
    assert "Security fixes overdue since 2026-04-10 12:00 UTC." in label.inner_text()
    assert label.bounding_box()["y"] < page.locator(".tab-list").bounding_box()["y"]
    screenshots(page, "tabs-product-overview-1366")
    page.get_by_role("tab", name="Overview").focus()
    page.keyboard.press("ArrowRight")
    assert _selected(page) == "Tags" and _visible_panels(page) == ["tags"]
    assert page.evaluate("document.activeElement.textContent") == "Tags"
    assert page.evaluate("location.hash") == "#tags"
    page.keyboard.press("End")
    assert _selected(page) == "Support" and _visible_panels(page) == ["support"]
    page.keyboard.press("ArrowRight")  # wraps round
    assert _selected(page) == "Overview"
    page.keyboard.press("ArrowLeft")
    assert _selected(page) == "Support"
    page.keyboard.press("Home")
    assert _selected(page) == "Overview"
    # Only the open tab is in the tab order; Tab goes on into its panel.
    assert page.locator('[role="tab"][tabindex="0"]').count() == 1
    page.get_by_role("tab", name="Security").click()
    assert _visible_panels(page) == ["security"]
    assert (
        "On hold: fixes overdue since 2026-04-10 12:00 UTC"
        in page.locator("#security").inner_text()
    )
    assert label.is_visible()
    screenshots(page, "tabs-product-security-1366")
    failures += _axe(page, "product, Security")
    page.context.close()

    # A deep link opens its tab; carol's tags have their pull command, copied by keyboard.
    page = _page(browser, live_server, carol, permissions=["clipboard-read", "clipboard-write"])
    page.goto(product_url + "#tags")
    assert _selected(page) == "Tags" and _visible_panels(page) == ["tags"]
    failures += _axe(page, "product, Tags")
    command = page.locator("#tags .command").first
    assert "docker pull" in command.inner_text()
    button = command.get_by_role("button")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#copy-status').textContent === 'Copied'")
    assert button.inner_text() == "Copied"
    assert button.get_attribute("aria-label") == "Copied"  # the name holds the visible text
    failures += _axe(page, "product, Tags, just copied")
    assert page.evaluate("navigator.clipboard.readText()").startswith("docker pull ")
    screenshots(page, "tabs-product-tags-1366")
    failures += _narrow(page, "product, Tags")
    screenshots(page, "tabs-product-tags-375")
    page.context.close()

    # Without script: a list of links, then every section in order with its heading.
    page = _page(browser, live_server, None, java_script_enabled=False)
    page.goto(product_url + "#tags")
    assert page.get_by_role("tab").count() == 0
    assert not page.locator("button[data-copy]").first.is_visible()  # it could not copy
    assert _visible_panels(page) == [t.lower() for t in PRODUCT_TABS]
    headings = page.locator(".tab-panel > h2").all_inner_texts()
    assert headings == PRODUCT_TABS
    page.get_by_role("link", name="Security", exact=True).click()
    assert page.evaluate("location.hash") == "#security"
    screenshots(page, "tabs-product-no-script-1366")
    page.context.close()

    # The scan page: counts in the tab labels, findings that fit their card.
    page = _page(browser, live_server, store.pub.admin)
    scan_url = f"{live_server.url}/orgs/acme/scans/{scan.pk}/"
    page.goto(scan_url)
    labels = [" ".join(t.split()) for t in page.get_by_role("tab").all_inner_texts()]
    assert labels == [
        "Vulnerabilities 6",
        "Packages by layer 302",
        "Best practices 1 failed",
        "SBOM",
    ]
    assert _visible_panels(page) == ["vulnerabilities"]
    assert page.locator("#vulnerabilities select").count() == 6  # the reclassify forms
    overflowing = page.evaluate(
        """() => Array.from(document.querySelectorAll('#vulnerabilities .table-box'))
          .filter(box => box.scrollWidth > box.clientWidth + 1).length"""
    )
    assert overflowing == 0, "a findings table is wider than its card at 1366 px"
    screenshots(page, "tabs-scan-vulnerabilities-1366")
    failures += _axe(page, "scan, Vulnerabilities")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.get_by_role("tab", name="Packages by layer").click()
    assert _visible_panels(page) == ["packages"]
    assert page.evaluate("document.documentElement.scrollHeight") < 2000, height
    page.get_by_label("Package name contains").fill("jinja")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert page.evaluate("location.hash") == "#packages"
    assert _selected(page) == "Packages"
    rows = page.locator("#packages tbody tr").all_inner_texts()
    assert len(rows) == 1 and rows[0].startswith("Jinja2")
    screenshots(page, "tabs-scan-packages-1366")
    failures += _axe(page, "scan, Packages")
    page.goto(scan_url + "#practices")
    assert _visible_panels(page) == ["practices"]
    screenshots(page, "tabs-scan-practices-1366")
    page.goto(scan_url)
    failures += _narrow(page, "scan, Vulnerabilities")
    screenshots(page, "tabs-scan-vulnerabilities-375")
    page.context.close()
    assert not failures, "\n".join(failures)
