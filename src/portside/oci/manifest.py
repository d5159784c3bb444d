"""Parsing and validation of image manifests and image indexes (OCI image spec v1.1, Docker v2).

``parse_manifest`` takes the bytes a client pushed and the Content-Type it sent, and either
returns a ``Manifest`` or raises ``ManifestInvalid`` (or ``Unsupported`` for Docker schema 1).
It checks the structure only: whether the blobs and manifests it references exist is the
registry's question, answered with ``Manifest.references()``.

The input is hostile until proven otherwise: the size is bounded before anything is
decoded, duplicate keys are refused (two parsers could otherwise read two different
manifests from the same bytes), numbers must be real integers, and a deeply nested document
is refused (``MAX_NESTING``) rather than exhausting the parser's recursion.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from portside.core.records import field, record
from portside.oci import mediatypes
from portside.oci.digest import Digest, compute
from portside.oci.errors import DigestInvalid, ManifestInvalid, Unsupported

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# Descriptor sizes are int64 in the specification.
MAX_DESCRIPTOR_SIZE = 2**63 - 1
# Real manifests nest five levels deep at most (index, list, descriptor, platform, list).
MAX_NESTING = 64

# NUL and unpaired surrogates (which JSON's \u escapes can produce) cannot be stored as text
# by the databases Portside runs on, so a manifest holding them is refused at the door.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@record
class Descriptor:
    """A typed, sized, content-addressed reference to a blob or a manifest."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = field(default=None, hash=False)
    platform: dict[str, Any] | None = field(default=None, hash=False)
    urls: tuple[str, ...] = ()

    @property
    def is_foreign(self) -> bool:
        """A layer the registry does not hold: clients fetch it from ``urls`` instead."""
        return self.media_type in mediatypes.FOREIGN_LAYER_TYPES and bool(self.urls)


@record
class Manifest:
    """An image manifest (``config`` and ``layers``) or an index (``manifests``)."""

    media_type: str
    schema_version: int
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str] = field(hash=False)

    @property
    def is_index(self) -> bool:
        return self.media_type in mediatypes.INDEX_TYPES

    @property
    def effective_artifact_type(self) -> str | None:
        """The artifact type the referrers API reports for this manifest.

        The manifest's own ``artifactType`` when set; otherwise, for an image manifest,
        its config's media type (distribution spec v1.1, "Listing Referrers"); otherwise
        None.
        """
        if self.artifact_type is not None:
            return self.artifact_type
        if self.config is not None:
            return self.config.media_type
        return None

    @property
    def is_artifact(self) -> bool:
        """True unless this is a plain runnable image or an index of them."""
        if self.artifact_type is not None:
            return True
        return self.config is not None and self.config.media_type not in mediatypes.CONFIG_TYPES

    def references(self) -> tuple[Descriptor, ...]:
        """What must exist before this manifest may be stored.

        For an image: its config, then its layers (blobs). For an index: its manifests. The
        ``subject`` is left out on purpose: a referrer may be pushed before its subject.
        """
        if self.is_index or self.config is None:
            return self.manifests
        return (self.config, *self.layers)


