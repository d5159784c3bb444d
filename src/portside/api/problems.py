"""Errors of the JSON API as RFC 9457 problem details (``application/problem+json``).

Every router answers a refused request the same way: a stable ``code``, the item a
refused value belongs to in ``field``, and the rest in ``details``. A domain error raised
by a service maps to its status here, and input that ninja refuses before a view runs
(wrong type, missing, unknown, or a body too large to hold) becomes a problem too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Schema

from portside.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PortsideError,
    ValidationFailed,
)


class Problem(Schema):
    """An error, as RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    field: str | None = None
    details: dict[str, Any] | None = None


_STATUS = {NotFound: 404, PermissionDenied: 403, ValidationFailed: 422, Conflict: 409}
READ_ERRORS: dict[int | str, Any] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}
WRITE_ERRORS: dict[int | str, Any] = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    413: Problem,
    422: Problem,
}


def problem(
    status: int,
    detail: str,
    *,
    code: str = "",
    field: str | None = None,
    details: dict[str, Any] | None = None,
) -> JsonResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    if field:
        body["field"] = field
    if details:
        body["details"] = details
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def refused(exc: PortsideError) -> JsonResponse:
    """The problem for a domain error raised by a service."""
    status = next((s for kind, s in _STATUS.items() if isinstance(exc, kind)), 400)
    details: dict[str, Any] = dict(exc.details)
    if "problems" in details:
        details["problems"] = [
            {"field": field, "reason": reason} for field, reason in details["problems"]
        ]
    return problem(
        status, exc.message, code=exc.code, field=exc.field, details=_jsonable(details) or None
    )


def not_found(detail: str) -> JsonResponse:
    return problem(404, detail, code=NotFound.code)


def _location(loc: list[Any]) -> str:
    # ninja reports where a value came from ("body", "query", "path") and, for a body,
    # the parameter's name; the client knows neither.
    parts = list(loc)
    source = parts.pop(0) if parts else ""
    if source == "body" and parts:
        parts.pop(0)
    return ".".join(str(p) for p in parts)


def invalid_input(errors: list[dict[str, Any]]) -> JsonResponse:
    """The problem for values ninja refused before a view ran: of the wrong type,
    missing or unknown. It names the first offending field and lists every error."""
    listed = [
        {"field": _location(e.get("loc", [])), "message": str(e.get("msg", ""))} for e in errors
    ]
    first = listed[0] if listed else {"field": "", "message": "The input is not valid."}
    where = f"{first['field']}: " if first["field"] else ""
    return problem(
        422,
        where + first["message"],
        code=ValidationFailed.code,
        field=first["field"] or None,
        details={"errors": listed},
    )


# Characters no database column can hold: NUL (PostgreSQL refuses it in text) and the
# halves of a surrogate pair, which JSON's \u escapes can carry alone but UTF-8 cannot.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SCREENED = "_portside_input_screened"


def _unstorable_in(value: Any, where: str) -> str | None:
    """Where in a decoded JSON value the first unstorable string is (``""`` for the value
    itself), or None."""
    if isinstance(value, str):
        return where if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if _UNSTORABLE.search(str(key)):
                return inner
            found = _unstorable_in(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_in(item, f"{where}.{index}" if where else str(index))
            if found is not None:
                return found
    return None


def _unstorable_input(request: HttpRequest, path_params: dict[str, Any]) -> str | None:
    """The name of the first path parameter, query parameter or JSON body item that holds
    a character that cannot be stored, or None."""
    for name, value in path_params.items():
        if isinstance(value, str) and _UNSTORABLE.search(value):
            return name
    for name, values in request.GET.lists():
        if _UNSTORABLE.search(name) or any(_UNSTORABLE.search(v) for v in values):
            return _UNSTORABLE.sub("?", name)
    if request.content_type in _JSON and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            return None  # ninja answers a body that is not JSON (400)
        return _unstorable_in(body, "")
    return None


_JSON = ("application/json", "application/problem+json")


def input_problems(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Input refused before ninja reads it: a JSON body too large to hold in memory
    answers 413 (ninja would fail with a bare server error), and a value holding a NUL
    character or a lone surrogate, in the path, the query or the JSON body, answers 422
    naming it (the database would fail on it). Applied to the whole API; a router that
    applies it too screens each request once."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, _SCREENED, False):
            return run(request, *args, **kwargs)
        setattr(request, _SCREENED, True)
        if request.content_type in _JSON:
            try:
                request.body  # noqa: B018 - read (and cached) here to measure it
            except RequestDataTooBig:
                return problem(
                    413,
                    f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.",
                    code=ValidationFailed.code,
                )
        where = _unstorable_input(request, kwargs)
        if where is not None:
            return problem(
                422,
                (f"{where}: " if where else "")
                + "A NUL character or an unpaired surrogate cannot be stored.",
                code=ValidationFailed.code,
                field=where or None,
            )
        return run(request, *args, **kwargs)

    return wrapper
