"""The knobs of scanning in the store, each a setting read from the environment with an
embedded default.

A value set in the Django settings (``SCAN_MAX_PACKAGES`` and so on) wins; otherwise the
environment variable is read, and a value that is not a whole number in range raises
``ConfigurationError`` as every other setting does.
"""

from __future__ import annotations

from django.conf import settings

from portside.config import env


def _int(name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    configured = getattr(settings, name, None)
    if configured is not None:
        return int(configured)
    return env.get_int(f"PORTSIDE_{name}", default, minimum=minimum, maximum=maximum)


def max_packages() -> int:
    """Packages an image may hold; past it the scan fails and says why
    (``PORTSIDE_SCAN_MAX_PACKAGES``). The worker's memory, the stored inventory and the
    SBOMs grow with the packages (a few kilobytes each)."""
    return _int("SCAN_MAX_PACKAGES", 100_000, minimum=1, maximum=10_000_000)


def write_batch() -> int:
    """Rows written per transaction when a scan stores its findings
    (``PORTSIDE_SCAN_WRITE_BATCH``): each batch holds the database's write lock briefly."""
    return _int("SCAN_WRITE_BATCH", 2_000, minimum=1, maximum=100_000)


def heartbeat_seconds() -> int:
    """How often a running scan says it is alive (``PORTSIDE_SCAN_HEARTBEAT_SECONDS``)."""
    return _int("SCAN_HEARTBEAT_SECONDS", 30, minimum=1, maximum=3600)


def stale_seconds() -> int:
    """A running scan silent for this long was left by a worker that died; the sweep
    queues it again (``PORTSIDE_SCAN_STALE_SECONDS``). Several heartbeats long."""
    return _int("SCAN_STALE_SECONDS", 300, minimum=2, maximum=86_400)


def max_run_seconds() -> int:
    """A scan running longer than this is stuck, heartbeat or not
    (``PORTSIDE_SCAN_MAX_RUN_SECONDS``)."""
    return _int("SCAN_MAX_RUN_SECONDS", 6 * 3600, minimum=60, maximum=7 * 86_400)


def max_attempts() -> int:
    """Runs a scan gets; one interrupted this many times fails with the reason
    (``PORTSIDE_SCAN_MAX_ATTEMPTS``)."""
    return _int("SCAN_MAX_ATTEMPTS", 3, minimum=1, maximum=100)


def sweep_seconds() -> int:
    """How often the worker looks for interrupted scans (``PORTSIDE_SCAN_SWEEP_SECONDS``)."""
    return _int("SCAN_SWEEP_SECONDS", 60, minimum=1, maximum=3600)


def refresh_batch() -> int:
    """Scans the sweep keeps in the worker's queue to refresh best-practice results made
    by older checks (``PORTSIDE_SCAN_REFRESH_BATCH``): it queues only as many as this less
    the scans already queued or running, so pushed images come first; 0 refreshes none."""
    return _int("SCAN_REFRESH_BATCH", 10, minimum=0, maximum=10_000)
