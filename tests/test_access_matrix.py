"""Who may do what, endpoint by endpoint, for every role."""

import pytest

from tests.access import LOGIN, ROLES, Row, build_world, check, outcomes

_MANAGE = outcomes(default=403, customer=404, other_member=404, owner=302, admin=302)
_AUDIT = outcomes(default=403, security=200, admin=200)
# Scan results: the organisation and the store team; nobody else learns they exist.
_SCAN = outcomes(default=200, customer=404, other_member=404)
_SCAN_NOW = outcomes(
    default=403, customer=404, other_member=404, editor=302, owner=302, security=302, admin=302
)
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


def test_every_url_has_a_row():
    """A new route must come with its row here (or in its capability's own matrix)."""
    from django.urls import get_resolver

    from tests.moderation.test_access import ROWS as PUBLISHING_ROWS
    from tests.registry.test_access_matrix import ROWS as REGISTRY_ROWS

    paths = (
        [row.path for row in ROWS]
        + [row[1] for row in REGISTRY_ROWS]
        + [row[1] for row in PUBLISHING_ROWS]
    )
    covered = {path.split("{")[0].rstrip("/").split("/")[1] for path in paths if path != "/"}
    names = set()
    for pattern in get_resolver().url_patterns:
        prefix = str(pattern.pattern).split("/")[0]
        if prefix and not prefix.startswith("<"):
            names.add(prefix)
    assert names <= covered | {"static", "media"}, sorted(names - covered)
    assert LOGIN == "login"
