"""Access-matrix rows of these pages (every role, through the real URLs)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.access import ROLES, Row, build_world, check, outcomes

# An organisation's webhooks: its owners only; members and the store team see that the
# page exists (403), anyone else learns nothing (404).
_OWNERS = outcomes(default=403, customer=404, other_member=404, owner=200)
_ONE = outcomes(default=403, customer=404, other_member=404, owner=404)
_W = "/orgs/acme/notifications/webhooks/999999/"

ROWS: list[Row] = [
    Row("GET", "/settings/notifications/", outcomes(default=200)),
    Row(
        "POST",
        "/settings/notifications/",
        outcomes(default=404, viewer=302, editor=302, owner=302),
        data={"scope": "org:acme", "mode": "digest"},
    ),
    Row("GET", "/notifications/unsubscribe/forged", outcomes(anonymous=400, default=400)),
    Row("POST", "/notifications/unsubscribe/forged", outcomes(anonymous=400, default=400)),
    Row("GET", "/orgs/acme/notifications/", _OWNERS),
    Row(
        "GET",
        "/orgs/globex/notifications/",
        outcomes(default=404, other_member=200, moderator=403, security=403, admin=403),
    ),
    Row(
        "POST",
        "/orgs/acme/notifications/",
        _OWNERS,
        data={
            "url": "https://93.184.215.14/hook",
            "events": ["policy:listing:held"],
            "creation_key": "matrix",
        },
    ),
    Row("POST", _W + "edit", _ONE, data={"e999999-events": ["policy:listing:held"]}),
    Row("POST", _W + "test", _ONE, data={"nonce": "n1"}),
    Row("POST", _W + "rotate", _ONE),
    Row("POST", _W + "delete", _ONE),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row, role", [pytest.param(r, role, id=f"{r.id} [{role}]") for r in ROWS for role in ROLES]
)
def test_access(client: Client, row: Row, role: str) -> None:
    check(client, build_world(), row, role)
