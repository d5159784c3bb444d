"""The one place Portside reads the time.

SLA clocks, token expiry and retention call :func:`now`; tests move time with
:func:`frozen` instead of sleeping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator

_source: Callable[[], dt.datetime] | None = None


def now() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    if _source is not None:
        return _source()
    return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a frozen clock needs a timezone-aware start time")
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current = self.current + dt.timedelta(**delta)
        return self.current


@contextlib.contextmanager
def frozen(start: dt.datetime | None = None) -> Iterator[FrozenClock]:
    """Freeze :func:`now` at ``start`` (default: the real current time) for the block."""
    global _source
    clock = FrozenClock(start or dt.datetime.now(dt.UTC))
    previous = _source
    _source = clock
    try:
        yield clock
    finally:
        _source = previous


def parse_stored(stamp: object) -> dt.datetime | None:
    """A time stored as ISO text (a naive one is UTC), in UTC; ``None`` for anything else."""
    if not isinstance(stamp, str):
        return None
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when.replace(tzinfo=when.tzinfo or dt.UTC).astimezone(dt.UTC)


def utc_minutes(stamp: object) -> str | None:
    """A stored ISO time as ``2026-12-05 10:00 UTC``; ``None`` when it is not one."""
    when = parse_stored(stamp)
    return None if when is None else f"{when:%Y-%m-%d %H:%M} UTC"
