"""Authentication of the JSON API: a personal access token as a Bearer credential, or the
browser session (with Django's CSRF protection on unsafe methods)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer, SessionAuth

from portside.accounts import services
from portside.core.errors import AuthenticationFailed
from portside.core.origin import from_request


class TokenAuth(HttpBearer):
    def __init__(self, scope: str = "read") -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            access = services.authenticate_token(token, origin=from_request(request))
        except AuthenticationFailed as exc:
            raise AuthenticationError(401, exc.message) from None
        if not access.allows(self.scope):
            raise AuthenticationError(403, f"This token lacks the {self.scope!r} scope.")
        request.user = access.user
        request.auth_token = access  # type: ignore[attr-defined]
        return access.user


def read_auth() -> list[Any]:
    return [TokenAuth("read"), SessionAuth()]
