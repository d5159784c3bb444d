"""Domain events delivered through the database: the delivery is written in the emitting
transaction, run by a worker, tried again when the subscriber fails, and put back in the
queue when a worker died while running it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus
from django.test import override_settings
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from portside.core import events

DB_TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.dummy.DummyBackend",
        "QUEUES": ["default", "events"],
    },
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "events"]},
}
received: list[dict[str, Any]] = []
failures_left = {"count": 0}


def collect(**payload: Any) -> None:
    received.append(payload)


def flaky(**payload: Any) -> None:
    if failures_left["count"] > 0:
        failures_left["count"] -= 1
        raise ConnectionError("the mail server hung up")
    received.append(payload)


@pytest.fixture
def db_events(db: Any) -> Any:
    received.clear()
    events.subscribe("test:durable:happened", collect)
    events.subscribe("test:durable:flaked", flaky)
    with override_settings(TASKS=DB_TASKS, EVENTS_TASK_BACKEND="db"):
        yield


def run_worker() -> None:
    """The database backend's own worker loop, in this process and this test's
    transaction (its check for stale connections would close the test's, so it is off)."""
    from unittest import mock

    with mock.patch(
        "django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None
    ):
        _worker().run()


def _worker() -> Worker:
    return Worker(
        queue_names=["events"],
        interval=0,
        batch=True,
        backend_name="db",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )


def deliveries() -> Any:
    return DBTaskResult.objects.filter(task_path=events.deliver.module_path)


def time_passes() -> None:
    """Every deferred try is due now (as if its wait had passed)."""
    deliveries().filter(status=TaskResultStatus.READY).update(
        run_after=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )


def test_the_delivery_is_written_with_the_transaction(db_events: Any) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit("test:durable:happened", thing_id=1)
        assert deliveries().count() == 1
        raise RuntimeError("rolled back")
    assert deliveries().count() == 0
    with transaction.atomic():
        events.emit("test:durable:happened", thing_id=2)
    assert received == []  # nothing runs in the emitting process
    [row] = deliveries()
    assert row.status == TaskResultStatus.READY and row.queue_name == "events"
    run_worker()
    assert received == [{"thing_id": 2}]
    assert deliveries().get().status == TaskResultStatus.SUCCESSFUL
    assert events.deliveries() == []


def test_a_failing_subscriber_is_tried_again_until_it_succeeds(db_events: Any) -> None:
    failures_left["count"] = 3
    events.emit("test:durable:flaked", thing_id=7)
    for attempt in (1, 2, 3):
        run_worker()
        [pending] = events.deliveries()
        assert (pending.state, pending.attempt) == ("retrying", attempt + 1)
        assert pending.run_after is not None  # it waits before the next try
        assert received == []
        time_passes()
    run_worker()
    assert received == [{"thing_id": 7}]
    assert events.deliveries() == []
    tries = deliveries().order_by("enqueued_at")
    assert [t.status for t in tries] == ["FAILED", "FAILED", "FAILED", "SUCCESSFUL"]
    assert len({t.args_kwargs["kwargs"]["event_id"] for t in tries}) == 1


def test_a_delivery_given_up_on_is_listed_and_can_be_retried(db_events: Any) -> None:
    failures_left["count"] = 5
    with override_settings(EVENT_DELIVERY_ATTEMPTS=2):
        events.emit("test:durable:flaked", thing_id=9)
        run_worker()
        time_passes()
        run_worker()
        [given_up] = events.deliveries()
        assert given_up.state == "given up" and given_up.attempt == 2
        assert "ConnectionError: the mail server hung up" in given_up.error
        assert given_up.subscriber.endswith("test_events_durable.flaky")
        failures_left["count"] = 0
        assert events.retry(given_up.id, acting="cli")
        assert not events.retry(given_up.id, acting="cli")  # once
        [again] = events.deliveries()
        assert (again.state, again.attempt) == ("waiting", 1)
        run_worker()
    assert received == [{"thing_id": 9}]
    assert events.deliveries() == []


def test_a_delivery_a_dead_worker_left_running_is_queued_again(db_events: Any) -> None:
    events.emit("test:durable:happened", thing_id=3)
    # A worker claimed it, then died (SIGKILL, the machine lost): the row stays RUNNING.
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    deliveries().update(status=TaskResultStatus.RUNNING, started_at=started)
    run_worker()
    assert received == []
    assert [d.state for d in events.deliveries()] == ["running"]
    with override_settings(EVENT_DELIVERY_TIMEOUT=7200):
        assert events.recover_stale() == 0  # not yet stale
    assert events.recover_stale() == 1
    run_worker()
    assert received == [{"thing_id": 3}]


def test_payloads_must_be_json(db_events: Any) -> None:
    with pytest.raises(TypeError, match="not JSON"):
        events.emit("test:durable:happened", when=dt.datetime.now(dt.UTC))
    assert deliveries().count() == 0


def test_one_path_one_subscriber() -> None:
    def collect(**payload: Any) -> None: ...

    events.subscribe("test:durable:clashed", collect)
    events.subscribe("test:durable:clashed", collect)  # the same function again: fine

    def other() -> Any:
        def collect(**payload: Any) -> None: ...

        return collect

    shadow = other()
    shadow.__qualname__ = collect.__qualname__
    with pytest.raises(ValueError, match="another function"):
        events.subscribe("test:durable:clashed", shadow)


def test_old_finished_tasks_are_forgotten(db_events: Any) -> None:
    events.emit("test:durable:happened", thing_id=1)
    run_worker()
    assert events.prune() == 0
    deliveries().update(finished_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert events.prune() == 1


def test_many_events_are_written_in_one_insert_and_delivered_like_one(
    db_events: Any, django_assert_max_num_queries: Any
) -> None:
    payloads = [{"thing_id": n} for n in range(300)]
    with transaction.atomic(), django_assert_max_num_queries(3):
        events.emit_many("test:durable:happened", payloads)
    assert deliveries().count() == 300
    assert len({row.args_kwargs["kwargs"]["event_id"] for row in deliveries()}) == 300
    run_worker()
    assert sorted(p["thing_id"] for p in received) == list(range(300))
    with pytest.raises(TypeError, match="not JSON"):
        events.emit_many("test:durable:happened", [{"thing": object()}])
    with pytest.raises(ValueError, match="source:subject:action"):
        events.emit_many("not an event", payloads)
