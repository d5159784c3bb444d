"""The security team's console: findings across the store with their SLA state and
reclassification, the listings on hold or revoked with their history and the team's
actions on them, and the trend of open critical and major findings.

The security team and the store's admins use every page; moderators may read the list
of held and revoked listings. Anyone else signed in is refused (403). Each POST goes
through a service that decides again, and a repeated POST (a client retrying) changes
nothing more.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_POST

from portside.accounts import permissions
from portside.catalog.models import Listing, ListingState
from portside.core.errors import PermissionDenied as Refused
from portside.core.errors import PortsideError
from portside.core.origin import from_request
from portside.policy import console_chart, selectors
from portside.policy.models import ClockState
from portside.scanning.models import Finding, Severity

MAX_REASON = 2000


def _require_security(request: HttpRequest) -> None:
    if not permissions.can_reclassify_findings(request.user):
        raise PermissionDenied("The security console is for the security team and admins.")


def _require_holds_reader(request: HttpRequest) -> None:
    if not (
        permissions.can_reclassify_findings(request.user) or permissions.can_moderate(request.user)
    ):
        raise PermissionDenied("Held and revoked listings are for the store team.")


# --- findings ---------------------------------------------------------------------------------


class FindingFilterForm(forms.Form):
    severity = forms.ChoiceField(
        required=False, choices=[("", "Any"), *Severity.choices], label="Severity"
    )
    sla = forms.ChoiceField(
        required=False,
        label="SLA",
        choices=[("", "Any"), (selectors.SLA_NONE, "No clock"), *ClockState.choices],
    )
    status = forms.ChoiceField(
        required=False,
        label="Findings",
        choices=[("open", "Open"), ("resolved", "Resolved"), ("all", "All")],
    )
    product = forms.CharField(
        required=False, max_length=200, label="Product", help_text="publisher/product-slug"
    )
    publisher = forms.CharField(required=False, max_length=39, label="Publisher")
    package = forms.CharField(required=False, max_length=255, label="Package")
    advisory = forms.CharField(required=False, max_length=100, label="Vulnerability")
    before = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def clean_product(self) -> tuple[str, str] | None:
        value = self.cleaned_data["product"].strip()
        if not value:
            return None
        publisher, _, slug = value.partition("/")
        if not publisher or not slug or "/" in slug:
            raise forms.ValidationError("Write the product as publisher/product-slug.")
        return publisher, slug

    def to_filter(self) -> selectors.FindingFilter:
        data = self.cleaned_data
        return selectors.FindingFilter(
            severity=data["severity"],
            sla=data["sla"],
            product=data["product"],
            publisher=data["publisher"].strip(),
            package=data["package"].strip(),
            advisory=data["advisory"].strip(),
            status=data["status"] or "open",
        )


@login_required
@require_GET
def console(request: HttpRequest) -> HttpResponse:
    _require_security(request)
    form = FindingFilterForm(request.GET)
    rows: list[Finding] = []
    next_before = None
    if form.is_valid():
        rows, next_before = selectors.findings(form.to_filter(), before=form.cleaned_data["before"])
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "policy/console.html",
        {
            "form": form,
            "rows": rows,
            "next_before": next_before,
            "query": query.urlencode(),
            "severities": Severity.choices,
        },
        status=200 if form.is_valid() else 400,
    )


def _back(request: HttpRequest, name: str) -> str:
    """Where to return after a POST: the page it came from, with its filters (the query
    is parsed and encoded again, so nothing but a query string follows the path)."""
    query = QueryDict(str(request.POST.get("back", ""))[:2000].lstrip("?"))
    encoded = query.urlencode()
    return reverse(name) + (f"?{encoded}" if encoded else "")


@login_required
@require_POST
def reclassify(request: HttpRequest, pk: int) -> HttpResponse:
    _require_security(request)
    from portside.scanning import services as scanning

    finding = Finding.objects.select_related("scan__repository__organization").filter(pk=pk)
    found = finding.first()
    if found is None:
        raise Http404("No such finding.")
    severity = str(request.POST.get("severity", ""))[:16]
    reason = str(request.POST.get("reason", "")).replace("\x00", "").strip()[:MAX_REASON]
    target = _back(request, "policy_console") + f"#finding-{found.pk}"
    if found.reclassified == severity and found.reclassified_reason == reason:
        messages.info(request, f"{found.advisory_id} is already {severity}.")
        return redirect(target)
    try:
        scanning.reclassify(
            finding=found,
            severity=severity,
            reason=reason,
            user=request.user,
            origin=from_request(request),
        )
    except Refused as exc:
        raise PermissionDenied(exc.message) from None
    except PortsideError as exc:
        messages.error(request, f"{found.advisory_id} was not reclassified: {exc.message}")
    else:
        messages.success(request, f"{found.advisory_id} in {found.package_name} is now {severity}.")
    return redirect(target)


# --- listings on hold and revoked -------------------------------------------------------------


@login_required
@require_GET
def listings(request: HttpRequest) -> HttpResponse:
    _require_holds_reader(request)
    from django.core.paginator import Paginator

    page = Paginator(selectors.held_and_revoked(), selectors.PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    product_ids = [listing.product_id for listing in page.object_list]
    history = selectors.hold_history(product_ids)
    clocks = selectors.open_clocks(product_ids)
    rows = [
        {
            "listing": listing,
            "history": history.get(listing.product_id, []),
            "open_clocks": clocks.get(listing.product_id, (0, None))[0],
            "nearest_due": clocks.get(listing.product_id, (0, None))[1],
        }
        for listing in page.object_list
    ]
    return render(
        request,
        "policy/console_listings.html",
        {
            "page": page,
            "rows": rows,
            "can_act": permissions.can_enforce_sla(request.user),
            "max_reason": MAX_REASON,
        },
    )


def _listing(name: str, slug: str) -> Listing:
    found = (
        Listing.objects.select_related("product__organization")
        .filter(product__organization__name=name[:100], product__slug=slug[:100])
        .first()
    )
    if found is None:
        raise Http404("No such listing.")
    return found


def _hold_action(request: HttpRequest, name: str, slug: str, action: str) -> HttpResponse:
    if not permissions.can_enforce_sla(request.user):
        raise PermissionDenied("Only the security team enforces the vulnerability SLA by hand.")
    from portside.policy import services

    listing = _listing(name, slug)
    product = listing.product
    reason = str(request.POST.get("reason", "")).replace("\x00", "").strip()
    target = reverse("policy_console_listings") + f"#listing-{listing.pk}"
    if len(reason) > MAX_REASON:
        messages.error(request, f"The reason is too long (at most {MAX_REASON:,} characters).")
        return redirect(target)
    if not reason:
        messages.error(request, "Give a reason: it is kept in the listing's history.")
        return redirect(target)
    revoked = listing.state == ListingState.REVOKED
    # A repeated request (a retry) finds the work done and changes nothing.
    already = {
        "revoke": revoked,
        "reinstate": not revoked,
        "lift": listing.security_hold_since is None,
    }[action]
    if already:
        messages.info(request, f"Nothing to do: {product} is already {_state_text(listing)}.")
        return redirect(target)
    use_case = {
        "revoke": services.revoke,
        "reinstate": services.reinstate,
        "lift": services.lift_hold,
    }[action]
    try:
        use_case(product=product, reason=reason, acting=request.user, origin=from_request(request))
    except Refused as exc:
        raise PermissionDenied(exc.message) from None
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        done = {"revoke": "revoked", "reinstate": "reinstated", "lift": "no longer on hold"}
        messages.success(request, f"{product} is {done[action]}.")
    return redirect(target)


def _state_text(listing: Listing) -> str:
    if listing.state == ListingState.REVOKED:
        return "revoked"
    if listing.security_hold_since is not None:
        return "on hold"
    return str(ListingState(listing.state).label).lower()


@login_required
@require_POST
def revoke(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    return _hold_action(request, name, slug, "revoke")


@login_required
@require_POST
def reinstate(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    return _hold_action(request, name, slug, "reinstate")


@login_required
@require_POST
def lift_hold(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    return _hold_action(request, name, slug, "lift")


# --- the trend --------------------------------------------------------------------------------


@login_required
@require_GET
def trend(request: HttpRequest) -> HttpResponse:
    _require_security(request)
    points = selectors.open_findings_trend()
    context: dict[str, Any] = {
        "points": points,
        "chart": console_chart.build(points),
        "days": selectors.TREND_DAYS,
        "latest": points[-1] if points else None,
    }
    return render(request, "policy/console_trend.html", context)


urlpatterns: list[URLPattern] = [
    path("staff/security/", console, name="policy_console"),
    path(
        "staff/security/findings/<int:pk>/reclassify",
        reclassify,
        name="policy_console_reclassify",
    ),
    path("staff/security/listings/", listings, name="policy_console_listings"),
    path(
        "staff/security/listings/<str:name>/<slug:slug>/revoke",
        revoke,
        name="policy_console_revoke",
    ),
    path(
        "staff/security/listings/<str:name>/<slug:slug>/reinstate",
        reinstate,
        name="policy_console_reinstate",
    ),
    path(
        "staff/security/listings/<str:name>/<slug:slug>/lift-hold",
        lift_hold,
        name="policy_console_lift_hold",
    ),
    path("staff/security/trend/", trend, name="policy_console_trend"),
]
