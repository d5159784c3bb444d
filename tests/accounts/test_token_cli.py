"""``portside token list`` tells active, expired and revoked tokens apart."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command

from portside.accounts import services
from portside.core import clock
from tests.factories import TEST_ORIGIN, make_user

pytestmark = pytest.mark.django_db


def _listed(username: str) -> dict[str, str]:
    out = io.StringIO()
    call_command("token", "list", username, stdout=out)
    rows = [line.split("  ") for line in out.getvalue().splitlines()]
    return {row[1]: row[-1] for row in rows}


def test_expired_and_revoked_tokens_are_listed_as_such() -> None:
    start = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    with clock.frozen(start) as frozen:
        alice = make_user("alice")
        for name, days in (("short", 1), ("long", 90), ("gone", 90)):
            services.create_token(
                user=alice,
                name=name,
                scopes=["read"],
                expires_days=days,
                acting=alice,
                origin=TEST_ORIGIN,
            )
        gone = alice.access_tokens.get(name="gone")
        services.revoke_token(token=gone, acting=alice, origin=TEST_ORIGIN)
        assert _listed("alice") == {"short": "active", "long": "active", "gone": "revoked"}

        frozen.advance(days=1)  # the short one expires exactly now
        assert _listed("alice") == {"short": "expired", "long": "active", "gone": "revoked"}

        frozen.advance(days=100)  # a revoked token stays revoked once it has expired too
        assert _listed("alice") == {"short": "expired", "long": "expired", "gone": "revoked"}