def parse_manifest(body: bytes, content_type: str | None) -> Manifest:
    """Parse and validate a pushed manifest; raise ``ManifestInvalid`` if it is not one.

    ``content_type`` is the request's Content-Type header (parameters are ignored). When the
    body names its ``mediaType`` the two must agree; a body without one takes the header's,
    and with neither the shape decides (``manifests``: an OCI index, ``config``: an OCI image
    manifest). Docker schema 1 is refused with ``Unsupported``.
    """
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(
            f"manifest is larger than the limit of {MAX_MANIFEST_BYTES} bytes (4 MiB)",
            detail={"size": len(body), "limit": MAX_MANIFEST_BYTES},
        )
    declared = mediatypes.base_type(content_type)
    if declared in mediatypes.SCHEMA1_TYPES:
        raise _schema1(declared)

    document = _load(body)
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    _check_document(document)

    body_type = document.get("mediaType")
    if body_type is not None and not isinstance(body_type, str):
        raise _invalid("mediaType", "must be a string")
    version = document.get("schemaVersion")
    if body_type in mediatypes.SCHEMA1_TYPES or (type(version) is int and version == 1):
        raise _schema1(body_type)
    if type(version) is not int or version != 2:
        raise _invalid("schemaVersion", "must be the number 2", value=version)

    media_type = _media_type(document, body_type, declared)
    subject = _optional_descriptor(document, "subject")
    artifact_type = _optional_media_type(document, "artifactType")
    annotations = _annotations(document.get("annotations"), "annotations") or {}

    if media_type in mediatypes.INDEX_TYPES:
        for key in ("config", "layers"):
            if key in document:
                raise _invalid(key, "is not allowed in an image index")
        return Manifest(
            media_type=media_type,
            schema_version=version,
            config=None,
            layers=(),
            manifests=_descriptor_list(document, "manifests"),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )

    if "manifests" in document:
        raise _invalid("manifests", "is not allowed in an image manifest")
    if "config" not in document:
        raise _invalid("config", "is required in an image manifest")
    config = _descriptor(document["config"], "config")
    # An empty layers list is allowed: the image spec only says a manifest SHOULD have a
    # layer, and images built FROM scratch with no files have none. An empty config, though,
    # MUST come with an artifactType.
    if config.media_type == mediatypes.OCI_EMPTY and artifact_type is None:
        raise _invalid("artifactType", "is required when the config is the empty descriptor")
    return Manifest(
        media_type=media_type,
        schema_version=version,
        config=config,
        layers=_descriptor_list(document, "layers"),
        manifests=(),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


# --- decoding -------------------------------------------------------------------------


def _load(body: bytes) -> object:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestInvalid("manifest is not valid UTF-8") from exc
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError as exc:
        raise ManifestInvalid("manifest is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise ManifestInvalid("manifest is not valid JSON", detail={"reason": str(exc)}) from exc
    except ValueError as exc:  # an integer with more digits than Python converts
        raise ManifestInvalid(
            "manifest is not valid JSON", detail={"reason": "a number has too many digits"}
        ) from exc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = ""
        for key, _ in pairs:
            if key in seen:
                duplicate = key
                break
            seen.add(key)
        raise ManifestInvalid("manifest has a duplicate key", detail={"key": _short(duplicate)})
    return result


def _no_constant(name: str) -> object:
    raise ManifestInvalid(f"manifest is not valid JSON: {name} is not a JSON number")


def _check_document(document: object) -> None:
    """Walk the document without recursion; refuse deep nesting, NUL and lone surrogates.

    The parser's own recursion guard stops at about a thousand levels; anything deeper than
    ``MAX_NESTING`` is refused here so that no later step (storing, re-serialising, copying)
    meets a structure deep enough to exhaust its recursion either.
    """
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_NESTING:
                raise ManifestInvalid(
                    f"manifest is nested deeper than {MAX_NESTING} levels",
                    detail={"limit": MAX_NESTING},
                )
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                item = item.values()
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and _UNSTORABLE.search(item):
            raise ManifestInvalid("manifest contains a NUL character or an unpaired surrogate")


# --- fields ---------------------------------------------------------------------------


def _media_type(document: dict[str, Any], body_type: str | None, declared: str | None) -> str:
    # A generic header (application/json, application/octet-stream) says nothing about the
    # kind of manifest: some clients send one, so it is ignored rather than refused.
    if declared is not None and declared not in mediatypes.MANIFEST_TYPES:
        declared = None
    if body_type is not None:
        if declared is not None and declared != body_type:
            raise ManifestInvalid(
                "Content-Type does not match the manifest's mediaType",
                detail={"contentType": declared, "mediaType": _short(body_type)},
            )
        media_type = body_type
    elif declared is not None:
        media_type = declared
    elif "manifests" in document and "config" not in document:
        media_type = mediatypes.OCI_INDEX
    elif "config" in document and "manifests" not in document:
        media_type = mediatypes.OCI_MANIFEST
    else:
        raise ManifestInvalid(
            "cannot tell an image manifest from an index: set mediaType or Content-Type"
        )
    if media_type not in mediatypes.MANIFEST_TYPES:
        raise ManifestInvalid(
            "unsupported manifest media type",
            detail={
                "mediaType": _short(media_type),
                "supported": sorted(mediatypes.MANIFEST_TYPES),
            },
        )
    return media_type


def _descriptor_list(document: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    items = document.get(key)
    if not isinstance(items, list):
        raise _invalid(key, "must be a list of descriptors")
    return tuple(_descriptor(item, f"{key}[{i}]") for i, item in enumerate(items))


def _optional_descriptor(document: dict[str, Any], key: str) -> Descriptor | None:
    value = document.get(key)
    return None if value is None else _descriptor(value, key)


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(where, "must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not mediatypes.is_valid(media_type):
        raise _invalid(f"{where}.mediaType", "must be a media type such as type/subtype")

    raw_digest = value.get("digest")
    if not isinstance(raw_digest, str):
        raise _invalid(f"{where}.digest", "must be a digest string")
    try:
        digest = Digest.parse(raw_digest)
    except DigestInvalid as exc:
        raise _invalid(f"{where}.digest", f"is not a valid digest ({exc.message})") from exc

    size = value.get("size")
    if type(size) is not int or not 0 <= size <= MAX_DESCRIPTOR_SIZE:
        raise _invalid(f"{where}.size", "must be a non-negative integer", value=size)

    urls = value.get("urls")
    if urls is not None and not (
        isinstance(urls, list) and all(isinstance(url, str) and url for url in urls)
    ):
        raise _invalid(f"{where}.urls", "must be a list of URLs")

    if "data" in value:
        _check_embedded_data(value["data"], digest, size, where)

    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=_optional_media_type(value, "artifactType", where),
        annotations=_annotations(value.get("annotations"), f"{where}.annotations"),
        platform=_platform(value.get("platform"), f"{where}.platform"),
        urls=tuple(urls or ()),
    )


def _check_embedded_data(data: object, digest: Digest, size: int, where: str) -> None:
    """A descriptor's ``data`` is the content itself, base64; it must match digest and size."""
    if not isinstance(data, str):
        raise _invalid(f"{where}.data", "must be a base64 string")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"{where}.data", "must be a base64 string") from exc
    if len(content) != size or compute(content, digest.algorithm) != digest:
        raise _invalid(f"{where}.data", "does not match the descriptor's digest and size")


def _optional_media_type(
    document: dict[str, Any], key: str, where: str | None = None
) -> str | None:
    value = document.get(key)
    # An empty artifactType is a missing one: the distribution spec's referrers rules say
    # what to report "if the `artifactType` is empty or missing".
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not mediatypes.is_valid(value):
        raise _invalid(f"{where}.{key}" if where else key, "must be a media type")
    return value


def _annotations(value: object, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _invalid(where, "must map strings to strings")
    return dict(value)


_PLATFORM_STRINGS = ("architecture", "os", "os.version", "variant")
_PLATFORM_LISTS = ("os.features", "features")


def _platform(value: object, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object")
    for key in ("architecture", "os"):
        if key not in value:
            raise _invalid(f"{where}.{key}", "is required")
    for key in _PLATFORM_STRINGS:
        if key in value and not isinstance(value[key], str):
            raise _invalid(f"{where}.{key}", "must be a string")
    for key in _PLATFORM_LISTS:
        item = value.get(key)
        if key in value and not (isinstance(item, list) and all(isinstance(x, str) for x in item)):
            raise _invalid(f"{where}.{key}", "must be a list of strings")
    return dict(value)


# --- errors ---------------------------------------------------------------------------


def _invalid(where: str, problem: str, **detail: object) -> ManifestInvalid:
    # Echo back offending scalars only, and short: a detail is not a copy of the input.
    shown = {
        key: _short(value) if isinstance(value, str) else value
        for key, value in detail.items()
        if _echoable(value)
    }
    return ManifestInvalid(f"{where} {problem}", detail={"field": where, **shown})


_SHOWN = 200  # characters of a client's string an error detail echoes


def _short(text: str) -> str:
    return text[:_SHOWN]


def _echoable(value: object) -> bool:
    """Whether a detail may echo ``value``: strings (cut short), and numbers only where
    strict JSON carries them as they are: finite, and integers within int64. ``1e999``
    parses to infinity, which a JSON error body could only write as ``Infinity``, and a
    4000-digit integer is not short."""
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _schema1(media_type: object) -> Unsupported:
    return Unsupported(
        "Docker schema 1 manifests are not supported; push with a client that writes "
        "Docker schema 2 or OCI manifests",
        detail={"mediaType": media_type} if isinstance(media_type, str) else None,
    )
