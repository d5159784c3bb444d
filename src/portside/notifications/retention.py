"""How long notifications and webhook deliveries are kept.

Once a day (``tasks.prune``) the notices that are done with (sent, put in a digest, or
given up) and were recorded more than ``NOTIFICATIONS_RETENTION_DAYS`` days ago are
deleted, with their webhook deliveries; so are older deliveries of notices that are done
with. 0 keeps everything. A notice still waiting or retrying is never deleted, however
old: it may yet be sent. The audit trail is not touched (it has its own retention).

Two things rest on old rows, and both still hold after a prune:

- *Told once.* A notice's ``key`` names the event (by the clock, hold or statement it is
  about, see ``subscribers.py``) and the recipient, and its uniqueness is what makes an
  event delivered again, or emitted again with the same name, add nothing. The key of
  every deleted notice is kept in a ``PrunedKey`` row (its key and date, a few dozen
  bytes), written in the transaction that deletes it, and ``services._record`` refuses a
  key found there. The only keys not kept are a digest's (named after its first item's
  id, which is never given again) and a test delivery's (named after a one-time form).
- *Told again from whom.* The end of a hold is told to the people told of the hold, and a
  reinstatement to those told of the product's last revocation, found from those older
  notices (``services._told_again``, ``services._last_revocation``, which also keys the
  reinstatement). So a hold's notices are kept until the notice of its release or
  revocation is itself past the retention period (by then the release has been told, and
  a repeat of it is refused by its own key); and the notices of a product's last
  revocation are kept for as long as it is the last (they stay the reinstatement's
  address list and key), going only once a later revocation's are past the period.

Each batch of at most ``BATCH`` rows is one short transaction, so a run never holds locks
for long, and a run that is cut short (or run twice) leaves nothing half done.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from portside.core import clock
from portside.notifications import services
from portside.notifications.models import Notification, PrunedKey, State, WebhookDelivery

logger = logging.getLogger(__name__)

BATCH = 5_000
FINAL = (State.SENT, State.DIGESTED, State.FAILED)
# Keys that cannot come again, so none is kept for them.
_UNREPEATABLE = (services.DIGEST, services.TEST)


@dataclass(frozen=True)
class Pruned:
    notices: int = 0
    deliveries: int = 0
    batches: int = 0  # the transactions it took


def days() -> int:
    return int(settings.NOTIFICATIONS_RETENTION_DAYS)


def cutoff(now: dt.datetime | None = None) -> dt.datetime | None:
    """What was recorded before this may go; None when everything is kept."""
    if days() <= 0:
        return None
    return (now or clock.now()) - dt.timedelta(days=days())


def prunable(before: dt.datetime) -> QuerySet[Notification]:
    """The notices done with and recorded before ``before`` that nothing needs any more."""
    past = Notification.objects.filter(created_at__lt=before)
    hold_told = past.filter(
        hold_id=OuterRef("hold_id"), event__in=[services.RELEASED, services.REVOKED]
    )
    revoked_again = past.filter(
        event=services.REVOKED,
        product_id=OuterRef("product_id"),
        created_at__gt=OuterRef("created_at"),
    ).exclude(hold_id=OuterRef("hold_id"))
    # A revocation (known by its own step) ends the hold before it as a release would.
    revoked_later = past.filter(
        event=services.REVOKED,
        product_id=OuterRef("product_id"),
        created_at__gt=OuterRef("created_at"),
    )
    return past.filter(state__in=FINAL).filter(
        ~Q(event__in=[services.HELD, services.REVOKED])
        | Q(event=services.HELD, hold_id__isnull=False) & Exists(hold_told)
        | Q(event=services.HELD, product_id__isnull=False) & Exists(revoked_later)
        | Q(event=services.REVOKED, product_id__isnull=False) & Exists(revoked_again)
    )


def prune(now: dt.datetime | None = None, *, batch_size: int = BATCH) -> Pruned:
    """Delete what is past the retention period, in batches; what it deleted."""
    before = cutoff(now)
    if before is None:
        return Pruned()
    deliveries, batches = _prune_deliveries(before, batch_size)
    notices, more = _prune_notices(before, batch_size)
    done = Pruned(notices, deliveries, batches + more)
    logger.info(
        "notification retention (%d days): removed %d notifications and %d webhook "
        "deliveries in %d batches",
        days(),
        done.notices,
        done.deliveries,
        done.batches,
    )
    return done


def _prune_deliveries(before: dt.datetime, batch_size: int) -> tuple[int, int]:
    """Tries made before the cutoff, of notices done with (a retrying notice's tries stay)."""
    old = WebhookDelivery.objects.filter(at__lt=before, notification__state__in=FINAL)
    deleted = batches = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted, batches
            deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
            batches += 1


def _prune_notices(before: dt.datetime, batch_size: int) -> tuple[int, int]:
    deleted = batches = 0
    while True:
        with transaction.atomic():
            rows = list(
                prunable(before)
                .order_by("pk")
                .values_list("pk", "key", "event", "created_at")[:batch_size]
            )
            if not rows:
                return deleted, batches
            PrunedKey.objects.bulk_create(
                [
                    PrunedKey(key=key, created_at=created_at)
                    for _, key, event, created_at in rows
                    if event not in _UNREPEATABLE
                ],
                ignore_conflicts=True,
            )
            # Their deliveries go with them; a digest's items lose their link to it.
            _, by_model = Notification.objects.filter(pk__in=[row[0] for row in rows]).delete()
            deleted += by_model.get(Notification._meta.label, 0)
            batches += 1
