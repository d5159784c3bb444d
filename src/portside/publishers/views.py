"""Pages of the publisher profile: translation between HTTP and ``services.py``.

The profile is private like the organisation's other pages: members and the store team
see it, owners and editors change it, and anyone else gets 404. The link that verifies
the company email works without signing in, because the secret in it is the proof; its
GET only shows a button, since mail scanners fetch links.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Organization, User
from portside.core.errors import NotFound, PermissionDenied, PortsideError
from portside.core.images import MAX_BYTES
from portside.core.origin import from_request
from portside.publishers import services
from portside.publishers.forms import LogoForm, ProfileForm
from portside.publishers.models import PublisherProfile


def _me(request: HttpRequest) -> User:
    """The signed-in user (views using it are behind ``login_required``)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _organization(request: HttpRequest, name: str) -> Organization:
    """The organisation, or 404 for anyone who may not see it: its existence stays private."""
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_products(request.user, org):
        raise Http404("No such organisation.")
    return org


def _denied(request: HttpRequest, exc: PortsideError) -> HttpResponse:
    return render(request, "403.html", {"message": exc.message}, status=403)


def _initial(profile: PublisherProfile) -> dict[str, str]:
    return {name: getattr(profile, name) for name in services.EDITABLE_FIELDS}


def _page(
    request: HttpRequest,
    org: Organization,
    *,
    form: ProfileForm | None = None,
    logo_form: LogoForm | None = None,
    status: int = 200,
) -> HttpResponse:
    profile = services.find_profile(org)
    can_edit = permissions.can_edit_products(request.user, org)
    context: dict[str, Any] = {
        "org": org,
        "profile": profile,
        "story_html": services.story_html(profile),
        "logo_url": services.logo_url(profile),
        "missing": profile.missing(),
        "can_edit": can_edit,
        "link_hours": services.EMAIL_LINK_HOURS,
        "link_pending": bool(profile.email_secret_hash and not profile.email_verified_at),
    }
    if can_edit:
        context["form"] = form or ProfileForm(initial=_initial(profile))
        context["logo_form"] = logo_form or LogoForm()
    return render(request, "publishers/profile.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    if request.method == "GET":
        return _page(request, org)
    if not permissions.can_edit_products(request.user, org):
        return _denied(request, PermissionDenied("Only owners and editors edit the profile."))
    form = ProfileForm(request.POST)
    if form.is_valid():
        before = services.find_profile(org)
        try:
            updated = services.update_profile(
                organization=org,
                acting=_me(request),
                origin=from_request(request),
                **form.cleaned_data,
            )
        except PermissionDenied as exc:
            return _denied(request, exc)
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Profile saved.")
            if updated.email and updated.email != before.email and not updated.email_verified:
                messages.warning(request, f"Send the verification link to confirm {updated.email}.")
            return redirect("publisher_profile", name=org.name)
    return _page(request, org, form=form, status=400)


@login_required
@require_POST
def logo(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    if not permissions.can_edit_products(request.user, org):
        return _denied(request, PermissionDenied("Only owners and editors change the logo."))
    form = LogoForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["logo"]
        # Read no more than one byte past the limit: the checks refuse a larger file.
        data = upload.read(MAX_BYTES + 1)
        try:
            services.set_logo(
                organization=org,
                data=data,
                acting=_me(request),
                origin=from_request(request),
            )
        except PermissionDenied as exc:
            return _denied(request, exc)
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Logo changed.")
            return redirect("publisher_profile", name=org.name)
    return _page(request, org, logo_form=form, status=400)


@login_required
@require_POST
def send_verification(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    try:
        profile, _ = services.send_email_verification(
            organization=org,
            acting=_me(request),
            origin=from_request(request),
            base_url=request.build_absolute_uri("/").rstrip("/"),
        )
    except PermissionDenied as exc:
        return _denied(request, exc)
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"A link was sent to {profile.email}; it works for {services.EMAIL_LINK_HOURS} hours.",
        )
    return redirect("publisher_profile", name=org.name)


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, secret: str) -> HttpResponse:
    response = _verify_email(request, secret)
    response["Cache-Control"] = "no-store"  # the secret is in the address
    return response


def _verify_email(request: HttpRequest, secret: str) -> HttpResponse:
    try:
        profile = services.find_email_verification(secret)
    except NotFound as exc:
        return render(request, "publishers/email_verify.html", {"error": exc.message}, status=404)
    error = ""
    status = 200
    if request.method == "POST":
        try:
            verified = services.verify_email(
                secret=secret, acting=request.user, origin=from_request(request)
            )
        except NotFound as exc:
            return render(
                request, "publishers/email_verify.html", {"error": exc.message}, status=404
            )
        except PortsideError as exc:
            error, status = exc.message, 400
        else:
            return render(
                request,
                "publishers/email_verify.html",
                {"profile": verified, "org": verified.organization, "done": True},
            )
    elif services.link_expired(profile):
        error, status = services.LINK_EXPIRED, 400
    return render(
        request,
        "publishers/email_verify.html",
        {"profile": profile, "org": profile.organization, "error": error},
        status=status,
    )
