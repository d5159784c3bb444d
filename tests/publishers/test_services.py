"""The use cases of the publisher profile, called as the pages and the API call them."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from PIL import Image

from portside.audit.models import AuditEvent
from portside.core import clock
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.publishers import services
from portside.publishers.models import PublisherProfile
from tests.factories import TEST_ORIGIN
from tests.publishers import images

pytestmark = pytest.mark.django_db

FIELDS = {
    "legal_name": "Acme Software Ltd",
    "website": "https://acme.example.com/",
    "phone": "+44 20 7946 0958",
    "email": "partners@acme.example.com",
    "story": "We build **reliable** images.",
}


def update(publisher, acting=None, **fields):
    return services.update_profile(
        organization=publisher.org, acting=acting or publisher.editor, origin=TEST_ORIGIN, **fields
    )


def send_link(publisher, acting=None):
    return services.send_email_verification(
        organization=publisher.org, acting=acting or publisher.editor, origin=TEST_ORIGIN
    )


def verify(secret, acting=None):
    return services.verify_email(secret=secret, acting=acting, origin=TEST_ORIGIN)


def rows(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def complete(publisher):
    update(publisher, **FIELDS)
    services.set_logo(
        organization=publisher.org, data=images.png(), acting=publisher.editor, origin=TEST_ORIGIN
    )
    _, secret = send_link(publisher)
    return verify(secret, acting=publisher.owner)


class TestReading:
    def test_find_profile_writes_nothing(self, publisher):
        profile = services.find_profile(publisher.org)
        assert profile.pk is None and profile.organization == publisher.org
        assert not PublisherProfile.objects.exists()
        assert profile.missing() == [
            "legal entity name",
            "company website",
            "phone number",
            "company email",
            "company story",
            "logo",
        ]

    def test_get_or_create_makes_one_profile(self, publisher):
        first = services.get_or_create_profile(publisher.org)
        again = services.get_or_create_profile(publisher.org)
        assert first.pk == again.pk and PublisherProfile.objects.count() == 1
        assert first.updated_at is not None


class TestUpdate:
    def test_stores_cleaned_values_and_audits(self, publisher):
        profile = update(publisher, **FIELDS)
        profile.refresh_from_db()
        assert profile.legal_name == "Acme Software Ltd"
        assert profile.phone == "+442079460958"
        assert profile.email == "partners@acme.example.com"
        (row,) = rows("publisher:profile:updated")
        assert row.actor_name == "editor" and row.organization_name == "acme"
        assert row.ip_address == "127.0.0.1" and row.user_agent == "pytest"
        assert row.target_type == "publishers.publisherprofile"
        assert sorted(row.details["changed"]) == sorted(FIELDS)

    def test_only_the_given_fields_change(self, publisher):
        update(publisher, **FIELDS)
        profile = update(publisher, legal_name="Acme Holdings plc")
        assert profile.legal_name == "Acme Holdings plc"
        assert profile.website == FIELDS["website"] and profile.story == FIELDS["story"]
        assert rows("publisher:profile:updated")[-1].details["changed"] == ["legal_name"]

    def test_nothing_changed_writes_no_audit_row(self, publisher):
        update(publisher, **FIELDS)
        update(publisher, legal_name="  Acme   Software Ltd ")  # the same once cleaned
        assert len(rows("publisher:profile:updated")) == 1

    def test_a_field_can_be_cleared(self, publisher):
        update(publisher, **FIELDS)
        profile = update(publisher, website="", phone=None)
        assert (profile.website, profile.phone) == ("", "")
        assert "company website" in profile.missing() and "phone number" in profile.missing()

    def test_unknown_or_protected_fields_are_refused(self, publisher):
        for name in ("email_verified_at", "logo", "organization_id", "colour"):
            with pytest.raises(ValidationFailed) as caught:
                update(publisher, **{name: "x"})
            assert caught.value.field == name
        assert not rows("publisher:profile:updated")

    def test_a_value_that_is_not_text_is_refused(self, publisher):
        with pytest.raises(ValidationFailed) as caught:
            update(publisher, legal_name=["Acme"])
        assert caught.value.field == "legal_name"

    def test_a_bad_field_refuses_the_whole_change(self, publisher):
        with pytest.raises(ValidationFailed) as caught:
            update(publisher, legal_name="Acme", phone="020 7946 0958")
        assert caught.value.field == "phone"
        assert services.find_profile(publisher.org).legal_name == ""

    def test_viewers_and_the_store_team_may_not_edit(self, publisher):
        for user in (publisher.viewer, publisher.moderator):
            with pytest.raises(PermissionDenied):
                update(publisher, acting=user, legal_name="Hijack")
        assert not PublisherProfile.objects.exists()

    def test_outsiders_do_not_learn_the_organisation_exists(self, publisher):
        with pytest.raises(NotFound):
            update(publisher, acting=publisher.outsider, legal_name="Hijack")

    def test_owners_edit_and_the_command_line_is_trusted(self, publisher):
        update(publisher, acting=publisher.owner, legal_name="By owner")
        profile = services.update_profile(
            organization=publisher.org, acting="cli", origin=TEST_ORIGIN, legal_name="By cli"
        )
        assert profile.legal_name == "By cli"
        assert rows("publisher:profile:updated")[-1].actor_name == "cli"

    def test_long_or_control_character_values_are_refused(self, publisher):
        cases = {
            "legal_name": ["x" * 201, "Acme\x00Ltd"],
            "story": ["x" * 50_001, "once \x1b[31m red"],
        }
        for field, values in cases.items():
            for value in values:
                with pytest.raises(ValidationFailed) as caught:
                    update(publisher, **{field: value})
                assert caught.value.field == field

    def test_the_story_keeps_its_markdown_source(self, publisher):
        source = "# Who we are\r\n\r\n- fast\r\n- safe\r\n"
        assert update(publisher, story=source).story == "# Who we are\n\n- fast\n- safe"


class TestWebsite:
    @pytest.mark.parametrize(
        "url",
        [
            "https://acme.example.com",
            "http://acme.example.com/about?lang=en#team",
            "https://xn--bcher-kva.example/",
            "https://192.0.2.10:8443/",
        ],
    )
    def test_http_and_https_addresses_are_accepted(self, publisher, url):
        assert update(publisher, website=f"  {url} ").website == url

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)",
            " javascript:alert(1)//https://acme.example.com",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "ftp://ftp.acme.example.com/",
            "file:///etc/passwd",
            "acme.example.com",
            "//acme.example.com",
            "https://",
            "http:///path-without-host",
            "https://user:secret@acme.example.com/",
            "https://acme.example.com@evil.example/",
            "https://acme example.com/",
            "https://acme.example.com/\nSet-Cookie: x",
            "https://" + "a" * 500 + ".com",
        ],
    )
    def test_other_schemes_and_addresses_without_a_host_are_refused(self, publisher, url):
        with pytest.raises(ValidationFailed) as caught:
            update(publisher, website=url)
        assert caught.value.field == "website"
        assert services.find_profile(publisher.org).website == ""


class TestPhone:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("+44 20 7946 0958", "+442079460958"),
            ("+44 (0)20 7946 0958", "+442079460958"),
            ("+1 (650) 253-0000", "+16502530000"),
            ("+49 30 901820", "+4930901820"),
            ("+33 1 42 68 53 00", "+33142685300"),
        ],
    )
    def test_international_numbers_are_stored_in_e164(self, publisher, given, stored):
        assert update(publisher, phone=given).phone == stored

    def test_a_number_without_a_country_code_is_refused_clearly(self, publisher):
        for number in ("020 7946 0958", "0044 20 7946 0958", "650 253 0000"):
            with pytest.raises(ValidationFailed) as caught:
                update(publisher, phone=number)
            assert caught.value.field == "phone"
            assert "country code" in caught.value.message
            assert "starting with +" in caught.value.message

    @pytest.mark.parametrize(
        "number",
        ["+44 20", "+999 1234 5678", "+44 abc def", "+", "+44 20 7946 0958 ext. 12", "+1" * 30],
    )
    def test_impossible_numbers_are_refused(self, publisher, number):
        with pytest.raises(ValidationFailed) as caught:
            update(publisher, phone=number)
        assert caught.value.field == "phone"


class TestLogo:
    def test_a_square_logo_is_reencoded_and_stored_by_digest(self, publisher, media_storage):
        profile = services.set_logo(
            organization=publisher.org,
            data=images.png(640, 640),
            acting=publisher.editor,
            origin=TEST_ORIGIN,
        )
        assert profile.logo.startswith("images/") and profile.logo.endswith(".png")
        with default_storage.open(profile.logo) as stored:
            content = stored.read()
        assert profile.logo == f"images/{hashlib.sha256(content).hexdigest()}.png"
        assert Image.open(io.BytesIO(content)).size == (640, 640)
        assert services.logo_url(profile) == f"/media/{profile.logo}"
        (row,) = rows("publisher:logo:changed")
        assert row.details["logo"] == profile.logo and row.details["previous"] == ""
        assert (row.details["width"], row.details["format"]) == (640, "PNG")

    def test_a_new_logo_replaces_the_old_and_audits_both(self, publisher):
        first = services.set_logo(
            organization=publisher.org,
            data=images.png(),
            acting=publisher.owner,
            origin=TEST_ORIGIN,
        ).logo
        second = services.set_logo(
            organization=publisher.org,
            data=images.encode(600, 600, "WEBP"),
            acting=publisher.owner,
            origin=TEST_ORIGIN,
        ).logo
        assert second.endswith(".webp") and second != first
        assert rows("publisher:logo:changed")[-1].details["previous"] == first

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (images.png(511, 512), "square"),
            (images.png(511, 511), "at least 512x512"),
            (images.png(800, 600), "square"),
            (images.PDF, "not a PNG, JPEG or WebP"),
            (images.GIF, "not a PNG, JPEG or WebP"),
            (images.SVG, "not a PNG, JPEG or WebP"),
            (b"", "empty"),
        ],
        ids=["511x512", "511x511", "not-square", "pdf", "gif", "svg", "empty"],
    )
    def test_unfit_images_are_refused_and_nothing_changes(self, publisher, data, reason):
        with pytest.raises(ValidationFailed) as caught:
            services.set_logo(
                organization=publisher.org, data=data, acting=publisher.editor, origin=TEST_ORIGIN
            )
        assert caught.value.field == "logo" and reason in caught.value.message
        assert not PublisherProfile.objects.exists() and not rows("publisher:logo:changed")

    def test_a_viewer_may_not_change_the_logo_and_nothing_is_stored(self, publisher, media_storage):
        with pytest.raises(PermissionDenied):
            services.set_logo(
                organization=publisher.org,
                data=images.png(),
                acting=publisher.viewer,
                origin=TEST_ORIGIN,
            )
        assert not media_storage.exists()


class TestEmailVerification:
    def test_the_link_is_mailed_after_commit_and_only_its_hash_is_kept(
        self, publisher, django_capture_on_commit_callbacks
    ):
        update(publisher, email="partners@acme.example.com")
        with django_capture_on_commit_callbacks(execute=True):
            profile, secret = send_link(publisher)
        assert profile.email_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(PublisherProfile.objects.values().get())
        (message,) = mail.outbox
        assert message.to == ["partners@acme.example.com"]
        assert f"/publisher-email/{secret}/" in message.body
        assert message.body.count(secret) == 1
        (row,) = rows("publisher:email:verification_sent")
        assert secret not in str(row.details) and row.details["email"] == profile.email
        assert profile.email_secret_expires_at - clock.now() == pytest.approx(
            dt.timedelta(hours=48), abs=dt.timedelta(seconds=5)
        )

    def test_no_mail_when_the_transaction_is_rolled_back(
        self, publisher, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(ValidationFailed):
                send_link(publisher)  # no email yet
        assert mail.outbox == []

    def test_verifying_marks_the_email_and_the_link_works_once(self, publisher):
        update(publisher, email="partners@acme.example.com")
        _, secret = send_link(publisher)
        profile = verify(secret)
        assert profile.email_verified and profile.email_secret_hash == ""
        (row,) = rows("publisher:email:verified")
        assert row.actor_name == "system" and row.organization_name == "acme"
        with pytest.raises(NotFound):
            verify(secret)
        assert len(rows("publisher:email:verified")) == 1

    def test_a_wrong_secret_verifies_nothing(self, publisher):
        update(publisher, email="partners@acme.example.com")
        _, secret = send_link(publisher)
        for wrong in ("", "x", secret[:-1], secret + "x", secret.upper()):
            with pytest.raises(NotFound):
                verify(wrong)
        assert not services.find_profile(publisher.org).email_verified

    def test_an_expired_link_is_refused(self, publisher):
        with clock.frozen() as frozen:
            update(publisher, email="partners@acme.example.com")
            _, secret = send_link(publisher)
            frozen.advance(hours=47, minutes=59)
            assert not services.link_expired(services.find_email_verification(secret))
            frozen.advance(minutes=1)
            with pytest.raises(Conflict, match="expired"):
                verify(secret)
        assert not services.find_profile(publisher.org).email_verified

    def test_a_new_link_replaces_the_previous_one(self, publisher):
        with clock.frozen() as frozen:
            update(publisher, email="partners@acme.example.com")
            _, first = send_link(publisher)
            frozen.advance(minutes=2)
            _, second = send_link(publisher)
            with pytest.raises(NotFound):
                verify(first)
            assert verify(second).email_verified

    def test_links_are_not_sent_more_than_once_a_minute(self, publisher):
        with clock.frozen() as frozen:
            update(publisher, email="partners@acme.example.com")
            send_link(publisher)
            frozen.advance(seconds=59)
            with pytest.raises(Conflict, match="less than a minute"):
                send_link(publisher)
            frozen.advance(seconds=1)
            send_link(publisher)
        assert len(rows("publisher:email:verification_sent")) == 2

    def test_changing_the_email_clears_the_verification(self, publisher):
        update(publisher, email="partners@acme.example.com")
        _, secret = send_link(publisher)
        verify(secret)
        profile = update(publisher, email="sales@acme.example.com")
        assert profile.email_verified_at is None and not profile.email_verified
        assert "verification of the company email" in profile.missing()
        row = rows("publisher:profile:updated")[-1]
        assert row.details["previous_email"] == "partners@acme.example.com"

    def test_a_link_sent_to_the_old_address_does_not_verify_the_new_one(self, publisher):
        update(publisher, email="partners@acme.example.com")
        _, secret = send_link(publisher)
        update(publisher, email="attacker@evil.example")
        with pytest.raises(NotFound):
            verify(secret)
        assert not services.find_profile(publisher.org).email_verified

    def test_changing_only_the_case_of_the_domain_keeps_the_verification(self, publisher):
        update(publisher, email="partners@acme.example.com")
        _, secret = send_link(publisher)
        verify(secret)
        assert update(publisher, email="partners@ACME.example.com").email_verified
        assert update(publisher, email="Partners@acme.example.com").email_verified

    def test_an_invalid_email_is_refused(self, publisher):
        for value in ("not-an-address", "a@b", "x" * 250 + "@example.com", "a b@example.com"):
            with pytest.raises(ValidationFailed) as caught:
                update(publisher, email=value)
            assert caught.value.field == "email"

    def test_a_verified_email_needs_no_new_link(self, publisher):
        update(publisher, email="partners@acme.example.com")
        _, secret = send_link(publisher)
        verify(secret)
        with pytest.raises(Conflict, match="already verified"):
            send_link(publisher)

    def test_viewers_may_not_send_links(self, publisher):
        update(publisher, email="partners@acme.example.com")
        with pytest.raises(PermissionDenied):
            send_link(publisher, acting=publisher.viewer)
        with pytest.raises(NotFound):
            send_link(publisher, acting=publisher.outsider)


class TestCompleteness:
    def test_complete_only_with_every_field_a_logo_and_a_verified_email(self, publisher):
        update(publisher, **FIELDS)
        profile = services.set_logo(
            organization=publisher.org,
            data=images.png(),
            acting=publisher.editor,
            origin=TEST_ORIGIN,
        )
        assert profile.missing() == ["verification of the company email"]
        assert not profile.is_complete
        _, secret = send_link(publisher)
        assert verify(secret).is_complete

    def test_a_changed_email_makes_the_profile_incomplete_again(self, publisher):
        assert complete(publisher).is_complete
        assert not update(publisher, email="new@acme.example.com").is_complete
