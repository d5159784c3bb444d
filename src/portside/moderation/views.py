"""Pages of the review: the moderators' queue, a submission's page (shared by the
publisher and the reviewer), and the buttons that move it.

A submission's page is visible to the publisher's members and the store team; anyone
else gets 404. The buttons shown are the moves the services would allow, and each POST
goes through the same service, which decides again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portside.accounts import permissions
from portside.accounts.models import StoreRole, User
from portside.catalog import services as catalog
from portside.catalog.manifest import FIELDS, diff
from portside.catalog.models import Category, Listing, ListingState, Product, Revision
from portside.core.errors import NotFound, PermissionDenied, PortsideError, ValidationFailed
from portside.core.origin import from_request
from portside.moderation import services
from portside.moderation.models import OPEN_STATES, State, Submission


def _submission(request: HttpRequest, pk: int) -> Submission:
    submission = (
        Submission.objects.select_related("product__organization", "revision", "assigned_to")
        .filter(pk=pk)
        .first()
    )
    if submission is None or not permissions.can_view_products(
        request.user, submission.product.organization
    ):
        raise Http404("No such submission.")
    return submission


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """Submissions waiting for the store team, oldest first, with filters."""
    if not permissions.can_moderate(request.user):
        return _forbidden(request, "The review queue is for moderators.")
    state = request.GET.get("state", "waiting")
    assigned = request.GET.get("assigned", "")
    category = request.GET.get("category", "")
    publisher = request.GET.get("publisher", "").strip()[:39]
    submissions = Submission.objects.select_related(
        "product__organization", "product__category", "revision", "assigned_to"
    )
    if state == "waiting":
        submissions = submissions.filter(state__in=[State.SUBMITTED, State.RESUBMITTED])
    elif state == "open":
        submissions = submissions.filter(state__in=OPEN_STATES)
    elif state in State.values:
        submissions = submissions.filter(state=state)
    if assigned == "me":
        submissions = submissions.filter(assigned_to_id=request.user.pk)
    elif assigned == "nobody":
        submissions = submissions.filter(assigned_to__isnull=True)
    if category:
        submissions = submissions.filter(product__category__slug=category)
    if publisher:
        submissions = submissions.filter(product__organization__name=publisher)
    page = Paginator(submissions.order_by("waiting_since", "pk"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "moderation/queue.html",
        {
            "page": page,
            "state": state,
            "assigned": assigned,
            "category": category,
            "publisher": publisher,
            "states": State.choices,
            "categories": Category.objects.all(),
        },
    )


def _security(revision: Revision) -> list[dict[str, Any]]:
    """The latest scan of each image of the revision, for the reviewer's panel, with its
    open critical findings."""
    from portside.scanning.models import Scan

    critical = services.open_critical(revision)
    rows = []
    for source in revision.manifest.get("sources", []):
        for tag, digest in source.get("tags", {}).items():
            scan = (
                Scan.objects.filter(repository__name=source["repository"], digest=digest)
                .order_by("-pk")
                .first()
            )
            failed = scan.failed_practices if scan else []
            rows.append(
                {
                    "repository": source["repository"],
                    "tag": tag,
                    "digest": digest,
                    "scan": scan,
                    "practices_failed": failed,
                    "open_critical": critical.get((source["repository"], digest), 0),
                }
            )
    return rows


def _sla(listing: Listing | None) -> dict[str, Any] | None:
    """The listing's standing under the vulnerability SLA: on hold, revoked, and its open
    clocks with the nearest deadline."""
    if listing is None:
        return None
    from portside.policy import selectors

    count, nearest = selectors.open_clocks([listing.product_id]).get(listing.product_id, (0, None))
    return {
        "hold_since": listing.security_hold_since,
        "revoked": listing.state == ListingState.REVOKED,
        "access_ends_at": listing.access_ends_at,
        "open_clocks": count,
        "nearest_due": nearest,
    }


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, _submission(request, pk))


def _render_detail(
    request: HttpRequest, submission: Submission, *, approve_error: str = "", status: int = 200
) -> HttpResponse:
    product = submission.product
    revisions = list(
        Revision.objects.filter(
            product=product,
            pk__in=submission.transitions.values("revision"),
        ).order_by("-number")
    )
    current = submission.revision
    listing = Listing.objects.filter(product=product).select_related("revision").first()
    earlier = (
        Revision.objects.filter(product=product, number__lt=current.number)
        .order_by("-number")
        .first()
    )
    base = listing.revision if listing and listing.revision_id != current.pk else earlier
    moves = services.allowed_moves(request.user, submission)  # type: ignore[arg-type]
    reviewers = (
        User.objects.filter(store_role__in=[StoreRole.MODERATOR, StoreRole.ADMIN], is_active=True)
        if permissions.can_moderate(request.user)
        else []
    )
    security = _security(current)
    return render(
        request,
        "moderation/submission_detail.html",
        {
            "submission": submission,
            "product": product,
            "org": product.organization,
            "manifest": current.manifest,
            "revisions": revisions,
            "base": base,
            "changes": diff(base.manifest if base else None, current.manifest),
            "first": base is None,
            "history": submission.transitions.select_related("revision"),
            "comments": submission.comments.select_related("revision"),
            "moves": moves,
            "fields": FIELDS,
            "security": security,
            "open_critical": sum(row["open_critical"] for row in security),
            "sla": _sla(listing),
            "approve_error": approve_error,
            "override_reason": str(request.POST.get("override_reason", ""))[:10_000]
            if approve_error
            else "",
            "is_moderator": permissions.can_moderate(request.user),
            "can_comment": bool(
                permissions.can_moderate(request.user)
                or permissions.can_edit_products(request.user, product.organization)
            ),
            "reviewers": reviewers,
            "listing": listing,
        },
        status=status,
    )


def _act(
    request: HttpRequest, pk: int, action: Callable[[Submission], Any], done: str
) -> HttpResponse:
    submission = _submission(request, pk)
    try:
        action(submission)
    except PermissionDenied as exc:
        return _forbidden(request, exc.message)
    except NotFound:
        raise Http404("No such submission.") from None
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("submission_detail", pk=submission.pk)


def _who(request: HttpRequest) -> dict[str, Any]:
    return {"acting": request.user, "origin": from_request(request)}


@login_required
@require_POST
def submission_take(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, lambda s: services.take(submission=s, **_who(request)), "In review.")


@login_required
@require_POST
def submission_request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda s: services.request_changes(
            submission=s,
            comment=request.POST.get("body", ""),
            field=request.POST.get("field", ""),
            **_who(request),
        ),
        "Changes requested.",
    )


@login_required
@require_POST
def submission_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve; a revision with open critical findings needs the override box ticked and
    a reason, else the page comes back with the error on the form."""
    submission = _submission(request, pk)
    overriding = request.POST.get("override") == "on"
    reason = str(request.POST.get("override_reason", "")) if overriding else ""
    if overriding and not reason.strip():
        return _render_detail(
            request,
            submission,
            approve_error="Say why the open critical findings do not stop this approval.",
            status=400,
        )
    try:
        services.approve(submission=submission, override_reason=reason, **_who(request))
    except PermissionDenied as exc:
        return _forbidden(request, exc.message)
    except PortsideError as exc:
        if isinstance(exc, ValidationFailed) and exc.field == "override_reason":
            return _render_detail(request, submission, approve_error=exc.message, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Approved.")
    return redirect("submission_detail", pk=submission.pk)


@login_required
@require_POST
def submission_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda s: services.reject(
            submission=s, reason=request.POST.get("body", ""), **_who(request)
        ),
        "Rejected.",
    )


