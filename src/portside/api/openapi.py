"""What the OpenAPI document says of refusals, beyond what each operation declares.

Every refusal is ``application/problem+json`` (RFC 9457), so each declared error response
is described with that media type. Some refusals come from the layer every operation
passes through rather than from the operation's view, and are described here for every
operation they can reach:

* 422: a value of the wrong type or out of its limits (ninja), or one holding a character
  that cannot be stored (``problems.input_problems``);
* 401 and 403: an operation that needs authentication, without it, with a token lacking
  the scope, or a session without its CSRF token;
* 400 and 413: an operation with a request body, sent a body that does not parse or is
  larger than the store holds in memory;
* 404: an operation with path parameters, naming something that does not exist or that
  the caller may not know exists;
* 414: an operation with parameters, whose request line is longer than the HTTP server
  in front of the store reads (its own answer, not a problem document).
"""

from __future__ import annotations

from typing import Any

from portside.api.problems import Problem

PROBLEM_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
_REASONS = {
    400: "The request body could not be parsed.",
    401: "Authentication is required, or the credentials are not valid.",
    403: "The caller may not do this (or the token lacks the scope).",
    404: "No such item, or none the caller may know of.",
    413: "The request body is too large.",
    422: "A value was refused: of the wrong type, out of its limits, or not storable.",
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Refusals a view answers that its router does not declare, by method and path (under
# /api): a scan request names a repository in its body, which may not exist.
_UNDECLARED = {("post", "/v1/scans"): {404}}


def checked(limit: int) -> dict[str, Any]:
    """The ``json_schema_extra`` of a string that a service checks itself (with its own
    message and field): the limit is described in the document, the service refuses."""
    return {"maxLength": limit}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _REASONS[status],
        "content": {PROBLEM_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
    }


def _refers_to_problem(response: dict[str, Any]) -> bool:
    content = response.get("content") or {}
    return any((media.get("schema") or {}).get("$ref") == PROBLEM_REF for media in content.values())


def _too_long() -> dict[str, Any]:
    return {
        "description": "The request line is longer than the HTTP server accepts "
        "(gunicorn: 4094 bytes); answered by the server, before the store.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }


def _statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    found = {422} | next(
        (codes for (m, p), codes in _UNDECLARED.items() if m == method and path.endswith(p)),
        set(),
    )
    if operation.get("security"):
        found |= {401, 403}
    if "requestBody" in operation:
        found |= {400, 413}
    if "{" in path:
        found.add(404)
    return found


def describe_refusals(document: dict[str, Any]) -> dict[str, Any]:
    """Describe, in ``document`` itself, every operation's problem responses."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in schemas:
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            # ninja keys responses by int; a document read back from JSON, by str.
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if str(code).isdigit()}
            for code, response in responses.items():
                if str(code).isdigit() and _refers_to_problem(response):
                    response["content"] = {PROBLEM_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
                    response["description"] = _REASONS.get(int(code), response["description"])
            for status in sorted(_statuses(method, path, operation) - declared):
                responses[status] = _problem_response(status)
            if operation.get("parameters") and 414 not in declared:
                responses[414] = _too_long()
    return document
