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
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_INTERVAL = 0.0002  # seconds

_lock = threading.Lock()
_paused = 0
_gc_was_enabled = False
_readers = 0
_interval_before = 0.0


@contextmanager
def gc_paused() -> Iterator[None]:
    global _paused, _gc_was_enabled
    with _lock:
        if _paused == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _gc_was_enabled:
                gc.enable()


@contextmanager
def reading_thread() -> Iterator[None]:
    global _readers, _interval_before
    with _lock:
        if _readers == 0:
            _interval_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_interval_before, SWITCH_INTERVAL))
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0:
                sys.setswitchinterval(_interval_before)
