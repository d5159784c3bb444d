"""The trend of open critical and major findings: counted per day from the clocks'
intervals, drawn as an accessible inline SVG with the same figures in a table."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from portside.core import clock
from portside.policy import selectors
from portside.policy.models import ClockState
from tests.policy.console_world import ConsoleWorld, build_console_world, clock_for

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def world() -> ConsoleWorld:
    with clock.frozen(NOW):
        world = build_console_world()
    day = dt.timedelta(days=1)
    # Open for all 90 days and more: critical.
    clock_for(world, "CVE-1", started=NOW - 200 * day, state=ClockState.OVERDUE)
    # Started 10 days ago: major.
    clock_for(world, "CVE-2", started=NOW - 10 * day, severity="major")
    # Open from 30 to 20 days ago, then fixed: critical.
    clock_for(
        world, "CVE-3", started=NOW - 30 * day, stopped=NOW - 20 * day, state=ClockState.STOPPED
    )
    # Stopped before the window: never counted.
    clock_for(
        world, "CVE-4", started=NOW - 300 * day, stopped=NOW - 100 * day, state=ClockState.STOPPED
    )
    return world


def test_counts_per_day(world: ConsoleWorld) -> None:
    points = selectors.open_findings_trend(now=NOW)
    assert len(points) == 90
    assert points[-1].day == NOW.date() and points[0].day == NOW.date() - dt.timedelta(89)
    by_day = {p.day: (p.critical, p.major) for p in points}
    today = NOW.date()
    assert by_day[today] == (1, 1)
    assert by_day[today - dt.timedelta(10)] == (1, 1)  # CVE-2 began at noon, open by the end
    assert by_day[today - dt.timedelta(11)] == (1, 0)
    assert by_day[today - dt.timedelta(25)] == (2, 0)
    assert by_day[today - dt.timedelta(20)] == (1, 0)  # stopped at noon: gone by the end
    assert by_day[today - dt.timedelta(21)] == (2, 0)
    assert by_day[today - dt.timedelta(30)] == (2, 0)
    assert by_day[today - dt.timedelta(31)] == (1, 0)
    assert by_day[today - dt.timedelta(89)] == (1, 0)


def test_one_query_for_ninety_days(world: ConsoleWorld, django_assert_num_queries: object) -> None:
    with django_assert_num_queries(1):  # type: ignore[operator]
        selectors.open_findings_trend(now=NOW)


def test_the_page_draws_without_script(client: Client, world: ConsoleWorld) -> None:
    client.force_login(world.security, backend="django.contrib.auth.backends.ModelBackend")
    with clock.frozen(NOW):
        response = client.get("/staff/security/trend/")
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "<svg" in html
        and 'role="img"' in html
        and 'aria-labelledby="trend-title trend-desc"' in html
    )
    assert '<title id="trend-title">' in html and "Today: 1 critical, 1 major." in html
    assert html.count("<polyline") == 2
    body = html.split("<main", 1)[1].split("</main>", 1)[0]
    assert "<script" not in body and "onload" not in body and "style=" not in body
    # The table has every day, newest first.
    table = html.split('id="trend-table"', 1)[1]
    assert table.count('<th scope="row">') == 90
    assert table.index(NOW.date().isoformat()) < table.index(
        (NOW.date() - dt.timedelta(1)).isoformat()
    )
    assert (
        f'<th scope="row"><time datetime="{(NOW.date() - dt.timedelta(25)).isoformat()}">' in table
    )


def test_an_empty_store_draws_a_flat_line(client: Client) -> None:
    from tests.factories import make_user

    client.force_login(
        make_user("sec", store_role="security"), backend="django.contrib.auth.backends.ModelBackend"
    )
    response = client.get("/staff/security/trend/")
    assert response.status_code == 200
    assert all(p.critical == 0 and p.major == 0 for p in response.context["points"])
