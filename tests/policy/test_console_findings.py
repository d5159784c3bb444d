"""The security console's findings: filters in the database, SLA states from the clocks,
paging by key, reclassification, and hostile filter values."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portside.audit.models import AuditEvent
from portside.policy import selectors
from portside.policy.models import ClockState
from portside.scanning.models import Finding
from tests.policy.console_world import (
    ConsoleWorld,
    build_console_world,
    clock_for,
    finding,
)

pytestmark = pytest.mark.django_db
URL = "/staff/security/"


@pytest.fixture
def world() -> ConsoleWorld:
    world = build_console_world()
    finding(world.scan, "CVE-2025-0001", "critical")  # running clock
    finding(world.scan, "CVE-2025-0002", "major", package="zlib")  # overdue clock
    finding(world.scan, "CVE-2025-0003", "critical", package="curl")  # stopped clock
    finding(world.scan, "CVE-2025-0004", "minor")  # no clock
    finding(world.other_scan, "CVE-2025-0001", "critical")  # same finding, unlisted image
    clock_for(world, "CVE-2025-0001")
    clock_for(world, "CVE-2025-0002", state=ClockState.OVERDUE, severity="major", package="zlib")
    clock_for(world, "CVE-2025-0003", state=ClockState.STOPPED, package="curl")
    return world


@pytest.fixture
def security(client: Client, world: ConsoleWorld) -> Client:
    client.force_login(world.security, backend="django.contrib.auth.backends.ModelBackend")
    return client


def advisories(response: Any) -> list[tuple[str, str]]:
    return [(f.advisory_id, f.scan.digest) for f in response.context["rows"]]


def listed(world: ConsoleWorld, advisory: str) -> tuple[str, str]:
    return advisory, world.scan.digest


def test_every_finding_newest_first_with_its_sla(security: Client, world: ConsoleWorld) -> None:
    response = security.get(URL)
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [f.advisory_id for f in rows] == [
        "CVE-2025-0001", "CVE-2025-0004", "CVE-2025-0003", "CVE-2025-0002", "CVE-2025-0001",
    ]  # fmt: skip
    states = {(f.advisory_id, f.scan.digest): f.sla_state for f in rows}
    assert states[listed(world, "CVE-2025-0001")] == "running"
    assert states[listed(world, "CVE-2025-0002")] == "overdue"
    assert states[listed(world, "CVE-2025-0003")] == "stopped"
    assert states[listed(world, "CVE-2025-0004")] is None
    # The clock names the listed digest: the unlisted image's finding has none.
    assert states[("CVE-2025-0001", world.other_scan.digest)] is None
    offered = {f.scan.digest: f.listed_in for f in rows}
    assert offered[world.scan.digest] == [f"acme/{world.product.slug}"]
    assert offered[world.other_scan.digest] == []
    html = response.content.decode()
    assert f"/orgs/acme/scans/{world.scan.pk}/" in html
    assert "/staff/security/vex/" in html


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"sla": "running"}, ["CVE-2025-0001"]),
        ({"sla": "overdue"}, ["CVE-2025-0002"]),
        ({"sla": "stopped"}, ["CVE-2025-0003"]),
        ({"sla": "none"}, ["CVE-2025-0001", "CVE-2025-0004"]),
        ({"severity": "critical"}, ["CVE-2025-0001", "CVE-2025-0003", "CVE-2025-0001"]),
        ({"severity": "minor"}, ["CVE-2025-0004"]),
        ({"package": "zlib"}, ["CVE-2025-0002"]),
        ({"advisory": "CVE-2025-0003"}, ["CVE-2025-0003"]),
        ({"publisher": "globex"}, []),
        ({"product": "acme/nothing"}, []),
        ({"severity": "critical", "sla": "none"}, ["CVE-2025-0001"]),
        ({"status": "resolved"}, []),
    ],
)
def test_filters(security: Client, query: dict[str, str], expected: list[str]) -> None:
    response = security.get(URL, query)
    assert response.status_code == 200
    assert [f.advisory_id for f in response.context["rows"]] == expected


def test_product_and_publisher_filters(security: Client, world: ConsoleWorld) -> None:
    product = f"acme/{world.product.slug}"
    everything = [f.advisory_id for f in security.get(URL).context["rows"]]
    assert [f.advisory_id for f in security.get(URL, {"product": product}).context["rows"]] == (
        everything
    )
    assert [f.advisory_id for f in security.get(URL, {"publisher": "acme"}).context["rows"]] == (
        everything
    )


def test_a_reclassified_finding_is_filtered_by_its_new_class(
    security: Client, world: ConsoleWorld
) -> None:
    target = Finding.objects.get(scan=world.scan, advisory_id="CVE-2025-0004")
    response = security.post(
        f"/staff/security/findings/{target.pk}/reclassify",
        {"severity": "critical", "reason": "Reachable from the network.", "back": "severity=minor"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?severity=minor#finding-{target.pk}"
    target.refresh_from_db()
    assert target.reclassified == "critical"
    assert AuditEvent.objects.filter(action="scanning:finding:reclassified").count() == 1
    assert "CVE-2025-0004" not in [
        f.advisory_id for f in security.get(URL, {"severity": "minor"}).context["rows"]
    ]
    critical = security.get(URL, {"severity": "critical"}).context["rows"]
    assert "CVE-2025-0004" in [f.advisory_id for f in critical]
    # A retry of the same request changes nothing and writes nothing.
    security.post(
        f"/staff/security/findings/{target.pk}/reclassify",
        {"severity": "critical", "reason": "Reachable from the network."},
    )
    assert AuditEvent.objects.filter(action="scanning:finding:reclassified").count() == 1


@pytest.mark.parametrize(
    "data, error",
    [
        ({"severity": "critical", "reason": "   "}, "Say why"),
        ({"severity": "catastrophic", "reason": "because"}, "Unknown severity"),
        ({"severity": "x" * 10_000, "reason": "because"}, "Unknown severity"),
    ],
)
def test_reclassification_needs_a_class_and_a_reason(
    security: Client, world: ConsoleWorld, data: dict[str, str], error: str
) -> None:
    target = Finding.objects.get(scan=world.scan, advisory_id="CVE-2025-0004")
    response = security.post(f"/staff/security/findings/{target.pk}/reclassify", data, follow=True)
    assert error in response.content.decode()
    target.refresh_from_db()
    assert target.reclassified == ""
    assert not AuditEvent.objects.filter(action="scanning:finding:reclassified").exists()


def test_hostile_back_parameter_stays_on_the_console(security: Client, world: ConsoleWorld) -> None:
    target = Finding.objects.get(scan=world.scan, advisory_id="CVE-2025-0004")
    response = security.post(
        f"/staff/security/findings/{target.pk}/reclassify",
        {"severity": "major", "reason": "why", "back": "//evil.example.com/\r\nX: y"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(URL + "?")
    assert "\n" not in response["Location"] and "//evil" not in response["Location"]


def test_an_unknown_finding_is_404(security: Client) -> None:
    response = security.post(
        "/staff/security/findings/999999999/reclassify", {"severity": "major", "reason": "x"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"severity": "catastrophic"},
        {"sla": "late"},
        {"status": "maybe"},
        {"product": "no-slash"},
        {"product": "a/b/c"},
        {"product": "a/" + "b" * 300},
        {"publisher": "x" * 10_000},
        {"package": "p" * 10_000},
        {"advisory": "CVE-" + "9" * 5000},
        {"before": "-1"},
        {"before": "abc"},
        {"before": "9" * 40},
        {"severity": "critical' OR 1=1 --"},
        {"package": "a\x00b"},
    ],
)
def test_hostile_filters_are_refused(security: Client, query: dict[str, str]) -> None:
    response = security.get(URL, query)
    assert response.status_code == 400
    assert response.context["rows"] == []
    assert 'role="alert"' in response.content.decode()


def test_odd_but_valid_values_match_nothing(security: Client) -> None:
    for value in ["%", "_", "' OR '1'='1", "\u202ex", "😀"]:
        response = security.get(URL, {"package": value, "advisory": value})
        assert response.status_code == 200
        assert response.context["rows"] == []


def test_pages_by_key(security: Client, world: ConsoleWorld, monkeypatch: Any) -> None:
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    seen: list[int] = []
    query: dict[str, Any] = {"severity": "critical"}
    response = security.get(URL, query)
    while True:
        seen += [f.pk for f in response.context["rows"]]
        before = response.context["next_before"]
        if before is None:
            break
        assert f"before={before}" in response.content.decode()
        response = security.get(URL, {**query, "before": before})
    expected = list(
        Finding.objects.filter(severity="critical").order_by("-pk").values_list("pk", flat=True)
    )
    assert seen == expected and len(seen) == 3


def test_the_filters_run_in_a_bounded_number_of_queries(
    security: Client, world: ConsoleWorld, django_assert_max_num_queries: Any
) -> None:
    """No query per finding: the page's rows, their listings, and the page's chrome."""
    for n in range(40):
        finding(world.other_scan, f"CVE-2024-{n:04d}", "major", package=f"pkg{n}")
    with django_assert_max_num_queries(12):
        response = security.get(URL, {"sla": "none", "severity": "major"})
    assert len(response.context["rows"]) == 40
