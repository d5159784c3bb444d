"""A small client for the publishing API: one personal access token per caller, JSON in
and out, and raw bodies for images."""

from __future__ import annotations

import json
from itertools import count
from typing import Any

from django.http import HttpResponse
from django.test import Client

from portside.accounts.models import User
from portside.accounts.services import create_token
from tests.factories import TEST_ORIGIN

V1 = "/api/v1"
_names = count(1)


def secret_for(user: User, scopes: tuple[str, ...] = ("read", "write")) -> str:
    _, secret = create_token(
        user=user,
        name=f"api-{next(_names)}",
        scopes=list(scopes),
        acting=user,
        origin=TEST_ORIGIN,
    )
    return secret


class Api:
    """Requests to /api/v1 as one caller (or nobody, with ``user=None``)."""

    def __init__(
        self, client: Client, user: User | None, scopes: tuple[str, ...] = ("read", "write")
    ) -> None:
        self.client = client
        self.headers = (
            {} if user is None else {"HTTP_AUTHORIZATION": f"Bearer {secret_for(user, scopes)}"}
        )

    def get(self, path: str, **params: Any) -> HttpResponse:
        return self.client.get(V1 + path, data=params, **self.headers)

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
    ) -> HttpResponse:
        data: bytes | str = b""
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body)
        return self.client.generic(
            method, V1 + path, data=data, content_type=content_type, **self.headers
        )

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.send("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.send("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.send("PATCH", path, body, **kwargs)

    def delete(self, path: str) -> HttpResponse:
        return self.send("DELETE", path)


def problem(response: HttpResponse, status: int) -> dict[str, Any]:
    """The problem document of an error response, after checking its status and type."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def ok(response: HttpResponse, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:800])
    return response.json() if response.content else None


TIER_FREE = {
    "name": "Community",
    "price": "0",
    "billing_period": "free",
    "access": [{"repository": "acme/db", "tags": ["1.0"]}],
}
TIER_PAID = {
    "name": "Business",
    "description": "Every release, with **support**.",
    "price": "49.00",
    "currency": "EUR",
    "billing_period": "monthly",
    "access": [{"repository": "acme/db", "tags": ["1.0", "2.0"]}],
}
