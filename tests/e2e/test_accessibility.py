"""Every page of the access matrix passes axe-core in Chromium, as a role that may see it.

axe-core (npm, pinned in package-lock.json, installed by scripts/test) is injected into
each page; a violation of impact "serious" or "critical" fails the test, listed with its
rule, its page and the first elements it found. The page is checked again in the dark
colour scheme (``prefers-color-scheme: dark``), with the rules about colour only: the
stylesheet changes colours there and nothing else. Each page is also saved as a screenshot
at 1366 px, 375 px and 1920 px wide, and dark at 1366 px
(``test-artifacts/screenshots/a11y-*``), to be looked at; it must not be wider than a
375 px screen (wide tables scroll in their own box) nor than a 1920 px one."""

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


#: the rules that read colours, for the second look in the dark scheme
RUN_AXE_COLOURS = """async () => {
  const result = await axe.run(document, {
    resultTypes: ['violations'],
    runOnly: {type: 'rule', values: ['color-contrast', 'link-in-text-block']}
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))
  }));
}"""


#: the innermost elements that reach past a screen ``width`` px wide, to say what to fix
WIDEST_PAST = """(width) => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > width + 1
    && !Array.from(e.children).some(c => c.getBoundingClientRect().right > width + 1))
  .slice(0, 3)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')
  .join(', ')"""
#: the same for a 375 px screen
WIDEST = f"() => ({WIDEST_PAST})(375)"


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


def publisher_world() -> tuple[World, list[Row]]:
    """The publisher profile and the page its emailed verification link opens."""
    from tests.publishers.test_access import ROWS, _world

    return _world(), list(ROWS)


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


def _violations(found: list[dict[str, Any]], where: str) -> list[str]:
    """The serious and critical ones of axe's violations, one line each."""
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['help']}; at {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("build", "least"),
    [
        (core_world, 30),
        (commerce_world, 8),
        (moderation_world, 5),
        (publisher_world, 2),
        (security_world, 10),
    ],
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
        name = f"a11y-{_slug(row.path)}"
        failures += _violations(page.evaluate(RUN_AXE), f"{path} as {role}")
        screenshots(page, f"{name}-1366")
        page.emulate_media(color_scheme="dark")
        failures += _violations(page.evaluate(RUN_AXE_COLOURS), f"{path} as {role}, dark")
        screenshots(page, f"{name}-dark-1366")
        page.emulate_media(color_scheme="light")
        for width, height in ((375, 800), (1920, 1080)):
            page.set_viewport_size({"width": width, "height": height})
            screenshots(page, f"{name}-{width}")
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:  # the whole page would scroll sideways
                culprits = page.evaluate(WIDEST_PAST, width)
                failures.append(f"{path} as {role}: {wide} px wide at {width} px ({culprits})")
        page.set_viewport_size({"width": 1366, "height": 900})
        checked += 1
    for page in contexts.values():
        page.context.close()
    assert checked >= least, f"only {checked} pages were checked"
    assert not failures, "\n".join(failures)
