"""The vulnerability SLA's use cases: the periodic sweep, holds lifting by themselves, and
the security team's decisions.

The sweep (every minute, :func:`sweep`) reads only clocks and listings, through their
indexes, whatever the number of findings:

1. running clocks past their deadline become overdue;
2. a live listing with an overdue clock and no hold goes on hold, dated by its earliest
   overdue deadline ("Security fixes overdue since ..."), and the publisher and the
   customers who pulled an affected image are told (``policy:listing:held``);
3. reminders due (half time, 24 hours before) are sent (``policy:clock:reminder``);
4. a listing on hold for ``SLA_REVOKE_AFTER_DAYS`` is revoked: gone from the storefront
   and search, no new subscriptions, its customers pull for ``SLA_REVOKED_PULL_DAYS``
   more (``policy:listing:revoked``);
5. an approved VEX statement whose expiry passed has its product's clocks matched again.

A hold lifts by itself when no overdue clock is left (:func:`lift_if_clear`, called by
``clocks.reconcile``). A revocation is undone only by the security team
(:func:`reinstate`); they may also revoke at once or lift a hold by hand, which gives the
overdue findings a new deadline. Each step is audited, kept in ``HoldEvent`` and emitted
as an event, which the notifications context turns into mail and webhooks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min

from portside.accounts import permissions
from portside.audit import services as audit
from portside.catalog import services as catalog
from portside.catalog.models import Listing, ListingState, Product
from portside.core import clock, events
from portside.core.errors import Conflict, PermissionDenied, ValidationFailed
from portside.core.origin import Origin
from portside.policy import clocks
from portside.policy.models import (
    Clock,
    ClockState,
    HoldAction,
    HoldEvent,
    VexReview,
    VexStatement,
    VexStatus,
)

BATCH = 1000
HOLD_REASON = "Security fixes overdue"


def _affected_of(
    product_ids: list[int], *, states: tuple[str, ...]
) -> dict[int, list[dict[str, str]]]:
    """The images (repository, tag, digest, image) of each product's clocks in
    ``states``, in one query; no vulnerability is named."""
    seen: dict[int, dict[tuple[str, ...], dict[str, str]]] = {}
    rows = Clock.objects.filter(product_id__in=product_ids, state__in=states).values_list(
        "product_id", "affected"
    )
    for product_id, affected in rows:
        mine = seen.setdefault(product_id, {})
        for place in affected or []:
            item = {k: str(place.get(k, "")) for k in ("repository", "tag", "digest", "image")}
            mine.setdefault(tuple(item.values()), item)
    return {pid: [items[k] for k in sorted(items)] for pid, items in seen.items()}


def _affected(product_id: int, *, states: tuple[str, ...]) -> list[dict[str, str]]:
    return _affected_of([product_id], states=states).get(product_id, [])


def _last_hold(product_id: int) -> HoldEvent | None:
    return (
        HoldEvent.objects.filter(product_id=product_id, action=HoldAction.HELD)
        .order_by("-at", "-pk")
        .first()
    )


def _step(
    product: Product, action: str, now: dt.datetime, *, reason: str = "", acting: Any = None
) -> HoldEvent:
    return HoldEvent.objects.create(
        product=product,
        action=action,
        at=now,
        reason=reason,
        acting_id=getattr(acting, "pk", None),
    )


def _base(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.pk,
        "organization_id": product.organization_id,
        "product": product.name,
    }


# --- holds placed and lifted by the store ---------------------------------------------------


def place_holds(since_of: dict[int, dt.datetime], *, now: dt.datetime) -> int:
    """Put the live listings of these products on hold (each product's fixes overdue
    since its date), in one transaction with one statement per kind of row: the sweep
    may place hundreds at once. Returns how many were placed."""
    products = {
        p.pk: p
        for p in Product.objects.filter(pk__in=list(since_of)).select_related("organization")
    }
    with transaction.atomic():
        changed = [x.product_id for x in catalog.set_security_holds(since_of)]
        if not changed:
            return 0
        steps = HoldEvent.objects.bulk_create(
            [
                HoldEvent(product_id=pid, action=HoldAction.HELD, at=now, reason=HOLD_REASON)
                for pid in changed
            ]
        )
        affected = _affected_of(changed, states=(ClockState.OVERDUE,))
        audit.record_many(
            [
                {
                    "actor": None,
                    "action": "policy:listing:held",
                    "target": products[pid],
                    "organization": products[pid].organization,
                    "product": str(products[pid]),
                    "overdue_since": since_of[pid].isoformat(),
                }
                for pid in changed
            ],
            returning=False,
        )
        events.emit_many(
            "policy:listing:held",
            [
                {
                    "hold_id": step.pk,
                    "overdue_since": since_of[pid].isoformat(),
                    "affected": affected.get(pid, []),
                    **_base(products[pid]),
                }
                for pid, step in zip(changed, steps, strict=True)
            ],
        )
    return len(changed)


def lift_if_clear(
    listing: Listing, *, now: dt.datetime, reason: str = "", acting: Any = None
) -> bool:
    """Lift the listing's hold when no clock of its product is overdue any more."""
    if listing.security_hold_since is None or listing.state != ListingState.LIVE:
        return False
    if Clock.objects.filter(product_id=listing.product_id, state=ClockState.OVERDUE).exists():
        return False
    product = listing.product
    held = _last_hold(product.pk)
    with transaction.atomic():
        if catalog.set_security_hold(product=product, since=None) is None:
            return False
        why = reason or "The overdue findings were fixed"
        _step(product, HoldAction.LIFTED, now, reason=why, acting=acting)
        audit.record(
            acting,
            "policy:listing:hold_lifted",
            product,
            organization=product.organization,
            product=str(product),
            held_since=listing.security_hold_since.isoformat(),
            reason=why,
        )
        events.emit(
            "policy:listing:released",
            hold_id=held.pk if held else 0,
            held_since=listing.security_hold_since.isoformat(),
            lifted_at=now.isoformat(),
            **_base(product),
        )
    return True


