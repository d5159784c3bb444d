"""The store team needs two-factor authentication: a moderator, security officer or admin
without it is sent to the set-up page before any page their role opens."""

from __future__ import annotations

import io
import sys
from typing import Any

import pyotp
import pytest
from django.core.management import call_command
from django.test import Client

from portside.accounts.middleware import SET_UP_MESSAGE
from portside.accounts.models import User
from tests.api_publishing.helpers import secret_for
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

SET_UP = "/accounts/2fa/totp/activate/"
# A page of each store role.
STAFF_PAGES = {
    "moderator": "/staff/reviews/",
    "security": "/staff/audit/",
    "admin": "/staff/commerce/",
}


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("role", "page"), STAFF_PAGES.items())
def test_without_2fa_a_staff_page_sends_to_the_set_up_page(role: str, page: str) -> None:
    client = _signed_in(make_user(f"no2fa-{role}", store_role=role, two_factor=False))
    response = client.get(page)
    assert response.status_code == 302 and response["Location"] == SET_UP
    shown = client.get(SET_UP, follow=True)
    assert shown.status_code == 200
    assert SET_UP_MESSAGE in shown.content.decode()
    # A form sent to a store-team page is refused the same way, and does nothing.
    assert client.post(page, {}).status_code == 302


@pytest.mark.parametrize(("role", "page"), STAFF_PAGES.items())
def test_with_2fa_the_staff_page_opens(role: str, page: str) -> None:
    client = _signed_in(make_user(f"with2fa-{role}", store_role=role))
    assert client.get(page).status_code == 200


@pytest.mark.parametrize(("role", "page"), STAFF_PAGES.items())
def test_with_the_setting_off_2fa_is_not_required(settings: Any, role: str, page: str) -> None:
    settings.STORE_TEAM_REQUIRE_2FA = False
    client = _signed_in(make_user(f"off-{role}", store_role=role, two_factor=False))
    assert client.get(page).status_code == 200


def test_the_account_pages_stay_open_and_other_users_are_not_affected() -> None:
    moderator = _signed_in(make_user("mod", store_role="moderator", two_factor=False))
    for page in ("/accounts/2fa/", "/accounts/email/", "/accounts/password/change/"):
        assert moderator.get(page).status_code == 200, page
    # What the role opens beyond /staff/ is closed too: every organisation's pages.
    assert moderator.get("/orgs/").status_code == 302
    customer = _signed_in(make_user("carol"))
    assert customer.get("/orgs/").status_code == 200
    assert customer.get("/staff/reviews/").status_code == 403


def test_the_api_refuses_the_session_but_not_a_token() -> None:
    admin = make_user("opal", store_role="admin", two_factor=False)
    session = _signed_in(admin).get("/api/v1/review-queue")
    assert session.status_code == 403
    assert session["Content-Type"] == "application/problem+json"
    assert session.json()["code"] == "two_factor_required"
    bearer = Client().get(
        "/api/v1/review-queue", HTTP_AUTHORIZATION=f"Bearer {secret_for(admin, ('read',))}"
    )
    assert bearer.status_code == 200
    assert Client().get("/api/openapi.json").status_code == 200


def test_the_cli_created_admin_is_asked_to_set_up_2fa_at_first_sign_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    call_command(
        "user",
        "create",
        "opal",
        "--email",
        "opal@example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdout=io.StringIO(),
    )
    client = Client()
    signed_in = client.post(
        "/accounts/login/", {"login": "opal", "password": PASSWORD}, follow=True
    )
    # Sent to the set-up page (which first asks for the password again), with the reason.
    assert (SET_UP, 302) in signed_in.redirect_chain
    assert SET_UP_MESSAGE in signed_in.content.decode()
    assert client.get("/staff/audit/").status_code == 302

    # Setting it up as a person does: password, then a code from the authenticator app.
    confirmed = client.post(
        "/accounts/reauthenticate/", {"password": PASSWORD, "next": SET_UP}, follow=True
    )
    assert confirmed.redirect_chain[-1][0] == SET_UP
    secret = client.session["mfa.totp.secret"]
    activated = client.post(SET_UP, {"code": pyotp.TOTP(secret).now()})
    assert activated.status_code == 302, activated.content.decode()[:2000]
    assert client.get("/staff/audit/").status_code == 200
