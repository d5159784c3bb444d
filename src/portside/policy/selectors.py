"""Reads of the SLA that pages share: the security team's console (findings across the
store, listings on hold or revoked, the trend of open findings) and the reviewer's panel.

Every filter runs in the database. Findings are paged by key (``pk`` descending, the
primary key's index), never counted in full, so a page costs the same with 500,000 rows
as with 500. A finding's SLA state is the state of the newest clock that covers it: a
clock of the same vulnerability and package, in a product made from the finding's
repository, whose affected images include the finding's digest.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from portside.catalog.models import Listing, ListingState, ProductSource
from portside.core import clock
from portside.policy.models import OPEN_STATES, Clock, ClockState, HoldEvent
from portside.scanning.models import Finding, Scan, ScanStatus, Severity

PAGE_SIZE = 50
SLA_NONE = "none"
SLA_STATES = (SLA_NONE, ClockState.RUNNING, ClockState.OVERDUE, ClockState.STOPPED)
FINDING_STATUSES = ("open", "resolved", "all")
TREND_DAYS = 90


@dataclass(frozen=True)
class FindingFilter:
    severity: str = ""
    sla: str = ""
    product: tuple[str, str] | None = None  # (publisher, slug)
    publisher: str = ""
    package: str = ""
    advisory: str = ""
    status: str = "open"


def _clocks_covering() -> QuerySet[Clock]:
    """Clocks of the outer finding's vulnerability, package, repository and digest."""
    return Clock.objects.filter(
        advisory_id=OuterRef("advisory_id"),
        package_type=OuterRef("package_type"),
        package_name=OuterRef("package_name"),
        product__sources__repository_id=OuterRef("scan__repository_id"),
        affected__icontains=OuterRef("scan__digest"),
    )


def _severity_q(severity: str) -> Q:
    """The effective class: the security team's when it reclassified, else the score's."""
    return Q(reclassified=severity) | Q(reclassified="", severity=severity)


