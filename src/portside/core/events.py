"""Domain events: how one context tells others that something happened.

Names are shaped ``source:subject:action`` (``registry:manifest:pushed``). A context
subscribes with :func:`subscribe`; :func:`emit` calls subscribers after the current
database transaction commits, so no subscriber ever sees work that is later rolled back.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

Handler = Callable[..., None]
_NAME = re.compile(r"\A[a-z0-9_]+:[a-z0-9_]+:[a-z0-9_]+\Z")
_subscribers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(name: str, handler: Handler) -> None:
    if not _NAME.match(name):
        raise ValueError(f"event name {name!r} is not shaped source:subject:action")
    if handler not in _subscribers[name]:
        _subscribers[name].append(handler)


def emit(name: str, **payload: Any) -> None:
    if not _NAME.match(name):
        raise ValueError(f"event name {name!r} is not shaped source:subject:action")
    for handler in list(_subscribers.get(name, ())):
        transaction.on_commit(lambda h=handler: _deliver(h, name, payload))  # type: ignore[misc]


def _deliver(handler: Handler, name: str, payload: dict[str, Any]) -> None:
    try:
        handler(**payload)
    except Exception:  # a subscriber's failure must not break the publisher's request
        logger.exception("subscriber %r of %s failed", handler, name)
