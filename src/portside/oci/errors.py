"""The error codes of the OCI distribution API, as exceptions that render themselves.

Each class knows its ``code`` and HTTP ``status``; the registry's views catch ``OCIError``
and answer with ``status`` and ``body()``. The codes are the ones the distribution
specification lists, plus the few (``TAG_INVALID``, ``PAGINATION_NUMBER_INVALID``) that
common clients also understand.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OCIError(Exception):
    """An error of the distribution API. Subclasses set ``code``, ``status`` and a message."""

    code: ClassVar[str] = "UNKNOWN"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "unknown error"

    def __init__(self, message: str = "", detail: object = None) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``{"errors": [{"code", "message", "detail"?}]}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.message!r}, detail={self.detail!r})"


class BlobUnknown(OCIError):
    code = "BLOB_UNKNOWN"
    status = 404
    default_message = "blob unknown to registry"


class BlobUploadInvalid(OCIError):
    code = "BLOB_UPLOAD_INVALID"
    status = 400
    default_message = "blob upload invalid"


class BlobUploadUnknown(OCIError):
    code = "BLOB_UPLOAD_UNKNOWN"
    status = 404
    default_message = "blob upload unknown to registry"


class DigestInvalid(OCIError):
    code = "DIGEST_INVALID"
    status = 400
    default_message = "provided digest did not match uploaded content"


class ManifestBlobUnknown(OCIError):
    code = "MANIFEST_BLOB_UNKNOWN"
    status = 400
    default_message = "manifest references a manifest or blob unknown to registry"


class ManifestInvalid(OCIError):
    code = "MANIFEST_INVALID"
    status = 400
    default_message = "manifest invalid"


class ManifestUnknown(OCIError):
    code = "MANIFEST_UNKNOWN"
    status = 404
    default_message = "manifest unknown to registry"


class NameInvalid(OCIError):
    code = "NAME_INVALID"
    status = 400
    default_message = "invalid repository name"


class NameUnknown(OCIError):
    code = "NAME_UNKNOWN"
    status = 404
    default_message = "repository name not known to registry"


class SizeInvalid(OCIError):
    code = "SIZE_INVALID"
    status = 400
    default_message = "provided length did not match content length"


class Unauthorized(OCIError):
    code = "UNAUTHORIZED"
    status = 401
    default_message = "authentication required"


class Denied(OCIError):
    code = "DENIED"
    status = 403
    default_message = "requested access to the resource is denied"


class Unsupported(OCIError):
    code = "UNSUPPORTED"
    status = 415
    default_message = "the operation is unsupported"


class TooManyRequests(OCIError):
    code = "TOOMANYREQUESTS"
    status = 429
    default_message = "too many requests"


class RangeInvalid(OCIError):
    """A chunk that does not start where the upload stands (416 Range Not Satisfiable)."""

    code = "BLOB_UPLOAD_INVALID"
    status = 416
    default_message = "requested range is not satisfiable"


class TagInvalid(OCIError):
    code = "TAG_INVALID"
    status = 400
    default_message = "invalid tag"


class PaginationNumberInvalid(OCIError):
    code = "PAGINATION_NUMBER_INVALID"
    status = 400
    default_message = "invalid number of results requested"


class UploadBusy(OCIError):
    """An upload that another request is still writing cannot be closed now (409); nothing
    is lost, and the client may close it once that request has finished."""

    code = "BLOB_UPLOAD_INVALID"
    status = 409
    default_message = "the upload is still being written by another request"


class InsufficientStorage(OCIError):
    """The blob store's disk is full (507): the upload keeps what it had."""

    code = "BLOB_UPLOAD_INVALID"
    status = 507
    default_message = "no space left on the store's disk; the upload keeps what it had"
