"""The README's first command, for real: `portside serve` on a fresh data directory,
a new user signs up in a browser, verifies with the mail written to the data directory,
and signs in. Always the embedded default (SQLite, local disk), whatever the suite runs on."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests import servers
from tests.servers import free_port

pytestmark = pytest.mark.e2e


def embedded_env(data_dir: Path) -> dict[str, str]:
    return servers.embedded_env(data_dir, workers=1)


def portside(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", *args],
        env=embedded_env(data_dir),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def served(tmp_path):
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "portside.cli.main", "serve", "--port", str(port)],
            env=embedded_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if "Portside is running at http://127.0.0.1:" in log_path.read_text():
            break
        time.sleep(0.2)
    else:
        process.kill()
        process.wait()
        pytest.fail("portside serve did not start:\n" + log_path.read_text())
    yield f"http://127.0.0.1:{port}", tmp_path
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log_path.read_text()


def test_readme_serve_sign_up_verify_sign_in(served, browser, screenshots):
    base, data_dir = served
    page = browser.new_context().new_page()
    page.goto(f"{base}/")
    assert page.title().endswith("Portside")
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_email", "fay@example.com")
    page.fill("#id_username", "fay")
    page.fill("#id_password1", "fay-has-a-long-password")
    page.fill("#id_password2", "fay-has-a-long-password")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/accounts/confirm-email/")

    mails = sorted((data_dir / "mail").glob("*.log"), key=lambda p: p.stat().st_mtime)
    assert mails, "no mail written to the data directory"
    message = message_from_bytes(mails[-1].read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", text).group(0)
    page.goto(link)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()

    fresh = browser.new_context().new_page()
    fresh.goto(f"{base}/accounts/login/")
    fresh.fill("#id_login", "fay@example.com")
    fresh.fill("#id_password", "fay-has-a-long-password")
    fresh.locator("main form button[type=submit]").first.click()
    fresh.wait_for_load_state()
    assert fresh.locator("summary", has_text="fay").is_visible()
    screenshots(fresh, "00-quickstart-signed-in")

    assert fresh.goto(f"{base}/health").status == 200
    css = re.search(r'href="(/static/portside/site\.[0-9a-f]+\.css)"', page.content())
    assert css and fresh.goto(base + css.group(1)).status == 200

    verify = portside(data_dir, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_cli_commands_and_their_errors(tmp_path):
    assert portside(tmp_path, "migrate", "--no-input").returncode == 0
    created = portside(
        tmp_path,
        "user",
        "create",
        "gus",
        "--email",
        "gus@example.com",
        "--role",
        "admin",
        "--password-stdin",
        stdin="gus-has-a-long-password\n",
    )
    assert created.returncode == 0, created.stderr
    duplicate = portside(
        tmp_path,
        "user",
        "create",
        "gus",
        "--email",
        "other@example.com",
        "--password-stdin",
        stdin="gus-has-a-long-password\n",
    )
    assert duplicate.returncode != 0 and "already taken" in duplicate.stderr
    assert (
        "password on standard input"
        in portside(tmp_path, "user", "create", "hal", "--email", "h@example.com").stderr
    )
    weak = portside(
        tmp_path,
        "user",
        "create",
        "hal",
        "--email",
        "h@example.com",
        "--password-stdin",
        stdin="123\n",
    )
    assert weak.returncode != 0 and "too short" in weak.stderr

    assert portside(tmp_path, "org", "create", "gus-corp", "--owner", "gus").returncode == 0
    for bad, message in [
        ("gus-corp", "already taken"),
        ("Gus", "lowercase"),
        ("v2", "reserved"),
        ("gus", "already taken"),
    ]:
        result = portside(tmp_path, "org", "create", bad, "--owner", "gus")
        assert result.returncode != 0 and message in result.stderr, (bad, result.stderr)

    token = portside(
        tmp_path,
        "token",
        "create",
        "gus",
        "--name",
        "ci",
        "--scopes",
        "read",
        "write",
        "--expires-days",
        "7",
    )
    assert token.returncode == 0 and re.fullmatch(r"psp_[A-Za-z0-9]{40}\n", token.stdout)
    assert "shown only now" in token.stderr
    bad_days = portside(tmp_path, "token", "create", "gus", "--name", "x", "--expires-days", "0")
    assert bad_days.returncode != 0 and "expires after" in bad_days.stderr
    listing = portside(tmp_path, "token", "list", "gus")
    assert token.stdout[:10] in listing.stdout and token.stdout.strip() not in listing.stdout
    revoke = portside(tmp_path, "token", "revoke", "gus", token.stdout[:10])
    assert revoke.returncode == 0

    export = portside(tmp_path, "audit", "export", "--format", "csv")
    assert export.returncode == 0
    assert "account:token:revoked" in export.stdout and export.stdout.startswith(
        "id,created_at,action"
    )
    assert portside(tmp_path, "audit", "verify").returncode == 0


def test_retention_below_180_days_refuses_to_start(tmp_path):
    env = embedded_env(tmp_path) | {"PORTSIDE_AUDIT_RETENTION_DAYS": "90"}
    result = subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "at least 180 days" in result.stderr


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("PORTSIDE_AUDIT_RETENTION_DAYS", "soon", "must be an integer"),
        ("DATABASE_URL", "mysql://x@y/z", "must point at PostgreSQL"),
        ("PORTSIDE_SECRET_KEY", "short", "at least 32 characters"),
        ("PORTSIDE_HTTPS", "maybe", "must be one of"),
        ("PORTSIDE_AUDIT_STREAM", "file:relative", "absolute path"),
        ("PORTSIDE_BLOB_STORE", "ftp://example.invalid/x", "PORTSIDE_BLOB_STORE is not usable"),
        ("PORTSIDE_BLOB_STORE", "file://relative/path", "PORTSIDE_BLOB_STORE is not usable"),
    ],
)
def test_bad_configuration_is_refused_with_a_message(tmp_path, variable, value, message):
    env = embedded_env(tmp_path) | {variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
