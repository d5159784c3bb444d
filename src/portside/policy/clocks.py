"""SLA clocks brought in line with what a product's listed images carry.

:func:`reconcile` is the one writer of clocks' starts and stops. It reads the listing's
live revision (the repositories and tags it lists), the images those tags point to now
(an index: its platform images), their open findings of class Critical or Major
(reclassification counted) and the approved VEX statements of the product, then:

- a finding with no open clock gets one, started now (the publisher is told by the
  ``policy:clock:started`` event), due after its class's window;
- an open clock whose class changed gets the new class's deadline, counted from its start
  (a clock made overdue by a reclassification is overdue from its new deadline);
- an open clock whose finding is gone stops: ``fixed`` when every listed image has been
  scanned and none carries it (an image not scanned yet keeps the clock running: the fix
  may be in it, or not), ``not_affected`` when approved statements cover it wherever it
  is, ``reclassified`` when it is still there below Major;
- a listing that is withdrawn (unpublished or taken down) stops every clock
  (``unlisted``); a revoked listing keeps them, so its customers still see fixes.

When no overdue clock is left, a hold lifts by itself (``policy.services``). Everything
runs in one transaction per product, with the listing's row locked, so two deliveries of
events about one product cannot start the same clock twice (a unique constraint holds it
too).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from portside.catalog.models import Listing, ListingState
from portside.core import clock, events
from portside.policy.models import (
    OPEN_STATES,
    Clock,
    ClockState,
    StopReason,
    VexReview,
    VexStatement,
    VexStatus,
)
from portside.registry.models import Manifest, ManifestChild, Tag
from portside.scanning.models import Finding, Scan, ScanStatus, Severity

SLA_CLASSES = (Severity.CRITICAL, Severity.MAJOR)
Key = tuple[str, str, str]  # advisory id, package type, package name


def window(severity: str) -> dt.timedelta:
    """The time a publisher has to fix a finding of ``severity`` once told."""
    if severity == Severity.CRITICAL:
        return dt.timedelta(hours=settings.SLA_CRITICAL_HOURS)
    return dt.timedelta(hours=settings.SLA_MAJOR_HOURS)


def first_reminder(started_at: dt.datetime, due_at: dt.datetime, now: dt.datetime) -> Any:
    """When the first reminder of a clock is due: at half time, or else 24 hours before
    the deadline; None when both are past."""
    for at in (started_at + (due_at - started_at) / 2, due_at - dt.timedelta(hours=24)):
        if at > now and at < due_at:
            return at
    return None


@dataclass(frozen=True)
class Image:
    repository_id: int
    repository: str
    tag: str
    digest: str  # what the tag points to, as customers pull it
    image: str  # the image manifest that was scanned (the digest itself, or an index's child)


@dataclass
class Seen:
    """Where one vulnerability in one package is, among the listed images."""

    places: list[dict[str, Any]] = field(default_factory=list)

    @property
    def due(self) -> list[dict[str, Any]]:
        """The places that need a fix: Critical or Major, not covered by a statement."""
        return [p for p in self.places if p["severity"] in SLA_CLASSES and not p["covered"]]

    @property
    def severity(self) -> str:
        """The highest class among the places that need a fix ("" for none)."""
        classes = {p["severity"] for p in self.due}
        return next((s.value for s in SLA_CLASSES if s in classes), "")


def listed_images(listing: Listing) -> list[Image]:
    """The images of the listing's live revision's tags, as the tags point now (the
    frozen digest when a tag is gone): an index stands for its platform images."""
    sources = (listing.revision.manifest or {}).get("sources") or []
    out: list[Image] = []
    for source in sources:
        if not isinstance(source, dict) or not isinstance(source.get("tags"), dict):
            continue
        name = str(source.get("repository") or "")
        tags = {str(tag): str(digest) for tag, digest in source["tags"].items()}
        current = dict(
            Tag.objects.filter(repository__name=name, name__in=list(tags)).values_list(
                "name", "manifest__digest"
            )
        )
        manifests = {
            m.digest: m
            for m in Manifest.objects.filter(
                repository__name=name, digest__in={current.get(t, d) for t, d in tags.items()}
            ).only("pk", "digest", "repository_id")
        }
        children: dict[int, list[str]] = defaultdict(list)
        for parent, child in ManifestChild.objects.filter(
            parent_id__in=[m.pk for m in manifests.values()]
        ).values_list("parent_id", "child_digest"):
            children[parent].append(child)
        for tag, frozen in sorted(tags.items()):
            digest = current.get(tag, frozen)
            manifest = manifests.get(digest)
            if manifest is None:
                continue  # deleted, tag and image: nothing there to carry a finding
            for image in children.get(manifest.pk) or [digest]:
                out.append(Image(manifest.repository_id, name, tag, digest, image))
    return out


def _covers(
    statement: VexStatement,
    *,
    advisory: str,
    aliases: set[str],
    place: Image,
    finding: Any,
    now: dt.datetime,
) -> bool:
    from portside.policy import vex

    return vex.covers(
        status=statement.status,
        review=statement.review,
        expires_at=statement.expires_at,
        statement_advisory=statement.advisory_id,
        statement_package_type=statement.package_type,
        statement_package_name=statement.package_name,
        statement_digest=statement.digest,
        advisory_id=advisory,
        aliases=sorted(aliases),
        package_type=finding["package_type"],
        package_name=finding["package_name"],
        digest=place.image,
        now=now,
    )


def _statements(product_id: int, now: dt.datetime) -> list[VexStatement]:
    return list(
        VexStatement.objects.filter(
            product_id=product_id, review=VexReview.APPROVED, status=VexStatus.NOT_AFFECTED
        ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    )


def _seen(
    images: list[Image], statements: list[VexStatement], now: dt.datetime
) -> tuple[dict[Key, Seen], bool]:
    """Every open finding of the images by key, and whether every image has a result."""
    by_image: dict[tuple[int, str], list[Image]] = defaultdict(list)
    for image in images:
        by_image[(image.repository_id, image.image)].append(image)
    scans = {
        (repo, digest): pk
        for pk, repo, digest in Scan.objects.filter(
            Q(status=ScanStatus.DONE) | Q(matched_at__isnull=False),
            repository_id__in={i.repository_id for i in images},
            digest__in={i.image for i in images},
        ).values_list("pk", "repository_id", "digest")
    }
    complete = all(key in scans for key in by_image)
    place_of = {pk: by_image[key] for key, pk in scans.items() if key in by_image}
    seen: dict[Key, Seen] = {}
    rows = Finding.objects.filter(scan_id__in=list(place_of), resolved_at__isnull=True).values(
        "scan_id",
        "advisory_id",
        "aliases",
        "package_type",
        "package_name",
        "package_version",
        "fixed_versions",
        "severity",
        "reclassified",
    )
    for row in rows:
        key = (row["advisory_id"], row["package_type"], row["package_name"])
        item = seen.setdefault(key, Seen())
        aliases = {str(a) for a in row["aliases"] or []}
        for place in place_of[row["scan_id"]]:
            covered = any(
                _covers(s, advisory=key[0], aliases=aliases, place=place, finding=row, now=now)
                for s in statements
            )
            item.places.append(
                {
                    "repository": place.repository,
                    "tag": place.tag,
                    "digest": place.digest,
                    "image": place.image,
                    "version": row["package_version"],
                    "fixed": list(row["fixed_versions"] or []),
                    "severity": row["reclassified"] or row["severity"],
                    "covered": covered,
                }
            )
    return seen, complete


def _stop_reason(seen: Seen | None, complete: bool) -> str | None:
    if seen is None:
        return StopReason.FIXED if complete else None
    if any(p["severity"] in SLA_CLASSES for p in seen.places):
        return StopReason.NOT_AFFECTED
    return StopReason.RECLASSIFIED


def payload(c: Clock, product: str) -> dict[str, Any]:
    return {
        "clock_id": c.pk,
        "product_id": c.product_id,
        "organization_id": c.organization_id,
        "product": product,
        "advisory_id": c.advisory_id,
        "package": c.package_name,
        "package_type": c.package_type,
        "severity": c.severity,
        "started_at": c.started_at.isoformat(),
        "due_at": c.due_at.isoformat(),
        "affected": [
            {k: p.get(k) for k in ("repository", "tag", "digest", "image", "version", "fixed")}
            for p in c.affected
        ],
    }


def _stop(c: Clock, reason: str, now: dt.datetime, product: str) -> None:
    c.state = ClockState.STOPPED
    c.stopped_at = now
    c.stop_reason = reason
    c.next_reminder_at = None
    c.save(update_fields=["state", "stopped_at", "stop_reason", "next_reminder_at"])
    events.emit(
        "policy:clock:stopped",
        clock_id=c.pk,
        product_id=c.product_id,
        organization_id=c.organization_id,
        product=product,
        advisory_id=c.advisory_id,
        package=c.package_name,
        reason=reason,
    )


def reconcile(product_id: int) -> dict[str, int]:
    """Start, move and stop the clocks of one product (see the module's docstring).
    Returns how many clocks started, moved and stopped."""
    from portside.policy import services

    counts = {"started": 0, "moved": 0, "stopped": 0}
    now = clock.now()
    with transaction.atomic():
        listing = (
            Listing.objects.select_for_update()
            .select_related("revision", "product")
            .filter(product_id=product_id)
            .first()
        )
        open_clocks = {
            (c.advisory_id, c.package_type, c.package_name): c
            for c in Clock.objects.select_for_update().filter(
                product_id=product_id, state__in=OPEN_STATES
            )
        }
        if listing is None or listing.state not in (ListingState.LIVE, ListingState.REVOKED):
            name = listing.product.name if listing else ""
            for c in open_clocks.values():
                _stop(c, StopReason.UNLISTED, now, name)
                counts["stopped"] += 1
            if listing is not None and listing.security_hold_since is not None:
                services.lift_if_clear(listing, now=now)
            return counts
        product = listing.product
        images = listed_images(listing)
        seen, complete = _seen(images, _statements(product_id, now), now)
        for key, item in seen.items():
            if not item.severity:
                continue
            places = item.due
            existing = open_clocks.get(key)
            if existing is None:
                due = now + window(item.severity)
                started = Clock.objects.create(
                    product=product,
                    organization_id=product.organization_id,
                    advisory_id=key[0],
                    package_type=key[1],
                    package_name=key[2],
                    severity=item.severity,
                    started_at=now,
                    due_at=due,
                    affected=places,
                    next_reminder_at=first_reminder(now, due, now),
                )
                events.emit("policy:clock:started", **payload(started, product.name))
                counts["started"] += 1
                continue
            changed = []
            if existing.affected != places:
                existing.affected = places
                changed.append("affected")
            if existing.severity != item.severity:
                existing.severity = item.severity
                existing.due_at = existing.started_at + window(item.severity)
                overdue = existing.due_at <= now
                existing.state = ClockState.OVERDUE if overdue else ClockState.RUNNING
                existing.overdue_at = existing.due_at if overdue else None
                existing.next_reminder_at = (
                    None if overdue else first_reminder(existing.started_at, existing.due_at, now)
                )
                changed += ["severity", "due_at", "state", "overdue_at", "next_reminder_at"]
                counts["moved"] += 1
            if changed:
                existing.save(update_fields=changed)
        for key, c in open_clocks.items():
            found = seen.get(key)
            if found is not None and found.severity:
                continue
            reason = _stop_reason(found, complete)
            if reason is None:
                continue  # an image not scanned yet may still carry it
            _stop(c, reason, now, product.name)
            counts["stopped"] += 1
        services.lift_if_clear(listing, now=now)
    return counts


def products_listing(repository: str) -> list[int]:
    """The products whose live or revoked listing has a source in ``repository``."""
    from portside.catalog.models import ProductSource

    listed = Listing.objects.filter(
        state__in=[ListingState.LIVE, ListingState.REVOKED]
    ).values_list("product_id", flat=True)
    return sorted(
        set(
            ProductSource.objects.filter(
                repository__name=repository, product_id__in=listed
            ).values_list("product_id", flat=True)
        )
    )
