"""Who may do what, endpoint by endpoint, for every role."""

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.access import LOGIN, ROLES, Row, build_world, check, outcomes

_MANAGE = outcomes(default=403, customer=404, other_member=404, owner=302, admin=302)
_AUDIT = outcomes(default=403, security=200, admin=200)
# Scan results: the organisation and the store team; nobody else learns they exist.
_SCAN = outcomes(default=200, customer=404, other_member=404)
_SCAN_NOW = outcomes(
    default=403, customer=404, other_member=404, editor=302, owner=302, security=302, admin=302
)


def _store_team(status: int) -> dict[str, int | str]:
    return dict.fromkeys(("moderator", "security", "admin"), status)


_RECLASSIFY = outcomes(default=403, customer=404, other_member=404, security=302, admin=302)

ROWS = [
    Row("GET", "/", outcomes(anonymous=200, default=200)),
    Row("GET", "/health", outcomes(anonymous=200, default=200)),
    Row("GET", "/api/openapi.json", outcomes(anonymous=200, default=200)),
    Row("GET", "/api/v1/me", outcomes(anonymous=401, default=200)),
    Row("GET", "/accounts/login/", outcomes(anonymous=200, default=302)),
    Row("GET", "/accounts/signup/", outcomes(anonymous=200, default=302)),
    Row("GET", "/accounts/2fa/", outcomes(default=200)),
    Row("GET", "/accounts/email/", outcomes(default=200)),
    # The account pages of the signed-in user. Second-factor pages send a user without a
    # second factor elsewhere (302) or answer 404 for what does not exist yet; the store
    # team has a second factor (the store requires it), so theirs exist.
    Row("GET", "/accounts/logout/", outcomes(anonymous=302, default=200)),
    Row("GET", "/accounts/password/change/", outcomes(default=200)),
    Row("GET", "/accounts/password/set/", outcomes(default=302)),
    Row("GET", "/accounts/password/reset/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/password/reset/done/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/password/reset/key/1-forged/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/password/reset/key/done/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/confirm-email/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/confirm-email/forged:key/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/inactive/", outcomes(anonymous=200, default=200)),
    Row("GET", "/accounts/login/code/confirm/", outcomes(default=302)),
    Row("GET", "/accounts/reauthenticate/", outcomes(default=200)),
    Row("GET", "/accounts/reauthenticate/code/", outcomes(default=200)),
    Row("GET", "/accounts/reauthenticate/code/confirm/", outcomes(default=302)),
    Row("GET", "/accounts/2fa/authenticate/", outcomes(default=302)),
    Row("GET", "/accounts/2fa/reauthenticate/", outcomes(default=302, **_store_team(200))),
    Row("GET", "/accounts/2fa/totp/activate/", outcomes(default=302)),
    Row("GET", "/accounts/2fa/totp/deactivate/", outcomes(default=404, **_store_team(302))),
    Row("GET", "/accounts/2fa/recovery-codes/", outcomes(default=404)),
    Row("GET", "/accounts/2fa/recovery-codes/download/", outcomes(default=404)),
    Row("GET", "/accounts/2fa/recovery-codes/generate/", outcomes(default=302)),
    Row("GET", "/api/", outcomes(anonymous=404, default=404)),
    Row("GET", "/v2/UPPER/tags/list", outcomes(anonymous=400, default=400)),
    Row("GET", "/orgs/", outcomes(default=200)),
    Row("POST", "/orgs/", outcomes(default=302), data={"name": "newco"}),
    Row("GET", "/orgs/acme/", outcomes(default=200, customer=404, other_member=404)),
    Row("GET", "/orgs/nonexistent/", outcomes(default=404)),
    Row("GET", "/orgs/acme/repositories/", outcomes(default=200, customer=404, other_member=404)),
    Row(
        "GET", "/orgs/acme/repositories/app", outcomes(default=200, customer=404, other_member=404)
    ),
    Row("GET", "/orgs/acme/repositories/ghost", outcomes(default=404)),
    Row("GET", "/orgs/globex/repositories/app", outcomes(default=404, moderator=404)),
    Row("POST", "/orgs/acme/invite", _MANAGE, data={"email": "new@example.com", "role": "viewer"}),
    Row("POST", "/orgs/acme/members/viewer/role", _MANAGE, data={"role": "editor"}),
    Row(
        "POST",
        "/orgs/acme/members/editor/remove",
        outcomes(default=403, customer=404, other_member=404, owner=302, admin=302, editor=302),
    ),
    Row("POST", "/orgs/acme/invitations/{invitation}/revoke", _MANAGE),
    Row("GET", "/invitations/{secret}/", outcomes(default=200)),
    Row("POST", "/invitations/{secret}/", outcomes(default=400)),
    Row("GET", "/invitations/not-a-real-secret/", outcomes(default=404)),
    Row("GET", "/settings/tokens/", outcomes(default=200)),
    Row(
        "POST",
        "/settings/tokens/",
        outcomes(default=200),
        data={"name": "t", "scopes": ["read"], "expires_days": 30},
    ),
    Row("POST", "/settings/tokens/{token}/revoke", outcomes(default=404, owner=302)),
    Row("GET", "/orgs/acme/scans/{scan}/", _SCAN),
    Row("GET", "/orgs/acme/scans/{scan}/sbom/cyclonedx", _SCAN),
    Row("GET", "/orgs/acme/scans/{scan}/sbom/spdx", _SCAN),
    Row("GET", "/orgs/acme/scans/999999/", outcomes(default=404)),
    Row("GET", "/orgs/globex/scans/{scan}/", outcomes(default=404)),
    Row(
        "POST",
        "/orgs/acme/scans/request",
        _SCAN_NOW,
        data={"repository": "acme/app", "digest": "{digest}"},
    ),
    Row(
        "POST",
        "/orgs/acme/scans/{scan}/findings/{finding}/reclassify",
        _RECLASSIFY,
        data={"severity": "minor", "reason": "not reachable in this image"},
    ),
    Row(
        "GET",
        "/api/v1/scans/{scan}",
        outcomes(anonymous=401, default=200, customer=404, other_member=404),
    ),
    Row("GET", "/api/v1/scans/999999", outcomes(anonymous=401, default=404)),
    Row("GET", "/staff/audit/", _AUDIT),
    Row("GET", "/staff/audit/export.csv", _AUDIT),
    Row("GET", "/staff/audit/export.jsonl", _AUDIT),
]