@login_required
@require_POST
def submission_publish(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request, pk, lambda s: services.publish(submission=s, **_who(request)), "Published."
    )


@login_required
@require_POST
def submission_comment(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda s: services.comment(
            submission=s,
            body=request.POST.get("body", ""),
            field=request.POST.get("field", ""),
            **_who(request),
        ),
        "Comment added.",
    )


@login_required
@require_POST
def submission_assign(request: HttpRequest, pk: int) -> HttpResponse:
    username = request.POST.get("reviewer", "")
    reviewer = User.objects.filter(username=username).first() if username else None

    def assign(submission: Submission) -> None:
        if username and reviewer is None:
            raise ValidationFailed(f"No user {username[:150]!r}.", field="reviewer")
        services.assign(submission=submission, reviewer=reviewer, **_who(request))

    return _act(request, pk, assign, "Assignment changed.")


@login_required
@require_POST
def product_submit(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    """The publisher's "Submit for review" (and "Resubmit") button on the product page."""
    product = (
        Product.objects.select_related("organization")
        .filter(organization__name=name, slug=slug)
        .first()
    )
    if product is None or not permissions.can_view_products(request.user, product.organization):
        raise Http404("No such product.")
    try:
        submission = services.submit(product=product, **_who(request))
    except PermissionDenied as exc:
        return _forbidden(request, exc.message)
    except PortsideError as exc:
        found = exc.details.get("problems") if isinstance(exc, ValidationFailed) else None
        if isinstance(found, list) and found:
            # The checklist on the product page lists each item, linked to its field.
            count = len(found)
            messages.error(
                request,
                f"Not submitted: {count} item{'s' if count != 1 else ''} of the checklist "
                "below still need doing.",
            )
            return redirect(reverse("product_edit", args=[name, slug]) + "#readiness")
        messages.error(request, exc.message)
        return redirect("product_edit", name=name, slug=slug)
    messages.success(request, f"Revision {submission.revision.number} submitted for review.")
    return redirect("submission_detail", pk=submission.pk)


@login_required
@require_POST
def listing_take_down(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    if not permissions.can_moderate(request.user):
        return _forbidden(request, "Only moderators take listings down.")
    product = get_object_or_404(Product, organization__name=name, slug=slug)
    try:
        catalog.take_down(product=product, reason=request.POST.get("reason", ""), **_who(request))
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{product} is taken down.")
    return redirect("listing_admin")


@login_required
def listing_admin(request: HttpRequest) -> HttpResponse:
    """Live listings, for moderators to find one and take it down."""
    if not permissions.can_moderate(request.user):
        return _forbidden(request, "Listings are managed by moderators.")
    q = request.GET.get("q", "").strip()[:100]
    listings = Listing.objects.select_related("product__organization", "revision").order_by(
        "-published_at"
    )
    if q:
        listings = listings.filter(
            Q(product__name__icontains=q) | Q(product__organization__name__icontains=q)
        )
    page = Paginator(listings, 50).get_page(request.GET.get("page"))
    return render(request, "moderation/listings.html", {"page": page, "q": q})