def _revoke(
    product: Product, now: dt.datetime, *, reason: str, acting: Any, origin: Origin | None
) -> bool:
    days = settings.SLA_REVOKED_PULL_DAYS
    ends = now + dt.timedelta(days=days)
    with transaction.atomic():
        listing = catalog.revoke(product=product, access_ends_at=ends)
        if listing is None:
            return False
        revocation = _step(product, HoldAction.REVOKED, now, reason=reason, acting=acting)
        audit.record(
            acting,
            "policy:listing:revoked",
            product,
            organization=product.organization,
            product=str(product),
            reason=reason,
            pull_until=ends.isoformat(),
            **(origin.audit_fields() if origin else {}),
        )
        events.emit(
            "policy:listing:revoked",
            # The revocation's own step: each revocation is news of its own, whether or not
            # the listing was on hold, and a reinstatement is told to those it reached.
            hold_id=revocation.pk,
            revoked_at=now.isoformat(),
            pull_until=ends.isoformat(),
            affected=_affected(product.pk, states=(ClockState.OVERDUE, ClockState.RUNNING)),
            **_base(product),
        )
    return True


# --- the sweep -------------------------------------------------------------------------------


def _ids(queryset: Any) -> list[int]:
    return list(queryset.values_list("pk", flat=True)[:BATCH])


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """One pass of the SLA (see the module's docstring). Returns what it did."""
    now = now or clock.now()
    done = dict.fromkeys(("overdue", "held", "reminded", "revoked", "lapsed"), 0)
    # 1. Clocks past their deadline.
    while ids := _ids(Clock.objects.filter(state=ClockState.RUNNING, due_at__lte=now)):
        Clock.objects.filter(pk__in=ids, state=ClockState.RUNNING).update(
            state=ClockState.OVERDUE, overdue_at=F("due_at"), next_reminder_at=None
        )
        done["overdue"] += len(ids)
    # 2. Live listings with an overdue clock and no hold.
    overdue = (
        Clock.objects.filter(state=ClockState.OVERDUE)
        .values("product_id")
        .annotate(since=Min("overdue_at"))
    )
    unheld = set(
        Listing.objects.filter(
            state=ListingState.LIVE,
            security_hold_since__isnull=True,
            product_id__in=Clock.objects.filter(state=ClockState.OVERDUE).values("product_id"),
        ).values_list("product_id", flat=True)
    )
    if unheld:
        since_of = {
            row["product_id"]: row["since"]
            for row in overdue.filter(product_id__in=unheld).order_by()
        }
        done["held"] = place_holds({pid: since_of[pid] or now for pid in unheld}, now=now)
    # 3. Reminders.
    while ids := _ids(Clock.objects.filter(state=ClockState.RUNNING, next_reminder_at__lte=now)):
        with transaction.atomic():
            due = list(Clock.objects.filter(pk__in=ids).select_related("product"))
            payloads = []
            for c in due:
                day_before = c.due_at - dt.timedelta(hours=24)
                which = "day" if c.next_reminder_at and c.next_reminder_at >= day_before else "half"
                c.reminders = 2 if which == "day" else 1
                c.next_reminder_at = day_before if which == "half" and day_before > now else None
                payloads.append({"reminder": which, **clocks.payload(c, c.product.name)})
            Clock.objects.bulk_update(due, ["reminders", "next_reminder_at"], batch_size=500)
            events.emit_many("policy:clock:reminder", payloads)
        done["reminded"] += len(ids)
    # 4. Holds that lasted too long.
    limit = now - dt.timedelta(days=settings.SLA_REVOKE_AFTER_DAYS)
    for product in Product.objects.filter(
        listing__state=ListingState.LIVE, listing__security_hold_since__lte=limit
    ).select_related("organization"):
        reason = f"On hold for {settings.SLA_REVOKE_AFTER_DAYS} days"
        done["revoked"] += _revoke(product, now, reason=reason, acting=None, origin=None)
    # 5. Approved statements that expired.
    lapsed = VexStatement.objects.filter(
        review=VexReview.APPROVED,
        status=VexStatus.NOT_AFFECTED,
        expires_at__lte=now,
        lapsed_at__isnull=True,
    )
    products = set(lapsed.values_list("product_id", flat=True))
    lapsed.update(lapsed_at=now)
    for product_id in sorted(products):
        clocks.reconcile(product_id)
        done["lapsed"] += 1
    return done


