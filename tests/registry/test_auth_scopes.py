"""What each registry request needs from its bearer token, and what a refusal says.

A token that lacks a scope is refused 401 with a ``Bearer`` challenge naming every scope
the request needs (``error="insufficient_scope"``), so a client can ask for a token that
carries them; it is never a bare 403. The exceptions are deliberate: a customer refused a
listed product's tag gets 403 ``DENIED`` with the product page, which registry clients
print, and a mount whose source the caller may not read is an ordinary upload (202).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from portside.commerce import services as commerce
from tests.commerce.world import build_store
from tests.factories import PASSWORD, TEST_ORIGIN
from tests.registry.helpers import Registry, sha256
from tests.registry.spec_support import filesystem_only, parse_challenge

pytestmark = [pytest.mark.django_db, filesystem_only]
NAME = "acme/app"
PULL = f"repository:{NAME}:pull"
PUSH = f"repository:{NAME}:pull,push"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def challenge_of(response) -> dict[str, str]:
    assert response.status_code == 401, response.content
    if response.content:  # a HEAD answer has none
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    return parse_challenge(response["WWW-Authenticate"])


def token_for(registry: Registry, scope: str) -> str:
    """A token asked for as clients do after a challenge: the challenge's ``scope`` value,
    several scopes separated by spaces, in one parameter."""
    return registry.token(scope)


class TestUploadStatus:
    def test_after_a_416_the_pull_token_reads_the_status(self, client, as_owner):
        """A client recovering from an out-of-order chunk asks for the upload's status with
        the token it pulls with (the conformance suite keeps one per request kind)."""
        push = as_owner.token(PUSH)
        location = client.post(f"/v2/{NAME}/blobs/uploads/", **bearer(push))["Location"]
        first = client.patch(
            location, b"0123456789", "application/octet-stream",
            HTTP_CONTENT_RANGE="0-9", **bearer(push),
        )  # fmt: skip
        assert first.status_code == 202
        skipped = client.patch(
            location, b"abc", "application/octet-stream",
            HTTP_CONTENT_RANGE="20-22", **bearer(push),
        )  # fmt: skip
        assert skipped.status_code == 416 and skipped["Range"] == "0-9"
        status = client.get(location, **bearer(as_owner.token(PULL)))
        assert status.status_code == 204
        assert status["Range"] == "0-9" and status["Location"] == location

    def test_without_a_token_the_challenge_asks_for_pull(self, client, as_owner):
        location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
        challenge = challenge_of(client.get(location))
        assert challenge["scope"] == PULL and "error" not in challenge
        # A token of the right repository without pull or push: insufficient.
        delete_only = as_owner.token(f"repository:{NAME}:delete")
        challenge = challenge_of(client.get(location, **bearer(delete_only)))
        assert challenge["scope"] == PULL and challenge["error"] == "insufficient_scope"

    def test_a_customer_token_sees_no_upload(self, client):
        """A customer's pull is limited to the tags their tiers cover; an upload session of
        the publisher's is not among them."""
        store = build_store()
        owner = Registry(client, store.pub.owner.username, PASSWORD)
        location = owner.call("POST", "/v2/acme/db/blobs/uploads/", "repository:acme/db:pull,push")[
            "Location"
        ]
        carol = store.pub.customer
        commerce.take_free_tier(
            listing=store.listing, tier_id=store.free_tier, user=carol,
            accept_licence=True, origin=TEST_ORIGIN,
        )  # fmt: skip
        customer = Registry(client, carol.username, PASSWORD)
        token = customer.token("repository:acme/db:pull")
        assert client.get("/v2/acme/db/manifests/1.0", **bearer(token)).status_code == 200
        response = client.get(location, **bearer(token))
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