CASES = [pytest.param(row, role, id=f"{row.id} [{role}]") for row in ROWS for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize("row, role", CASES)
def test_access(client, row, role):
    check(client, build_world(), row, role)


# Routes whose access is checked role by role in another test, with the reason.
COVERED_ELSEWHERE = {
    # The JSON body and scopes of a scan request: tests/scanning/test_scanning.py,
    # test_the_api_requests_a_scan_and_reads_its_result.
    "api/v1/scans",
}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    from django.urls import URLPattern, URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _matrix_paths() -> Iterator[str]:
    from tests.api_publishing.test_access_matrix import ROWS as API_ROWS
    from tests.commerce.test_access import ROWS as COMMERCE_ROWS
    from tests.commerce.test_api_access import ROWS as COMMERCE_API_ROWS
    from tests.core.test_deliveries_page import ROWS as DELIVERY_ROWS
    from tests.moderation.test_access import ROWS as PUBLISHING_ROWS
    from tests.notifications.test_access import ROWS as NOTIFICATION_ROWS
    from tests.policy.test_access import ROWS as POLICY_ROWS
    from tests.policy.test_console_access import ROWS as CONSOLE_ROWS
    from tests.policy.test_vex_access import ROWS as VEX_ROWS
    from tests.publishers.test_access import ROWS as PROFILE_ROWS
    from tests.registry.test_access_matrix import ROWS as REGISTRY_ROWS
    from tests.scanning.test_vulnerability_data_page import ROWS as VULNDATA_ROWS
    from tests.storefront.test_access import ROWS as STOREFRONT_ROWS

    yield from (row.path for row in ROWS)
    yield from (row[1] for row in REGISTRY_ROWS)
    yield from (row[1] for row in PUBLISHING_ROWS)
    yield from (row.path for row in PROFILE_ROWS)
    yield from (row.path for row in STOREFRONT_ROWS)
    yield from ("/api/v1" + row.path for row in API_ROWS)
    yield from (row.path for row in COMMERCE_ROWS)
    yield from (row.path for row in COMMERCE_API_ROWS)
    yield from (row.path for row in DELIVERY_ROWS)
    yield from (row.path for row in VULNDATA_ROWS)
    for rows in (POLICY_ROWS, VEX_ROWS, CONSOLE_ROWS, NOTIFICATION_ROWS):
        yield from (row.path for row in rows)


def _normal(route: str) -> str:
    # A regular-expression route inside a path() prefix is spelled with or without anchors.
    return route.replace("^", "").replace("$", "")


def test_every_url_has_a_row():
    """Every route the store answers is reached by a row of some access matrix: a new
    route must come with its row, here or in its capability's own table."""
    from django.urls import Resolver404, get_resolver, resolve

    covered = set()
    for path in _matrix_paths():
        path = path.split("?")[0].replace("{image}", "0" * 64 + ".png")
        path = re.sub(r"\{[a-z_]+\}", "1", path)
        try:
            covered.add(_normal(resolve(path).route))
        except Resolver404:
            continue
    routes = {_normal(route) for route in _routes(get_resolver().url_patterns)}
    static = {r for r in routes if r.startswith(("static/", "^static/", "media/"))}
    missing = routes - covered - static - COVERED_ELSEWHERE
    assert not missing, sorted(missing)
    assert COVERED_ELSEWHERE <= routes
    assert LOGIN == "login"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["moderator", "security", "admin"])
def test_every_staff_page_asks_a_store_team_member_without_2fa_to_set_it_up(client, role):
    """Before any view runs, so for every route under /staff/ whatever its arguments."""
    from django.urls import get_resolver

    from tests.factories import make_user

    client.force_login(make_user(f"new-{role}", store_role=role, two_factor=False))
    staff = sorted(
        "/" + re.sub(r"<[^>]+>", "1", _normal(route))
        for route in _routes(get_resolver().url_patterns)
        if _normal(route).startswith("staff/")
    )
    assert len(staff) >= 8, staff
    for path in staff:
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            assert response.status_code == 302, (method, path, response.status_code)
            assert response["Location"] == "/accounts/2fa/totp/activate/", (method, path)
