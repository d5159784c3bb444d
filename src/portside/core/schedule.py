"""Periodic jobs, enqueued by every worker's scheduler thread and run by the task worker.

A job is registered with :func:`daily` (or :func:`hourly`); :func:`tick` enqueues each job
whose current period has no :class:`PeriodicRun` row yet. Several workers may tick at the
same time: the unique constraint lets exactly one of them enqueue.
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
    period_format: str
    enqueue: Callable[[], Any]


_jobs: dict[str, Job] = {}


def daily(name: str, enqueue: Callable[[], Any]) -> None:
    _jobs[name] = Job(name, "%Y-%m-%d", enqueue)


def hourly(name: str, enqueue: Callable[[], Any]) -> None:
    _jobs[name] = Job(name, "%Y-%m-%dT%H", enqueue)


def jobs() -> list[Job]:
    return list(_jobs.values())


def tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue what is due; returns the names of the jobs enqueued by this call."""
    from portside.core.models import PeriodicRun

    now = now or clock.now()
    enqueued = []
    for job in _jobs.values():
        period = now.strftime(job.period_format)
        try:
            with transaction.atomic():
                PeriodicRun.objects.create(job=job.name, period=period, enqueued_at=now)
                job.enqueue()
        except IntegrityError:
            continue
        enqueued.append(job.name)
    return enqueued


class SchedulerThread(threading.Thread):
    def __init__(self, interval: float = 60.0) -> None:
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
            self.stopped.wait(self.interval)
