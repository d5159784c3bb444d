"""Domain events: how one context tells others that something happened.

Names are shaped ``source:subject:action`` (``registry:manifest:pushed``). A context
subscribes a module-level function with :func:`subscribe`; :func:`emit` enqueues one
delivery task per subscriber *inside the emitting transaction*: the task table lives in
the same database, so it is the outbox. If the transaction rolls back, nothing is
delivered; once it commits, the delivery survives any crash of the emitting process.

The worker runs each delivery. A subscriber that raises is tried again later, with the
waits of :data:`BACKOFF_SECONDS`, up to ``EVENT_DELIVERY_ATTEMPTS`` tries; a delivery that
a dead worker left running is put back in the queue after ``EVENT_DELIVERY_TIMEOUT``
seconds (:func:`recover_stale`, every minute). So a subscriber may see one event more than once, and
must be idempotent. What is waiting, retrying or given up on is listed by
:func:`deliveries` (``portside events``, and the store team's operations page).

Payloads are JSON: ids and names, never model instances.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.tasks import task

from portside.core import clock

logger = logging.getLogger(__name__)

Handler = Callable[..., None]
_NAME = re.compile(r"\A[a-z0-9_]+:[a-z0-9_]+:[a-z0-9_]+\Z")
QUEUE = "events"
# Waits before the 2nd, 3rd... try of a failing delivery; the last one repeats.
BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)

_subscribers: dict[str, dict[str, Handler]] = {}


def subscriber_path(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def subscribe(name: str, handler: Handler) -> None:
    """Deliver every event ``name`` to ``handler`` (keyword arguments: the payload)."""
    _check_name(name)
    path = subscriber_path(handler)
    known = _subscribers.setdefault(name, {})
    if known.get(path, handler) is not handler:
        raise ValueError(f"{path} already subscribes to {name} with another function")
    known[path] = handler


def subscribers(name: str) -> list[str]:
    return list(_subscribers.get(name, {}))


def emit(name: str, **payload: Any) -> None:
    """Enqueue the event for each subscriber, in the caller's transaction."""
    _check_name(name)
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the payload of {name} is not JSON: {exc}") from None
    event_id = str(uuid.uuid4())
    for path in _subscribers.get(name, {}):
        _enqueue(name, path, payload, event_id, attempt=1)


def emit_many(name: str, payloads: list[dict[str, Any]]) -> None:
    """:func:`emit` for many events of one name at once (a sweep's holds or reminders):
    with the database task backend, each subscriber's deliveries are written in one
    INSERT rather than one per event; otherwise they are enqueued one by one."""
    _check_name(name)
    for payload in payloads:
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the payload of {name} is not JSON: {exc}") from None
    paths = list(_subscribers.get(name, {}))
    if not payloads or not paths:
        return
    deliveries: list[dict[str, Any]] = [
        {
            "event": name,
            "subscriber": path,
            "payload": payload,
            "event_id": str(uuid.uuid4()),
            "attempt": 1,
        }
        for payload in payloads
        for path in paths
    ]
    if not _insert_deliveries(deliveries):
        for one in deliveries:
            _enqueue(
                name, one["subscriber"], one["payload"], one["event_id"], attempt=one["attempt"]
            )


def _insert_deliveries(deliveries: list[dict[str, Any]]) -> bool:
    """Write delivery tasks as rows of the database task backend in one INSERT; False
    when the events' backend is another kind (the tests' in-process one)."""
    from django.tasks import task_backends
    from django.utils.json import normalize_json
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult, get_date_max

    backend = task_backends[settings.EVENTS_TASK_BACKEND]
    if not isinstance(backend, DatabaseBackend):
        return False
    task = deliver.using(backend=backend.alias, queue_name=QUEUE)
    backend.validate_task(task)
    DBTaskResult.objects.bulk_create(
        [
            DBTaskResult(
                id=backend._get_id(),
                args_kwargs=normalize_json({"args": [], "kwargs": kwargs}),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                # What the backend's pre_save handler writes for "no wait" (a bulk
                # insert sends no signal).
                run_after=get_date_max(),
                backend_name=backend.alias,
            )
            for kwargs in deliveries
        ],
        batch_size=500,
    )
    return True


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"event name {name!r} is not shaped source:subject:action")


def _enqueue(
    name: str,
    path: str,
    payload: dict[str, Any],
    event_id: str,
    *,
    attempt: int,
    run_after: dt.datetime | None = None,
) -> None:
    options: dict[str, Any] = {"backend": settings.EVENTS_TASK_BACKEND, "queue_name": QUEUE}
    if run_after is not None:
        options["run_after"] = run_after
    deliver.using(**options).enqueue(
        event=name, subscriber=path, payload=payload, event_id=event_id, attempt=attempt
    )


