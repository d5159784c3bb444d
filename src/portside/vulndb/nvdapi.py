"""CVSS scores from the NVD CVE API 2.0, fetched page by page into a feed's cache folder.

The first sync pages through every CVE (``startIndex``, ``resultsPerPage``) and saves
each page as ``full-<start>.json``; the ones after it ask only for what changed since the
last one (``lastModStartDate`` and ``lastModEndDate``, at most 120 days apart; a longer
gap starts a full sync again) and save ``delta-<n>-<start>.json``. The NVD importer reads
the whole folder and keeps the newest copy of each CVE. A full sync that stops half-way
resumes at its next page.

The NVD asks clients to stay within a request rate (5 requests in a rolling 30 seconds
without an API key, 50 with one): :class:`Pacer` spaces requests so that no window holds
more than allowed, and answers ``403``, ``429`` and ``503`` (how the NVD says "slow
down") are retried after a pause that doubles each time.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from portside.core import clock
from portside.vulndb.errors import SyncFailed
from portside.vulndb.fetch import Cache, Limits

PAGE = 2000  # the API's largest page
MAX_RANGE = dt.timedelta(days=120)
OVERLAP = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Rate:
    """At most ``requests`` in any ``window`` seconds; ``retries`` for a refused request."""

    requests: int = 10
    window: float = 60.0
    retries: int = 5
    backoff: float = 30.0  # seconds before the first retry; doubled each time


class Pacer:
    """Spaces requests so that no rolling window holds more than the rate allows."""

    def __init__(self, rate: Rate, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.sleep = sleep
        self.sent: collections.deque[float] = collections.deque()

    def wait(self) -> None:
        now = time.monotonic()
        while self.sent and now - self.sent[0] >= self.rate.window:
            self.sent.popleft()
        if len(self.sent) >= self.rate.requests:
            self.sleep(self.rate.window - (now - self.sent[0]))
            self.sent.popleft()
        self.sent.append(time.monotonic())


def sync_pages(
    cache: Cache,
    url: str,
    *,
    api_key: str = "",
    rate: Rate | None = None,
    limits: Limits,
    force: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Bring the folder's pages up to date with the API at ``url``; returns how many pages
    were fetched (0: nothing changed since the last sync). What was fetched stays pending
    until :func:`commit` (after the import): pages fetched by a sync whose import did not
    finish are fetched again by the next one."""
    rate = rate or Rate(requests=50 if api_key else 5, window=30.0)
    pacer = Pacer(rate, sleep)
    state = cache.state.setdefault("nvd", {})
    if state.get("pending"):
        discard(cache)
    started = clock.now()
    synced = _time(state.get("synced_at"))
    progress = state.get("full") if isinstance(state.get("full"), dict) else None
    if force or (progress is None and (synced is None or started - synced > MAX_RANGE - OVERLAP)):
        progress = {"started_at": started.isoformat(), "next": 0}
        _clear(cache.folder)
    headers = {"apiKey": api_key} if api_key else {}
    fetched = 0
    if progress is not None:  # a full sync, new or resumed
        state["full"] = progress
        cache.save()
        while True:
            start = int(progress["next"])
            total, count = _page(
                cache,
                url,
                {"startIndex": start, "resultsPerPage": PAGE},
                f"full-{start:07}.json",
                headers,
                pacer,
                rate,
                limits,
                sleep,
            )
            fetched += 1
            progress["next"] = start + count
            cache.save()
            if progress["next"] >= total:
                break
        state.pop("full", None)
        state["pending"] = {"synced_at": progress["started_at"], "deltas": 0, "full": True}
        cache.save()
        return fetched
    assert synced is not None
    number = int(state.get("deltas", 0)) + 1
    start = 0
    while True:
        total, count = _page(
            cache,
            url,
            {
                # An hour of overlap: a change indexed late, or a clock a little off,
                # is not lost between two windows (a CVE seen twice is kept once).
                "lastModStartDate": _stamp(synced - OVERLAP),
                "lastModEndDate": _stamp(started),
                "startIndex": start,
                "resultsPerPage": PAGE,
            },
            f"delta-{number:05}-{start:07}.json",
            headers,
            pacer,
            rate,
            limits,
            sleep,
        )
        if total == 0:  # nothing changed: no file, so the folder's digest stays the same
            (cache.folder / f"delta-{number:05}-{start:07}.json").unlink(missing_ok=True)
            state["synced_at"] = started.isoformat()
            cache.save()
            return 0
        fetched += 1
        start += count
        if start >= total:
            break
    state["pending"] = {"synced_at": started.isoformat(), "deltas": number, "full": False}
    cache.save()
    return fetched


def commit(cache: Cache) -> None:
    """The pending pages are in the database: the next sync asks for changes after them."""
    state = cache.state.setdefault("nvd", {})
    pending = state.pop("pending", None)
    if isinstance(pending, dict):
        state["synced_at"] = pending.get("synced_at")
        state["deltas"] = pending.get("deltas", 0)
    cache.save()


def discard(cache: Cache) -> None:
    """Drop the pending pages (their import failed): a full sync starts again, a delta is
    asked for again."""
    state = cache.state.setdefault("nvd", {})
    pending = state.pop("pending", None)
    if isinstance(pending, dict):
        if pending.get("full"):
            _clear(cache.folder)
            state.pop("synced_at", None)
        else:
            number = int(pending.get("deltas", 0))
            for page in cache.folder.glob(f"delta-{number:05}-*.json"):
                page.unlink()
    cache.save()


def _page(
    cache: Cache,
    url: str,
    query: dict[str, object],
    name: str,
    headers: dict[str, str],
    pacer: Pacer,
    rate: Rate,
    limits: Limits,
    sleep: Callable[[float], None],
) -> tuple[int, int]:
    """Fetch one page into the folder; returns the ``totalResults`` it reports and how
    many records it holds (the next page starts that much further on)."""
    address = f"{url}?{urllib.parse.urlencode(query)}"
    pause = rate.backoff
    for attempt in range(rate.retries + 1):
        pacer.wait()
        try:
            fetched = cache.fetch(address, name, limits=limits, conditional=False, headers=headers)
        except SyncFailed as exc:
            refused = any(f"answered {code}" in exc.message for code in (403, 429, 503))
            if not refused or attempt == rate.retries:
                raise
            sleep(pause)
            pause *= 2
            continue
        cache.state.pop(address, None)  # pages are not fetched conditionally
        return _total(fetched.path, address)
    raise AssertionError("unreachable")


def _total(path: Path, address: str) -> tuple[int, int]:
    try:
        document = json.loads(path.read_bytes())
    except ValueError as exc:
        path.unlink(missing_ok=True)
        raise SyncFailed(f"{address}: the answer is not JSON: {exc}") from None
    total = document.get("totalResults") if isinstance(document, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        path.unlink(missing_ok=True)
        raise SyncFailed(f"{address}: the answer has no totalResults; is this the CVE API 2.0?")
    records = document.get("vulnerabilities")
    count = len(records) if isinstance(records, list) else 0
    start = document.get("startIndex", 0)
    if count == 0 and isinstance(start, int) and start < total:
        path.unlink(missing_ok=True)
        raise SyncFailed(f"{address}: an empty page before the end ({start} of {total})")
    return total, count


def _clear(folder: Path) -> None:
    for old in folder.glob("*.json"):
        if old.name.startswith(("full-", "delta-")):
            old.unlink()


def _time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _stamp(when: dt.datetime) -> str:
    """The API's extended ISO-8601 form, in UTC: ``2026-12-05T10:00:00.000+00:00``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
