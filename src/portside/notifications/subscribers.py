"""What the notifications context does with the policy context's events. Each handler
names the event by what it is about (a clock, a hold, a statement), so an event
delivered more than once is told once (``services.announce``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portside.notifications import services


def clock_started(*, clock_id: int, started_at: str = "", **payload: Any) -> None:
    payload.update(clock_id=clock_id, started_at=started_at)
    services.announce("policy:clock:started", f"clock:{clock_id}", payload)


def clock_reminder(*, clock_id: int, reminder: str, **payload: Any) -> None:
    payload.update(clock_id=clock_id, reminder=reminder)
    services.announce("policy:clock:reminder", f"clock:{clock_id}/{reminder}", payload)


def clock_stopped(*, clock_id: int, **payload: Any) -> None:
    payload.update(clock_id=clock_id)
    services.announce("policy:clock:stopped", f"clock:{clock_id}", payload)


def listing_held(*, hold_id: int, **payload: Any) -> None:
    payload.update(hold_id=hold_id)
    services.announce("policy:listing:held", f"hold:{hold_id}", payload)


def listing_released(*, hold_id: int, **payload: Any) -> None:
    payload.update(hold_id=hold_id)
    services.announce("policy:listing:released", f"hold:{hold_id}", payload)


def listing_revoked(*, hold_id: int, **payload: Any) -> None:
    payload.update(hold_id=hold_id)
    services.announce("policy:listing:revoked", f"hold:{hold_id}", payload)


def listing_reinstated(**payload: Any) -> None:
    services.announce("policy:listing:reinstated", services.reinstated_key(payload), payload)


def vex_reviewed(*, statement_id: int, review: str, **payload: Any) -> None:
    payload.update(statement_id=statement_id, review=review)
    services.announce("policy:vex:reviewed", f"statement:{statement_id}/{review}", payload)


HANDLERS: dict[str, Callable[..., None]] = {
    "policy:clock:started": clock_started,
    "policy:clock:reminder": clock_reminder,
    "policy:clock:stopped": clock_stopped,
    "policy:listing:held": listing_held,
    "policy:listing:released": listing_released,
    "policy:listing:revoked": listing_revoked,
    "policy:listing:reinstated": listing_reinstated,
    "policy:vex:reviewed": vex_reviewed,
}
