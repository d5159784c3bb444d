"""A new user's first session, in a real browser against the real pages."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pyotp
import pytest

from portside.accounts.models import Membership, OrgRole
from portside.audit.models import AuditEvent
from tests.e2e.conftest import body_of, find_link
from tests.factories import PASSWORD, make_user, totp_code

# serialized_rollback: the rows the migrations wrote (the store's categories) are put back
# after each test, for the tests that run after these in the same process.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

NEW_PASSWORD = "correct-horse-battery-staple"


def api_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.load(response)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def sign_in(page, base: str, login: str, password: str, user=None) -> None:
    """Sign in; for a ``user`` with an authenticator (the store team has one), type the
    code it shows on the second step."""
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_login", login)
    page.fill("#id_password", password)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    if user is not None and "/2fa/authenticate/" in page.url:
        page.fill("#id_code", totp_code(user))
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()


def test_new_user_journey(live_server, browser, smtp_server, screenshots):
    base = live_server.url
    context = browser.new_context()
    page = context.new_page()

    # Sign up.
    page.goto(f"{base}/accounts/signup/")
    screenshots(page, "01-signup")
    page.fill("#id_email", "dana@example.com")
    page.fill("#id_username", "dana")
    page.fill("#id_password1", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/accounts/confirm-email/")
    screenshots(page, "02-verify-sent")

    # Verify with the link from a real mail.
    mail = smtp_server.wait_for("dana@example.com", "Confirm")
    page.goto(find_link(body_of(mail), "/accounts/confirm-email/"))
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()

    # Sign in.
    sign_in(page, base, "dana", NEW_PASSWORD)
    assert page.locator("summary", has_text="dana").is_visible()
    screenshots(page, "03-home-signed-in")

    # Turn on TOTP.
    page.goto(f"{base}/accounts/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:  # sensitive changes ask for the password again
        page.fill("#id_password", NEW_PASSWORD)
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_url("**/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    totp = pyotp.TOTP(secret)
    page.fill("#id_code", totp.now())
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert AuditEvent.objects.filter(action="account:mfa:added", actor_name="dana").exists()

    # Sign out, sign in again: the second factor is asked for.
    page.goto(f"{base}/accounts/logout/")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    sign_in(page, base, "dana", NEW_PASSWORD)
    page.wait_for_url("**/accounts/2fa/authenticate/")
    screenshots(page, "04-mfa-challenge")
    page.fill("#id_code", "000000" if totp.now() != "000000" else "111111")
    page.locator("main form button[type=submit]").first.click()
    assert (
        page.locator(".errorlist, .error, [role=alert]").count() > 0 or "authenticate" in page.url
    )
    page.fill("#id_code", totp.at(time.time() + 30))
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert page.locator("summary", has_text="dana").is_visible()

    # A recovery code works once, in place of the authenticator.
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    codes = RecoveryCodes(
        Authenticator.objects.get(user__username="dana", type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()
    assert len(codes) >= 10
    spare = browser.new_context().new_page()
    sign_in(spare, base, "dana", NEW_PASSWORD)
    spare.wait_for_url("**/accounts/2fa/authenticate/")
    spare.fill("#id_code", codes[0])
    spare.locator("main form button[type=submit]").first.click()
    spare.wait_for_load_state()
    assert spare.locator("summary", has_text="dana").is_visible()

    # Create an organisation; a bad name is refused with a clear message first.
    page.goto(f"{base}/orgs/")
    page.fill("#id_name", "Not Valid")
    page.locator("main form button[type=submit]").first.click()
    assert page.get_by_text("Use lowercase letters only.").is_visible()
    page.fill("#id_name", "dana-labs")
    page.fill("#id_display_name", "Dana Labs")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/orgs/dana-labs/")

    # Invite a member; the invitee accepts in another browser session.
    make_user("erin", email="erin@example.com")
    page.fill("#id_email", "erin@example.com")
    page.select_option("#id_role", "editor")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_load_state()
    assert page.get_by_text("Invitation sent to erin@example.com").is_visible()
    screenshots(page, "05-organisation")
    invite = smtp_server.wait_for("erin@example.com", "Join")
    erin = browser.new_context().new_page()
    sign_in(erin, base, "erin", PASSWORD)
    erin.goto(find_link(body_of(invite), "/invitations/"))
    erin.get_by_role("button", name="Accept invitation").click()
    erin.wait_for_url("**/orgs/dana-labs/")
    assert Membership.objects.get(user__username="erin").role == OrgRole.EDITOR

    # Create a token, use it, revoke it.
    page.goto(f"{base}/settings/tokens/")
    page.fill("#id_name", "laptop")
    page.check("input[name=scopes][value=write]")
    page.get_by_role("button", name="Create token").click()
    token = page.inner_text("#new-token").strip()
    screenshots(page, "06-token-created")
    assert token.startswith("psp_")
    assert api_status(f"{base}/api/v1/me", token) == 200
    page.get_by_role("button", name="Revoke laptop").click()
    page.wait_for_load_state()
    assert page.get_by_text("Token laptop revoked.").is_visible()
    assert api_status(f"{base}/api/v1/me", token) == 401
    screenshots(page, "07-token-revoked")

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "account:user:signed_up",
        "account:email:verified",
        "account:session:signed_in",
        "account:session:signed_out",
        "account:mfa:added",
        "account:organization:created",
        "account:invitation:created",
        "account:membership:added",
        "account:token:created",
        "account:token:revoked",
    } <= actions


def test_store_admin_reads_the_audit_trail(live_server, browser, screenshots):
    root = make_user("root1", store_role="admin")
    page = browser.new_context().new_page()
    sign_in(page, live_server.url, "root1", PASSWORD, user=root)
    page.get_by_role("link", name="Audit trail").click()
    page.fill("#id_action", "account:session:")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert page.locator("td code", has_text="account:session:signed_in").count() >= 1
    # The trail fits the window: no sideways scrolling at a laptop's width.
    page.set_viewport_size({"width": 1366, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshots(page, "08-audit-trail")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