# --- the security team -----------------------------------------------------------------------


def _require(acting: Any, reason: str) -> str:
    if not permissions.can_enforce_sla(acting):
        raise PermissionDenied("Only the security team enforces the vulnerability SLA by hand.")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Say why.", field="reason")
    return reason[:2000]


def _extend_overdue(product: Product, now: dt.datetime) -> int:
    """Give every overdue clock of the product a new deadline, its class's window from
    now (a hold lifted or a listing reinstated by hand)."""
    extended = 0
    for c in Clock.objects.select_for_update().filter(product=product, state=ClockState.OVERDUE):
        c.due_at = now + clocks.window(c.severity)
        c.state = ClockState.RUNNING
        c.overdue_at = None
        c.reminders = 0
        c.next_reminder_at = clocks.first_reminder(now, c.due_at, now)
        c.save(update_fields=["due_at", "state", "overdue_at", "reminders", "next_reminder_at"])
        extended += 1
    return extended


def revoke(*, product: Product, reason: str, acting: Any, origin: Origin) -> None:
    """Revoke a live listing now (it need not be on hold)."""
    reason = _require(acting, reason)
    if not _revoke(product, clock.now(), reason=reason, acting=acting, origin=origin):
        raise Conflict("Only a live listing can be revoked.")


def reinstate(*, product: Product, reason: str, acting: Any, origin: Origin) -> None:
    """Bring a revoked listing back: live, its hold cleared, its overdue findings given a
    new deadline from now."""
    reason = _require(acting, reason)
    now = clock.now()
    with transaction.atomic():
        if catalog.reinstate(product=product) is None:
            raise Conflict("Only a revoked listing can be reinstated.")
        extended = _extend_overdue(product, now)
        _step(product, HoldAction.REINSTATED, now, reason=reason, acting=acting)
        audit.record(
            acting,
            "policy:listing:reinstated",
            product,
            organization=product.organization,
            product=str(product),
            reason=reason,
            deadlines_moved=extended,
            **origin.audit_fields(),
        )
        events.emit("policy:listing:reinstated", reason=reason, **_base(product))


def lift_hold(*, product: Product, reason: str, acting: Any, origin: Origin) -> None:
    """Lift a hold by hand: the overdue findings get a new deadline from now."""
    reason = _require(acting, reason)
    now = clock.now()
    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(product=product).first()
        if listing is None or listing.security_hold_since is None:
            raise Conflict("The listing is not on hold.")
        if listing.state != ListingState.LIVE:
            raise Conflict("The listing is revoked: reinstate it instead.")
        extended = _extend_overdue(product, now)
        audit.record(
            acting,
            "policy:hold:extended",
            product,
            organization=product.organization,
            product=str(product),
            reason=reason,
            deadlines_moved=extended,
            **origin.audit_fields(),
        )
        lift_if_clear(listing, now=now, reason=reason, acting=acting)
