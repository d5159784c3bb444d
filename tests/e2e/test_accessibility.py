"""Every page of the access matrix passes axe-core in Chromium, as a role that may see it.

axe-core (npm, pinned in package-lock.json, installed by scripts/test) is injected into
each page; a violation of impact "serious" or "critical" fails the test, listed with its
rule, its page and the first elements it found. Each page is also saved as a screenshot at
1366 px and at 375 px wide (``test-artifacts/screenshots/a11y-*``), to be looked at, and
must not be wider than a 375 px screen (wide tables scroll in their own box)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Error as PlaywrightError

from tests.access import Row, World, build_world

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
#: who looks at a page: the first of these the matrix lets in
ROLE_ORDER = (
    "owner",
    "admin",
    "security",
    "moderator",
    "editor",
    "viewer",
    "customer",
    "other_member",
    "anonymous",
)
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))
  }));
}"""


#: the innermost elements that reach past a 375 px screen, to say what to fix
WIDEST = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > 376
    && !Array.from(e.children).some(c => c.getBoundingClientRect().right > 376))
  .slice(0, 3)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')
  .join(', ')"""


def core_world() -> tuple[World, list[Row]]:
    """``build_world`` with the storefront's catalogue, and the matrices built on them."""
    from tests.core.test_deliveries_page import ROWS as DELIVERIES
    from tests.moderation.world import ensure_categories
    from tests.scanning.test_vulnerability_data_page import ROWS as FEEDS
    from tests.storefront.test_access import ROWS as STOREFRONT
    from tests.storefront.test_access import _catalogue
    from tests.test_access_matrix import ROWS

    # A transactional test's flush empties what the migrations put in (the categories).
    ensure_categories()
    world = build_world()
    _catalogue()
    return world, [*ROWS, *DELIVERIES, *FEEDS, *STOREFRONT]


def commerce_world() -> tuple[World, list[Row]]:
    """The commerce matrix's store: tiers, orders, subscriptions, invoices."""
    from tests.commerce.test_access import ROWS, build_commerce_world

    return build_commerce_world(), list(ROWS)


def moderation_world() -> tuple[World, list[Row]]:
    """Products, revisions and the review queue (the publishing matrix's own world)."""
    from tests.moderation.test_access import ROWS, _world

    users, ids = _world()
    return World(users=users, ids=ids), [Row(*row) for row in ROWS]


def security_world() -> tuple[World, list[Row]]:
    """The vulnerability SLA's pages: the publisher's security page and VEX statements,
    the security team's console, notification settings; with a held listing, so the
    console and the workspace have something to show."""
    from tests.notifications.test_access import ROWS as NOTIFICATIONS
    from tests.policy.test_access import ROWS as WORKSPACE
    from tests.policy.test_console_access import ROWS as CONSOLE
    from tests.policy.test_vex_access import ROWS as VEX
    from tests.policy.test_vex_access import vex_world

    world = vex_world()
    return world, [*WORKSPACE, *CONSOLE, *VEX, *NOTIFICATIONS]


def pages(rows: list[Row]) -> Iterator[tuple[Row, str]]:
    """Every GET row with a role that gets 200, HTML pages rather than the API."""
    for row in rows:
        if row.method != "GET" or row.path.startswith("/api/"):
            continue
        role = next((r for r in ROLE_ORDER if row.expect.get(r) == 200), None)
        if role is not None:
            yield row, role


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("build", "least"),
    [(core_world, 30), (commerce_world, 8), (moderation_world, 5), (security_world, 10)],
)
def test_every_page_passes_axe(
    live_server: Any, browser: Any, screenshots: Any, build: Any, least: int
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (scripts/test does)")
    world, rows = build()
    contexts: dict[str, Any] = {}

    def page_as(role: str) -> Any:
        if role not in contexts:
            # bypass_csp: the store's policy forbids injected scripts, axe's included.
            context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            user = world.users[role]
            if user is not None:
                client = Client()
                client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
                cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
                context.add_cookies(
                    [
                        {
                            "name": settings.SESSION_COOKIE_NAME,
                            "value": cookie,
                            "url": live_server.url,
                        }
                    ]
                )
            contexts[role] = context.new_page()
        return contexts[role]

    failures: list[str] = []
    checked = 0
    for row, role in pages(rows):
        path = row.path.format(**world.ids)
        page = page_as(role)
        try:
            response = page.goto(live_server.url + path)
        except PlaywrightError as exc:
            if "Download is starting" in str(exc):
                continue  # an SBOM or an export: a file, not a page
            raise
        assert response is not None and response.status == 200, f"{path} as {role}"
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue  # a download or a JSON answer: nothing to read on screen
        page.add_script_tag(path=str(AXE))
        for violation in page.evaluate(RUN_AXE):
            if violation["impact"] in ("serious", "critical"):
                failures.append(
                    f"{path} as {role}: {violation['id']} ({violation['impact']}): "
                    f"{violation['help']}; at {', '.join(violation['nodes'])}"
                )
        name = f"a11y-{_slug(row.path)}"
        screenshots(page, f"{name}-1366")
        page.set_viewport_size({"width": 375, "height": 800})
        screenshots(page, f"{name}-375")
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > 375:  # a phone would scroll the whole page sideways
            culprits = page.evaluate(WIDEST)
            failures.append(f"{path} as {role}: {wide} px wide at 375 px ({culprits})")
        page.set_viewport_size({"width": 1366, "height": 900})
        checked += 1
    for page in contexts.values():
        page.context.close()
    assert checked >= least, f"only {checked} pages were checked"
    assert not failures, "\n".join(failures)
