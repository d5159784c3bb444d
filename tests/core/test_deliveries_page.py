"""The store admins' page of event deliveries: who may open it, what it shows, and the
retry of a delivery given up on (audited)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from portside.audit.models import AuditEvent
from portside.core import events
from tests.access import ROLES, Row, build_world, check, outcomes
from tests.core.test_events_durable import (
    db_events,  # noqa: F401 (a fixture)
    failures_left,
    received,
    run_worker,
)

ROWS = [
    Row("GET", "/staff/deliveries/", outcomes(default=403, admin=200)),
    Row(
        "POST",
        "/staff/deliveries/00000000-0000-0000-0000-000000000000/retry",
        outcomes(default=403, admin=302),
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row, role", [pytest.param(r, role, id=f"{r.id} [{role}]") for r in ROWS for role in ROLES]
)
def test_access(client: Client, row: Row, role: str) -> None:
    check(client, build_world(), row, role)


def test_an_admin_sees_a_given_up_delivery_and_retries_it(db_events: Any) -> None:  # noqa: F811
    world = build_world()
    admin = world.users["admin"]
    client = Client()
    client.force_login(admin)
    assert "Every delivery is done." in client.get("/staff/deliveries/").content.decode()

    failures_left["count"] = 1
    with override_settings(EVENT_DELIVERY_ATTEMPTS=1):
        events.emit("test:durable:flaked", thing_id=4)
        run_worker()
        page = client.get("/staff/deliveries/").content.decode()
        assert "given up" in page and "test:durable:flaked" in page
        assert "ConnectionError: the mail server hung up" in page
        [given_up] = events.deliveries()
        response = client.post(f"/staff/deliveries/{given_up.id}/retry")
        assert response.status_code == 302
        run_worker()
    assert received == [{"thing_id": 4}]
    assert "Every delivery is done." in client.get("/staff/deliveries/").content.decode()
    row = AuditEvent.objects.get(action="core:event:retried")
    assert row.actor_id == admin.pk
    assert row.details["subscriber"].endswith("flaky")
