"""The OpenAPI document describes the publishing API: valid OpenAPI 3.1, every path, and
a described response (and request body) for every operation."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.django_db

PRODUCT = "/api/v1/orgs/{org}/products/{slug}"
SUBMISSION = "/api/v1/submissions/{submission_id}"
EXPECTED = {
    "/api/v1/orgs/{org}/products": {"get", "post"},
    PRODUCT: {"get", "patch", "delete"},
    PRODUCT + "/icon": {"put"},
    PRODUCT + "/screenshots": {"post"},
    PRODUCT + "/screenshots/{screenshot_id}": {"delete"},
    PRODUCT + "/sources": {"put"},
    PRODUCT + "/sources/{source_id}": {"delete"},
    PRODUCT + "/tiers": {"post"},
    PRODUCT + "/tiers/{tier_id}": {"put", "delete"},
    PRODUCT + "/revisions": {"get"},
    PRODUCT + "/revisions/{number}": {"get"},
    PRODUCT + "/submit": {"post"},
    PRODUCT + "/unpublish": {"post"},
    SUBMISSION: {"get"},
    SUBMISSION + "/comments": {"post"},
    SUBMISSION + "/take": {"post"},
    SUBMISSION + "/request-changes": {"post"},
    SUBMISSION + "/approve": {"post"},
    SUBMISSION + "/reject": {"post"},
    SUBMISSION + "/publish": {"post"},
    SUBMISSION + "/assign": {"post"},
    "/api/v1/review-queue": {"get"},
    "/api/v1/listings/{org}/{slug}/take-down": {"post"},
}
WITH_JSON_BODY = {
    ("/api/v1/orgs/{org}/products", "post"): "ProductIn",
    (PRODUCT, "patch"): "ProductPatch",
    (PRODUCT + "/sources", "put"): "SourceIn",
    (PRODUCT + "/tiers", "post"): "TierIn",
    (PRODUCT + "/tiers/{tier_id}", "put"): "TierIn",
    (SUBMISSION + "/comments", "post"): "CommentIn",
    (SUBMISSION + "/request-changes", "post"): "ChangesIn",
    (SUBMISSION + "/reject", "post"): "RejectIn",
    (SUBMISSION + "/assign", "post"): "AssignIn",
    ("/api/v1/listings/{org}/{slug}/take-down", "post"): "TakeDownIn",
}


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover - the structural checks below still run
        validate = None
    if validate is not None:
        validate(document)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_publishing_path_and_operation_is_described(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path, methods in EXPECTED.items():
        assert path in paths, path
        assert set(paths[path]) == methods, path
        for method in methods:
            operation = paths[path][method]
            assert operation["summary"], (path, method)
            responses = operation["responses"]
            assert responses, (path, method)
            successes = [code for code in responses if code.startswith("2")]
            assert len(successes) == 1, (path, method)
            success = responses[successes[0]]
            if successes[0] != "204":
                body = success["content"]["application/json"]["schema"]
                assert _resolve(document, body) or body.get("type") == "array"
            for code in ("401", "403", "404", "422"):
                problem = responses[code]["content"]["application/problem+json"]["schema"]
                assert problem == {"$ref": "#/components/schemas/Problem"}, (path, method, code)
            if method != "get":
                assert "422" in responses and "409" in responses, (path, method)


def test_request_bodies_are_described(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for (path, method), name in WITH_JSON_BODY.items():
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{name}"}, (path, method)
        schema = document["components"]["schemas"][name]
        assert schema["additionalProperties"] is False, name
    for path in (PRODUCT + "/icon", PRODUCT + "/screenshots"):
        operation = next(iter(paths[path].values()))
        assert set(operation["requestBody"]["content"]) == {"image/png", "image/jpeg", "image/webp"}
    tier = document["components"]["schemas"]["TierIn"]["properties"]
    assert tier["price"]["type"] == "string"
    assert tier["billing_period"]["enum"] == ["free", "one_time", "monthly", "yearly"]
    product = document["components"]["schemas"]["ProductOut"]["properties"]
    for item in ("problems", "eligibility", "listing", "open_submission", "tiers", "sources"):
        assert item in product, item
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert {"type", "title", "status", "detail", "code", "field", "details"} <= set(problem)


def test_no_two_schemas_share_a_component_name() -> None:
    """The document names a component after its class: two classes of one name would
    silently describe one of them with the other's fields."""
    import importlib
    import inspect
    import pkgutil

    from ninja import Schema

    import portside

    owners: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(portside.__path__, "portside."):
        if not info.name.endswith(".api"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Schema)
                and value.__module__ == info.name
            ):
                owners.setdefault(name, []).append(info.name)
    assert owners, "no API schemas found"
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert shared == {}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_refusal_of_every_operation_is_described_as_a_problem(
    document: dict[str, Any],
) -> None:
    """Of the whole API, not only publishing: what the layer every request passes through
    may answer is described for each operation it can reach, as problem+json."""
    operations = _operations(document)
    assert len(operations) >= 50
    for path, method, operation in operations:
        responses = operation["responses"]
        expected = {"422"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if "requestBody" in operation:
            expected |= {"400", "413"}
        if "{" in path:
            expected.add("404")
        assert expected <= set(responses), (path, method, expected - set(responses))
        for code, response in responses.items():
            if code.startswith("2") or code == "414":
                continue
            assert set(response["content"]) == {"application/problem+json"}, (path, method, code)
            assert response["description"], (path, method, code)
    # A scan names its repository in the body: one that does not exist is a 404.
    assert "404" in document["paths"]["/api/v1/scans"]["post"]["responses"]


def test_limits_are_described(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path in (
        "/api/v1/orgs/{org}/products",
        "/api/v1/review-queue",
        "/api/v1/commerce/orders",
        "/api/v1/catalog/search",
    ):
        parameters = {p["name"]: p["schema"] for p in paths[path]["get"]["parameters"]}
        assert parameters["page"]["minimum"] == 1 and parameters["page"]["maximum"], path
    queue = {p["name"]: p["schema"] for p in paths["/api/v1/review-queue"]["get"]["parameters"]}
    assert queue["publisher"]["maxLength"] == 100 and queue["category"]["maxLength"] == 50
    shot = paths[PRODUCT + "/screenshots"]["post"]["parameters"]
    assert next(p for p in shot if p["name"] == "caption")["schema"]["maxLength"] == 200
