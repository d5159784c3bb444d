"""Two-factor authentication for the store team.

With ``STORE_TEAM_REQUIRE_2FA`` on (the default), a signed-in member of the store team
(moderator, security or admin) who has no second factor is sent to the set-up page
before anything else: the pages a store role opens (the staff screens, the review of any
submission, every organisation's private pages) stay closed until an authenticator app
is confirmed. The account pages themselves stay open, so the member can set it up, change
a password or sign out. A store-team admin created with ``portside user create --role
admin`` meets this page at the first sign-in.

The JSON API refuses such a member's browser session with 403; a personal access token
(an explicit credential, created before or by an operator) is not affected.
"""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from portside.accounts import permissions

SET_UP_MESSAGE = (
    "Your store-team role needs two-factor authentication. Set up an authenticator app to continue."
)
API_REFUSAL = (
    "Your store-team role needs two-factor authentication: set it up at "
    "/accounts/2fa/totp/activate/ before using the API with this session."
)
# Open to a store-team member without a second factor: signing in and out, the account's
# own settings (among them the 2FA set-up), and what carries no store-team power.
_OPEN_PREFIXES = ("/accounts/", "/static/", "/media/", "/health")
_API_PREFIX = "/api/"
_API_DOCUMENT = "/api/openapi.json"


def has_second_factor(user: object) -> bool:
    """An authenticator that proves possession: recovery codes alone do not count."""
    return (
        Authenticator.objects.filter(user_id=getattr(user, "pk", None))
        .exclude(type=Authenticator.Type.RECOVERY_CODES)
        .exists()
    )


def needs_second_factor(request: HttpRequest) -> bool:
    """Whether this request is a store-team member's, signed in without 2FA, to a page
    the rule closes."""
    if not settings.STORE_TEAM_REQUIRE_2FA:
        return False
    path = request.path_info
    if path.startswith(_OPEN_PREFIXES) or path == _API_DOCUMENT:
        return False
    if path.startswith(_API_PREFIX) and "HTTP_AUTHORIZATION" in request.META:
        return False  # a token, not the session: the API decides
    user = getattr(request, "user", None)
    if not permissions.is_store_team(user):
        return False
    return not has_second_factor(user)


class StoreTeamTwoFactorMiddleware:
    """Sends a store-team member without 2FA to the set-up page (after Django's
    authentication and messages middleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if needs_second_factor(request):
            return self.refuse(request)
        return self.get_response(request)

    def refuse(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(_API_PREFIX):
            # The API's problem document (RFC 9457), as ``api.problems`` writes it.
            return JsonResponse(
                {
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": API_REFUSAL,
                    "code": "two_factor_required",
                },
                status=403,
                content_type="application/problem+json",
            )
        messages.warning(request, SET_UP_MESSAGE)
        return HttpResponseRedirect(reverse("mfa_activate_totp"))
