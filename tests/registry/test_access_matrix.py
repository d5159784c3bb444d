"""Who may do what on the registry, for every role, through real tokens and URLs."""

from __future__ import annotations

import base64
import json

import pytest

from portside.oci import mediatypes
from tests.access import ROLES, build_world, outcomes
from tests.factories import PASSWORD
from tests.registry.helpers import Registry

NAME = "acme/app"
_PULL = outcomes(anonymous=401, default=200, customer=403, other_member=403)
_PUSH = outcomes(anonymous=401, default=403, editor=202, owner=202)
_PUT = outcomes(anonymous=401, default=403, editor=201, owner=201)
_DELETE = outcomes(anonymous=401, default=403, editor=202, owner=202, admin=202)
_UPLOAD = outcomes(anonymous=401, default=403, editor=204, owner=204)

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
    ("GET", f"/v2/{NAME}/blobs/uploads/{{upload}}", "push", _UPLOAD),
    ("PATCH", f"/v2/{NAME}/blobs/uploads/{{upload}}", "push", _PUSH),
    ("DELETE", f"/v2/{NAME}/blobs/uploads/{{upload}}", "push", _UPLOAD),
    ("PUT", f"/v2/{NAME}/manifests/again", "push", _PUT),
    ("DELETE", f"/v2/{NAME}/manifests/latest", "delete", _DELETE),
    ("DELETE", f"/v2/{NAME}/blobs/{{config}}", "delete", _DELETE),
    (
        "GET",
        "/v2/_catalog",
        "catalog",
        outcomes(anonymous=401, default=403, moderator=200, security=200, admin=200),
    ),
]


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
    caller = Registry(client, user.username if user else None, PASSWORD if user else None)
    headers = {}
    if path != "/auth/token":
        headers["HTTP_AUTHORIZATION"] = f"Bearer {caller.token(*([scope] if scope else []))}"
    elif user is not None:
        headers["HTTP_AUTHORIZATION"] = (
            "Basic " + base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
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
        assert response["WWW-Authenticate"].startswith("Bearer ")
