"""The publisher's security workspace: every open SLA clock across the organisation's
listed images, with its deadline and what happens next, and the state of each listing.
Private like scan results: the organisation's members and the store team."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from portside.accounts import permissions
from portside.accounts.models import Organization
from portside.catalog.models import Listing, ListingState
from portside.core import clock
from portside.policy.models import OPEN_STATES, Clock, ClockState
from portside.scanning.models import Scan

RECENT = dt.timedelta(days=30)


def _organization(request: HttpRequest, name: str) -> Organization:
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_scan_results(request.user, org):
        raise Http404("No such organisation.")
    return org


def _next_step(c: Clock, listing: Listing | None, now: dt.datetime) -> str:
    """What happens if nothing is done, in one sentence."""
    if listing is None:
        return ""
    if listing.state == ListingState.REVOKED:
        return "The listing is revoked; only the store team can reinstate it."
    if c.state == ClockState.OVERDUE:
        revoke = (listing.security_hold_since or now) + dt.timedelta(
            days=settings.SLA_REVOKE_AFTER_DAYS
        )
        return f"On hold; revoked on {revoke:%Y-%m-%d %H:%M} UTC unless fixed."
    return f"The listing goes on hold on {c.due_at:%Y-%m-%d %H:%M} UTC unless fixed."


def _scan_links(org: Organization, clocks: list[Clock]) -> dict[tuple[str, str], int]:
    images = {(p.get("repository"), p.get("image")) for c in clocks for p in c.affected}
    found = Scan.objects.filter(
        repository__organization=org, digest__in={image for _, image in images}
    ).values_list("repository__name", "digest", "pk")
    return {(repo, digest): pk for repo, digest, pk in found}


@login_required
@require_safe
def security(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    now = clock.now()
    open_clocks = list(
        Clock.objects.filter(organization_id=org.pk, state__in=OPEN_STATES)
        .select_related("product")
        .order_by("due_at", "advisory_id")
    )
    listings = {
        listing.product_id: listing
        for listing in Listing.objects.filter(product__organization=org)
        .exclude(state__in=[ListingState.UNPUBLISHED, ListingState.TAKEN_DOWN])
        .select_related("product")
        .order_by("product__name")
    }
    scans = _scan_links(org, open_clocks)
    rows: list[dict[str, Any]] = []
    for c in open_clocks:
        places = [
            {**p, "scan": scans.get((p.get("repository"), p.get("image")))} for p in c.affected
        ]
        rows.append(
            {
                "clock": c,
                "places": places,
                "fixed": sorted({v for p in c.affected for v in p.get("fixed") or []}),
                "next": _next_step(c, listings.get(c.product_id), now),
                "overdue": c.state == ClockState.OVERDUE,
            }
        )
    stopped = (
        Clock.objects.filter(
            organization_id=org.pk, state=ClockState.STOPPED, stopped_at__gte=now - RECENT
        )
        .select_related("product")
        .order_by("-stopped_at")[:50]
    )
    summary = []
    for listing in listings.values():
        mine = [r for r in rows if r["clock"].product_id == listing.product_id]
        summary.append(
            {
                "listing": listing,
                "open": len(mine),
                "overdue": sum(r["overdue"] for r in mine),
                "next_due": min(
                    (r["clock"].due_at for r in mine if not r["overdue"]), default=None
                ),
                "revokes_on": (
                    listing.security_hold_since + dt.timedelta(days=settings.SLA_REVOKE_AFTER_DAYS)
                    if listing.security_hold_since and listing.state == ListingState.LIVE
                    else None
                ),
            }
        )
    return render(
        request,
        "policy/workspace.html",
        {
            "org": org,
            "now": now,
            "rows": rows,
            "summary": summary,
            "stopped": stopped,
            "critical_hours": settings.SLA_CRITICAL_HOURS,
            "major_days": settings.SLA_MAJOR_HOURS // 24,
            "revoke_days": settings.SLA_REVOKE_AFTER_DAYS,
        },
    )


urlpatterns = [
    path("orgs/<str:name>/security/", security, name="org_security"),
]
