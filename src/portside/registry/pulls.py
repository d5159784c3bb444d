"""Recording pulls without making every manifest GET wait for the database's write lock.

A pull (a manifest GET) is counted and written to the audit trail. Done inside the request,
every pull takes a write transaction, and on SQLite all of them queue for one lock. Here a
request only appends the pull to its process's buffer; a background thread writes the
buffer every ``REGISTRY_PULL_FLUSH_MS`` milliseconds in one transaction (counters, audit
rows, then the ``registry:manifest:pulled`` events after commit). The price is that a
process killed without warning loses at most that interval's pulls; a graceful stop
flushes. With the interval set to 0 each pull is written in its own request.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from portside.audit import services as audit
from portside.core import clock, events
from portside.core.origin import Origin
from portside.registry.models import PullCount

if TYPE_CHECKING:
    from portside.registry.services import PulledManifest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pull:
    manifest: PulledManifest
    tag: str
    user: Any
    origin: Origin
    at: dt.datetime


def write(batch: list[Pull]) -> None:
    """Write pulls in one transaction: counters (one upsert per distinct counter), audit
    rows (one chained insert), then the events once it commits."""
    if not batch:
        return
    counters: Counter[tuple[int, str, str, int, dt.date]] = Counter(
        (
            pull.manifest.repository_id,
            pull.manifest.digest,
            pull.tag,
            getattr(pull.user, "pk", None) or 0,
            pull.at.date(),
        )
        for pull in batch
    )
    table = connection.ops.quote_name(PullCount._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (repository_id, digest, tag, user_id, day, count) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (repository_id, digest, tag, user_id, day) "
                f"DO UPDATE SET count = {table}.count + excluded.count",
                [(*key, n) for key, n in counters.items()],
            )
        audit.record_many(
            [
                {
                    "actor": pull.user,
                    "action": "registry:manifest:pulled",
                    "target": pull.manifest.audit_target,
                    "organization": pull.manifest.organization,
                    "repository": pull.manifest.repository_name,
                    "digest": pull.manifest.digest,
                    "tag": pull.tag,
                    "pulled_at": pull.at.isoformat(),
                    **pull.origin.audit_fields(),
                }
                for pull in batch
            ],
            returning=False,
        )
        pulled = [
            {
                "manifest_id": pull.manifest.id,
                "repository": pull.manifest.repository_name,
                "digest": pull.manifest.digest,
                "tag": pull.tag,
                "user_id": getattr(pull.user, "pk", None),
                "pulled_at": pull.at.isoformat(),
            }
            for pull in batch
        ]
        for one in pulled:
            events.emit("registry:manifest:pulled", **one)
        # The same pulls as one event, for subscribers that keep a row per pull and would
        # otherwise write them one transaction at a time.
        events.emit("registry:pulls:recorded", pulls=pulled)


class Recorder:
    """The per-process buffer and the thread that empties it."""

    def __init__(self) -> None:
        self._pending: list[Pull] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, pull: Pull) -> None:
        interval = settings.REGISTRY_PULL_FLUSH_MS
        if interval <= 0:
            write([pull])
            return
        with self._lock:
            self._pending.append(pull)
            if self._thread is None or not self._thread.is_alive():
                # Started lazily: web servers fork their workers after import.
                self._thread = threading.Thread(
                    target=self._run, args=(interval / 1000,), name="portside-pulls", daemon=True
                )
                self._thread.start()

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            write(batch)
        except Exception:
            logger.exception(
                "could not record %d pulls; keeping them for the next flush", len(batch)
            )
            with self._lock:
                self._pending[:0] = batch
            raise
        return len(batch)

    def _run(self, interval: float) -> None:
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            with contextlib.suppress(Exception):  # logged in flush(); keep going
                self.flush()
            close_old_connections()


recorder = Recorder()


@atexit.register
def _flush_at_exit() -> None:
    try:
        recorder.flush()
    except Exception:
        logger.exception("pulls lost at exit")


def record(*, manifest: PulledManifest, tag: str, user: Any, origin: Origin) -> None:
    recorder.add(Pull(manifest=manifest, tag=tag, user=user, origin=origin, at=clock.now()))