def findings(flt: FindingFilter, *, before: int | None = None) -> tuple[list[Finding], int | None]:
    """One page of findings, newest first, and the key of the next page (None: the last)."""
    rows = Finding.objects.select_related("scan__repository__organization")
    if flt.status == "open":
        rows = rows.filter(resolved_at__isnull=True)
    elif flt.status == "resolved":
        rows = rows.filter(resolved_at__isnull=False)
    if flt.severity:
        rows = rows.filter(_severity_q(flt.severity))
    if flt.publisher:
        rows = rows.filter(scan__repository__organization__name=flt.publisher)
    if flt.product is not None:
        publisher, slug = flt.product
        sources = ProductSource.objects.filter(
            product__organization__name=publisher, product__slug=slug
        ).values("repository_id")
        rows = rows.filter(scan__repository_id__in=sources)
    if flt.package:
        rows = rows.filter(package_name=flt.package)
    if flt.advisory:
        rows = rows.filter(advisory_id=flt.advisory)
    if flt.sla == SLA_NONE:
        rows = rows.filter(~Exists(_clocks_covering()))
    elif flt.sla == ClockState.STOPPED:
        rows = rows.filter(
            Exists(_clocks_covering().filter(state=ClockState.STOPPED)),
            ~Exists(_clocks_covering().filter(state__in=OPEN_STATES)),
        )
    elif flt.sla:
        rows = rows.filter(Exists(_clocks_covering().filter(state=flt.sla)))
    if before is not None:
        rows = rows.filter(pk__lt=before)
    rows = rows.annotate(
        sla_state=Subquery(_clocks_covering().order_by("-started_at", "-pk").values("state")[:1]),
        sla_due=Subquery(_clocks_covering().order_by("-started_at", "-pk").values("due_at")[:1]),
    )
    page: list[Finding] = list(rows.order_by("-pk")[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    _mark_listed(page)
    return page, (page[-1].pk if more and page else None)


def _mark_listed(page: list[Finding]) -> None:
    """Set ``listed_in`` on each finding of the page: the products whose live or held
    (or revoked) listing offers the finding's image under one of its tags."""
    repositories = {f.scan.repository.name for f in page}
    listings = Listing.objects.filter(
        state__in=[ListingState.LIVE, ListingState.REVOKED],
        product__sources__repository__name__in=repositories,
    ).select_related("revision", "product__organization")
    offered: dict[tuple[str, str], list[str]] = defaultdict(list)
    for listing in listings.distinct():
        name = f"{listing.product.organization.name}/{listing.product.slug}"
        for source in listing.revision.manifest.get("sources") or []:
            if not isinstance(source, dict) or source.get("repository") not in repositories:
                continue
            for digest in set((source.get("tags") or {}).values()):
                if name not in offered[(source["repository"], str(digest))]:
                    offered[(source["repository"], str(digest))].append(name)
    for finding in page:
        finding.listed_in = offered.get(  # type: ignore[attr-defined]
            (finding.scan.repository.name, finding.scan.digest), []
        )


# --- listings on hold and revoked -----------------------------------------------------------


def held_and_revoked() -> QuerySet[Listing]:
    """Listings on hold (security fixes overdue) or revoked, longest on hold first."""
    return (
        Listing.objects.filter(Q(security_hold_since__isnull=False) | Q(state=ListingState.REVOKED))
        .select_related("product__organization", "revision")
        .order_by("security_hold_since", "withdrawn_at", "pk")
    )


def hold_history(product_ids: list[int]) -> dict[int, list[HoldEvent]]:
    history: dict[int, list[HoldEvent]] = defaultdict(list)
    for event in HoldEvent.objects.filter(product_id__in=product_ids).order_by("at", "pk"):
        history[event.product_id].append(event)
    return history


def open_clocks(product_ids: list[int]) -> dict[int, tuple[int, dt.datetime | None]]:
    """Per product: how many clocks run (or are overdue), and the nearest deadline."""
    from django.db.models import Min

    found = (
        Clock.objects.filter(product_id__in=product_ids, state__in=OPEN_STATES)
        .values("product_id")
        .annotate(open=Count("pk"), nearest=Min("due_at"))
    )
    return {row["product_id"]: (row["open"], row["nearest"]) for row in found}


# --- the trend --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    day: dt.date
    critical: int
    major: int


def open_findings_trend(days: int = TREND_DAYS, now: dt.datetime | None = None) -> list[TrendPoint]:
    """Open critical and major clocks at the end of each of the last ``days`` days (today:
    now), counted from the clocks' intervals in one aggregate query."""
    now = now or clock.now()
    today = now.date()
    first = today - dt.timedelta(days=days - 1)
    moments: list[tuple[dt.date, dt.datetime]] = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        moments.append((day, min(end, now)))
    window_start = moments[0][1]
    relevant = Clock.objects.filter(
        Q(severity__in=[Severity.CRITICAL, Severity.MAJOR]),
        Q(started_at__lte=now),
        Q(stopped_at__isnull=True) | Q(stopped_at__gt=window_start),
    )
    aggregates: dict[str, Any] = {}
    for index, (_, moment) in enumerate(moments):
        open_then = Q(started_at__lte=moment) & (
            Q(stopped_at__isnull=True) | Q(stopped_at__gt=moment)
        )
        for severity in (Severity.CRITICAL, Severity.MAJOR):
            aggregates[f"{severity}_{index}"] = Count("pk", filter=open_then & Q(severity=severity))
    counts = relevant.aggregate(**aggregates)
    return [
        TrendPoint(day, counts[f"critical_{i}"] or 0, counts[f"major_{i}"] or 0)
        for i, (day, _) in enumerate(moments)
    ]


# --- the reviewer's panel ---------------------------------------------------------------------


def open_critical_by_digest(images: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Open findings of effective class critical, per (repository, digest) of ``images``
    that the store scanned (an image without a finished scan is absent)."""
    if not images:
        return {}
    wanted = Q()
    for repository, digest in set(images):
        wanted |= Q(scan__repository__name=repository, scan__digest=digest)
    rows = (
        Finding.objects.filter(wanted, _severity_q(Severity.CRITICAL), resolved_at__isnull=True)
        .values("scan__repository__name", "scan__digest")
        .annotate(n=Count("pk"))
    )
    return {(r["scan__repository__name"], r["scan__digest"]): r["n"] for r in rows}


def is_scanned_q() -> Q:
    """A scan that finished once: a rescan in progress keeps its earlier result."""
    return Q(status=ScanStatus.DONE) | Q(finished_at__isnull=False) | Q(matched_at__isnull=False)


def scanned_images(images: list[tuple[str, str]]) -> set[tuple[str, str]]:
    if not images:
        return set()
    wanted = Q()
    for repository, digest in set(images):
        wanted |= Q(repository__name=repository, digest=digest)
    rows = Scan.objects.filter(wanted).filter(is_scanned_q())
    return set(rows.values_list("repository__name", "digest"))
