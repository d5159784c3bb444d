"""A small registry client over Django's test client, speaking the token flow."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from django.test import Client

from portside.oci import mediatypes


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, client: Client, login: str | None = None, secret: str | None = None) -> None:
        self.client = client
        self.login = login
        self.secret = secret

    def token(self, *scopes: str) -> str:
        headers = {}
        if self.login is not None:
            raw = base64.b64encode(f"{self.login}:{self.secret}".encode()).decode()
            headers["HTTP_AUTHORIZATION"] = f"Basic {raw}"
        response = self.client.get(
            "/auth/token", {"service": "testserver", "scope": list(scopes)}, **headers
        )
        assert response.status_code == 200, response.content
        return response.json()["token"]

    def call(
        self,
        method: str,
        path: str,
        *scopes: str,
        data: bytes = b"",
        content_type: str = "application/octet-stream",
        **headers: Any,
    ):
        token = self.token(*scopes)
        extra = {"HTTP_AUTHORIZATION": f"Bearer {token}", **headers}
        fn = getattr(self.client, method.lower())
        if method in ("PUT", "PATCH", "POST"):
            return fn(path, data=data, content_type=content_type, **extra)
        return fn(path, **extra)

    # conveniences -----------------------------------------------------------------------
    def push_blob(self, name: str, data: bytes) -> str:
        digest = sha256(data)
        scope = f"repository:{name}:pull,push"
        response = self.call("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", scope, data=data)
        assert response.status_code == 201, response.content
        return digest

    def push_image(
        self, name: str, tag: str | None = "latest", layers: list[bytes] | None = None, **extra: Any
    ) -> tuple[str, bytes]:
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        layers = layers if layers is not None else [b"layer-one", b"layer-two"]
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": self.push_blob(name, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": mediatypes.OCI_LAYER_GZIP,
                    "digest": self.push_blob(name, layer),
                    "size": len(layer),
                }
                for layer in layers
            ],
            **extra,
        }
        body = json.dumps(manifest).encode()
        reference = tag or sha256(body)
        response = self.call(
            "PUT",
            f"/v2/{name}/manifests/{reference}",
            f"repository:{name}:pull,push",
            data=body,
            content_type=mediatypes.OCI_MANIFEST,
        )
        assert response.status_code == 201, response.content
        return response["Docker-Content-Digest"], body
