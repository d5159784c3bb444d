from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from tests.fuzz.support import TIME_LIMIT


class FuzzTimeLimit(BaseException):
    """Raised by the hang guard. A BaseException, so that Hypothesis does not take it
    for a failing example and start shrinking (running the hang again)."""


@pytest.fixture(autouse=True)
def _hang_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """A parser that hangs fails its test after ``TIME_LIMIT`` seconds instead of holding
    up the run until CI's own limit ends it with no word of where it hung."""
    if TIME_LIMIT is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise FuzzTimeLimit(f"{request.node.nodeid} ran past {TIME_LIMIT} s: a hang?")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
