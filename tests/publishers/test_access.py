"""Who may do what with the publisher profile, endpoint by endpoint, for every role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import resolve

from portside.accounts.models import Organization
from portside.core import clock
from portside.publishers import services
from portside.publishers.urls import urlpatterns
from tests.access import LOGIN, ROLES, Row, World, build_world, check, outcomes
from tests.factories import TEST_ORIGIN
from tests.publishers import images
from tests.publishers.test_services import FIELDS


class Upload:
    """A file for a multipart form that can be sent again and again (rows are shared)."""

    name = "logo.png"
    content_type = "image/png"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data


# Pages: members and the store team see the profile; owners and editors change it.
_VIEW = outcomes(default=200, customer=404, other_member=404)
_EDIT = outcomes(default=403, customer=404, other_member=404, editor=302, owner=302)
# The emailed link works for whoever holds it, signed in or not: the secret is the proof.
_LINK = outcomes(anonymous=200, default=200)
# API: the same rules; 401 instead of the sign-in page.
_API_VIEW = outcomes(anonymous=401, default=200, customer=404, other_member=404)


def _api_edit(success: int) -> dict[str, int | str]:
    return outcomes(
        anonymous=401, default=403, customer=404, other_member=404, editor=success, owner=success
    )


API = "/api/v1/orgs/acme/publisher-profile"
ROWS = [
    Row("GET", "/orgs/acme/profile/", _VIEW),
    Row("POST", "/orgs/acme/profile/", _EDIT, data=FIELDS),
    Row("GET", "/orgs/nonexistent/profile/", outcomes(default=404)),
    Row("POST", "/orgs/acme/profile/logo", _EDIT, data={"logo": Upload(images.png())}),
    Row("POST", "/orgs/acme/profile/verify-email", _EDIT),
    Row("GET", "/publisher-email/{email_secret}/", _LINK),
    Row("POST", "/publisher-email/{email_secret}/", _LINK),
    Row("GET", "/publisher-email/not-a-real-secret/", outcomes(anonymous=404, default=404)),
    Row("POST", "/publisher-email/not-a-real-secret/", outcomes(anonymous=404, default=404)),
    Row("GET", API, _API_VIEW),
    Row("GET", "/api/v1/orgs/nonexistent/publisher-profile", outcomes(anonymous=401, default=404)),
    Row("PATCH", API, _api_edit(200)),
    Row("PUT", API + "/logo", _api_edit(200)),
    Row("POST", API + "/verify-email", _api_edit(202)),
]
# Bodies of the API rows that are not form data: (content type, body).
BODIES: dict[str, tuple[str, bytes]] = {
    f"PATCH {API}": ("application/json", json.dumps(FIELDS).encode()),
    f"PUT {API}/logo": ("image/png", images.png()),
}

CASES = [pytest.param(row, role, id=f"{row.id} [{role}]") for row in ROWS for role in ROLES]


def _world() -> World:
    """The shared world, with a profile whose company email has a pending link."""
    world = build_world()
    acme = Organization.objects.get(name="acme")
    owner = world.users["owner"]
    services.update_profile(organization=acme, acting=owner, origin=TEST_ORIGIN, **FIELDS)
    _, secret = services.send_email_verification(
        organization=acme, acting=owner, origin=TEST_ORIGIN
    )
    world.ids["email_secret"] = secret
    return world


def _send(client: Client, world: World, row: Row, role: str) -> None:
    if row.id not in BODIES:
        check(client, world, row, role)
        return
    user = world.users[role]
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    content_type, body = BODIES[row.id]
    response = getattr(client, row.method.lower())(row.path, data=body, content_type=content_type)
    expected = row.expect[role]
    assert expected != LOGIN
    assert response.status_code == expected, (
        f"{row.id} as {role}: expected {expected}, got {response.status_code}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("row, role", CASES)
def test_access(client: Client, media_storage: Any, row: Row, role: str) -> None:
    with clock.frozen() as frozen:
        world = _world()
        frozen.advance(minutes=5)  # past the pause between two verification mails
        _send(client, world, row, role)


def test_every_page_of_the_context_has_a_row() -> None:
    names = {pattern.name for pattern in urlpatterns}
    covered = {
        resolve(row.path.format(email_secret="s").split("?")[0]).url_name
        for row in ROWS
        if not row.path.startswith("/api/")
    }
    assert names <= covered, sorted(names - covered)


def test_every_api_operation_of_the_context_has_a_row(client: Client) -> None:
    described = {
        (method.upper(), path)
        for path, operations in client.get("/api/openapi.json").json()["paths"].items()
        for method, operation in operations.items()
        if "publishers" in operation.get("tags", [])
    }
    covered = {(row.method, row.path.replace("/acme/", "/{org}/")) for row in ROWS}
    assert described and described <= covered, sorted(described - covered)
