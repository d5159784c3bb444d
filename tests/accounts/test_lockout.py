"""One lockout per account for every way in with a password: the sign-in form and the
registry's token endpoint, by user name or by email address. Failures count against the
account whatever string named it; a login that names no account is counted per login and
client address, so that probing from one address cannot tell which accounts exist."""

from __future__ import annotations

import base64
import re

import pytest
from django.core import mail
from django.test import Client

from portside.accounts import services
from portside.audit.models import AuditEvent
from portside.core import clock
from tests.factories import PASSWORD, TEST_ORIGIN, make_user

pytestmark = pytest.mark.django_db
WRONG = "not-the-password-at-all"


@pytest.fixture
def limit() -> int:
    rate = services.lockout_rate()
    assert rate is not None
    return rate[0]


def token_request(client: Client, login: str, secret: str):
    raw = base64.b64encode(f"{login}:{secret}".encode()).decode()
    return client.get("/auth/token", HTTP_AUTHORIZATION=f"Basic {raw}")


def form_sign_in(client: Client, login: str, secret: str) -> bool:
    """Sign in through the page; whether a session was opened."""
    client.post("/accounts/login/", {"login": login, "password": secret})
    signed_in = "_auth_user_id" in client.session
    client.logout()
    return signed_in


def test_alternating_name_and_email_lock_the_account_at_the_token_endpoint(client, limit):
    make_user("alice")
    for attempt in range(limit):
        login = "alice" if attempt % 2 else "Alice@Example.com"
        assert token_request(client, login, WRONG).status_code == 401, attempt
    for login in ["alice", "alice@example.com"]:
        refused = token_request(client, login, PASSWORD)
        assert refused.status_code == 429, login
        assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    # The same lockout holds on the sign-in page.
    assert not form_sign_in(client, "alice", PASSWORD)
    assert not form_sign_in(client, "alice@example.com", PASSWORD)
    failed = AuditEvent.objects.filter(action="account:session:sign_in_failed")
    assert failed.count() == limit and {e.target_label for e in failed} == {"alice"}


def test_alternating_name_and_email_lock_the_account_on_the_sign_in_page(limit):
    make_user("alice")
    page = Client()
    for attempt in range(limit):
        login = "alice@example.com" if attempt % 2 else "alice"
        assert not form_sign_in(page, login, WRONG)
    for login in ["alice", "alice@example.com"]:
        assert not form_sign_in(page, login, PASSWORD), login
    # From another address, and through the registry, the account is locked all the same.
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert token_request(elsewhere, "alice", PASSWORD).status_code == 429
    assert token_request(elsewhere, "alice@example.com", PASSWORD).status_code == 429
    assert not form_sign_in(elsewhere, "alice", PASSWORD)


def test_failures_on_both_doors_add_up(client, limit):
    make_user("alice")
    page = Client()
    for attempt in range(limit):
        if attempt % 2:
            assert not form_sign_in(page, "alice", WRONG)
        else:
            assert token_request(client, "alice@example.com", WRONG).status_code == 401
    assert token_request(client, "alice", PASSWORD).status_code == 429
    assert not form_sign_in(page, "alice@example.com", PASSWORD)
    # Another account is not affected.
    make_user("bob")
    assert token_request(client, "bob", PASSWORD).status_code == 200
    assert form_sign_in(page, "bob", PASSWORD)


def test_one_failure_short_of_the_limit_still_lets_the_right_password_in(client, limit):
    make_user("alice")
    for attempt in range(limit - 1):
        token_request(client, "alice" if attempt % 2 else "alice@example.com", WRONG)
    assert token_request(client, "alice", PASSWORD).status_code == 200


def test_the_lockout_ends_with_its_window(client, limit):
    make_user("alice")
    _, seconds = services.lockout_rate() or (0, 0)
    with clock.frozen(clock.now()) as frozen:
        for _ in range(limit):
            token_request(client, "alice", WRONG)
        assert token_request(client, "alice", PASSWORD).status_code == 429
        frozen.advance(seconds=seconds + 1)
        assert token_request(client, "alice", PASSWORD).status_code == 200


