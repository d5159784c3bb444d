"""The notification tests' servers, all real and on loopback: an SMTP server (aiosmtpd)
that keeps what it receives, and an HTTP server that receives webhooks and answers with
the statuses a test lines up. And the store they run in: a published product, a paying
and a free customer who both pulled its image."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import transaction
from django.tasks import task_backends

from portside.commerce import services as commerce
from portside.commerce import subscribers as commerce_subscribers
from portside.core import clock, events
from tests.commerce.world import Store, build_store, customer, pay
from tests.factories import TEST_ORIGIN
from tests.servers import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
        }
    }
    settings.BASE_URL = "https://store.example.com"
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn; then 204
    redirect_to: str = ""


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = True
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 204
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.redirect_to or "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/portside"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def events_backend() -> Any:
    return task_backends["events"]


@pytest.fixture
def deferred() -> Iterator[list[Any]]:
    """The tries the events backend keeps for later (a failed delivery's next try)."""
    backend = events_backend()
    backend.deferred.clear()
    yield backend.deferred
    backend.deferred.clear()


def run_deferred(deferred: list[Any]) -> None:
    """Run what was deferred, as the worker would once its time comes."""
    waiting = list(deferred)
    deferred.clear()
    for result in waiting:
        result.task.call(*result.args, **result.kwargs)


@pytest.fixture
def emit(django_capture_on_commit_callbacks: Any, deferred: list[Any]) -> Any:
    """Emit a domain event as the policy context does, in a transaction; its deliveries
    run when it commits. A subscriber that failed would have queued its next try."""

    def go(name: str, **payload: Any) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                events.emit(name, **payload)
        failed = [r for r in deferred if r.task.module_path == events.deliver.module_path]
        assert not failed, f"a subscriber of {name} failed"

    return go


@dataclass
class World:
    store: Store
    payer: Any  # a paid subscription, pulled 1.0
    freeloader: Any  # a free tier, pulled 1.0
    bystander: Any  # a paid subscription, never pulled

    @property
    def product(self) -> Any:
        return self.store.product

    @property
    def org(self) -> Any:
        return self.store.pub.org

    @property
    def digest(self) -> str:
        return str(self.store.pub.digest)


def pulled(store: Store, user: Any, tag: str = "1.0") -> None:
    commerce_subscribers.record_customer_pulls(
        pulls=[
            {
                "repository": store.pub.repository.name,
                "digest": store.pub.digest,
                "tag": tag,
                "user_id": user.pk,
                "pulled_at": clock.now().isoformat(),
            }
        ]
    )


@pytest.fixture
def world(db: Any) -> World:
    store = build_store()
    payer, freeloader, bystander = customer("payer"), customer("freeloader"), customer("bystander")
    pay(store, payer)
    pay(store, bystander)
    commerce.take_free_tier(
        listing=store.listing,
        tier_id=store.free_tier,
        user=freeloader,
        accept_licence=True,
        origin=TEST_ORIGIN,
    )
    pulled(store, payer)
    pulled(store, freeloader)
    return World(store, payer, freeloader, bystander)


def affected(world: World) -> list[dict[str, Any]]:
    return [
        {
            "repository": world.store.pub.repository.name,
            "tag": "1.0",
            "digest": world.digest,
            "image": world.digest,
        }
    ]


def held_payload(world: World, hold_id: int = 7) -> dict[str, Any]:
    return {
        "hold_id": hold_id,
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "overdue_since": "2026-12-01T10:00:00+00:00",
        "affected": affected(world),
    }


def clock_payload(world: World, clock_id: int = 11) -> dict[str, Any]:
    return {
        "clock_id": clock_id,
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "advisory_id": "CVE-2026-1234",
        "package": "openssl",
        "package_type": "deb",
        "severity": "critical",
        "started_at": "2026-12-01T10:00:00+00:00",
        "due_at": "2026-12-04T10:00:00+00:00",
        "affected": [dict(a, version="3.0.1-1", fixed=["3.0.2-1"]) for a in affected(world)],
    }