class TestCancel:
    def test_the_delete_token_cancels(self, client, as_owner):
        """The conformance suite cancels with the token it keeps for DELETE requests (one
        with delete, from the blob deletes before); CNCF Distribution accepts that too."""
        location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
        delete_only = as_owner.token(f"repository:{NAME}:delete")
        assert client.delete(location, **bearer(delete_only)).status_code == 204
        gone = client.get(location, **bearer(as_owner.token(PULL)))
        assert gone.status_code == 404

    def test_the_push_token_that_created_it_cancels(self, client, as_owner):
        push = as_owner.token(PUSH)
        location = client.post(f"/v2/{NAME}/blobs/uploads/", **bearer(push))["Location"]
        assert client.delete(location, **bearer(push)).status_code == 204

    def test_a_pull_token_gets_a_challenge_naming_push(self, client, as_owner, as_viewer):
        location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
        challenge = challenge_of(client.delete(location, **bearer(as_owner.token(PULL))))
        assert challenge["scope"] == f"repository:{NAME}:push"
        assert challenge["error"] == "insufficient_scope"
        # A viewer asking for exactly that still cannot cancel, and the upload survives.
        viewer = as_viewer.token(challenge["scope"])
        assert client.delete(location, **bearer(viewer)).status_code == 401
        assert client.get(location, **bearer(as_owner.token(PULL))).status_code == 204


class TestMountChallenge:
    def test_the_challenge_names_the_source_and_its_token_mounts(self, client, as_owner):
        """A careful client asks for exactly what the challenge names: the target's pull and
        push and the source's pull, in one ``scope`` parameter."""
        digest = as_owner.push_blob("acme/source", b"shared layer")
        path = f"/v2/{NAME}/blobs/uploads/?{urlencode({'mount': digest, 'from': 'acme/source'})}"
        wanted = f"{PUSH} repository:acme/source:pull"
        assert challenge_of(client.post(path))["scope"] == wanted
        # The token a client holds for pushing to the target does not name the source.
        challenge = challenge_of(client.post(path, **bearer(as_owner.token(PUSH))))
        assert challenge["scope"] == wanted and challenge["error"] == "insufficient_scope"
        mounted = client.post(path, **bearer(token_for(as_owner, challenge["scope"])))
        assert mounted.status_code == 201
        assert mounted["Location"] == f"/v2/{NAME}/blobs/{digest}"
        assert mounted["Docker-Content-Digest"] == digest

    def test_a_source_the_caller_may_not_read_gives_an_upload(self, client, as_owner, as_other):
        """No challenge that no token could answer: a source of another organisation,
        existing or not, gives the same ordinary upload session."""
        digest = as_owner.push_blob(NAME, b"private layer")
        answers = []
        for source in [NAME, "acme/ghost"]:
            path = f"/v2/globex/copy/blobs/uploads/?mount={digest}&from={source}"
            challenge = challenge_of(client.post(path))
            assert challenge["scope"] == (
                f"repository:globex/copy:pull,push repository:{source}:pull"
            )
            response = client.post(path, **bearer(token_for(as_other, challenge["scope"])))
            assert response.status_code == 202, response.content
            answers.append(sorted(k for k, _ in response.items() if k != "Location"))
            assert response["Location"].startswith("/v2/globex/copy/blobs/uploads/")
        assert answers[0] == answers[1]
        assert as_other.call(
            "HEAD", f"/v2/globex/copy/blobs/{digest}", "repository:globex/copy:pull"
        ).status_code == 404  # fmt: skip

    def test_a_missing_blob_gives_an_upload(self, client, as_owner):
        as_owner.push_blob("acme/source", b"something else")
        missing = sha256(b"never pushed")
        scope = f"{PUSH} repository:acme/source:pull"
        response = client.post(
            f"/v2/{NAME}/blobs/uploads/?mount={missing}&from=acme/source",
            **bearer(as_owner.token(scope)),
        )
        assert response.status_code == 202


