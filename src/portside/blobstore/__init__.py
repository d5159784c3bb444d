"""Storage for registry blobs and their uploads, behind one small interface.

Drivers: :class:`FilesystemBlobStore` (the embedded default), :class:`S3BlobStore` (a
bucket, with optional redirects to presigned URLs) and :class:`MemoryBlobStore` (tests).
:func:`from_url` builds one from configuration. This package does not import Django.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .base import (
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    ClosingUpload,
    UploadBusy,
    UploadInfo,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    check_upload_id,
    split_digest,
)
from .filesystem import FilesystemBlobStore
from .memory import MemoryBlobStore

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "ClosingUpload",
    "FilesystemBlobStore",
    "MemoryBlobStore",
    "S3BlobStore",
    "UploadBusy",
    "UploadInfo",
    "UploadNotFound",
    "UploadOffsetMismatch",
    "UploadTooLarge",
    "check_upload_id",
    "from_url",
    "split_digest",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# Query parameters of an s3:// URL and the S3BlobStore arguments they set.
_S3_PARAMETERS = {
    "endpoint": "endpoint_url",
    "region": "region",
    "redirect": "redirect",
    "part_size": "part_size",
    "conditional_writes": "conditional_writes",
}
_S3_FLAGS = {"redirect", "conditional_writes"}


def from_url(url: str, **options: Any) -> BlobStore:
    """The store a URL names.

    * ``file:///absolute/path``: :class:`FilesystemBlobStore` rooted there.
    * ``s3://bucket/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&redirect=true``:
      :class:`S3BlobStore`; the query may also set ``part_size`` (bytes) and
      ``conditional_writes=false`` (for services without conditional PUT). Keyword
      ``options`` (``access_key``, ``secret_key``, ``client``, or any of the above by its
      argument name) take precedence; credentials left out come from the usual AWS sources
      (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles, instance roles).
    * ``memory://``: a :class:`MemoryBlobStore`, for tests.

    Anything else, including an unknown query parameter, raises ValueError: a mistyped
    setting must not quietly select different storage.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ValueError(f"a file URL is file:///absolute/path, not {url!r}")
        path = unquote(parts.path)
        if not os.path.isabs(path) or "\x00" in path:
            raise ValueError(f"a file URL needs an absolute path: {url!r}")
        if options:
            raise ValueError(f"a file store takes no options: {sorted(options)}")
        return FilesystemBlobStore(path)
    if scheme == "memory":
        if parts.netloc or parts.path.strip("/") or parts.query or options:
            raise ValueError(f"a memory store is just memory://, not {url!r}")
        return MemoryBlobStore()
    if scheme == "s3":
        if not parts.netloc or parts.fragment:
            raise ValueError(f"an S3 URL is s3://bucket/prefix?options, not {url!r}")
        arguments: dict[str, Any] = {"bucket": parts.netloc, "prefix": unquote(parts.path)}
        for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if name not in _S3_PARAMETERS:
                raise ValueError(f"unknown S3 store option {name!r} in {url!r}")
            arguments[_S3_PARAMETERS[name]] = _parse_value(name, value)
        arguments.update(options)
        from .s3 import S3BlobStore  # boto3 is loaded only when S3 is configured

        return S3BlobStore(**arguments)
    raise ValueError(f"unsupported blob store URL {url!r}: use file://, s3:// or memory://")


def _parse_value(name: str, value: str) -> Any:
    if name in _S3_FLAGS:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"{name} must be true or false, not {value!r}")
    if name == "part_size":
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"part_size must be a number of bytes, not {value!r}") from None
    if not value:
        raise ValueError(f"the S3 store option {name} is empty")
    return value


def __getattr__(name: str) -> Any:
    """``S3BlobStore`` on first use: importing boto3 costs half a second, which every
    command that only reads the local disk (`portside scan`) would otherwise pay."""
    if name == "S3BlobStore":
        from .s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(name)
