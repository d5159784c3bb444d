"""Retention: notifications and webhook deliveries that are done with go after
``NOTIFICATIONS_RETENTION_DAYS``, in bounded batches; what may still be sent, and what
later notices are addressed from, stays; an event told before a prune is not told again."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from portside.core import clock, schedule
from portside.notifications import retention
from portside.notifications.models import (
    Audience,
    Channel,
    Notification,
    PrunedKey,
    State,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.notifications.conftest import Mailbox, Receiver, World, clock_payload, held_payload

OWNER = "pub-owner@"
EVENTS = ["policy:clock:started", "policy:listing:held", "policy:listing:released"]


def _endpoint(world: World, url: str = "https://hooks.example.com/portside") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        organization=world.org,
        url=url,
        secret="whsec_test",
        events=EVENTS,
        created_at=clock.now(),
    )


def _notice(
    world: World,
    key: str,
    *,
    state: str,
    days_old: float,
    endpoint: WebhookEndpoint | None = None,
    event: str = "policy:clock:started",
    **fields: Any,
) -> Notification:
    return Notification.objects.create(
        key=key,
        event=event,
        channel=Channel.WEBHOOK if endpoint else Channel.MAIL,
        audience=Audience.PUBLISHER,
        user=None if endpoint else world.store.pub.owner,
        endpoint=endpoint,
        organization_id=world.org.pk,
        product_id=world.product.pk,
        subject=key,
        state=state,
        created_at=clock.now() - dt.timedelta(days=days_old),
        **fields,
    )


def _try(notice: Notification, *, days_old: float, attempt: int = 1) -> WebhookDelivery:
    assert notice.endpoint is not None
    return WebhookDelivery.objects.create(
        notification=notice,
        endpoint=notice.endpoint,
        attempt=attempt,
        at=clock.now() - dt.timedelta(days=days_old),
        status_code=500,
    )


def _keys() -> set[str]:
    return set(Notification.objects.values_list("key", flat=True))


def test_done_rows_past_the_window_go_and_the_others_stay(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    hook = _endpoint(world)
    sent = _notice(world, "old-sent", state=State.SENT, days_old=91)
    _notice(world, "old-digested", state=State.DIGESTED, days_old=120)
    failed = _notice(world, "old-failed", state=State.FAILED, days_old=100, endpoint=hook)
    _try(failed, days_old=100), _try(failed, days_old=99, attempt=2)
    _notice(world, "old-pending", state=State.PENDING, days_old=200)
    retrying = _notice(world, "old-retrying", state=State.RETRYING, days_old=95, endpoint=hook)
    kept_try = _try(retrying, days_old=95)
    recent = _notice(world, "recent-sent", state=State.SENT, days_old=89, endpoint=hook)
    recent_try = _try(recent, days_old=89)
    # A hold's notice stays (its release is not told yet) but its old tries go.
    held = _notice(
        world, "old-held", state=State.SENT, days_old=100, endpoint=hook,
        event="policy:listing:held", hold_id=7,
    )  # fmt: skip
    _try(held, days_old=100)

    with caplog.at_level(logging.INFO, logger="portside.notifications.retention"):
        done = retention.prune()

    assert (done.notices, done.deliveries) == (3, 3)
    assert _keys() == {"old-pending", "old-retrying", "recent-sent", "old-held"}
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {
        kept_try.pk,
        recent_try.pk,
    }
    assert set(PrunedKey.objects.values_list("key", flat=True)) == {
        "old-sent",
        "old-digested",
        "old-failed",
    }
    assert PrunedKey.objects.get(key="old-sent").created_at == sent.created_at
    assert "removed 3 notifications and 3 webhook deliveries" in caplog.text


def test_zero_keeps_everything(world: World, settings: Any) -> None:
    settings.NOTIFICATIONS_RETENTION_DAYS = 0
    hook = _endpoint(world)
    _try(_notice(world, "ancient", state=State.SENT, days_old=5000, endpoint=hook), days_old=5000)
    assert retention.prune() == retention.Pruned()
    assert retention.prune(clock.now() + dt.timedelta(days=10_000)) == retention.Pruned()
    assert Notification.objects.count() == 1 and WebhookDelivery.objects.count() == 1
    assert not PrunedKey.objects.exists()


def test_the_window_is_the_setting(world: World, settings: Any) -> None:
    settings.NOTIFICATIONS_RETENTION_DAYS = 7
    _notice(world, "eight-days", state=State.SENT, days_old=8)
    _notice(world, "six-days", state=State.SENT, days_old=6)
    assert retention.prune().notices == 1
    assert _keys() == {"six-days"}


def test_batches_are_bounded(world: World) -> None:
    hook = _endpoint(world)
    for n in range(12):
        notice = _notice(world, f"old-{n}", state=State.SENT, days_old=100, endpoint=hook)
        _try(notice, days_old=100)
    deletes: list[tuple[str, int]] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith("DELETE"):
            table = "notification" if "notifications_notification" in sql else "delivery"
            deletes.append((table, len(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        done = retention.prune(batch_size=5)

    assert (done.notices, done.deliveries) == (12, 12)
    assert done.batches == 3 + 3  # 12 tries in batches of 5, then 12 notices
    assert sum(table == "notification" for table, _ in deletes) == 3
    assert all(rows <= 5 for _, rows in deletes), deletes
    assert not Notification.objects.exists() and PrunedKey.objects.count() == 12


def test_running_twice_is_harmless(world: World) -> None:
    hook = _endpoint(world)
    _try(_notice(world, "old", state=State.FAILED, days_old=100, endpoint=hook), days_old=100)
    _notice(world, "new", state=State.SENT, days_old=1)
    first = retention.prune()
    assert (first.notices, first.deliveries) == (1, 1)
    assert retention.prune() == retention.Pruned()
    # A key already kept (a prune cut short after its batch committed) is no conflict.
    _notice(world, "old", state=State.SENT, days_old=100)
    assert retention.prune().notices == 1
    assert _keys() == {"new"} and list(PrunedKey.objects.values_list("key", flat=True)) == ["old"]


def test_an_event_told_before_a_prune_is_not_told_again(
    world: World, mailbox: Mailbox, receiver: Receiver, emit: Any
) -> None:
    _endpoint(world, receiver.url)
    emit("policy:clock:started", **clock_payload(world, clock_id=11))
    assert len(mailbox.to(OWNER)) == 1 and len(receiver.received) == 1
    assert set(Notification.objects.values_list("state", flat=True)) == {State.SENT}

    done = retention.prune(clock.now() + dt.timedelta(days=91))
    assert done.notices == 3 and done.deliveries == 1  # owner, editor, webhook
    assert not Notification.objects.exists()

    emit("policy:clock:started", **clock_payload(world, clock_id=11))  # delivered again
    assert len(mailbox.to(OWNER)) == 1 and len(receiver.received) == 1
    assert not Notification.objects.exists()
    emit("policy:clock:started", **clock_payload(world, clock_id=12))  # a new event is told
    assert len(mailbox.to(OWNER)) == 2 and len(receiver.received) == 2


def _backdate(event: str, days: int) -> None:
    Notification.objects.filter(event=event).update(
        created_at=clock.now() - dt.timedelta(days=days)
    )


def _subjects(address: str, mailbox: Mailbox) -> list[str]:
    return [" ".join(str(m["Subject"]).split()) for m in mailbox.to(address)]


def test_a_holds_notices_stay_until_its_release_is_told(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    emit("policy:listing:held", **held_payload(world, hold_id=7))
    _backdate("policy:listing:held", 200)
    assert retention.prune().notices == 0  # the release will be told to these people
    released = {
        "hold_id": 7,
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "held_since": "2026-06-01T10:00:00+00:00",
        "lifted_at": "2026-12-01T09:00:00+00:00",
    }
    emit("policy:listing:released", **released)
    assert "no longer on hold" in _subjects("payer@", mailbox)[1]
    assert retention.prune().notices == 0  # told, but not yet past the window
    everything = Notification.objects.count()
    assert retention.prune(clock.now() + dt.timedelta(days=91)).notices == everything
    emit("policy:listing:released", **released)  # delivered again, after all that
    assert len(mailbox.to("payer@")) == 2 and len(mailbox.to(OWNER)) == 2
    assert not Notification.objects.exists()


def test_a_products_last_revocation_stays_the_reinstatements_address_list(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    revoked = dict(
        held_payload(world, hold_id=9),
        revoked_at="2025-12-01T10:00:00+00:00",
        pull_until="2025-12-31T10:00:00+00:00",
    )
    emit("policy:listing:revoked", **revoked)
    _backdate("policy:listing:revoked", 365)
    assert retention.prune().notices == 0
    reinstated = {
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "reason": "Fixed images were pushed.",
    }
    emit("policy:listing:reinstated", **reinstated)  # a year on: the customers still hear
    assert "reinstated" in _subjects("payer@", mailbox)[1]
    owner_mail = len(mailbox.to(OWNER))
    later = clock.now() + dt.timedelta(days=91)
    reinstatements = Notification.objects.filter(event="policy:listing:reinstated").count()
    assert retention.prune(later).notices == reinstatements
    emit("policy:listing:reinstated", **reinstated)  # delivered again: the same key
    assert len(mailbox.to("payer@")) == 2 and len(mailbox.to(OWNER)) == owner_mail
    # A later revocation, once past the window, lets the earlier one go.
    emit("policy:listing:revoked", **dict(revoked, hold_id=10))
    first = Notification.objects.filter(hold_id=9).count()
    assert first > 0 and retention.prune(later).notices == first
    assert set(Notification.objects.values_list("hold_id", flat=True)) == {10}


def test_the_delivery_log_shows_the_recent_tries_and_how_long_they_are_kept(
    world: World, settings: Any
) -> None:
    hook = _endpoint(world)
    old = _notice(world, "old", state=State.SENT, days_old=100, endpoint=hook)
    new = _notice(world, "new", state=State.SENT, days_old=2, endpoint=hook)
    _try(old, days_old=100), _try(new, days_old=2)
    retention.prune()
    client = Client()
    client.force_login(world.store.pub.owner)
    page = client.get("/orgs/acme/notifications/").content.decode()
    assert str(new.uid) in page and str(old.uid) not in page
    assert "Deliveries are kept for 90 days" in page
    settings.NOTIFICATIONS_RETENTION_DAYS = 0
    page = client.get("/orgs/acme/notifications/").content.decode()
    assert "Deliveries are kept for ever" in page and str(new.uid) in page


def test_the_prune_is_scheduled_daily() -> None:
    job = next(job for job in schedule.jobs() if job.name == "notifications.prune")
    assert job.seconds == 86_400
