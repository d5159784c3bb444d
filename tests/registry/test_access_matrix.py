"""Who may do what on the registry, for every role, through real tokens and URLs."""

from __future__ import annotations

import base64
import json

import pytest

from portside.accounts import services
from portside.oci import mediatypes
from tests.access import ROLES, build_world, outcomes
from tests.factories import PASSWORD, TEST_ORIGIN
from tests.registry.helpers import Registry

NAME = "acme/app"
# A token that lacks what the request needs is refused 401 with a challenge naming it (a
# client may ask for it again), never a bare 403; the product refusal of a listed
# repository is the only 403 (tests/interop/test_entitlements.py).
_PULL = outcomes(anonymous=401, default=200, customer=401, other_member=401)
_PUSH = outcomes(anonymous=401, default=401, editor=202, owner=202)
_PUT = outcomes(anonymous=401, default=401, editor=201, owner=201)
_DELETE = outcomes(anonymous=401, default=401, editor=202, owner=202, admin=202)
_STATUS_BY_PULL = outcomes(anonymous=401, default=204, customer=401, other_member=401)
_BY_PUSH = outcomes(anonymous=401, default=401, editor=204, owner=204)
_CANCEL_BY_DELETE = outcomes(anonymous=401, default=401, editor=204, owner=204, admin=204)

# (method, path, scope, expectations); {digest}, {config}, {upload} and {body} are filled in.
ROWS = [
    ("GET", "/v2/", "", outcomes(anonymous=200, default=200)),
    ("GET", "/auth/token", "", outcomes(anonymous=200, default=200)),
    ("GET", f"/v2/{NAME}/manifests/latest", "pull", _PULL),
    ("HEAD", f"/v2/{NAME}/manifests/{{digest}}", "pull", _PULL),
    ("GET", f"/v2/{NAME}/blobs/{{config}}", "pull", _PULL),
    ("HEAD", f"/v2/{NAME}/blobs/{{config}}", "pull", _PULL),
    ("GET", f"/v2/{NAME}/tags/list", "pull", _PULL),
    ("GET", f"/v2/{NAME}/referrers/{{digest}}", "pull", _PULL),
    ("POST", f"/v2/{NAME}/blobs/uploads/", "push", _PUSH),
    # An upload's status: with the token that created it, or with pull on the repository.
    ("GET", f"/v2/{NAME}/blobs/uploads/{{upload}}", "push", _BY_PUSH),
    ("GET", f"/v2/{NAME}/blobs/uploads/{{upload}}", "pull", _STATUS_BY_PULL),
    ("PATCH", f"/v2/{NAME}/blobs/uploads/{{upload}}", "push", _PUSH),
    # Cancelling: with the token that created it, or with delete on the repository.
    ("DELETE", f"/v2/{NAME}/blobs/uploads/{{upload}}", "push", _BY_PUSH),
    ("DELETE", f"/v2/{NAME}/blobs/uploads/{{upload}}", "delete", _CANCEL_BY_DELETE),
    ("PUT", f"/v2/{NAME}/manifests/again", "push", _PUT),
    ("DELETE", f"/v2/{NAME}/manifests/latest", "delete", _DELETE),
    ("DELETE", f"/v2/{NAME}/blobs/{{config}}", "delete", _DELETE),
    (
        "GET",
        "/v2/_catalog",
        "catalog",
        outcomes(anonymous=401, default=401, moderator=200, security=200, admin=200),
    ),
]


def _asked(method: str, path: str, action: str) -> str:
    """What a row's challenge asks for when the token lacks it: what clients ask for
    before such a request (pull and push before a push), pull for an upload's status, and
    push (which created it) for cancelling an upload."""
    if "/blobs/uploads/" in path and not path.endswith("/uploads/"):
        if method == "GET":
            return f"repository:{NAME}:pull"
        if method == "DELETE":
            return f"repository:{NAME}:push"
    if action == "catalog":
        return "registry:catalog:*"
    return f"repository:{NAME}:{'pull,push' if action == 'push' else action}"


def _secret(user) -> str:
    """The password, or for the store team (who sign in with a second factor, which the
    token endpoint cannot ask for) a personal access token with every scope."""
    if not user.store_role:
        return PASSWORD
    _, secret = services.create_token(
        user=user, name="registry", scopes=["read", "write", "delete"], acting=user,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    return secret


@pytest.fixture(autouse=True)
def blob_store(settings, tmp_path):
    """Rights do not depend on the storage driver: the matrix runs on the filesystem only."""
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    return "filesystem"


CASES = [
    pytest.param(row, role, id=f"{row[0]} {row[1]} [{role}]") for row in ROWS for role in ROLES
]


@pytest.mark.django_db
@pytest.mark.parametrize("row, role", CASES)
def test_registry_access(client, row, role):
    world = build_world()
    owner = Registry(client, "owner", PASSWORD)
    digest, body = owner.push_image(NAME, "latest")
    config = json.loads(body)["config"]["digest"]
    upload = owner.call("POST", f"/v2/{NAME}/blobs/uploads/", f"repository:{NAME}:pull,push")[
        "Location"
    ].rsplit("/", 1)[1]
    method, path, action, expect = row
    path = path.format(digest=digest, config=config, upload=upload)
    scope = {"": "", "catalog": "registry:catalog:*"}.get(action, f"repository:{NAME}:{action}")
    user = world.users[role]
    secret = _secret(user) if user else None
    caller = Registry(client, user.username if user else None, secret)
    headers = {}
    if path != "/auth/token":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {caller.token(*([scope] if scope else []))}"
    elif user is not None:
        headers["HTTP_AUTHORIZATION"] = (
            "Basic " + base64.b64encode(f"{user.username}:{secret}".encode()).decode()
        )
    fn = getattr(client, method.lower())
    if method == "PUT":
        response = fn(path, data=body, content_type=mediatypes.OCI_MANIFEST, **headers)
    elif method == "PATCH":
        response = fn(path, data=b"chunk", content_type="application/octet-stream", **headers)
    else:
        response = fn(path, **headers)
    response.close()
    shown = b"(streamed)" if response.streaming else response.content[:200]
    assert response.status_code == expect[role], f"{method} {path} as {role}: {shown!r}"
    if response.status_code == 401:
        challenge = response["WWW-Authenticate"]
        assert challenge.startswith("Bearer ")
        assert f'scope="{_asked(method, path, action)}"' in challenge, challenge
        if role != "anonymous":
            assert 'error="insufficient_scope"' in challenge, challenge
