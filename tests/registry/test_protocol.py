"""The OCI Distribution API through its real URLs: what clients send, what they get."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest

from portside.accounts import services as accounts
from portside.audit.models import AuditEvent
from portside.core import clock
from portside.oci import mediatypes
from portside.registry.models import Blob, Manifest, PullCount, Repository, Tag, Upload
from tests.factories import PASSWORD, TEST_ORIGIN
from tests.registry.helpers import Registry, sha256

pytestmark = pytest.mark.django_db
NAME = "acme/app"
PUSH = f"repository:{NAME}:pull,push"
PULL = f"repository:{NAME}:pull"


def error_codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


class TestBaseAndTokens:
    def test_base_asks_for_a_bearer_token(self, client, world):
        response = client.get("/v2/")
        assert response.status_code == 401
        challenge = response["WWW-Authenticate"]
        assert challenge.startswith("Bearer ")
        assert (
            'realm="http://testserver/auth/token"' in challenge
            and 'service="testserver"' in challenge
        )
        assert response["Docker-Distribution-API-Version"] == "registry/2.0"

    def test_a_browser_session_is_not_a_registry_credential(self, client, world):
        client.force_login(world.owner, backend="django.contrib.auth.backends.ModelBackend")
        response = client.get(f"/v2/{NAME}/tags/list")
        assert response.status_code == 401
        assert "Set-Cookie" not in response and not response.cookies
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_anonymous_token_opens_the_base_but_nothing_private(self, anonymous, as_owner):
        as_owner.push_image(NAME)
        assert anonymous.call("GET", "/v2/").status_code == 200
        response = anonymous.call("GET", f"/v2/{NAME}/manifests/latest", PULL)
        assert response.status_code == 401
        assert 'scope="repository:acme/app:pull"' in response["WWW-Authenticate"]

    def test_docker_login_request(self, client, world):
        raw = base64.b64encode(f"owner:{PASSWORD}".encode()).decode()
        response = client.get(
            "/auth/token",
            {
                "account": "owner",
                "client_id": "docker",
                "offline_token": "true",
                "service": "testserver",
            },
            HTTP_AUTHORIZATION=f"Basic {raw}",
        )
        assert response.status_code == 200
        body = response.json()
        assert body["token"] == body["access_token"] and body["expires_in"] == 300
        assert body["issued_at"].endswith("Z") and body["refresh_token"]
        assert response["Cache-Control"] == "no-store"

    def test_oauth_password_and_refresh_grants(self, client, world):
        response = client.post(
            "/auth/token",
            {
                "grant_type": "password",
                "username": "owner",
                "password": PASSWORD,
                "service": "testserver",
                "scope": PUSH,
                "client_id": "podman",
            },
        )
        assert response.status_code == 200
        refresh = response.json()["refresh_token"]
        response = client.post(
            "/auth/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "service": "testserver",
                "scope": PUSH,
            },
        )
        assert response.status_code == 200
        token = response.json()["access_token"]
        assert client.get("/v2/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        # A password change ends refresh tokens.
        world.owner.set_password("another-long-password-1")
        world.owner.save()
        response = client.post(
            "/auth/token", {"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert response.status_code == 401
        assert client.post("/auth/token", {"grant_type": "magic"}).status_code == 400
        assert (
            client.post(
                "/auth/token", {"grant_type": "refresh_token", "refresh_token": "x.y.z"}
            ).status_code
            == 401
        )

    def test_wrong_password_is_refused_audited_and_throttled(self, world):
        from django.test import Client

        limit, _ = accounts.lockout_rate()
        bad = Registry(Client(), "owner", "wrong")
        for _ in range(limit):
            raw = base64.b64encode(b"owner:wrong").decode()
            response = bad.client.get(
                "/auth/token", {"scope": PULL}, HTTP_AUTHORIZATION=f"Basic {raw}"
            )
            assert response.status_code == 401
            assert error_codes(response) == ["UNAUTHORIZED"]
        response = bad.client.get("/auth/token", {"scope": PULL}, HTTP_AUTHORIZATION=f"Basic {raw}")
        assert response.status_code == 429
        right = base64.b64encode(f"owner:{PASSWORD}".encode()).decode()
        assert bad.client.get("/auth/token", HTTP_AUTHORIZATION=f"Basic {right}").status_code == 429
        rows = AuditEvent.objects.filter(
            action="account:session:sign_in_failed", details__via="registry"
        )
        assert rows.count() == limit
        throttled = AuditEvent.objects.filter(
            action="account:session:throttled", details__via="registry"
        )
        assert throttled.count() == 2

    def test_turning_on_two_factor_ends_password_refresh_tokens(self, client, world):
        from allauth.mfa.models import Authenticator

        response = client.post(
            "/auth/token",
            {"grant_type": "password", "username": "owner", "password": PASSWORD, "scope": PULL},
        )
        refresh = response.json()["refresh_token"]
        Authenticator.objects.create(
            user=world.owner, type=Authenticator.Type.TOTP, data={"secret": "x"}
        )
        response = client.post(
            "/auth/token", {"grant_type": "refresh_token", "refresh_token": refresh, "scope": PUSH}
        )
        assert response.status_code == 401
        assert "personal access token" in response.json()["errors"][0]["message"]

    @pytest.mark.parametrize(
        "header",
        [
            "Basic !!!",
            "Basic " + base64.b64encode(b"nocolon").decode(),
            "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        ],
    )
    def test_malformed_basic_credentials(self, client, world, header):
        assert client.get("/auth/token", HTTP_AUTHORIZATION=header).status_code == 401

    def test_personal_access_token_scopes_narrow_the_grant(self, client, world, as_owner):
        as_owner.push_image(NAME)
        _, read_only = accounts.create_token(
            user=world.owner, name="ro", scopes=["read"], acting=world.owner, origin=TEST_ORIGIN
        )
        registry = Registry(client, "owner", read_only)
        assert registry.call("GET", f"/v2/{NAME}/manifests/latest", PULL).status_code == 200
        response = registry.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)
        assert response.status_code == 401 and error_codes(response) == ["UNAUTHORIZED"]
        challenge = response["WWW-Authenticate"]
        assert f'scope="{PUSH}"' in challenge and 'error="insufficient_scope"' in challenge
        # A token is bound to its owner's name.
        assert (
            Registry(client, "viewer", read_only)
            .client.get(
                "/auth/token",
                HTTP_AUTHORIZATION="Basic "
                + base64.b64encode(f"viewer:{read_only}".encode()).decode(),
            )
            .status_code
            == 401
        )

    def test_expired_or_foreign_bearer_tokens(self, client, as_owner):
        token = as_owner.token(PULL)
        with clock.frozen(clock.now() + dt.timedelta(minutes=6)):
            response = client.get("/v2/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert (
            response.status_code == 401 and 'error="invalid_token"' in response["WWW-Authenticate"]
        )
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert client.get("/v2/", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401
        other_service = client.get(
            "/v2/", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost"
        )
        assert other_service.status_code == 401

    def test_token_for_one_repository_does_not_open_another(self, client, as_owner):
        as_owner.push_image(NAME)
        as_owner.push_image("acme/secret")
        token = as_owner.token(PULL)
        response = client.get(
            "/v2/acme/secret/manifests/latest", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == (
            'Bearer realm="http://testserver/auth/token",service="testserver",'
            'scope="repository:acme/secret:pull",error="insufficient_scope"'
        )

    def test_mfa_users_must_use_tokens(self, client, world):
        from allauth.mfa.models import Authenticator

        Authenticator.objects.create(
            user=world.owner, type=Authenticator.Type.TOTP, data={"secret": "x"}
        )
        raw = base64.b64encode(f"owner:{PASSWORD}".encode()).decode()
        response = client.get("/auth/token", HTTP_AUTHORIZATION=f"Basic {raw}")
        assert (
            response.status_code == 401
            and "personal access token" in response.json()["errors"][0]["message"]
        )


class TestBlobs:
    def test_monolithic_upload_then_head_get_and_ranges(self, as_owner):
        data = bytes(range(256)) * 40
        digest = as_owner.push_blob(NAME, data)
        head = as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL)
        assert head.status_code == 200 and head["Content-Length"] == str(len(data))
        assert head["Docker-Content-Digest"] == digest
        got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
        assert b"".join(got.streaming_content) == data
        part = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL, HTTP_RANGE="bytes=10-19")
        assert part.status_code == 206 and b"".join(part.streaming_content) == data[10:20]
        assert part["Content-Range"] == f"bytes 10-19/{len(data)}"
        suffix = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL, HTTP_RANGE="bytes=-5")
        assert b"".join(suffix.streaming_content) == data[-5:]
        for bad in ["bytes=99999-", "bytes=5-2", "lines=1-2", "bytes=-"]:
            response = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL, HTTP_RANGE=bad)
            assert response.status_code == 416, bad

    def test_wrong_digest_is_refused_and_nothing_becomes_visible(self, as_owner):
        wrong = sha256(b"something else")
        response = as_owner.call(
            "POST", f"/v2/{NAME}/blobs/uploads/?digest={wrong}", PUSH, data=b"actual bytes"
        )
        assert response.status_code == 400 and error_codes(response) == ["DIGEST_INVALID"]
        assert not Blob.objects.exists() and not Upload.objects.exists()
        assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{wrong}", PULL).status_code == 404

    @pytest.mark.parametrize(
        "digest", ["sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64, "nonsense"]
    )
    def test_malformed_digests(self, as_owner, digest):
        response = as_owner.call(
            "POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}", PUSH, data=b"x"
        )
        assert response.status_code == 400 and error_codes(response) == ["DIGEST_INVALID"]

    def test_chunked_upload_in_order_and_out_of_order(self, as_owner):
        data = b"0123456789" * 1000
        start = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)
        assert start.status_code == 202
        location = start["Location"]
        assert start["Docker-Upload-UUID"] in location and start["Range"] == "0-0"
        first = as_owner.call(
            "PATCH", location, PUSH, data=data[:4000], HTTP_CONTENT_RANGE="0-3999"
        )
        assert first.status_code == 202 and first["Range"] == "0-3999"
        skipped = as_owner.call(
            "PATCH", location, PUSH, data=data[5000:6000], HTTP_CONTENT_RANGE="5000-5999"
        )
        assert skipped.status_code == 416 and skipped["Range"] == "0-3999"
        bad = as_owner.call("PATCH", location, PUSH, data=b"abc", HTTP_CONTENT_RANGE="garbage")
        assert bad.status_code == 416
        mismatch = as_owner.call(
            "PATCH", location, PUSH, data=b"abc", HTTP_CONTENT_RANGE="4000-4009"
        )
        assert mismatch.status_code == 416 and mismatch["Range"] == "0-3999"
        second = as_owner.call("PATCH", location, PUSH, data=data[4000:9000])
        assert second["Range"] == "0-8999"
        status = as_owner.call("GET", location, PUSH)
        assert status.status_code == 204 and status["Range"] == "0-8999"
        done = as_owner.call("PUT", f"{location}?digest={sha256(data)}", PUSH, data=data[9000:])
        assert done.status_code == 201 and done["Docker-Content-Digest"] == sha256(data)
        got = as_owner.call("GET", done["Location"], PULL)
        assert b"".join(got.streaming_content) == data
        assert as_owner.call("GET", location, PUSH).status_code == 404

    def test_put_without_digest_and_cancel(self, as_owner):
        location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
        as_owner.call("PATCH", location, PUSH, data=b"abc")
        response = as_owner.call("PUT", location, PUSH)
        assert response.status_code == 400 and error_codes(response) == ["DIGEST_INVALID"]
        assert as_owner.call("DELETE", location, PUSH).status_code == 204
        response = as_owner.call("GET", location, PUSH)
        assert response.status_code == 404 and error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]
        assert as_owner.call("GET", f"/v2/{NAME}/blobs/uploads/not-a-uuid", PUSH).status_code == 404

    def test_upload_of_another_repository_is_unknown_here(self, as_owner):
        location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
        upload_id = location.rsplit("/", 1)[1]
        response = as_owner.call(
            "GET", f"/v2/acme/other/blobs/uploads/{upload_id}", "repository:acme/other:pull,push"
        )
        assert response.status_code in (404,)

    def test_sha512_blob(self, as_owner):
        data = b"sha512 content"
        digest = "sha512:" + hashlib.sha512(data).hexdigest()
        response = as_owner.call(
            "POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}", PUSH, data=data
        )
        assert response.status_code == 201 and response["Docker-Content-Digest"] == digest
        got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
        assert b"".join(got.streaming_content) == data

    def test_blob_only_reachable_through_a_repository_that_links_it(self, as_owner):
        digest = as_owner.push_blob(NAME, b"private layer")
        response = as_owner.call(
            "HEAD", f"/v2/acme/elsewhere/blobs/{digest}", "repository:acme/elsewhere:pull"
        )
        assert response.status_code == 404

    def test_cross_repository_mount(self, as_owner, as_other):
        digest = as_owner.push_blob(NAME, b"shared layer")
        scopes = ["repository:acme/copy:pull,push", PULL]
        response = as_owner.call(
            "POST", f"/v2/acme/copy/blobs/uploads/?mount={digest}&from={NAME}", *scopes
        )
        assert (
            response.status_code == 201 and response["Location"] == f"/v2/acme/copy/blobs/{digest}"
        )
        # Someone who may not read the source gets an ordinary upload instead.
        response = as_other.call(
            "POST",
            f"/v2/globex/copy/blobs/uploads/?mount={digest}&from={NAME}",
            "repository:globex/copy:pull,push",
            PULL,
        )
        assert response.status_code == 202
        assert (
            as_other.call(
                "HEAD", f"/v2/globex/copy/blobs/{digest}", "repository:globex/copy:pull"
            ).status_code
            == 404
        )

    def test_delete_blob_link(self, as_owner):
        digest = as_owner.push_blob(NAME, b"to delete")
        assert (
            as_owner.call(
                "DELETE", f"/v2/{NAME}/blobs/{digest}", f"repository:{NAME}:delete"
            ).status_code
            == 202
        )
        assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL).status_code == 404
        assert (
            as_owner.call(
                "DELETE", f"/v2/{NAME}/blobs/{digest}", f"repository:{NAME}:delete"
            ).status_code
            == 404
        )

    def test_quota(self, as_owner, settings):
        settings.REGISTRY_ORG_QUOTA_BYTES = 100
        as_owner.push_blob(NAME, b"x" * 60)
        response = as_owner.call(
            "POST", f"/v2/{NAME}/blobs/uploads/?digest={sha256(b'y' * 60)}", PUSH, data=b"y" * 60
        )
        assert response.status_code == 403 and "quota" in response.json()["errors"][0]["message"]
        assert not Upload.objects.exists()

    def test_quota_counts_uploads_in_progress(self, as_owner, settings):
        """Two chunked uploads running side by side cannot each take what is left."""
        settings.REGISTRY_ORG_QUOTA_BYTES = 100
        locations = []
        for _ in range(2):
            started = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)
            assert started.status_code == 202
            locations.append(started["Location"])
        first = as_owner.call(
            "PATCH", locations[0], PUSH, data=b"a" * 60, HTTP_CONTENT_RANGE="0-59"
        )
        assert first.status_code == 202
        second = as_owner.call(
            "PATCH", locations[1], PUSH, data=b"b" * 60, HTTP_CONTENT_RANGE="0-59"
        )
        assert second.status_code == 403 and "quota" in second.json()["errors"][0]["message"]
        # The refused chunk left nothing behind; what fits still goes in.
        status = as_owner.call("GET", locations[1], PUSH)
        assert status.status_code == 204 and status["Range"] == "0-0"
        assert Upload.objects.get(pk=locations[1].rsplit("/", 1)[1]).staged_size == 0
        fits = as_owner.call("PATCH", locations[1], PUSH, data=b"b" * 40, HTTP_CONTENT_RANGE="0-39")
        assert fits.status_code == 202 and fits["Range"] == "0-39"
        # Cancelling the first upload gives its share back.
        assert as_owner.call("DELETE", locations[0], PUSH).status_code == 204
        more = as_owner.call(
            "PATCH", locations[1], PUSH, data=b"b" * 50, HTTP_CONTENT_RANGE="40-89"
        )
        assert more.status_code == 202 and more["Range"] == "0-89"


class TestManifests:
    def test_push_pull_by_tag_and_digest(self, as_owner, world):
        digest, body = as_owner.push_image(NAME, "v1")
        for reference in ["v1", digest]:
            response = as_owner.call(
                "GET", f"/v2/{NAME}/manifests/{reference}", PULL, HTTP_ACCEPT="application/json"
            )
            assert response.status_code == 200 and response.content == body
            assert response["Content-Type"] == mediatypes.OCI_MANIFEST
            assert response["Docker-Content-Digest"] == digest
        head = as_owner.call("HEAD", f"/v2/{NAME}/manifests/v1", PULL)
        assert head.status_code == 200 and head["Content-Length"] == str(len(body))
        assert PullCount.objects.get(tag="v1").count == 1
        assert PullCount.objects.get(tag="").count == 1
        pushed = AuditEvent.objects.get(action="registry:manifest:pushed")
        assert pushed.actor_name == "owner" and pushed.organization_name == "acme"
        assert AuditEvent.objects.filter(action="registry:manifest:pulled").count() == 2

    def test_unknown_blobs_and_bad_manifests_are_refused(self, as_owner):
        manifest = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": sha256(b"nope"), "size": 4},
            "layers": [],
        }
        response = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/latest",
            PUSH,
            data=json.dumps(manifest).encode(),
            content_type=mediatypes.OCI_MANIFEST,
        )
        assert response.status_code == 400 and error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
        for body in [b"{", b"[]", b"\xff\xfe", json.dumps({"schemaVersion": 1}).encode()]:
            response = as_owner.call(
                "PUT",
                f"/v2/{NAME}/manifests/latest",
                PUSH,
                data=body,
                content_type=mediatypes.OCI_MANIFEST,
            )
            assert response.status_code in (400, 415), body
        big = b'{"schemaVersion": 2, "x": "' + b"a" * (4 * 1024 * 1024) + b'"}'
        response = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/latest",
            PUSH,
            data=big,
            content_type=mediatypes.OCI_MANIFEST,
        )
        assert response.status_code == 413
        assert not Manifest.objects.exists() and not Tag.objects.exists()

    def test_size_in_descriptor_must_match(self, as_owner):
        config = b"{}"
        manifest = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": as_owner.push_blob(NAME, config),
                "size": 3,
            },
            "layers": [],
        }
        response = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/latest",
            PUSH,
            data=json.dumps(manifest).encode(),
            content_type=mediatypes.OCI_MANIFEST,
        )
        assert response.status_code == 400 and error_codes(response) == ["MANIFEST_INVALID"]

    def test_digest_reference_must_match_content(self, as_owner):
        _, body = as_owner.push_image(NAME, None)
        other = sha256(b"other")
        response = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/{other}",
            PUSH,
            data=body,
            content_type=mediatypes.OCI_MANIFEST,
        )
        assert response.status_code == 400 and error_codes(response) == ["DIGEST_INVALID"]

    def test_index_needs_its_children(self, as_owner):
        child, body = as_owner.push_image(NAME, None)
        index = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mediatypes.OCI_MANIFEST,
                    "digest": child,
                    "size": len(body),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
        ok = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/multi",
            PUSH,
            data=json.dumps(index).encode(),
            content_type=mediatypes.OCI_INDEX,
        )
        assert ok.status_code == 201
        index["manifests"][0]["digest"] = sha256(b"missing")
        bad = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/multi2",
            PUSH,
            data=json.dumps(index).encode(),
            content_type=mediatypes.OCI_INDEX,
        )
        assert bad.status_code == 400 and error_codes(bad) == ["MANIFEST_BLOB_UNKNOWN"]

    def test_unknown_manifest(self, as_owner):
        as_owner.push_image(NAME)
        response = as_owner.call("GET", f"/v2/{NAME}/manifests/nope", PULL)
        assert response.status_code == 404 and error_codes(response) == ["MANIFEST_UNKNOWN"]

    def test_tags_list_and_pagination(self, as_owner):
        for tag in ["b", "a", "c", "d"]:
            as_owner.push_image(NAME, tag)
        response = as_owner.call("GET", f"/v2/{NAME}/tags/list", PULL)
        assert response.json() == {"name": NAME, "tags": ["a", "b", "c", "d"]}
        page = as_owner.call("GET", f"/v2/{NAME}/tags/list?n=2", PULL)
        assert page.json()["tags"] == ["a", "b"]
        assert page["Link"] == f'</v2/{NAME}/tags/list?n=2&last=b>; rel="next"'
        rest = as_owner.call("GET", f"/v2/{NAME}/tags/list?n=2&last=b", PULL)
        assert rest.json()["tags"] == ["c", "d"]
        assert as_owner.call("GET", f"/v2/{NAME}/tags/list?n=0", PULL).json()["tags"] == []
        bad = as_owner.call("GET", f"/v2/{NAME}/tags/list?n=-1", PULL)
        assert bad.status_code == 400 and error_codes(bad) == ["PAGINATION_NUMBER_INVALID"]
        missing = as_owner.call("GET", "/v2/acme/none/tags/list", "repository:acme/none:pull")
        assert missing.status_code == 404 and error_codes(missing) == ["NAME_UNKNOWN"]

    def test_referrers(self, as_owner):
        subject, subject_body = as_owner.push_image(NAME, "v1")
        subject_descriptor = {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": subject,
            "size": len(subject_body),
        }
        empty = as_owner.push_blob(NAME, b"{}")
        for kind in ["application/vnd.example.sbom", "application/vnd.example.signature"]:
            artifact = {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "artifactType": kind,
                "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": empty, "size": 2},
                "layers": [
                    {
                        "mediaType": "application/json",
                        "digest": as_owner.push_blob(NAME, kind.encode()),
                        "size": len(kind),
                    }
                ],
                "subject": subject_descriptor,
                "annotations": {"org.example.kind": kind},
            }
            body = json.dumps(artifact).encode()
            response = as_owner.call(
                "PUT",
                f"/v2/{NAME}/manifests/{sha256(body)}",
                PUSH,
                data=body,
                content_type=mediatypes.OCI_MANIFEST,
            )
            assert response.status_code == 201 and response["OCI-Subject"] == subject
        listing = as_owner.call("GET", f"/v2/{NAME}/referrers/{subject}", PULL)
        assert listing["Content-Type"] == mediatypes.OCI_INDEX
        assert {m["artifactType"] for m in listing.json()["manifests"]} == {
            "application/vnd.example.sbom",
            "application/vnd.example.signature",
        }
        filtered = as_owner.call(
            "GET", f"/v2/{NAME}/referrers/{subject}?artifactType=application/vnd.example.sbom", PULL
        )
        assert [m["artifactType"] for m in filtered.json()["manifests"]] == [
            "application/vnd.example.sbom"
        ]
        assert filtered["OCI-Filters-Applied"] == "artifactType"
        none = as_owner.call("GET", f"/v2/{NAME}/referrers/{sha256(b'nothing')}", PULL)
        assert none.status_code == 200 and none.json()["manifests"] == []

    def test_deletes(self, as_owner):
        digest, _ = as_owner.push_image(NAME, "v1")
        as_owner.push_image(NAME, "v2")
        delete = f"repository:{NAME}:delete"
        assert as_owner.call("DELETE", f"/v2/{NAME}/manifests/v2", delete).status_code == 202
        assert as_owner.call("GET", f"/v2/{NAME}/manifests/v2", PULL).status_code == 404
        assert as_owner.call("DELETE", f"/v2/{NAME}/manifests/{digest}", delete).status_code == 202
        assert as_owner.call("GET", f"/v2/{NAME}/manifests/v1", PULL).status_code == 404
        assert as_owner.call("DELETE", f"/v2/{NAME}/manifests/{digest}", delete).status_code == 404
        assert AuditEvent.objects.filter(action="registry:manifest:deleted").count() == 1


class TestPrivacyAndNames:
    def test_private_by_default(self, as_owner, as_viewer, as_other, anonymous):
        as_owner.push_image(NAME)
        assert as_viewer.call("GET", f"/v2/{NAME}/manifests/latest", PULL).status_code == 200
        response = as_viewer.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)
        assert response.status_code == 401 and error_codes(response) == ["UNAUTHORIZED"]
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
        response = as_other.call("GET", f"/v2/{NAME}/manifests/latest", PULL)
        assert response.status_code == 401
        # Existence does not leak: an unknown repository answers the same, but for its name.
        ghost = as_other.call(
            "GET", "/v2/acme/ghost/manifests/latest", "repository:acme/ghost:pull"
        )
        assert ghost.status_code == 401
        assert ghost.content == response.content.replace(NAME.encode(), b"acme/ghost")
        assert ghost["WWW-Authenticate"] == response["WWW-Authenticate"].replace(NAME, "acme/ghost")
        assert anonymous.call("GET", f"/v2/{NAME}/tags/list", PULL).status_code == 401

    def test_push_outside_an_organisation_namespace(self, as_owner):
        response = as_owner.call("POST", "/v2/app/blobs/uploads/", "repository:app:pull,push")
        assert response.status_code == 401
        response = as_owner.call(
            "POST", "/v2/globex/app/blobs/uploads/", "repository:globex/app:pull,push"
        )
        assert response.status_code == 401
        assert not Repository.objects.filter(name__in=["app", "globex/app"]).exists()

    @pytest.mark.parametrize(
        "name", ["acme/App", "acme/../etc", "acme//x", "acme/" + "a" * 300, "acme/x-", "ACME/x"]
    )
    def test_invalid_names(self, as_owner, name):
        response = as_owner.call("GET", f"/v2/{name}/tags/list", f"repository:{name}:pull")
        assert response.status_code in (400, 404)
        if response.status_code == 400:
            assert error_codes(response) == ["NAME_INVALID"]

    def test_catalog_for_the_store_team(self, client, as_owner, world):
        as_owner.push_image(NAME)
        denied = as_owner.call("GET", "/v2/_catalog", "registry:catalog:*")
        assert denied.status_code == 401
        assert (
            'scope="registry:catalog:*",error="insufficient_scope"' in (denied["WWW-Authenticate"])
        )
        # The store team signs in with a second factor: the registry takes its tokens.
        _, secret = accounts.create_token(
            user=world.admin, name="ci", scopes=["read"], acting=world.admin, origin=TEST_ORIGIN
        )
        admin = Registry(client, "admin", secret)
        response = admin.call("GET", "/v2/_catalog", "registry:catalog:*")
        assert response.status_code == 200 and response.json() == {"repositories": [NAME]}

    def test_unsupported_method(self, as_owner):
        response = as_owner.call("POST", f"/v2/{NAME}/tags/list", PULL)
        assert response.status_code == 405


def test_blob_downloads_go_out_by_file_or_by_redirect(as_owner, settings, blob_store):
    """The filesystem store hands the web server a real file (sendfile); S3 with redirects
    on answers 307 to a presigned URL that serves the same bytes."""
    import urllib.request

    if blob_store == "s3":
        settings.BLOB_STORE_URL += "&redirect=true"
    data = b"served by the store"
    digest = as_owner.push_blob(NAME, data)
    response = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
    if blob_store == "s3":
        assert response.status_code == 307 and response["Docker-Content-Digest"] == digest
        with urllib.request.urlopen(response["Location"], timeout=30) as fetched:
            assert fetched.read() == data
    else:
        from django.http import FileResponse

        # A FileResponse over a real file is what WSGI servers hand to sendfile().
        assert response.status_code == 200 and isinstance(response, FileResponse)
        assert b"".join(response.streaming_content) == data


def test_buffered_pull_recording(as_owner, settings, monkeypatch):
    """With a flush interval, a pull only joins the process's buffer; one flush writes the
    counters and audit rows of all of them in one transaction."""
    from portside.registry import pulls

    monkeypatch.setattr(pulls.Recorder, "_run", lambda self, interval: None)
    monkeypatch.setattr(pulls, "recorder", pulls.Recorder())
    settings.REGISTRY_PULL_FLUSH_MS = 200
    as_owner.push_image(NAME, "v1")
    for _ in range(3):
        assert as_owner.call("GET", f"/v2/{NAME}/manifests/v1", PULL).status_code == 200
    assert not PullCount.objects.exists()
    assert pulls.recorder.flush() == 3
    assert PullCount.objects.get(tag="v1").count == 3
    rows = AuditEvent.objects.filter(action="registry:manifest:pulled")
    assert rows.count() == 3 and all(r.details["pulled_at"] for r in rows)
    assert pulls.recorder.flush() == 0
