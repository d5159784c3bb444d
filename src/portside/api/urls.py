"""The JSON API under /api/, described by OpenAPI 3.1 at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema

from portside.accounts.api import router as accounts_router
from portside.api.openapi import describe_refusals
from portside.api.problems import input_problems, invalid_input, refused
from portside.catalog.api import router as catalog_router
from portside.commerce.api import router as commerce_router
from portside.core.errors import PortsideError
from portside.moderation.api import router as moderation_router
from portside.publishers.api import router as publishers_router
from portside.scanning.api import router as scanning_router
from portside.storefront.api import router as storefront_router


class PortsideAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        """The document, with every refusal described (``openapi.describe_refusals``)."""
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        describe_refusals(document)
        return document


api = PortsideAPI(
    title="Portside API",
    version="1",
    description="Publishers, catalogue and store-team operations of a Portside store.",
    urls_namespace="api",
    docs_url=None,
)

# Every operation: oversized JSON bodies and unstorable characters are refused before the
# view runs (as problems), whatever its router.
api.add_decorator(input_problems, mode="view")


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> Any:
    status = exc.status_code
    detail = exc.message if exc.message != "Unauthorized" else "Authentication required."
    response = api.create_response(
        request,
        {
            "type": "about:blank",
            "title": "Unauthorized" if status == 401 else "Forbidden",
            "status": status,
            "detail": detail,
        },
        status=status,
    )
    response["Content-Type"] = "application/problem+json"
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="portside"'
    return response


@api.exception_handler(HttpError)
def _problem(request: HttpRequest, exc: HttpError) -> Any:
    response = api.create_response(
        request,
        {"type": "about:blank", "title": str(exc), "status": exc.status_code, "detail": str(exc)},
        status=exc.status_code,
    )
    response["Content-Type"] = "application/problem+json"
    return response


@api.exception_handler(PortsideError)
def _refused(request: HttpRequest, exc: PortsideError) -> Any:
    """A domain error a service raised: one problem per kind (403, 404, 409, 422), so
    views call services without translating each refusal themselves."""
    return refused(exc)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> Any:
    return invalid_input(list(exc.errors))


api.add_router("/v1/", accounts_router)
api.add_router("/v1/", scanning_router)
api.add_router("/v1/", publishers_router)
api.add_router("/v1/", catalog_router)
api.add_router("/v1/", moderation_router)
api.add_router("/v1/", storefront_router)
api.add_router("/v1/", commerce_router)
