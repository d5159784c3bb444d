from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from portside.accounts import permissions
from portside.core import events
from portside.core.origin import from_request


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when this node can reach its database, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@login_required
@require_safe
def deliveries(request: HttpRequest) -> HttpResponse:
    """The store's admins: event deliveries waiting, retrying, running or given up."""
    if not permissions.is_store_admin(request.user):
        raise PermissionDenied("Only the store's admins see event deliveries.")
    return render(
        request,
        "core/deliveries.html",
        {
            "deliveries": events.deliveries(),
            "attempts": settings.EVENT_DELIVERY_ATTEMPTS,
            "timeout": settings.EVENT_DELIVERY_TIMEOUT,
        },
    )


@login_required
@require_POST
def delivery_retry(request: HttpRequest, delivery_id: str) -> HttpResponse:
    if not permissions.is_store_admin(request.user):
        raise PermissionDenied("Only the store's admins retry event deliveries.")
    if events.retry(delivery_id[:64], acting=request.user, origin=from_request(request)):
        messages.success(request, "The delivery was queued again.")
    else:
        messages.error(request, "That delivery is no longer given up on (it was retried).")
    return redirect("deliveries")
