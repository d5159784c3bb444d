"""Periodic jobs, enqueued by every worker's scheduler thread and run by the task worker.

A job is registered with :func:`daily`, :func:`hourly` or :func:`every` (a period of so
many seconds); :func:`tick` enqueues each job whose current period has no
:class:`PeriodicRun` row yet. Several workers may tick at the same time: the unique
constraint lets exactly one of them enqueue. The scheduler thread ticks every minute, or
more often when a job's period is shorter; the rows of such short periods are forgotten
after a day.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, close_old_connections, transaction

from portside.core import clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    period: Callable[[dt.datetime], str]  # the period a time falls in, as a short key
    enqueue: Callable[[], Any]
    seconds: int  # the length of a period


_jobs: dict[str, Job] = {}
TICK_SECONDS = 60.0
_SHORT_PERIOD_ROWS_KEPT = dt.timedelta(days=1)


def daily(name: str, enqueue: Callable[[], Any]) -> None:
    _jobs[name] = Job(name, lambda now: now.strftime("%Y-%m-%d"), enqueue, 86_400)


def hourly(name: str, enqueue: Callable[[], Any]) -> None:
    _jobs[name] = Job(name, lambda now: now.strftime("%Y-%m-%dT%H"), enqueue, 3_600)


def every(name: str, seconds: int, enqueue: Callable[[], Any]) -> None:
    """Enqueue the job once in every period of ``seconds`` (counted from the epoch)."""
    if seconds < 1:
        raise ValueError(f"the period of {name} must be at least a second, not {seconds}")
    _jobs[name] = Job(
        name, lambda now: f"{int(now.timestamp()) // seconds}/{seconds}s", enqueue, seconds
    )


def interval() -> float:
    """How often the scheduler ticks: every minute, or each shortest period."""
    return min([TICK_SECONDS, *(float(job.seconds) for job in _jobs.values())])


def jobs() -> list[Job]:
    return list(_jobs.values())


def tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue what is due; returns the names of the jobs enqueued by this call."""
    from portside.core.models import PeriodicRun

    now = now or clock.now()
    enqueued = []
    for job in _jobs.values():
        period = job.period(now)
        try:
            with transaction.atomic():
                PeriodicRun.objects.create(job=job.name, period=period, enqueued_at=now)
                job.enqueue()
        except IntegrityError:
            continue
        enqueued.append(job.name)
        if job.seconds < 3_600:
            PeriodicRun.objects.filter(
                job=job.name, enqueued_at__lt=now - _SHORT_PERIOD_ROWS_KEPT
            ).delete()
    return enqueued


class SchedulerThread(threading.Thread):
    def __init__(self, interval: float | None = None) -> None:
        super().__init__(name="portside-scheduler", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                for name in tick():
                    logger.info("enqueued periodic job %s", name)
            except Exception:
                logger.exception("scheduler tick failed")
            finally:
                close_old_connections()
            self.stopped.wait(self.interval if self.interval is not None else interval())
