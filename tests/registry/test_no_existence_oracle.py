"""No existence oracle: a caller with no right to a private repository gets the same
answer for it as for a repository that does not exist, whatever they ask.

Eight callers without rights to ``acme/vault`` (a private repository of acme, with an
image, tags, blobs and an open upload) send eighteen kinds of registry requests to it and
to ``acme/ghost`` (never created; the same length, so the answers can be compared byte
for byte once the name is swapped): 144 pairs. Status, every header (the
``WWW-Authenticate`` challenge included) and the body must be identical. Callers go as
registry clients do: without a token first, then with the token the challenge asked for,
or with a token they already hold for another repository.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from portside.accounts import services as accounts
from portside.accounts.models import Membership, OrgRole
from portside.commerce import services as commerce
from portside.core import clock
from portside.oci import mediatypes
from tests.commerce.world import build_store
from tests.factories import PASSWORD, TEST_ORIGIN, make_user
from tests.registry.helpers import Registry, sha256
from tests.registry.spec_support import filesystem_only, parse_challenge

pytestmark = [pytest.mark.django_db, filesystem_only]

PRIVATE, MISSING = "acme/vault", "acme/ghost"
assert len(PRIVATE) == len(MISSING)
CHUNK = b"chunk"


@dataclass(frozen=True)
class Kind:
    method: str
    path: str  # {name}, {digest}, {config}, {upload}, {chunk} are filled in
    body: bytes = b""
    content_type: str = "application/octet-stream"


KINDS = {
    "HEAD manifest by tag": Kind("HEAD", "/v2/{name}/manifests/v1"),
    "GET manifest by tag": Kind("GET", "/v2/{name}/manifests/v1"),
    "HEAD manifest by digest": Kind("HEAD", "/v2/{name}/manifests/{digest}"),
    "GET manifest by digest": Kind("GET", "/v2/{name}/manifests/{digest}"),
    "HEAD blob": Kind("HEAD", "/v2/{name}/blobs/{config}"),
    "GET blob": Kind("GET", "/v2/{name}/blobs/{config}"),
    "GET tags list": Kind("GET", "/v2/{name}/tags/list"),
    "GET referrers": Kind("GET", "/v2/{name}/referrers/{digest}"),
    "POST upload start": Kind("POST", "/v2/{name}/blobs/uploads/"),
    "GET upload status": Kind("GET", "/v2/{name}/blobs/uploads/{upload}"),
    "PATCH upload chunk": Kind("PATCH", "/v2/{name}/blobs/uploads/{upload}", CHUNK),
    "PUT upload end": Kind("PUT", "/v2/{name}/blobs/uploads/{upload}?digest={chunk}", CHUNK),
    "PUT manifest": Kind("PUT", "/v2/{name}/manifests/v2", b"{manifest}", mediatypes.OCI_MANIFEST),
    "DELETE manifest": Kind("DELETE", "/v2/{name}/manifests/{digest}"),
    "DELETE blob": Kind("DELETE", "/v2/{name}/blobs/{config}"),
    "GET catalog from the name": Kind("GET", "/v2/_catalog?n=10&last={name}"),
    "token for pull": Kind("GET", "/auth/token?service=testserver&scope=repository:{name}:pull"),
    "token for push": Kind(
        "GET", "/auth/token?service=testserver&scope=repository:{name}:pull,push"
    ),
}


@dataclass
class Principal:
    login: str | None
    secret: str | None
    held: str | None = None  # a token for another repository, used as it is

    def basic(self) -> dict[str, str]:
        if self.login is None:
            return {}
        raw = base64.b64encode(f"{self.login}:{self.secret}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


@dataclass
class World:
    principals: dict[str, Principal]
    values: dict[str, str]
    manifest: bytes
    owner: Registry


def _member(org: Any, role: str, name: str) -> Any:
    user = make_user(name)
    Membership.objects.create(organization=org, user=user, role=role, created_at=clock.now())
    return user


def build(client: Any) -> World:
    """acme sells acme/db and keeps acme/vault private; globex is another publisher."""
    store = build_store()
    pub = store.pub
    commerce.take_free_tier(
        listing=store.listing, tier_id=store.free_tier, user=pub.customer,
        accept_licence=True, origin=TEST_ORIGIN,
    )  # fmt: skip
    owner = Registry(client, pub.owner.username, PASSWORD)
    digest, manifest = owner.push_image(PRIVATE, "v1")
    config = json.loads(manifest)["config"]["digest"]
    location = owner.call("POST", f"/v2/{PRIVATE}/blobs/uploads/", f"repository:{PRIVATE}:push")
    assert location.status_code == 202
    upload = location["Location"].rsplit("/", 1)[1]
    _, moderator_secret = accounts.create_token(
        user=pub.moderator, name="review", scopes=["read"], acting=pub.moderator,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    moderator = Registry(client, pub.moderator.username, moderator_secret)
    principals = {
        "anonymous": Principal(None, None),
        "signed in, no membership": Principal(make_user("stranger").username, PASSWORD),
        "customer of another product": Principal(pub.customer.username, PASSWORD),
        "viewer of globex": Principal(_member(pub.other_org, OrgRole.VIEWER, "gv").username, PASSWORD),
        "editor of globex": Principal(_member(pub.other_org, OrgRole.EDITOR, "ge").username, PASSWORD),
        "owner of globex": Principal(pub.other.username, PASSWORD),
        # The store team may pull any repository for review; a moderator's token for
        # another repository must not tell what this one holds.
        "moderator, token for acme/db": Principal(
            pub.moderator.username, moderator_secret,
            held=moderator.token("repository:acme/db:pull"),
        ),
        # acme's own owner, with a token for another of acme's repositories.
        "acme owner, token for acme/db": Principal(
            pub.owner.username, PASSWORD,
            held=owner.token("repository:acme/db:pull,push,delete"),
        ),
    }  # fmt: skip
    values = {"digest": digest, "config": config, "upload": upload, "chunk": sha256(CHUNK)}
    return World(principals, values, manifest, owner)


def _send(client: Any, world: World, kind: Kind, name: str, headers: dict[str, str]) -> Any:
    path = kind.path.format(name=name, **world.values)
    body = world.manifest if kind.body == b"{manifest}" else kind.body
    call: Callable[..., Any] = getattr(client, kind.method.lower())
    if kind.method in ("PUT", "PATCH", "POST"):
        response = call(path, data=body, content_type=kind.content_type, **headers)
    else:
        response = call(path, **headers)
    # Read to the end, where the test client closes a streamed answer (closing it here
    # would close the test's database connection too).
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, content


def _token_fields(content: bytes) -> Any:
    """A token answer with what must differ between any two tokens left out: the token
    itself is compared by its claims, without its id and times."""
    body = json.loads(content)
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    for key in ("jti", "iat", "nbf", "exp"):
        claims.pop(key)
    return {
        "keys": sorted(body),
        "same token twice": body["token"] == body["access_token"],
        "expires_in": body["expires_in"],
        "claims": claims,
    }


def answer(client: Any, world: World, principal: Principal, label: str, name: str) -> Any:
    """Everything a caller learns from one kind of request to ``name``, with the name
    itself swapped for PRIVATE's, so that the two repositories' answers compare equal
    exactly when they say the same."""
    kind = KINDS[label]
    seen = []
    if kind.path.startswith("/auth/token"):
        steps = [principal.basic()]
    elif principal.held is not None:
        steps = [{"HTTP_AUTHORIZATION": f"Bearer {principal.held}"}]
    else:
        first, _ = _send(client, world, kind, name, {})
        challenge = parse_challenge(first["WWW-Authenticate"])
        asked = Registry(client, principal.login, principal.secret).token(challenge["scope"])
        steps = [{}, {"HTTP_AUTHORIZATION": f"Bearer {asked}"}]
    for headers in steps:
        response, content = _send(client, world, kind, name, headers)
        if kind.path.startswith("/auth/token") and response.status_code == 200:
            body: Any = _token_fields(content)
        else:
            body = content
        seen.append(
            {
                "status": response.status_code,
                "headers": sorted(
                    (key, value) for key, value in response.headers.items() if key != "Date"
                ),
                "body": body,
            }
        )
    return json.loads(json.dumps(seen, default=repr).replace(name, PRIVATE))


@pytest.mark.parametrize("who", [
    "anonymous", "signed in, no membership", "customer of another product",
    "viewer of globex", "editor of globex", "owner of globex",
    "moderator, token for acme/db", "acme owner, token for acme/db",
])  # fmt: skip
def test_a_private_repository_answers_as_a_missing_one(client, who):
    world = build(client)
    principal = world.principals[who]
    differing = []
    for label in KINDS:
        private = answer(client, world, principal, label, PRIVATE)
        missing = answer(client, world, principal, label, MISSING)
        if private != missing:
            differing.append(f"{label}:\n  {PRIVATE}: {private}\n  {MISSING}: {missing}")
        final = private[-1]
        if label.startswith("token"):
            assert final["status"] == 200, (label, final)
        else:
            # Refused, and with a challenge: what the caller may ask for next.
            assert final["status"] == 401, (label, final)
            assert dict(final["headers"])["WWW-Authenticate"].startswith("Bearer "), label
    assert not differing, f"{who}: {len(differing)} of {len(KINDS)} differ\n" + "\n".join(differing)


def test_the_comparison_tells_a_difference_when_there_is_one(client):
    """The owner of acme, who may read both, is told which one exists: the comparison
    above would see it."""
    world = build(client)
    owner = world.principals["acme owner, token for acme/db"]
    owner.held = None
    for label in ("GET manifest by tag", "HEAD blob", "GET tags list"):
        private = answer(client, world, owner, label, PRIVATE)
        missing = answer(client, world, owner, label, MISSING)
        assert private[-1]["status"] == 200 and missing[-1]["status"] == 404, label
        assert private != missing