class TestInsufficientScope:
    @pytest.mark.parametrize(
        "method, path, needed",
        [
            ("get", f"/v2/{NAME}/tags/list", PULL),
            ("get", f"/v2/{NAME}/manifests/latest", PULL),
            ("head", f"/v2/{NAME}/blobs/{sha256(b'x')}", PULL),
            ("get", f"/v2/{NAME}/referrers/{sha256(b'x')}", PULL),
            ("post", f"/v2/{NAME}/blobs/uploads/", PUSH),
            ("put", f"/v2/{NAME}/manifests/v1", PUSH),
            ("delete", f"/v2/{NAME}/manifests/latest", f"repository:{NAME}:delete"),
            ("delete", f"/v2/{NAME}/blobs/{sha256(b'x')}", f"repository:{NAME}:delete"),
            ("get", "/v2/_catalog", "registry:catalog:*"),
        ],
    )
    def test_a_signed_in_caller_gets_a_challenge(
        self, client, as_owner, as_other, method, path, needed
    ):
        """``as_other`` holds a valid token for another repository: every refusal is 401 with
        the scopes the request needs, whether the repository exists or not."""
        as_owner.push_image(NAME)
        token = as_other.token("repository:globex/app:pull")
        response = getattr(client, method)(path, **bearer(token))
        challenge = challenge_of(response)
        assert challenge["scope"] == needed and challenge["error"] == "insufficient_scope"
        assert challenge["realm"] == "http://testserver/auth/token"
        assert challenge["service"] == "testserver"
        ghost = getattr(client, method)(path.replace(NAME, "acme/ghost"), **bearer(token))
        assert ghost.status_code == 401
        assert ghost["WWW-Authenticate"] == response["WWW-Authenticate"].replace(NAME, "acme/ghost")
        if method != "head":  # a HEAD answer has no body
            assert json.loads(ghost.content) == json.loads(
                response.content.replace(NAME.encode(), b"acme/ghost")
            )

    def test_a_listed_product_is_refused_with_its_page(self, client):
        """The one 403: a customer's pull of a tag their tiers do not cover names the
        product page (clients print a 403's message, not a challenge's)."""
        store = build_store()
        carol = store.pub.customer
        customer = Registry(client, carol.username, PASSWORD)
        token = customer.token("repository:acme/db:pull")
        refused = client.get("/v2/acme/db/manifests/2.0", **bearer(token))
        assert refused.status_code == 403 and "WWW-Authenticate" not in refused
        error = refused.json()["errors"][0]
        assert error["code"] == "DENIED" and "/products/acme/" in error["message"]
        commerce.take_free_tier(
            listing=store.listing, tier_id=store.free_tier, user=carol,
            accept_licence=True, origin=TEST_ORIGIN,
        )  # fmt: skip
        token = customer.token("repository:acme/db:pull")
        assert client.get("/v2/acme/db/manifests/1.0", **bearer(token)).status_code == 200
        refused = client.get("/v2/acme/db/manifests/2.0", **bearer(token))
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "DENIED"
        # Each refusal is on the trail: who, what and why.
        from portside.audit.models import AuditEvent

        rows = AuditEvent.objects.filter(action="registry:pull:denied").order_by("pk")
        assert rows.count() == 2
        assert all(r.actor_id == carol.pk for r in rows)
        assert [r.details["reference"] for r in rows] == ["2.0", "2.0"]
        assert rows[0].details["repository"] == "acme/db"
        assert "/products/acme/" in rows[0].details["reason"]

    def test_a_flood_of_refused_pulls_does_not_fill_the_trail(self, client):
        from portside.audit.models import AuditEvent

        store = build_store()
        customer = Registry(client, store.pub.customer.username, PASSWORD)
        token = customer.token("repository:acme/db:pull")
        for _ in range(25):
            assert client.get("/v2/acme/db/manifests/2.0", **bearer(token)).status_code == 403
        assert AuditEvent.objects.filter(action="registry:pull:denied").count() == 10
        (note,) = AuditEvent.objects.filter(action="audit:trail:suppressed")
        assert note.details["suppressed_action"] == "registry:pull:denied"
        assert note.details["limit_per_minute"] == 10
