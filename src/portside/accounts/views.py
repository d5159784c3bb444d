"""Pages of the accounts context: organisations, members, invitations, tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portside.accounts import permissions, services
from portside.accounts.forms import (
    InviteForm,
    OrganizationForm,
    RoleForm,
    TokenForm,
    add_domain_error,
)
from portside.accounts.models import AccessToken, Invitation, Membership, Organization, User
from portside.core import clock
from portside.core.errors import PortsideError
from portside.core.origin import from_request


def _me(request: HttpRequest) -> User:
    """The signed-in user (views using it are behind ``login_required``)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _organization_for(request: HttpRequest, name: str) -> Organization:
    """The organisation, or 404 for anyone who may not see it: its existence stays private."""
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_organization(_me(request), org):
        raise Http404("No such organisation.")
    return org


@login_required
@require_http_methods(["GET", "POST"])
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.create_organization(
                name=form.cleaned_data["name"],
                display_name=form.cleaned_data["display_name"],
                owner=_me(request),
                acting=_me(request),
                origin=from_request(request),
            )
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Organisation {org.name} created.")
            return redirect("organization_detail", name=org.name)
    memberships = Membership.objects.filter(user=_me(request)).select_related("organization")
    return render(
        request,
        "accounts/organization_list.html",
        {"form": form, "memberships": memberships},
        status=400 if form.errors else 200,
    )


@login_required
def organization_detail(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization_for(request, name)
    can_manage = permissions.can_manage_members(_me(request), org)
    return render(
        request,
        "accounts/organization_detail.html",
        {
            "org": org,
            "role": permissions.org_role(_me(request), org),
            "can_manage": can_manage,
            "memberships": org.memberships.select_related("user").order_by("user__username"),
            "invitations": org.invitations.pending(clock.now()) if can_manage else [],
            "invite_form": InviteForm(),
            "role_form": RoleForm(),
        },
    )


@login_required
@require_POST
def organization_invite(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization_for(request, name)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            services.invite_member(
                organization=org,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                acting=_me(request),
                origin=from_request(request),
                base_url=request.build_absolute_uri("/").rstrip("/"),
            )
        except PortsideError as exc:
            return _refused(request, org, exc)
        messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
        return redirect("organization_detail", name=org.name)
    messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("organization_detail", name=org.name)


def _refused(request: HttpRequest, org: Organization, exc: PortsideError) -> HttpResponse:
    from portside.core.errors import PermissionDenied

    messages.error(request, exc.message)
    if isinstance(exc, PermissionDenied):
        return render(request, "403.html", {"message": exc.message}, status=403)
    return redirect("organization_detail", name=org.name)


def _membership(org: Organization, username: str) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "organization"),
        organization=org,
        user__username=username,
    )


@login_required
@require_POST
def membership_role(request: HttpRequest, name: str, username: str) -> HttpResponse:
    org = _organization_for(request, name)
    membership = _membership(org, username)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, editor or viewer.")
        return redirect("organization_detail", name=org.name)
    try:
        services.change_role(
            membership=membership,
            role=form.cleaned_data["role"],
            acting=_me(request),
            origin=from_request(request),
        )
    except PortsideError as exc:
        return _refused(request, org, exc)
    messages.success(request, f"{username} is now {form.cleaned_data['role']}.")
    return redirect("organization_detail", name=org.name)


@login_required
@require_POST
def membership_remove(request: HttpRequest, name: str, username: str) -> HttpResponse:
    org = _organization_for(request, name)
    membership = _membership(org, username)
    try:
        services.remove_member(
            membership=membership,
            acting=_me(request),
            origin=from_request(request),
        )
    except PortsideError as exc:
        return _refused(request, org, exc)
    if membership.user_id == _me(request).pk:
        messages.success(request, f"You left {org.name}.")
        return redirect("organization_list")
    messages.success(request, f"{username} removed from {org.name}.")
    return redirect("organization_detail", name=org.name)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    org = _organization_for(request, name)
    invitation = get_object_or_404(Invitation, organization=org, pk=pk)
    try:
        services.revoke_invitation(
            invitation=invitation,
            acting=_me(request),
            origin=from_request(request),
        )
    except PortsideError as exc:
        return _refused(request, org, exc)
    messages.success(request, f"Invitation of {invitation.email} withdrawn.")
    return redirect("organization_detail", name=org.name)


@login_required
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, secret: str) -> HttpResponse:
    try:
        invitation = services.find_invitation(secret)
    except PortsideError:
        raise Http404("This invitation link is not valid.") from None
    error = ""
    if request.method == "POST":
        try:
            membership = services.accept_invitation(
                secret=secret,
                user=_me(request),
                origin=from_request(request),
            )
        except PortsideError as exc:
            error = exc.message
        else:
            messages.success(request, f"You joined {membership.organization.name}.")
            return redirect("organization_detail", name=membership.organization.name)
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": invitation, "error": error},
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, initial={"expires_days": settings.TOKEN_DEFAULT_DAYS})
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            _, secret = services.create_token(
                user=_me(request),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_days=form.cleaned_data["expires_days"],
                acting=_me(request),
                origin=from_request(request),
            )
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            form = TokenForm(initial={"expires_days": settings.TOKEN_DEFAULT_DAYS})
    tokens = AccessToken.objects.filter(user=_me(request)).order_by("-created_at")
    response = render(
        request,
        "accounts/token_list.html",
        {"form": form, "tokens": tokens, "secret": secret, "now": clock.now()},
        status=400 if form.errors else 200,
    )
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = AccessToken.objects.filter(pk=pk, user=_me(request)).select_related("user").first()
    if token is None:
        raise Http404("No such token.")
    try:
        services.revoke_token(token=token, acting=_me(request), origin=from_request(request))
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token {token.name} revoked.")
    return redirect("token_list")
