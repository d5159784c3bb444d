"""What the OCI distribution-spec tests (``test_spec_*.py``) share: a caller bound to one
repository with one token, readers for responses, and builders for the manifests the
specification and its conformance suite push.

Everything goes through the real ``/v2/`` URLs with Django's test client, as in
``test_protocol.py``; the token comes from the real ``/auth/token`` endpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from portside.oci import mediatypes
from tests.registry.helpers import Registry

OCTET = "application/octet-stream"
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
# distribution-spec, "Error Codes": the code field MUST be one of these.
SPEC_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)
# "Legacy Docker support error codes": OPTIONAL codes a client MAY encounter.
LEGACY_ERROR_CODES = frozenset({"TAG_INVALID", "MANIFEST_UNVERIFIED"})

# Metadata checks do not depend on where blob bytes live: run them on the default store
# only (the autouse ``blob_store`` fixture of conftest.py is parametrised over both).
filesystem_only = pytest.mark.parametrize("blob_store", ["filesystem"], indirect=True)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return sha512(data) if algorithm == "sha512" else sha256(data)


def codes(response: Any) -> list[str]:
    return [error["code"] for error in json.loads(response.content)["errors"]]


def encode(document: dict[str, Any]) -> bytes:
    """Go's json.MarshalIndent style, as the conformance suite sends manifests."""
    return json.dumps(document, indent="\t").encode()


class Session:
    """One caller on one repository, holding one token for pull, push and delete (plus any
    ``extra`` scopes, such as pull on the source of a mount)."""

    def __init__(self, registry: Registry, name: str, *extra: str) -> None:
        self.registry = registry
        self.client = registry.client
        self.name = name
        self.token = registry.token(f"repository:{name}:pull,push,delete", *extra)

    def url(self, path: str) -> str:
        return path if path.startswith("/") else f"/v2/{self.name}/{path}"

    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        content_type: str = OCTET,
        **headers: Any,
    ) -> Any:
        """Send a request; a streamed answer is read whole into ``payload`` (so every file
        the response holds is closed), any other answer's body is in ``payload`` too."""
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.token}", **headers}
        send = getattr(self.client, method.lower())
        if method in ("POST", "PUT", "PATCH"):
            response = send(self.url(path), data=data or b"", content_type=content_type, **extra)
        else:
            response = send(self.url(path), **extra)
        if response.streaming:
            response.payload = b"".join(response.streaming_content)
        else:
            response.payload = response.content
        return response

    # --- blobs ------------------------------------------------------------------------
    def push_blob(self, data: bytes, algorithm: str = "sha256") -> str:
        """A monolithic POST then PUT, the upload every client supports."""
        digest = digest_of(data, algorithm)
        start = self.request("POST", "blobs/uploads/")
        assert start.status_code == 202, start.content
        done = self.request("PUT", f"{start['Location']}?digest={digest}", data)
        assert done.status_code == 201, done.content
        return digest

    def has_blob(self, digest: str) -> bool:
        return self.request("HEAD", f"blobs/{digest}").status_code == 200

    # --- manifests --------------------------------------------------------------------
    def put_manifest(
        self, reference: str, body: bytes, media_type: str = mediatypes.OCI_MANIFEST
    ) -> Any:
        return self.request("PUT", f"manifests/{reference}", body, content_type=media_type)

    def push(self, manifest: Pushed, *, tag: str | None = None) -> Any:
        """Push ``manifest`` by tag (when given) or by its digest; assert 201."""
        response = self.put_manifest(tag or manifest.digest, manifest.body, manifest.media_type)
        assert response.status_code == 201, response.content
        return response


@dataclass(frozen=True)
class Pushed:
    """A manifest's exact bytes, their media type and digest, and its descriptor."""

    body: bytes
    media_type: str
    digest: str

    @classmethod
    def of(cls, document: dict[str, Any], algorithm: str = "sha256") -> Pushed:
        body = encode(document)
        media_type = document.get("mediaType", mediatypes.OCI_MANIFEST)
        return cls(body, media_type, digest_of(body, algorithm))

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.body),
            **extra,
        }


def blob_descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


EMPTY_JSON = b"{}"
EMPTY_DESCRIPTOR = blob_descriptor(mediatypes.OCI_EMPTY, EMPTY_JSON)


def config_blob(author: str) -> bytes:
    return encode(
        {
            "architecture": "amd64",
            "os": "linux",
            "author": author,
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    )


def image(
    session: Session,
    *,
    author: str = "spec",
    layers: list[bytes] | None = None,
    layer_type: str = mediatypes.OCI_LAYER_GZIP,
    push_blobs: bool = True,
    **fields: Any,
) -> Pushed:
    """An image manifest whose config and layers are pushed first (unless ``push_blobs``
    is false); ``fields`` are added to (or replace) the manifest's own fields."""
    config = config_blob(author)
    layers = [b"layer of " + author.encode()] if layers is None else layers
    if push_blobs:
        for blob in [config, *layers]:
            session.push_blob(blob)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": blob_descriptor(mediatypes.OCI_CONFIG, config),
        "layers": [blob_descriptor(layer_type, layer) for layer in layers],
        **fields,
    }
    return Pushed.of(document)


def artifact(
    session: Session,
    *,
    subject: dict[str, Any] | None,
    artifact_type: str | None = "application/vnd.example.sbom",
    payload: bytes = b"artifact payload",
    config: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """An artifact manifest (the empty config unless ``config`` is given) with one layer."""
    session.push_blob(EMPTY_JSON)
    session.push_blob(payload)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config or EMPTY_DESCRIPTOR,
        "layers": [blob_descriptor(artifact_type or "application/octet-stream", payload)],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    return Pushed.of(document)


def index(manifests: list[Pushed], **fields: Any) -> Pushed:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            m.descriptor(platform={"architecture": "amd64", "os": "linux"})
            if m.media_type in mediatypes.IMAGE_TYPES
            else m.descriptor()
            for m in manifests
        ],
        **fields,
    }
    return Pushed.of(document)
