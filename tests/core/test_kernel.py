import datetime as dt

import pytest
from django.db import transaction

from portside.core import clock, events, schedule
from portside.core.models import PeriodicRun


@pytest.mark.django_db
def test_periodic_job_is_enqueued_once_per_period(monkeypatch):
    calls = []
    monkeypatch.setattr(schedule, "_jobs", {})
    schedule.daily("test.job", lambda: calls.append(1))
    day = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert schedule.tick(day) == ["test.job"]
    assert schedule.tick(day + dt.timedelta(hours=5)) == []  # a second worker, same day
    assert schedule.tick(day + dt.timedelta(days=1)) == ["test.job"]
    assert len(calls) == 2
    assert PeriodicRun.objects.count() == 2


@pytest.mark.django_db
def test_failed_enqueue_is_retried_next_tick(monkeypatch):
    monkeypatch.setattr(schedule, "_jobs", {})
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("queue unavailable")

    schedule.daily("test.flaky", flaky)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with pytest.raises(RuntimeError):
        schedule.tick(now)
    assert schedule.tick(now) == ["test.flaky"]


@pytest.mark.django_db
def test_audit_purge_is_scheduled_daily():
    assert "audit.purge" in {job.name for job in schedule.jobs()}


@pytest.mark.django_db
def test_events_reach_subscribers_only_after_commit(django_capture_on_commit_callbacks):
    received = []
    events.subscribe("test:thing:happened", lambda **payload: received.append(payload))
    with django_capture_on_commit_callbacks(execute=True):
        events.emit("test:thing:happened", thing_id=1)
        assert received == []
    assert received == [{"thing_id": 1}]
    with pytest.raises(RuntimeError), transaction.atomic():
        events.emit("test:thing:happened", thing_id=2)
        raise RuntimeError
    assert received == [{"thing_id": 1}]


@pytest.mark.django_db
def test_a_failing_subscriber_does_not_break_the_publisher(
    django_capture_on_commit_callbacks, caplog
):
    def broken(**payload):
        raise ValueError("boom")

    events.subscribe("test:thing:broke", broken)
    with django_capture_on_commit_callbacks(execute=True):
        events.emit("test:thing:broke", x=1)
    assert "failed" in caplog.text


@pytest.mark.parametrize("name", ["bad", "a:b", "a:b:c:d", "A:b:c", "a:b:c\n"])
def test_event_names_are_checked(name):
    with pytest.raises(ValueError):
        events.emit(name)


def test_frozen_clock_needs_timezone():
    with pytest.raises(ValueError):
        clock.FrozenClock(dt.datetime(2026, 1, 1))
    with clock.frozen(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as frozen:
        frozen.advance(hours=1)
        assert clock.now() == dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)
    assert clock.now().year >= 2026


def test_env_parsing_refuses_typos():
    from portside.config import env
    from portside.core.errors import ConfigurationError

    assert env.get_bool("X", env={"X": "yes"}) is True
    assert env.get_bool("X", True, env={}) is True
    with pytest.raises(ConfigurationError):
        env.get_bool("X", env={"X": "ture"})
    with pytest.raises(ConfigurationError):
        env.get_int("X", 1, minimum=5, env={"X": "3"})
    assert env.get_list("X", ["a"], env={"X": " b, ,c "}) == ["b", "c"]