def test_unknown_logins_are_counted_per_login_and_address(limit):
    """From one address an unknown login locks after as many failures as an account does,
    so the answers do not tell them apart; from another address it is not locked."""
    make_user("alice")
    here, there = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.2")
    answers = {}
    for login in ["alice", "nobody", "nobody@example.com"]:
        statuses = [token_request(here, login, WRONG).status_code for _ in range(limit + 1)]
        answers[login] = statuses
    assert answers["alice"] == answers["nobody"] == answers["nobody@example.com"]
    assert answers["alice"] == [401] * limit + [429]
    assert token_request(there, "nobody", WRONG).status_code == 401
    assert token_request(there, "alice", PASSWORD).status_code == 429  # the account is locked


def test_a_personal_access_token_is_not_stopped_by_the_password_lockout(client, limit):
    """Anyone can set the lockout off for any account; it must not stop the account's
    automation, which signs in with tokens that cannot be guessed."""
    alice = make_user("alice")
    _, secret = services.create_token(
        user=alice, name="ci", scopes=["read"], acting=alice, origin=TEST_ORIGIN
    )
    for _ in range(limit):
        token_request(Client(REMOTE_ADDR="10.6.6.6"), "alice", WRONG)
    assert token_request(client, "alice", PASSWORD).status_code == 429
    assert token_request(client, "alice", secret).status_code == 200
    # Wrong tokens are counted too, per login and address.
    bad = "psp_" + "x" * 40
    statuses = [token_request(client, "alice", bad).status_code for _ in range(limit + 1)]
    assert statuses == [401] * limit + [429]


def test_a_password_reset_ends_the_lockout(limit):
    make_user("alice")
    page = Client()
    for _ in range(limit):
        token_request(page, "alice", WRONG)
    assert token_request(page, "alice", PASSWORD).status_code == 429
    page.post("/accounts/password/reset/", {"email": "alice@example.com"})
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", mail.outbox[-1].body)
    assert link is not None
    form = page.get(link.group(0).split("testserver", 1)[1], follow=True)
    new_password = "a-brand-new-long-password-9"
    page.post(form.request["PATH_INFO"], {"password1": new_password, "password2": new_password})
    assert token_request(page, "alice", new_password).status_code == 200
    assert form_sign_in(page, "alice@example.com", new_password)


def test_the_lockout_rate_is_read_from_the_sign_in_settings(settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,3/2m/key"}
    assert services.lockout_rate() == (3, 120)
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip"}
    assert services.lockout_rate() is None
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "x/300s/key"}
    from portside.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        services.lockout_rate()


def test_a_login_names_one_account():
    alice = make_user("alice")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=alice, email="ali@work.example", verified=True)
    origin = TEST_ORIGIN
    key = services.sign_in_key("alice", origin)
    assert key == f"account:{alice.pk}"
    assert services.sign_in_key("ALICE@example.com", origin) == key
    assert services.sign_in_key("ali@work.example", origin) == key
    assert services.sign_in_key("someone", origin).startswith("login:someone:")
    assert services.sign_in_key("", origin).startswith("login::")


def test_a_flood_of_failed_sign_ins_does_not_fill_the_trail() -> None:
    """Anyone can fail to sign in as often as they like; the trail keeps the first twenty
    rows of each kind a minute from one address, then says it stopped."""
    client = Client()
    with clock.frozen(clock.now().replace(second=0, microsecond=0)):
        for n in range(60):
            token_request(client, f"nobody{n}@example.org", WRONG)
    failed = AuditEvent.objects.filter(action="account:session:sign_in_failed").count()
    throttled = AuditEvent.objects.filter(action="account:session:throttled").count()
    assert failed <= 20 and throttled <= 20 and failed + throttled > 0
    notes = AuditEvent.objects.filter(action="audit:trail:suppressed")
    assert {n.details["suppressed_action"] for n in notes} <= {
        "account:session:sign_in_failed",
        "account:session:throttled",
    }
    assert notes.exists() and AuditEvent.objects.count() < 45
