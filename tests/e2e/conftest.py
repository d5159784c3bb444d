"""Fixtures for tests that drive a real browser (Debian's chromium through Playwright)
and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port

# Playwright's sync API runs an event loop in the test thread; the test itself only makes
# blocking ORM calls between browser steps, which is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Mailbox:
    """Messages received by the SMTP server, oldest first."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._cond:
            self.messages.append(message)  # type: ignore[arg-type]
            self._cond.notify_all()
        return "250 OK"

    def wait_for(self, to: str, subject_part: str, timeout: float = 15) -> EmailMessage:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages:
                    if to in str(message["To"]) and subject_part in str(message["Subject"]):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no mail to {to} about {subject_part!r}")
                self._cond.wait(remaining)


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def find_link(text: str, path_part: str) -> str:
    match = re.search(r"https?://\S*" + re.escape(path_part) + r"\S*", text)
    assert match, f"no link containing {path_part} in:\n{text}"
    return match.group(0)


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
        }
    }
    try:
        yield mailbox
    finally:
        controller.stop()


def _close_unshared_connections(self: Any) -> None:
    """The live server's request threads close the database connections when a
    connection from the browser ends. The test database is SQLite in memory, one
    connection shared with the server thread, whose close() does nothing but check that
    it is still shared; a keep-alive connection that ends after the live server stops
    sharing it (at the end of the session) then fails that check in a thread. Closing
    only the connections that are not that one loses nothing."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if not (conn.vendor == "sqlite" and conn.is_in_memory_db()):
            conn.close()


@pytest.fixture(scope="session", autouse=True)
def _live_server_closes_what_it_may() -> None:
    from django.core.servers.basehttp import ThreadedWSGIServer

    ThreadedWSGIServer._close_connections = _close_unshared_connections  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def screenshots() -> Any:
    """Save full-page screenshots as test artefacts: in ``test-artifacts/screenshots`` of
    the checkout, or in the directory PORTSIDE_SCREENSHOTS names."""
    target = Path(os.environ.get("PORTSIDE_SCREENSHOTS") or ARTIFACTS)

    def shoot(page: Any, name: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)

    return shoot


@contextlib.contextmanager
def running_store(
    tmp_path: Path, users: list[tuple[str, str, list[str]]], **env: str
) -> Iterator[tuple[Any, Mailbox]]:
    """A real `portside serve` on a database of its own, sending mail to a real SMTP
    server on loopback, with ``users`` (name, password, extra `user create` arguments)
    made by the command line first."""
    from aiosmtpd.controller import Controller

    from tests.servers import Server, scratch_environment

    mailbox = Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with scratch_environment(tmp_path / "store") as environment:
            (tmp_path / "store").mkdir(exist_ok=True)
            environment.update(
                PORTSIDE_SMTP_HOST="127.0.0.1",
                PORTSIDE_SMTP_PORT=str(smtp_port),
                PORTSIDE_SCAN_ON_PUSH="false",
                **env,
            )
            server = Server(env=environment, data_dir=tmp_path / "store")
            environment["PORTSIDE_BASE_URL"] = server.url
            migrated = server.cli("migrate", "--no-input")
            assert migrated.returncode == 0, migrated.stderr
            for name, password, extra in users:
                made = server.cli(
                    "user", "create", name, "--email", f"{name}@example.com", *extra,
                    "--password-stdin", stdin=password + "\n",
                )  # fmt: skip
                assert made.returncode == 0, made.stderr
            server.start()
            try:
                yield server, mailbox
            finally:
                server.stop()
    finally:
        controller.stop()
