"""The hash chain of the audit trail, as plain functions (no database)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = ""

# The fields a row's hash covers, in this order. Changing the list breaks every
# existing chain: add a new version instead.
HASHED_FIELDS = (
    "created_at",
    "action",
    "actor_id",
    "actor_name",
    "target_type",
    "target_id",
    "target_label",
    "organization_id",
    "organization_name",
    "ip_address",
    "user_agent",
    "details",
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalise_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Make ``details`` exactly what the database will give back (JSON types only)."""
    return json.loads(json.dumps(details, default=str))


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    values: list[Any] = [prev_hash]
    for field in HASHED_FIELDS:
        value = row[field]
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        values.append(value)
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    checked: int
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(rows: Iterable[Mapping[str, Any]], anchors: set[str]) -> Verification:
    """Walk rows in id order; ``anchors`` are hashes a first row may legally follow.

    The very first row of a trail follows ``GENESIS``; after a retention purge the first
    remaining row follows the hash of the last purged one, which the purge recorded.
    """
    previous: str | None = None
    checked = 0
    for row in rows:
        if previous is None:
            if row["prev_hash"] != GENESIS and row["prev_hash"] not in anchors:
                return Verification(
                    checked, row["id"], "the first row does not follow a known anchor"
                )
        elif row["prev_hash"] != previous:
            return Verification(
                checked,
                row["id"],
                "prev_hash does not match the previous row: a row was removed or inserted",
            )
        if row_hash(row["prev_hash"], row) != row["hash"]:
            return Verification(checked, row["id"], "the row's content does not match its hash")
        previous = row["hash"]
        checked += 1
    return Verification(checked)
