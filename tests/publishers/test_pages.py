"""The publisher profile pages, driven through real URLs."""

from __future__ import annotations

import io
import re

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from portside.core import clock
from portside.core.images import MAX_BYTES
from portside.publishers import services
from portside.publishers.models import PublisherProfile
from tests.factories import TEST_ORIGIN
from tests.html import without_own_scripts
from tests.publishers import images
from tests.publishers.conftest import sign_in
from tests.publishers.test_services import FIELDS

pytestmark = pytest.mark.django_db
PAGE = "/orgs/acme/profile/"
HOSTILE_STORY = """# About us

<script>alert("story")</script>
<img src="x" onerror="alert('img')">
<a href="javascript:alert('raw')">raw link</a>
[markdown link](javascript:alert('md'))
<a href="JaVaScRiPt:alert('case')">case</a>
<a href="java&#115;cript:alert('entity')">entity</a>
<iframe src="https://evil.example/"></iframe>
<style>body { display: none }</style>
<div onmouseover="alert('div')" style="color:red">styled <b>bold</b></div>
<form action="https://evil.example/"><input name="password"></form>

[fine](https://acme.example.com/) and **strong** text.
"""


def upload(data: bytes, name: str = "logo.png", content_type: str = "image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def errors_on(response) -> list[str]:
    return re.findall(r'<p class="error" role="alert">([^<]*)</p>', response.content.decode())


class TestProfilePage:
    def test_an_empty_profile_lists_what_is_missing(self, client, publisher):
        response = sign_in(client, publisher.editor).get(PAGE)
        assert response.status_code == 200
        page = response.content.decode()
        for item in ("Legal entity name", "Company website", "Phone number", "Logo"):
            assert f"<li>{item}</li>" in page
        assert 'name="legal_name"' in page and 'enctype="multipart/form-data"' in page
        assert not PublisherProfile.objects.exists()  # looking writes nothing

    def test_editors_save_and_see_the_result(self, client, publisher):
        sign_in(client, publisher.editor)
        response = client.post(PAGE, FIELDS)
        assert response.status_code == 302 and response["Location"] == PAGE
        page = client.get(PAGE).content.decode()
        assert "Acme Software Ltd" in page and "+442079460958" in page
        assert "not verified" in page and "Send verification link" in page
        assert "<li>Verification of the company email</li>" in page
        assert "<strong>reliable</strong>" in page

    def test_viewers_and_the_store_team_see_it_read_only(self, client, publisher):
        services.update_profile(
            organization=publisher.org, acting=publisher.owner, origin=TEST_ORIGIN, **FIELDS
        )
        for user in (publisher.viewer, publisher.moderator):
            page = sign_in(Client(), user).get(PAGE).content.decode()
            assert "Acme Software Ltd" in page
            assert "<form" not in page.split('<main id="main"')[1].split("</main>")[0]
        response = sign_in(client, publisher.viewer).post(PAGE, {"legal_name": "Hijack"})
        assert response.status_code == 403
        assert services.find_profile(publisher.org).legal_name == "Acme Software Ltd"

    def test_outsiders_and_unknown_organisations_get_404(self, client, publisher):
        sign_in(client, publisher.outsider)
        assert client.get(PAGE).status_code == 404
        assert client.post(PAGE, {"legal_name": "x"}).status_code == 404
        assert client.get("/orgs/nobody/profile/").status_code == 404

    def test_a_refused_value_is_shown_on_its_field(self, client, publisher):
        sign_in(client, publisher.editor)
        response = client.post(PAGE, {**FIELDS, "phone": "020 7946 0958"})
        assert response.status_code == 400
        (error,) = errors_on(response)
        assert "country code" in error
        assert 'value="020 7946 0958"' in response.content.decode()  # the input is kept
        assert not PublisherProfile.objects.exists()

    def test_a_javascript_website_is_refused(self, client, publisher):
        sign_in(client, publisher.editor)
        response = client.post(PAGE, {**FIELDS, "website": "javascript:alert(1)"})
        assert response.status_code == 400
        assert "https://" in errors_on(response)[0]
        assert not PublisherProfile.objects.exists()

    def test_a_hostile_story_is_rendered_safe(self, client, publisher):
        sign_in(client, publisher.editor)
        assert client.post(PAGE, {**FIELDS, "story": HOSTILE_STORY}).status_code == 302
        assert services.find_profile(publisher.org).story == HOSTILE_STORY.strip()
        page = sign_in(Client(), publisher.viewer).get(PAGE).content.decode()
        story = page.split('<div class="story">')[1].split("</div>")[0]
        lowered = without_own_scripts(page).lower()
        for needle in (
            "<script",
            "onerror",
            "onmouseover",
            "<iframe",
            "<style",
            "style=",
            '<form action="https://evil',
            '<input name="password',
        ):
            assert needle not in lowered, needle
        # A refused link stays as inert text; no attribute carries the scheme.
        assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript""", lowered)
        assert "[markdown link](javascript:alert(" in story
        assert "<strong>strong</strong>" in story and "<b>bold</b>" in story
        assert (
            '<a href="https://acme.example.com/" rel="nofollow noopener noreferrer">fine</a>'
            in story
        )
        # the editor's own page shows the source only as escaped text in the textarea
        own = client.get(PAGE).content.decode()
        assert "<script>alert" not in own and "&lt;script&gt;alert" in own

    def test_no_inline_script_or_style_on_the_page(self, client, publisher):
        page = sign_in(client, publisher.editor).get(PAGE)
        body = page.content.decode()
        assert "<script" not in without_own_scripts(body) and " style=" not in body
        assert "script-src 'self'" in page["Content-Security-Policy"]

    def test_the_form_needs_its_csrf_token(self, publisher):
        csrf_client = Client(enforce_csrf_checks=True)
        sign_in(csrf_client, publisher.editor)
        assert csrf_client.post(PAGE, FIELDS).status_code == 403
        page = csrf_client.get(PAGE).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        assert csrf_client.post(PAGE, {**FIELDS, "csrfmiddlewaretoken": token}).status_code == 302


class TestLogoUpload:
    URL = "/orgs/acme/profile/logo"

    def test_a_good_logo_is_stored_and_shown(self, client, publisher):
        sign_in(client, publisher.editor)
        response = client.post(self.URL, {"logo": upload(images.png(600, 600))})
        assert response.status_code == 302
        profile = services.find_profile(publisher.org)
        url = services.logo_url(profile)
        assert f'src="{url}"' in client.get(PAGE).content.decode()
        served = client.get(url)
        assert served.status_code == 200 and served["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(b"".join(served.streaming_content))).size == (600, 600)

    @pytest.mark.parametrize(
        ("name", "data", "reason"),
        [
            ("logo.png", images.png(511, 512), "must be square"),
            ("logo.png", images.png(511, 511), "at least 512x512"),
            ("logo.png", images.png(1024, 512), "must be square"),
            ("logo.png", images.PDF, "not a PNG, JPEG or WebP"),
            ("logo.png", images.GIF, "not a PNG, JPEG or WebP"),
            ("logo.svg", images.SVG, "not a PNG, JPEG or WebP"),
            ("logo.png", b"", "empty"),
            ("logo.png", images.truncated_png(), "damaged or truncated"),
            ("bomb.png", images.png_bomb(), "dimensions are too large"),
        ],
        ids=["511x512", "511x511", "not-square", "pdf", "gif", "svg", "empty", "truncated", "bomb"],
    )
    def test_hostile_files_are_refused_with_a_reason(
        self, client, publisher, media_storage, name, data, reason
    ):
        sign_in(client, publisher.editor)
        response = client.post(self.URL, {"logo": upload(data, name)})
        assert response.status_code == 400
        (error,) = errors_on(response)
        assert reason in error
        assert services.find_profile(publisher.org).logo == ""
        assert not media_storage.exists() or not any(media_storage.rglob("*.*"))

    def test_an_oversized_upload_is_refused(self, client, publisher):
        sign_in(client, publisher.editor)
        big = images.png() + bytes(MAX_BYTES)  # a real PNG, padded past the limit
        response = client.post(self.URL, {"logo": upload(big)})
        assert response.status_code == 400
        assert "at most 10,485,760" in errors_on(response)[0]

    def test_the_stored_copy_has_no_exif(self, client, publisher):
        original = images.jpeg_with_gps()
        assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)
        sign_in(client, publisher.editor)
        response = client.post(self.URL, {"logo": upload(original, "me.jpg", "image/jpeg")})
        assert response.status_code == 302
        name = services.find_profile(publisher.org).logo
        assert name.endswith(".jpg")
        with default_storage.open(name) as stored:
            content = stored.read()
        for secret in (b"SecretCam", b"SecretSoftware", b"SecretComment", b"SecretXMP", b"Exif"):
            assert secret not in content
        stored_image = Image.open(io.BytesIO(content))
        assert not stored_image.getexif() and not stored_image.getexif().get_ifd(0x8825)
        assert "comment" not in stored_image.info

    def test_viewers_may_not_upload(self, client, publisher):
        response = sign_in(client, publisher.viewer).post(self.URL, {"logo": upload(images.png())})
        assert response.status_code == 403
        assert services.find_profile(publisher.org).logo == ""

    def test_a_missing_file_is_a_form_error(self, client, publisher):
        response = sign_in(client, publisher.editor).post(self.URL, {})
        assert response.status_code == 400 and errors_on(response)


class TestEmailVerificationPages:
    SEND = "/orgs/acme/profile/verify-email"

    def _sent(self, client, publisher, django_capture_on_commit_callbacks) -> str:
        services.update_profile(
            organization=publisher.org, acting=publisher.owner, origin=TEST_ORIGIN, **FIELDS
        )
        sign_in(client, publisher.editor)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(self.SEND)
        assert response.status_code == 302
        (message,) = mail.outbox
        assert message.to == ["partners@acme.example.com"]
        link = re.search(r"http://testserver(/publisher-email/[^/\s]+/)", message.body).group(1)
        return link

    def test_get_only_asks_and_post_confirms(
        self, client, publisher, django_capture_on_commit_callbacks
    ):
        link = self._sent(client, publisher, django_capture_on_commit_callbacks)
        anonymous = Client()
        for _ in range(3):  # a mail scanner prefetching the link confirms nothing
            page = anonymous.get(link)
            assert page.status_code == 200 and b"Confirm partners@acme.example.com" in page.content
            assert page["Cache-Control"] == "no-store"
        assert not services.find_profile(publisher.org).email_verified
        response = anonymous.post(link)
        assert response.status_code == 200 and b"is now verified" in response.content
        assert services.find_profile(publisher.org).email_verified
        page = client.get(PAGE).content.decode()
        assert "verified</span>" in page and "Send verification link" not in page

    def test_a_reused_link_is_not_found(
        self, client, publisher, django_capture_on_commit_callbacks
    ):
        link = self._sent(client, publisher, django_capture_on_commit_callbacks)
        assert client.post(link).status_code == 200
        for method in (client.get, client.post):
            response = method(link)
            assert response.status_code == 404 and b"not valid" in response.content

    def test_a_wrong_secret_is_not_found(
        self, client, publisher, django_capture_on_commit_callbacks
    ):
        link = self._sent(client, publisher, django_capture_on_commit_callbacks)
        wrong = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
        assert client.get(wrong).status_code == 404
        assert client.post(wrong).status_code == 404
        assert client.post("/publisher-email/x/").status_code == 404
        assert not services.find_profile(publisher.org).email_verified

    def test_an_expired_link_says_so(self, client, publisher, django_capture_on_commit_callbacks):
        with clock.frozen() as frozen:
            link = self._sent(client, publisher, django_capture_on_commit_callbacks)
            frozen.advance(hours=48, seconds=1)
            page = client.get(link)
            assert page.status_code == 400 and b"expired" in page.content
            main = page.content[page.content.index(b"<main") :]
            assert b"<button" not in main  # nothing to confirm (the header has its search)
            response = client.post(link)
            assert response.status_code == 400 and b"expired" in response.content
        assert not services.find_profile(publisher.org).email_verified

    def test_changing_the_email_afterwards_voids_the_link(
        self, client, publisher, django_capture_on_commit_callbacks
    ):
        link = self._sent(client, publisher, django_capture_on_commit_callbacks)
        assert client.post(PAGE, {**FIELDS, "email": "other@acme.example.com"}).status_code == 302
        assert client.post(link).status_code == 404
        profile = services.find_profile(publisher.org)
        assert profile.email == "other@acme.example.com" and not profile.email_verified

    def test_a_second_link_within_a_minute_is_refused_politely(
        self, client, publisher, django_capture_on_commit_callbacks
    ):
        self._sent(client, publisher, django_capture_on_commit_callbacks)
        response = client.post(self.SEND, follow=True)
        assert b"less than a minute ago" in response.content
        assert len(mail.outbox) == 1

    def test_without_an_email_there_is_nothing_to_send(self, client, publisher):
        response = sign_in(client, publisher.editor).post(self.SEND, follow=True)
        assert b"Give the company email first" in response.content
        assert mail.outbox == []

    def test_viewers_may_not_send(self, client, publisher):
        services.update_profile(
            organization=publisher.org, acting=publisher.owner, origin=TEST_ORIGIN, **FIELDS
        )
        assert sign_in(client, publisher.viewer).post(self.SEND).status_code == 403
        assert mail.outbox == []
