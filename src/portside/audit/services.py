"""The one door to the audit trail: :func:`record` writes, the rest reads and maintains."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from portside.audit import chain, stream
from portside.audit.models import AuditEvent
from portside.core import clock

ACTION_PATTERN = re.compile(r"\A[a-z0-9_]+:[a-z0-9_]+:[a-z0-9_]+\Z")
SYSTEM_ACTOR = "system"
MIN_RETENTION_DAYS = 180
_LOCK_KEY = 0x706F7274  # "port": serialises writers of the chain on PostgreSQL


@dataclass(frozen=True)
class Target:
    """What an audit row is about, for targets that are not model instances."""

    type: str
    id: str
    label: str = ""


@dataclass(frozen=True)
class Owner:
    """The organisation an audit row belongs to, when no model instance is at hand."""

    pk: int | None
    name: str


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is None:
        return None, SYSTEM_ACTOR
    if isinstance(actor, str):
        return None, actor
    if getattr(actor, "is_authenticated", False):
        return actor.pk, actor.get_username()
    return None, "anonymous"


def _target_fields(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, Target):
        return target.type, target.id, target.label[:255]
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:255]
    raise TypeError(f"an audit target must be a model instance or Target, not {type(target)}")


def record(
    actor: Any,
    action: str,
    target: Any = None,
    *,
    organization: Any = None,
    ip_address: str | None = None,
    user_agent: str = "",
    **details: Any,
) -> AuditEvent:
    """Append one row to the trail, inside the caller's transaction.

    ``actor`` is a user, a name for a non-person actor (``"cli"``), or ``None`` for the
    system. The row is streamed to the configured sinks only once the transaction commits.
    """
    row = _row(actor, action, target, organization, ip_address, user_agent, details)
    return _append([row])[0]


def record_unless_flooding(
    flood_key: str,
    actor: Any,
    action: str,
    target: Any = None,
    *,
    per_minute: int = 20,
    **kwargs: Any,
) -> AuditEvent | None:
    """:func:`record`, at most ``per_minute`` times a minute for one ``flood_key`` (a
    client's address, say): what anyone outside can set off (failed sign-ins, refused
    pulls) must not be able to fill the trail. The first row over the limit in a minute is
    an ``audit:trail:suppressed`` row naming the action and the key; the rest of that
    minute is not recorded. Returns the row written, if any."""
    from django.core.cache import cache

    minute = int(clock.now().timestamp()) // 60
    counter = f"audit-flood:{action}:{flood_key}:{minute}"[:240]
    cache.add(counter, 0, timeout=180)
    try:
        count = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=180)
        count = 1
    if count <= per_minute:
        return record(actor, action, target, **kwargs)
    if count == per_minute + 1:
        return record(
            None,
            "audit:trail:suppressed",
            suppressed_action=action,
            key=flood_key[:200],
            limit_per_minute=per_minute,
            ip_address=kwargs.get("ip_address"),
        )
    return None


def record_many(entries: list[dict[str, Any]], *, returning: bool = True) -> list[AuditEvent]:
    """Append several rows at once (each entry holds ``record``'s arguments by name):
    one lock, one read of the chain's end and one INSERT, for high-volume actions such as
    pulls. With ``returning=False`` the rows are written without building model instances
    or reading their ids back, and nothing is returned (unless the trail is streamed)."""
    rows = []
    for entry in entries:
        entry = dict(entry)
        rows.append(
            _row(
                entry.pop("actor"),
                entry.pop("action"),
                entry.pop("target", None),
                entry.pop("organization", None),
                entry.pop("ip_address", None),
                entry.pop("user_agent", ""),
                entry,
            )
        )
    return _append(rows, returning=returning) if rows else []


def _row(
    actor: Any,
    action: str,
    target: Any,
    organization: Any,
    ip_address: str | None,
    user_agent: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    if not ACTION_PATTERN.match(action):
        raise ValueError(f"audit action {action!r} is not shaped source:subject:action")
    actor_id, actor_name = _actor_fields(actor)
    target_type, target_id, target_label = _target_fields(target)
    return {
        "created_at": None,  # read under the lock below, so time order is id order
        "action": action,
        "actor_id": actor_id,
        "actor_name": actor_name[:150],
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "organization_id": getattr(organization, "pk", None),
        "organization_name": getattr(organization, "name", "") or "",
        "ip_address": ip_address or None,
        "user_agent": (user_agent or "")[:512],
        "details": chain.normalise_details(details),
    }


def _append(rows: list[dict[str, Any]], *, returning: bool = True) -> list[AuditEvent]:
    specs = tuple(settings.AUDIT_STREAM)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        # On SQLite every transaction is IMMEDIATE, so it already holds the write lock.
        now = clock.now()
        prev_hash = (
            AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
            or chain.GENESIS
        )
        for row in rows:
            row["created_at"] = now
            row["prev_hash"] = prev_hash
            row["hash"] = prev_hash = chain.row_hash(prev_hash, row)
        if not returning and not specs:
            _insert_plain(rows)
            return []
        events = [AuditEvent(**row) for row in rows]
        if len(events) == 1:
            events[0].save()
        else:
            # The guard on AuditQuerySet.bulk_create keeps other code from bypassing the
            # chain; this is the one place that writes rows in bulk, in chain order.
            models.QuerySet.bulk_create(AuditEvent.objects.all(), events)
        for event in events:
            if specs:
                transaction.on_commit(partial(stream.publish, specs, as_dict(event)))
    return events


def _insert_plain(rows: list[dict[str, Any]]) -> None:
    """One prepared INSERT run for every row, in chain order (ids follow, since writers of
    the chain are serialised): building the same statement through the ORM cost more than
    the rest of a pull."""
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    values = [[f.get_db_prep_save(row[f.attname], connection) for f in fields] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
            values,
        )


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "organization_id": event.organization_id,
        "organization_name": event.organization_name,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


_VERIFY_FIELDS = ("id", "prev_hash", "hash", *chain.HASHED_FIELDS)


def verify() -> chain.Verification:
    """Check the whole chain; report the first broken link."""
    anchors = {
        str(d.get("anchor"))
        for d in AuditEvent.objects.filter(action="audit:retention:purged").values_list(
            "details", flat=True
        )
        if isinstance(d, dict) and d.get("anchor")
    }
    rows = AuditEvent.objects.order_by("id").values(*_VERIFY_FIELDS).iterator(chunk_size=5000)
    return chain.verify(rows, anchors)


def retention_days() -> int:
    days = int(settings.AUDIT_RETENTION_DAYS)
    if days < MIN_RETENTION_DAYS:  # the system check refuses to start; this is belt and braces
        raise ValueError(f"audit retention must be at least {MIN_RETENTION_DAYS} days")
    return days


def purge_expired(*, batch_size: int = 10_000) -> int:
    """Delete rows older than the retention period, oldest first, in batches.

    The hash of the last deleted row becomes the anchor the first remaining row follows,
    and is itself recorded, so ``verify`` still checks the whole remaining chain.
    """
    cutoff = clock.now() - dt.timedelta(days=retention_days())
    last = (
        AuditEvent.objects.filter(created_at__lt=cutoff)
        .order_by("-id")
        .values("id", "hash")
        .first()
    )
    if last is None:
        return 0
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table} WHERE id <= %s ORDER BY id LIMIT 1 OFFSET %s",  # noqa: S608
                [last["id"], batch_size - 1],
            )
            found = cursor.fetchone()
            upper = found[0] if found else last["id"]
            cursor.execute(f"DELETE FROM {table} WHERE id <= %s", [upper])  # noqa: S608
            deleted += cursor.rowcount
        if upper >= last["id"]:
            break
    record(
        None,
        "audit:retention:purged",
        deleted=deleted,
        up_to_id=last["id"],
        cutoff=cutoff.isoformat(),
        anchor=last["hash"],
    )
    return deleted


# --- reading ------------------------------------------------------------------------------

PAGE_SIZE = 50


@dataclass
class AuditFilter:
    action: str = ""
    actor: str = ""
    organization: str = ""
    target_type: str = ""
    target_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def apply(self, qs: models.QuerySet[AuditEvent]) -> models.QuerySet[AuditEvent]:
        if self.action:
            # "registry:" or "registry:manifest:" select a family of actions.
            if self.action.endswith(":"):
                qs = qs.filter(action__startswith=self.action)
            else:
                qs = qs.filter(action=self.action)
        if self.actor:
            qs = qs.filter(actor_name=self.actor)
        if self.organization:
            qs = qs.filter(organization_name=self.organization)
        if self.target_type:
            qs = qs.filter(target_type=self.target_type)
        if self.target_id:
            qs = qs.filter(target_id=self.target_id)
        # A time window becomes an id window (rows are numbered in time order, see record()),
        # so the planner walks the primary key inside it instead of scanning from one end.
        if self.since:
            low = _first_id_at_or_after(self.since)
            if low is None:
                return qs.none()
            qs = qs.filter(id__gte=low, created_at__gte=self.since)
        if self.until:
            high = _first_id_at_or_after(self.until)
            if high is not None:
                qs = qs.filter(id__lt=high)
            qs = qs.filter(created_at__lt=self.until)
        return qs


def _first_id_at_or_after(moment: dt.datetime) -> int | None:
    return (
        AuditEvent.objects.filter(created_at__gte=moment)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
        .first()
    )


def page(flt: AuditFilter, *, before: int | None = None) -> tuple[list[AuditEvent], int | None]:
    """One page, newest first, by keyset (``id < before``): as fast on row 40 million as
    on row 40, where OFFSET pagination would scan everything it skips."""
    qs = flt.apply(AuditEvent.objects.all())
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs.order_by("-id")[: PAGE_SIZE + 1])
    next_before = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    return rows[:PAGE_SIZE], next_before


def iter_rows(flt: AuditFilter) -> Iterator[dict[str, Any]]:
    """Every matching row, oldest first, without loading them all at once."""
    last_id = 0
    while True:
        batch = list(flt.apply(AuditEvent.objects.filter(id__gt=last_id)).order_by("id")[:2000])
        if not batch:
            return
        for event in batch:
            yield as_dict(event)
        last_id = batch[-1].pk


EXPORT_COLUMNS = ["id", *chain.HASHED_FIELDS, "prev_hash", "hash"]


def export_csv(flt: AuditFilter) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for row in iter_rows(flt):
        row["details"] = chain.canonical_json(row["details"])
        writer.writerow({k: _csv_safe(v) for k, v in row.items()})
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas: user agents and names come from outside."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_jsonl(flt: AuditFilter) -> Iterator[str]:
    for row in iter_rows(flt):
        yield chain.canonical_json(row) + "\n"
