"""Organisation webhooks: made on the page with a secret shown once, signed deliveries to
a real receiver on loopback, retries with backoff, the delivery log, the test button, and
the URLs refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from django.test import Client

from portside.audit.models import AuditEvent
from portside.notifications import webhooks
from portside.notifications.models import Notification, State, WebhookDelivery, WebhookEndpoint
from tests.notifications.conftest import Receiver, World, clock_payload, run_deferred

ALL = [
    "policy:clock:started",
    "policy:clock:reminder",
    "policy:clock:stopped",
    "policy:listing:held",
    "policy:listing:released",
    "policy:listing:revoked",
    "policy:listing:reinstated",
    "policy:vex:reviewed",
]


def _owner(world: World) -> Client:
    client = Client()
    client.force_login(world.store.pub.owner)
    return client


def _make(client: Client, url: str, key: str = "form-1", events: list[str] | None = None) -> Any:
    return client.post(
        "/orgs/acme/notifications/",
        {"url": url, "events": events or ALL, "description": "CI", "creation_key": key},
    )


def _secret(page: str) -> str:
    match = re.search(r'<code id="webhook-secret">(whsec_[A-Za-z0-9_-]+)</code>', page)
    assert match, "no secret on the page"
    return match.group(1)


def _verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["Portside-Signature"])
    assert match, headers["Portside-Signature"]
    expected = hmac.new(secret.encode(), match.group(1).encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), match.group(2))


def test_an_owner_makes_a_webhook_and_sees_the_secret_once(
    world: World, receiver: Receiver
) -> None:
    client = _owner(world)
    made = _make(client, receiver.url)
    assert made.status_code == 200
    secret = _secret(made.content.decode())
    again = _make(client, receiver.url)  # the same form sent twice
    assert again.status_code == 302
    assert WebhookEndpoint.objects.count() == 1
    page = client.get("/orgs/acme/notifications/").content.decode()
    assert secret not in page and secret[:10] in page
    assert AuditEvent.objects.filter(action="notifications:webhook:created").count() == 1


def test_events_are_delivered_signed_and_a_failure_is_retried_later(
    world: World, receiver: Receiver, emit: Any, deferred: list[Any]
) -> None:
    client = _owner(world)
    secret = _secret(_make(client, receiver.url).content.decode())
    receiver.statuses = [500]
    emit("policy:clock:started", **clock_payload(world))
    emit("policy:clock:started", **clock_payload(world))  # delivered again: sent once
    assert len(receiver.received) == 1
    notice = Notification.objects.get(channel="webhook")
    assert notice.state == State.RETRYING and notice.next_attempt_at is not None
    assert len(deferred) == 1 and deferred[0].task.run_after is not None
    page = client.get("/orgs/acme/notifications/").content.decode()
    assert ">500</span>" in page and "next try" in page
    run_deferred(deferred)
    assert len(receiver.received) == 2
    first, second = receiver.received
    assert first.headers["Portside-Delivery"] == second.headers["Portside-Delivery"]
    assert second.headers["Portside-Event"] == "policy:clock:started"
    assert second.path == "/hooks/portside"
    _verify(secret, second.headers, second.body)
    document = json.loads(second.body)
    assert document["type"] == "policy:clock:started"
    assert document["id"] == str(notice.uid)
    assert document["data"]["advisory_id"] == "CVE-2026-1234"
    assert document["data"]["affected"][0]["tag"] == "1.0"
    notice.refresh_from_db()
    assert notice.state == State.SENT and notice.attempts == 2
    codes = list(WebhookDelivery.objects.order_by("attempt").values_list("status_code", flat=True))
    assert codes == [500, 204]
    with pytest.raises(AssertionError):
        _verify("whsec_wrong", second.headers, second.body)


def test_only_the_chosen_events_are_sent(world: World, receiver: Receiver, emit: Any) -> None:
    _make(_owner(world), receiver.url, events=["policy:listing:held"])
    emit("policy:clock:started", **clock_payload(world))
    assert receiver.received == []


def test_a_redirect_is_not_followed_and_the_try_fails(
    world: World, receiver: Receiver, emit: Any, deferred: list[Any], settings: Any
) -> None:
    settings.NOTIFICATIONS_ATTEMPTS = 1
    _make(_owner(world), receiver.url)
    receiver.statuses = [302]
    receiver.redirect_to = receiver.url + "/other"
    emit("policy:clock:started", **clock_payload(world))
    assert [r.path for r in receiver.received] == ["/hooks/portside"]
    notice = Notification.objects.get(channel="webhook")
    assert notice.state == State.FAILED and "redirects are not followed" in notice.error
    assert deferred == []


def test_the_test_button_sends_one_test_per_click(
    world: World, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    client = _owner(world)
    secret = _secret(_make(client, receiver.url).content.decode())
    endpoint = WebhookEndpoint.objects.get()
    path = f"/orgs/acme/notifications/webhooks/{endpoint.pk}/test"

    def click(nonce: str) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return int(client.post(path, {"nonce": nonce}).status_code)

    assert click("click-1") == 302
    assert click("click-1") == 302  # the same click, retried
    assert len(receiver.received) == 1
    _verify(secret, receiver.received[0].headers, receiver.received[0].body)
    assert json.loads(receiver.received[0].body)["type"] == "notifications:webhook:test"
    click("click-2")
    assert len(receiver.received) == 2
    assert click("bad nonce!") == 302
    assert len(receiver.received) == 2
    assert AuditEvent.objects.filter(action="notifications:webhook:tested").count() == 2


def test_edit_rotate_and_remove_are_audited_and_remove_twice_is_fine(
    world: World, receiver: Receiver, emit: Any
) -> None:
    client = _owner(world)
    old = _secret(_make(client, receiver.url).content.decode())
    endpoint = WebhookEndpoint.objects.get()
    base = f"/orgs/acme/notifications/webhooks/{endpoint.pk}/"
    prefix = f"e{endpoint.pk}"
    edited = client.post(
        base + "edit", {f"{prefix}-events": ["policy:listing:held"], f"{prefix}-description": "x"}
    )
    assert edited.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.events == ["policy:listing:held"] and not endpoint.active
    new = _secret(client.post(base + "rotate").content.decode())
    assert new != old
    endpoint.refresh_from_db()
    assert endpoint.secret == new
    assert client.post(base + "delete").status_code == 302
    assert client.post(base + "delete").status_code == 302
    assert "already removed" in client.get("/orgs/acme/notifications/").content.decode()
    assert client.post(base + "test", {"nonce": "n"}).status_code == 404
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    for action in ("updated", "secret_rotated", "deleted"):
        assert f"notifications:webhook:{action}" in actions
    assert AuditEvent.objects.filter(action="notifications:webhook:deleted").count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/",
        "https://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "ftp://93.184.215.14/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://93.184.215.14/",
        "https://user:pass@93.184.215.14/",
        "https:///nohost",
        "https://93.184.215.14/a b",
        "https://93.184.215.14/\r\nX-Evil: 1",
        "https://93.184.215.14/#frag",
        "https://93.184.215.14:99999/",
        "https://93.184.215.14/" + "a" * 3000,
        "",
        "not a url",
    ],
)
def test_hostile_webhook_urls_are_refused(world: World, url: str) -> None:
    answer = _make(_owner(world), url)
    assert answer.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_a_public_address_is_accepted(world: World) -> None:
    answer = _make(_owner(world), "https://93.184.215.14/hook")
    assert answer.status_code == 200
    assert WebhookEndpoint.objects.get().url == "https://93.184.215.14/hook"


@pytest.mark.parametrize(
    "data",
    [
        {"events": ["policy:nope:nothing"]},
        {"events": []},
        {"description": "d" * 101},
        {"creation_key": "k" * 65},
        {"creation_key": "bad key/../"},
    ],
)
def test_hostile_webhook_forms_are_refused(world: World, data: dict[str, Any]) -> None:
    fields = {"url": "https://93.184.215.14/", "events": ALL, "creation_key": "k1", **data}
    answer = _owner(world).post("/orgs/acme/notifications/", fields)
    assert answer.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_the_address_is_checked_again_at_delivery(
    world: World, receiver: Receiver, emit: Any, settings: Any
) -> None:
    _make(_owner(world), receiver.url)
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = False
    settings.NOTIFICATIONS_ATTEMPTS = 1
    emit("policy:clock:started", **clock_payload(world))
    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status_code is None and "not a public address" in delivery.error


def test_signature_scheme() -> None:
    body = b'{"a":1}'
    value = webhooks.signature("whsec_k", 1700000000, body)
    mac = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert value == f"t=1700000000,v1={mac}"
