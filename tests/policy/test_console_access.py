"""Access-matrix rows of these pages (every role, through the real URLs)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.access import ROLES, Row, build_world, check, outcomes

# The security team and admins use the console; moderators read the held listings only.
SECURITY_ONLY = outcomes(default=403, security=200, admin=200)
ACTION = {"reason": "Overdue fixes reported by the security team."}

ROWS: list[Row] = [
    Row("GET", "/staff/security/", SECURITY_ONLY),
    Row("GET", "/staff/security/?severity=critical&sla=overdue", SECURITY_ONLY),
    Row("GET", "/staff/security/trend/", SECURITY_ONLY),
    Row(
        "GET",
        "/staff/security/listings/",
        outcomes(default=403, moderator=200, security=200, admin=200),
    ),
    Row(
        "POST",
        "/staff/security/findings/{finding}/reclassify",
        outcomes(default=403, security=302, admin=302),
        data={"severity": "minor", "reason": "Not reachable in this image."},
    ),
    # The world has no listing: past the permission check, the team is told it is unknown.
    Row(
        "POST",
        "/staff/security/listings/acme/none/revoke",
        outcomes(default=403, security=404, admin=404),
        data=ACTION,
    ),
    Row(
        "POST",
        "/staff/security/listings/acme/none/reinstate",
        outcomes(default=403, security=404, admin=404),
        data=ACTION,
    ),
    Row(
        "POST",
        "/staff/security/listings/acme/none/lift-hold",
        outcomes(default=403, security=404, admin=404),
        data=ACTION,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row, role", [pytest.param(r, role, id=f"{r.id} [{role}]") for r in ROWS for role in ROLES]
)
def test_access(client: Client, row: Row, role: str) -> None:
    check(client, build_world(), row, role)
