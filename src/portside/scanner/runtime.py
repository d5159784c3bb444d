"""Interpreter settings for the length of a scan, restored afterwards.

* The cyclic garbage collector is paused: a pass allocates tens of thousands of small,
  acyclic objects (tar entries, index records, SBOM components) that all live until it
  ends, and each generation-0 threshold crossed made the collector traverse the growing
  older generations again, to free nothing (a twentieth of a small image's scan). Cycles
  made meanwhile are collected when the pass ends.
* The switch interval is shortened while a reading or hashing thread runs
  (``reading_thread``): that thread hashes and decompresses in C with the GIL released,
  and needs the GIL back after each call; the parsing thread, which holds it, gives it up
  only when the interval runs out (5 ms by default), so the other side idled.

Both are process-wide, so nesting and concurrent scans are counted: the first to enter
changes the setting, the last to leave restores what was there.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SWITCH_INTERVAL = 0.0002  # seconds


class _Shared:
    """A process-wide setting: ``change`` is run by the first user to enter and returns
    what puts the setting back, which the last user to leave runs."""

    def __init__(self, change: Callable[[], Callable[[], None]]) -> None:
        self.change = change
        self.users = 0
        self.restore: Callable[[], None] = lambda: None
        self.lock = threading.Lock()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.users == 0:
                self.restore = self.change()
            self.users += 1
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    self.restore()


def _pause_gc() -> Callable[[], None]:
    was_enabled = gc.isenabled()
    gc.disable()
    return gc.enable if was_enabled else lambda: None


def _short_switches() -> Callable[[], None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, SWITCH_INTERVAL))
    return lambda: sys.setswitchinterval(before)


gc_paused = _Shared(_pause_gc)
reading_thread = _Shared(_short_switches)
