"""The publisher profile in the JSON API: tokens, session, problem+json."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from django.core import mail
from django.test import Client
from PIL import Image

from portside.accounts import services as accounts
from portside.audit.models import AuditEvent
from portside.core.images import MAX_BYTES
from portside.publishers import services
from tests.factories import TEST_ORIGIN
from tests.publishers import images
from tests.publishers.conftest import sign_in
from tests.publishers.test_services import FIELDS

pytestmark = pytest.mark.django_db
URL = "/api/v1/orgs/acme/publisher-profile"


_tokens = itertools.count(1)


def bearer(user, *scopes: str) -> dict[str, str]:
    _, secret = accounts.create_token(
        user=user,
        name=f"token {next(_tokens)}",
        scopes=list(scopes),
        acting=user,
        origin=TEST_ORIGIN,
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def patch(client, body, **headers):
    return client.patch(URL, data=json.dumps(body), content_type="application/json", **headers)


def put_logo(client, data, content_type="image/png", **headers):
    return client.put(URL + "/logo", data=data, content_type=content_type, **headers)


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


class TestRead:
    def test_an_empty_profile(self, client, publisher):
        response = client.get(URL, **bearer(publisher.viewer, "read"))
        assert response.status_code == 200
        body = response.json()
        assert body["organization"] == "acme" and body["complete"] is False
        assert body["missing"][0] == "legal entity name" and body["updated_at"] is None
        assert body["logo_url"] == "" and body["email_verified"] is False

    def test_the_story_comes_as_source_and_as_safe_html(self, client, publisher):
        services.update_profile(
            organization=publisher.org,
            acting=publisher.owner,
            origin=TEST_ORIGIN,
            story="**Hi** <script>alert(1)</script><img src=x onerror=alert(1)>",
        )
        body = client.get(URL, **bearer(publisher.viewer, "read")).json()
        assert body["story"].startswith("**Hi** <script>")
        assert "<strong>Hi</strong>" in body["story_html"]
        assert "script" not in body["story_html"] and "onerror" not in body["story_html"]

    def test_the_store_team_reads_through_the_session(self, client, publisher):
        assert sign_in(client, publisher.moderator).get(URL).status_code == 200

    def test_others_get_404_and_anonymous_401(self, client, publisher):
        problem(client.get(URL, **bearer(publisher.outsider, "read")), 404)
        problem(
            client.get("/api/v1/orgs/nobody/publisher-profile", **bearer(publisher.owner, "read")),
            404,
        )
        response = problem(client.get(URL), 401)
        assert response["title"] == "Unauthorized"


class TestPatch:
    def test_changes_the_given_fields(self, client, publisher):
        response = patch(client, FIELDS, **bearer(publisher.editor, "write"))
        assert response.status_code == 200
        body = response.json()
        assert body["phone"] == "+442079460958" and body["legal_name"] == "Acme Software Ltd"
        response = patch(client, {"legal_name": "Acme plc"}, **bearer(publisher.editor, "write"))
        assert response.json()["website"] == FIELDS["website"]
        assert response.json()["legal_name"] == "Acme plc"
        assert AuditEvent.objects.filter(action="publisher:profile:updated").count() == 2

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"phone": "020 7946 0958"}, "phone"),
            ({"website": "javascript:alert(1)"}, "website"),
            ({"website": "ftp://acme.example.com"}, "website"),
            ({"website": "https://"}, "website"),
            ({"email": "nope"}, "email"),
        ],
    )
    def test_a_refused_value_is_a_422_naming_its_field(self, client, publisher, body, field):
        response = patch(client, body, **bearer(publisher.editor, "write"))
        refused = problem(response, 422)
        assert refused["field"] == field and refused["code"] == "invalid"
        assert services.find_profile(publisher.org).pk is None

    def test_unknown_or_read_only_fields_are_refused(self, client, publisher):
        for body in ({"email_verified_at": "2026-01-01T00:00:00Z"}, {"logo": "images/x.png"}):
            response = patch(client, body, **bearer(publisher.editor, "write"))
            assert response.status_code == 422
        assert services.find_profile(publisher.org).pk is None

    def test_a_read_token_may_not_write(self, client, publisher):
        response = patch(client, FIELDS, **bearer(publisher.editor, "read"))
        assert "write" in problem(response, 403)["detail"]

    def test_viewers_get_403_and_outsiders_404(self, client, publisher):
        problem(patch(client, FIELDS, **bearer(publisher.viewer, "write")), 403)
        problem(patch(client, FIELDS, **bearer(publisher.outsider, "write")), 404)
        problem(patch(client, FIELDS, **bearer(publisher.moderator, "write")), 403)
        assert services.find_profile(publisher.org).pk is None

    def test_the_session_needs_the_csrf_token(self, publisher):
        csrf_client = Client(enforce_csrf_checks=True)
        sign_in(csrf_client, publisher.editor)
        assert patch(csrf_client, FIELDS).status_code == 403
        assert services.find_profile(publisher.org).pk is None


class TestLogo:
    def test_a_raw_image_body_becomes_the_logo(self, client, publisher):
        response = put_logo(
            client,
            images.encode(512, 512, "WEBP"),
            "image/webp",
            **bearer(publisher.editor, "write"),
        )
        assert response.status_code == 200
        url = response.json()["logo_url"]
        assert url.startswith("/media/images/") and url.endswith(".webp")
        served = client.get(url)
        assert served["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(b"".join(served.streaming_content))).size == (512, 512)

    def test_the_declared_content_type_is_not_believed(self, client, publisher):
        response = put_logo(
            client, images.png(), "application/pdf", **bearer(publisher.editor, "write")
        )
        assert response.status_code == 200 and response.json()["logo_url"].endswith(".png")
        response = put_logo(client, images.PDF, "image/png", **bearer(publisher.editor, "write"))
        assert "not a PNG, JPEG or WebP" in problem(response, 422)["detail"]

    @pytest.mark.parametrize(
        "data",
        [
            images.png(511, 512),
            images.png(800, 512),
            images.GIF,
            images.SVG,
            b"",
            images.truncated_png(),
            images.png_bomb(),
        ],
        ids=["511x512", "not-square", "gif", "svg", "empty", "truncated", "bomb"],
    )
    def test_hostile_bodies_are_refused(self, client, publisher, data):
        response = put_logo(client, data, **bearer(publisher.editor, "write"))
        assert problem(response, 422)["field"] == "logo"
        assert services.find_profile(publisher.org).logo == ""

    def test_an_oversized_body_is_a_413(self, client, publisher):
        big = images.png() + bytes(MAX_BYTES)
        response = put_logo(client, big, **bearer(publisher.editor, "write"))
        assert problem(response, 413)["field"] == "logo"

    def test_a_body_longer_than_its_declared_length_is_cut_and_refused(self, client, publisher):
        big = images.png() + bytes(MAX_BYTES)
        response = put_logo(client, big, CONTENT_LENGTH="100", **bearer(publisher.editor, "write"))
        assert problem(response, 422)["field"] == "logo"

    def test_exif_is_not_kept(self, client, publisher):
        response = put_logo(
            client, images.jpeg_with_gps(), "image/jpeg", **bearer(publisher.editor, "write")
        )
        content = b"".join(client.get(response.json()["logo_url"]).streaming_content)
        assert b"SecretCam" not in content and b"Exif" not in content
        assert not Image.open(io.BytesIO(content)).getexif()

    def test_viewers_may_not(self, client, publisher):
        problem(put_logo(client, images.png(), **bearer(publisher.viewer, "write")), 403)
        problem(put_logo(client, images.png(), **bearer(publisher.outsider, "write")), 404)


class TestVerifyEmail:
    def test_sends_the_link(self, client, publisher, django_capture_on_commit_callbacks):
        patch(client, FIELDS, **bearer(publisher.editor, "write"))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(URL + "/verify-email", **bearer(publisher.editor, "write"))
        assert response.status_code == 202
        assert response.json()["email"] == "partners@acme.example.com"
        (message,) = mail.outbox
        assert "http://testserver/publisher-email/" in message.body
        body = client.get(URL, **bearer(publisher.editor, "read")).json()
        assert body["email_link_expires_at"] is not None and body["email_verified"] is False

    def test_without_an_email_it_is_a_422_and_too_soon_a_409(self, client, publisher):
        headers = bearer(publisher.editor, "write")
        assert problem(client.post(URL + "/verify-email", **headers), 422)["field"] == "email"
        patch(client, FIELDS, **headers)
        assert client.post(URL + "/verify-email", **headers).status_code == 202
        problem(client.post(URL + "/verify-email", **headers), 409)

    def test_viewers_may_not(self, client, publisher):
        patch(client, FIELDS, **bearer(publisher.editor, "write"))
        problem(client.post(URL + "/verify-email", **bearer(publisher.viewer, "write")), 403)
        assert mail.outbox == []


def test_the_operations_are_described(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"get", "patch"} <= set(paths["/api/v1/orgs/{org}/publisher-profile"])
    assert "put" in paths["/api/v1/orgs/{org}/publisher-profile/logo"]
    assert "post" in paths["/api/v1/orgs/{org}/publisher-profile/verify-email"]
