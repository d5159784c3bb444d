"""The notification pages: a person's settings, the one-click unsubscribe link, and an
organisation's webhooks. Translation between HTTP and ``services.py``/``preferences.py``.

The organisation's page is private like its other pages (404 for anyone who may not see
the organisation); only its owners see and manage its webhooks. The unsubscribe link
works without signing in and without a CSRF token, as RFC 8058 asks: the signed token in
the URL is the proof, and its GET only shows a button, since mail scanners fetch links.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Organization, User
from portside.core.errors import NotFound, PermissionDenied, ValidationFailed
from portside.core.origin import from_request
from portside.notifications import preferences, retention, services, tokens
from portside.notifications.forms import EVENT_CHOICES, EndpointEditForm, EndpointForm
from portside.notifications.models import Mode, WebhookDelivery, WebhookEndpoint


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _denied(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)


# --- a person's settings -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    me = _me(request)
    if request.method == "POST":
        try:
            scope = preferences.resolve_scope(me, request.POST.get("scope"))
            preferences.set_mode(user=me, scope=scope, mode=request.POST.get("mode"))
        except NotFound as exc:
            raise Http404(exc.message) from None
        except ValidationFailed as exc:
            context = {**_settings_context(me), "error": exc.message}
            return render(request, "notifications/settings.html", context, status=400)
        messages.success(request, "Your notification setting is saved.")
        target = request.POST.get("next") or ""
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(target)
        return redirect("notification_settings")
    return render(request, "notifications/settings.html", _settings_context(me))


def _settings_context(me: User) -> dict[str, Any]:
    rows = preferences.settings_of(me)
    return {
        "organizations": [r for r in rows if r.kind == "org"],
        "products": [r for r in rows if r.kind == "product"],
        "modes": Mode.choices,
    }


# --- one-click unsubscribe ---------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user_id, scope = tokens.read(token)
        if request.method == "POST":
            user, label = services.unsubscribe(token)
            return render(
                request, "notifications/unsubscribed.html", {"label": label, "person": user}
            )
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise tokens.BadToken("no such person")
    except tokens.BadToken:
        return render(request, "notifications/bad_link.html", status=400)
    return render(
        request,
        "notifications/unsubscribe.html",
        {"label": services.scope_label(scope), "token": token},
    )


# --- an organisation's webhooks ----------------------------------------------------------


def _organization(request: HttpRequest, name: str) -> Organization:
    """The organisation, if the user may manage its webhooks: 404 for anyone who may not
    see it, 403 for those who see it but are not its owners."""
    org = Organization.objects.filter(name=name[:64]).first()
    if org is None or not permissions.can_view_organization(request.user, org):
        raise Http404("No such organisation.")
    if not permissions.can_manage_webhooks(request.user, org):
        raise _Denied("Only the organisation's owners see and manage its webhooks.")
    return org


class _Denied(Exception):
    pass


def _page(
    request: HttpRequest,
    org: Organization,
    *,
    form: EndpointForm | None = None,
    secret: str = "",
    secret_for: WebhookEndpoint | None = None,
    status: int = 200,
) -> HttpResponse:
    endpoints = list(
        WebhookEndpoint.objects.filter(organization=org, deleted_at__isnull=True).order_by("pk")
    )
    labels = dict(EVENT_CHOICES)
    for endpoint in endpoints:
        endpoint.edit_form = EndpointEditForm(  # type: ignore[attr-defined]
            initial={
                "description": endpoint.description,
                "events": endpoint.events,
                "active": endpoint.active,
            },
            prefix=f"e{endpoint.pk}",
        )
        endpoint.event_labels = [labels.get(e, e) for e in endpoint.events]  # type: ignore[attr-defined]
    deliveries = (
        WebhookDelivery.objects.filter(endpoint__organization=org)
        .select_related("notification", "endpoint")
        .order_by("-at", "-pk")[:50]
    )
    return render(
        request,
        "notifications/organization.html",
        {
            "org": org,
            "endpoints": endpoints,
            "deliveries": deliveries,
            "retention_days": retention.days(),
            "form": form or EndpointForm(initial={"creation_key": secrets.token_urlsafe(16)}),
            "secret": secret,
            "secret_for": secret_for,
            "nonce": secrets.token_urlsafe(16),
        },
        status=status,
    )


def _guarded(view: Any) -> Any:
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _Denied as exc:
            return _denied(request, str(exc))
        except PermissionDenied as exc:
            return _denied(request, exc.message)
        except NotFound as exc:
            raise Http404(exc.message) from None

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@login_required
@require_http_methods(["GET", "POST"])
@_guarded
def organization_page(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    if request.method != "POST":
        return _page(request, org)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _page(request, org, form=form, status=400)
    try:
        endpoint, secret = services.create_endpoint(
            organization=org,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            creation_key=form.cleaned_data["creation_key"],
            acting=_me(request),
            origin=from_request(request),
        )
    except ValidationFailed as exc:
        add_domain_error(form, exc)
        return _page(request, org, form=form, status=400)
    if secret is None:
        messages.info(request, "That webhook was already made; its secret was shown then.")
        return redirect("org_notifications", name=org.name)
    return _page(request, org, secret=secret, secret_for=endpoint)


def _endpoint(request: HttpRequest, name: str, pk: int) -> WebhookEndpoint:
    return services.endpoint_of(_organization(request, name), pk)


@login_required
@require_POST
@_guarded
def endpoint_edit(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, name, pk)
    form = EndpointEditForm(request.POST, prefix=f"e{endpoint.pk}")
    if not form.is_valid():
        messages.error(request, "Choose at least one event.")
        return redirect("org_notifications", name=name)
    try:
        services.update_endpoint(
            endpoint=endpoint,
            events=form.cleaned_data["events"],
            active=form.cleaned_data["active"],
            description=form.cleaned_data["description"],
            acting=_me(request),
            origin=from_request(request),
        )
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("org_notifications", name=name)
    messages.success(request, "The webhook is saved.")
    return redirect("org_notifications", name=name)


@login_required
@require_POST
@_guarded
def endpoint_test(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, name, pk)
    try:
        sent = services.send_test(
            endpoint=endpoint,
            nonce=str(request.POST.get("nonce", ""))[:80],
            acting=_me(request),
            origin=from_request(request),
        )
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("org_notifications", name=name)
    if sent is not None:
        messages.success(request, "A test delivery is on its way; its answer shows below.")
    return redirect("org_notifications", name=name)


@login_required
@require_POST
@_guarded
def endpoint_rotate(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, name, pk)
    secret = services.rotate_secret(
        endpoint=endpoint, acting=_me(request), origin=from_request(request)
    )
    return _page(request, endpoint.organization, secret=secret, secret_for=endpoint)


@login_required
@require_POST
@_guarded
def endpoint_delete(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, name, pk)
    if services.delete_endpoint(
        endpoint=endpoint, acting=_me(request), origin=from_request(request)
    ):
        messages.success(request, "The webhook is removed; nothing more is sent to it.")
    else:
        messages.info(request, "That webhook was already removed.")
    return redirect("org_notifications", name=name)
