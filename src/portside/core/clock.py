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