@task(queue_name=QUEUE)
def deliver(
    *, event: str, subscriber: str, payload: dict[str, Any], event_id: str, attempt: int
) -> None:
    """Run one subscriber on one event; on failure, enqueue the next try (if any is left)
    and fail this one, so that its traceback stays on the task's row."""
    handler = _subscribers.get(event, {}).get(subscriber)
    if handler is None:
        # The subscriber was removed since the event was emitted: nothing to do.
        logger.warning("event %s %s: %s no longer subscribes", event, event_id, subscriber)
        return
    try:
        handler(**payload)
    except Exception:
        limit = settings.EVENT_DELIVERY_ATTEMPTS
        if attempt < limit:
            wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
            logger.warning(
                "event %s %s: %s failed (try %d of %d); trying again in %d s",
                event,
                event_id,
                subscriber,
                attempt,
                limit,
                wait,
                exc_info=True,
            )
            _enqueue(
                event,
                subscriber,
                payload,
                event_id,
                attempt=attempt + 1,
                run_after=clock.now() + dt.timedelta(seconds=wait),
            )
        else:
            logger.error(
                "event %s %s: %s failed %d times; given up",
                event,
                event_id,
                subscriber,
                attempt,
                exc_info=True,
            )
        raise


# --- what the worker left behind ---------------------------------------------------------------


def _results() -> Any:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=f"{deliver.module_path}")


def recover_stale(now: dt.datetime | None = None) -> int:
    """Put back in the queue the deliveries a worker claimed more than
    ``EVENT_DELIVERY_TIMEOUT`` seconds ago and never finished (it died meanwhile).
    Returns how many."""
    from django.tasks import TaskResultStatus

    now = now or clock.now()
    cutoff = now - dt.timedelta(seconds=settings.EVENT_DELIVERY_TIMEOUT)
    recovered = (
        _results()
        .filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
        .update(status=TaskResultStatus.READY, started_at=None, run_after=now)
    )
    if recovered:
        logger.warning(
            "%d event deliveries left running by a dead worker were queued again", recovered
        )
    return int(recovered)


@dataclass(frozen=True)
class Delivery:
    id: str
    state: str  # waiting, retrying, running, given up
    event: str
    subscriber: str
    event_id: str
    attempt: int
    enqueued_at: dt.datetime
    run_after: dt.datetime | None
    error: str


def deliveries(*, limit: int = 200) -> list[Delivery]:
    """Deliveries not yet done, and those given up on, newest first: what an operator
    looks at when subscribers fall behind or fail."""
    from django.tasks import TaskResultStatus

    statuses = [TaskResultStatus.READY, TaskResultStatus.RUNNING, TaskResultStatus.FAILED]
    found = []
    for row in _results().filter(status__in=statuses).order_by("-enqueued_at")[: limit * 4]:
        kwargs = row.args_kwargs.get("kwargs", {})
        attempt = int(kwargs.get("attempt", 1))
        if row.status == TaskResultStatus.FAILED:
            if attempt < settings.EVENT_DELIVERY_ATTEMPTS:
                continue  # a later try is queued; that row speaks for the delivery
            state = "given up"
        elif row.status == TaskResultStatus.RUNNING:
            state = "running"
        else:
            state = "retrying" if attempt > 1 else "waiting"
        error = row.traceback.strip().splitlines()[-1] if row.traceback else ""
        found.append(
            Delivery(
                id=str(row.id),
                state=state,
                event=str(kwargs.get("event", "")),
                subscriber=str(kwargs.get("subscriber", "")),
                event_id=str(kwargs.get("event_id", "")),
                attempt=attempt,
                enqueued_at=row.enqueued_at,
                run_after=row.run_after if row.run_after.year < 9999 else None,
                error=error[:500],
            )
        )
        if len(found) >= limit:
            break
    return found


def retry(delivery_id: str, *, acting: Any, origin: Any = None) -> bool:
    """Try a given-up delivery once more, now (the operator fixed the cause); audited."""
    from django.tasks import TaskResultStatus

    from portside.audit import services as audit

    with transaction.atomic():
        row = (
            _results()
            .select_for_update()
            .filter(pk=delivery_id, status=TaskResultStatus.FAILED)
            .first()
        )
        if row is None:
            return False
        kwargs = row.args_kwargs.get("kwargs", {})
        _enqueue(
            kwargs["event"], kwargs["subscriber"], kwargs["payload"], kwargs["event_id"], attempt=1
        )
        row.delete()  # the new try speaks for the delivery now
        audit.record(
            acting,
            "core:event:retried",
            None,
            delivery=delivery_id,
            event=kwargs["event"],
            event_id=kwargs["event_id"],
            subscriber=kwargs["subscriber"],
            **(origin.audit_fields() if origin is not None else {}),
        )
    return True


def prune(now: dt.datetime | None = None) -> int:
    """Forget background tasks finished long ago: successful ones after
    ``TASK_RESULTS_KEEP_DAYS``, failed ones after four times as long."""
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = now or clock.now()
    keep = dt.timedelta(days=settings.TASK_RESULTS_KEEP_DAYS)
    done = DBTaskResult.objects.filter(
        status=TaskResultStatus.SUCCESSFUL, finished_at__lt=now - keep
    ).delete()[0]
    failed = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__lt=now - 4 * keep
    ).delete()[0]
    return int(done + failed)


@task()
def recover_deliveries() -> int:
    """Every minute: requeue what dead workers left running."""
    return recover_stale()


@task()
def prune_tasks() -> int:
    """Every hour: forget what finished long ago."""
    return prune()
