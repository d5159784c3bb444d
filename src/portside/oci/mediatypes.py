"""The media types of OCI and Docker images that Portside recognises, and two helpers."""

from __future__ import annotations

import re

# OCI image specification v1.1.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated by the specification, still found in older Windows images.
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# Docker image manifest v2, schema 2.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

# Docker schema 1: refused, the format is obsolete and its signatures unverifiable.
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})
# The config types of runnable images; any other config type marks an artifact.
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# Layers that registries do not hold: clients fetch them from the descriptor's ``urls``.
FOREIGN_LAYER_TYPES = frozenset(
    {
        DOCKER_FOREIGN_LAYER,
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
    }
)

# RFC 6838 section 4.2: type "/" subtype, each a restricted name of 1 to 127 characters.
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}")


def base_type(content_type: str | None) -> str | None:
    """The media type of a Content-Type header without its parameters, lowercased.

    ``"application/vnd.oci.image.manifest.v1+json; charset=utf-8"`` gives
    ``"application/vnd.oci.image.manifest.v1+json"``; an absent or blank header gives None.
    """
    if content_type is None:
        return None
    value = content_type.split(";", 1)[0].strip().lower()
    return value or None


def is_valid(media_type: str) -> bool:
    """Whether ``media_type`` is well formed (RFC 6838), without parameters."""
    return isinstance(media_type, str) and _MEDIA_TYPE.fullmatch(media_type) is not None
