"""Registry requests skip the browser-oriented middleware.

`/v2/` and `/auth/token` are machine endpoints authenticated by bearer tokens or basic
credentials: sessions, CSRF cookies, messages, account stages and static-file lookups do
nothing for them but cost time on every pull. This middleware sits right after Django's
security middleware (which still adds its headers) and dispatches these paths straight
to their views.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve

PREFIXES = ("/v2/", "/v2", "/auth/token")


class RegistryDispatchMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if path.startswith(PREFIXES):
            try:
                # The registry's own URLconf: its few patterns, not the whole site's.
                match = resolve(path, urlconf="portside.registry.urls")
            except Resolver404:
                return self.get_response(request)
            if match.func.__module__ == "portside.registry.views":
                return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
