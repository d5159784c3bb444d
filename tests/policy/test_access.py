"""Access-matrix rows of these pages (every role, through the real URLs)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.access import ROLES, Row, build_world, check, outcomes

ROWS: list[Row] = [
    # The publisher's security workspace: private like scan results.
    Row("GET", "/orgs/acme/security/", outcomes(default=200, customer=404, other_member=404)),
    Row("GET", "/orgs/nobody/security/", outcomes(default=404)),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row, role", [pytest.param(r, role, id=f"{r.id} [{role}]") for r in ROWS for role in ROLES]
)
def test_access(client: Client, row: Row, role: str) -> None:
    check(client, build_world(), row, role)
