"""Small real images for the store-side scanning tests: gzip tar layers with an
os-release, a dpkg database and Python packages, pushed through the registry API."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

from portside.oci import mediatypes
from tests.registry.helpers import Registry

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'
DPKG_STATUS = b"""Package: zlib1g
Status: install ok installed
Priority: optional
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

"""


def dist_info(name: str, version: str) -> list[tuple[str, bytes]]:
    base = f"usr/local/lib/python3.11/site-packages/{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    return [(f"{base}/METADATA", metadata)]


def layer(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A gzip tar layer and its diff_id."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return gzip.compress(data, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


def push_scannable(
    registry: Registry, name: str, tag: str, layers: list[list[tuple[str, bytes]]], **config: Any
) -> str:
    scope = f"repository:{name}:pull,push"
    blobs = [layer(files) for files in layers]
    image_config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in blobs]},
            "history": [{"created_by": f"layer {n}"} for n in range(len(blobs))],
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": registry.push_blob(name, image_config),
            "size": len(image_config),
        },
        "layers": [
            {
                "mediaType": mediatypes.OCI_LAYER_GZIP,
                "digest": registry.push_blob(name, data),
                "size": len(data),
            }
            for data, _ in blobs
        ],
    }
    body = json.dumps(manifest).encode()
    response = registry.call(
        "PUT",
        f"/v2/{name}/manifests/{tag}",
        scope,
        data=body,
        content_type=mediatypes.OCI_MANIFEST,
    )
    assert response.status_code == 201, response.content
    return response["Docker-Content-Digest"]


def debian_with_python(registry: Registry, name: str = "acme/app", tag: str = "v1") -> str:
    return push_scannable(
        registry,
        name,
        tag,
        [
            [("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", DPKG_STATUS)],
            dist_info("Jinja2", "2.10") + dist_info("urllib3", "1.24.1"),
        ],
    )
