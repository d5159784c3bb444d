"""What both SBOM writers share: one normalised view of an inventory.

The analyser may report the same package twice (two catalogers reading the same metadata,
or one package listed by two files of the same layer), purls may be malformed when they
come from hostile metadata, and the image may be named by a digest, a name, or both. The
writers must not each solve those problems their own way, or the CycloneDX and SPDX
documents of one image would disagree; so they both read an :class:`SbomView`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from portside.oci.digest import Digest
from portside.oci.errors import DigestInvalid
from portside.scanner import purl as purls
from portside.scanner.errors import ScanError
from portside.scanner.model import Inventory, Layer, Package

# Every identifier Portside derives for an SBOM (serial numbers, namespaces) is a UUIDv5 in
# this namespace, so the same input always gives the same identifier.
SBOM_NAMESPACE = bytes.fromhex("5b0c8a8e2f0e5a7c9d476f7274736964")

# What an image reference may look like to be put in a purl: registry, path and tag.
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}")

# CycloneDX property names are namespaced by the tool that writes them.
PROPERTY_PREFIX = "portside:"


class Writable(Protocol):
    """Where a writer puts the document: a text file, a ``StringIO``, anything with
    ``write(str)``."""

    def write(self, text: str, /) -> object: ...


class SbomError(ScanError):
    """An SBOM could not be written, or what was written failed its format's validation."""


# The view's records are named tuples, not frozen dataclasses: every SBOM a scan writes
# defines them, and a named tuple costs a tenth as much to define.


class Item(NamedTuple):
    """One package as it appears in an SBOM: duplicates merged, purl made canonical."""

    key: str  # stable hex identity, from the purl (or name and version) and the layer
    package: Package
    purl_text: str  # the canonical purl, or "" when the reported one does not parse
    paths: tuple[str, ...]
    licenses: tuple[str, ...]
    layer: Layer | None


class ImageIdentity(NamedTuple):
    """How the image is named: a name for people, and its digest when known."""

    name: str
    digest: Digest | None

    @property
    def version(self) -> str | None:
        return str(self.digest) if self.digest is not None else None

    def purl(self) -> str | None:
        """``pkg:oci/NAME@DIGEST``: only an image known by digest has a package URL."""
        if self.digest is None or parse_digest(self.name) is not None:
            return None
        reference = self.name.partition("@")[0]
        if not _REFERENCE.fullmatch(reference):
            return None
        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:  # the colon was a registry port, not a tag
            repository, tag = f"{repository}:{tag}" if repository else tag, ""
        last = repository.rsplit("/", 1)[-1].lower()
        if not last:
            return None
        qualifiers: dict[str, str] = {}
        first = repository.split("/", 1)[0]
        if "/" in repository and ("." in first or ":" in first or first == "localhost"):
            qualifiers["repository_url"] = repository.lower()
        if tag:
            qualifiers["tag"] = tag
        return purls.build("oci", last, str(self.digest), qualifiers=qualifiers)


class SbomView(NamedTuple):
    image: ImageIdentity
    items: tuple[Item, ...]
    fingerprint: str  # sha256 hex over everything the writers put in a document


def canonical_purl(raw: str) -> str | None:
    """The canonical text of a purl, or None when it is not one.

    Rendering the parsed value again percent-encodes what needs it, so a newline or a
    quote in a hostile version cannot reach a consumer that splits purls by hand.
    """
    return purls.canonical(raw) if raw else None


def parse_digest(value: str) -> Digest | None:
    try:
        return Digest.parse(value)
    except DigestInvalid:
        return None


def _split_reference(reference: str) -> tuple[str, Digest | None]:
    """``name@digest`` into its parts; a bare digest names itself; a bare name has none."""
    digest = parse_digest(reference)
    if digest is not None:
        return reference, digest
    before, at, after = reference.rpartition("@")
    if at and before:
        digest = parse_digest(after)
        if digest is not None:
            return before, digest
    return reference, None


def image_identity(inventory: Inventory, image_name: str | None) -> ImageIdentity:
    """The image's name and digest, from ``inventory.image`` and an optional better name.

    ``image_name`` (``acme/web``, ``acme/web:1.2`` or ``acme/web@sha256:...``) replaces the
    name; the digest comes from the inventory, or from ``image_name`` when the inventory
    has none.
    """
    name, digest = _split_reference(inventory.image)
    if image_name:
        name, named_digest = _split_reference(image_name)
        digest = digest or named_digest
    return ImageIdentity(name=name or "image", digest=digest)


def _identity(package: Package, purl_text: str) -> str:
    if purl_text:
        return purl_text
    return "\n".join(("nopurl", package.type, package.name, package.version))


def _key(identity: str, layer: str) -> str:
    return hashlib.sha256(f"{identity}\n{layer}".encode("utf-8", "surrogatepass")).hexdigest()


def _merge(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    """Union keeping the first-seen order, so merged lists stay deterministic."""
    return tuple(dict.fromkeys((*first, *second)))


def build_view(inventory: Inventory, *, image_name: str | None = None) -> SbomView:
    """Merge duplicates and order the packages deterministically.

    Two reports of the same purl in the same layer are one package (their paths and
    licences are merged); the same purl in two layers stays two packages, because each
    layer really carries a copy and a reviewer wants to see both.
    """
    layers = {layer.digest: layer for layer in inventory.layers}
    merged: dict[str, Item] = {}
    for package in inventory.packages:
        purl_text = canonical_purl(package.purl) or ""
        key = _key(_identity(package, purl_text), package.layer)
        known = merged.get(key)
        if known is None:
            merged[key] = Item(
                key=key,
                package=package,
                purl_text=purl_text,
                paths=tuple(dict.fromkeys(package.paths)),
                licenses=tuple(dict.fromkeys(x for x in package.licenses if x.strip())),
                layer=layers.get(package.layer),
            )
        else:
            merged[key] = Item(
                key=key,
                package=known.package,
                purl_text=known.purl_text,
                paths=_merge(known.paths, package.paths),
                licenses=_merge(known.licenses, (x for x in package.licenses if x.strip())),
                layer=known.layer,
            )
    items = tuple(
        sorted(
            merged.values(),
            key=lambda i: (
                i.purl_text,
                i.package.name,
                i.package.version,
                i.layer.index if i.layer else -1,
                i.key,
            ),
        )
    )
    identity = image_identity(inventory, image_name)
    return SbomView(
        image=identity, items=items, fingerprint=_fingerprint(inventory, identity, items)
    )


def _fingerprint(inventory: Inventory, image: ImageIdentity, items: tuple[Item, ...]) -> str:
    """A digest of the document's content, from which serial numbers are derived."""
    distro = inventory.distro
    payload = {
        "image": [image.name, image.version],
        "platform": inventory.platform,
        "distro": [distro.id, distro.version_id, distro.version_codename, distro.pretty_name]
        if distro
        else None,
        "items": [
            [
                i.key,
                i.package.name,
                i.package.version,
                i.package.cataloger,
                i.package.source_name,
                i.package.source_version,
                list(i.paths),
                list(i.licenses),
            ]
            for i in items
        ],
    }
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def document_time(created: dt.datetime | None) -> dt.datetime:
    """The document's creation time in UTC, to the second (both formats drop fractions).

    A naive time is taken to be UTC already, so the same value gives the same document on
    any machine whatever its time zone.
    """
    moment = created if created is not None else dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def derived_uuid(*parts: str) -> str:
    """The UUIDv5 (RFC 9562, section 5.5) of the parts, one per line, in ``SBOM_NAMESPACE``,
    in its text form: what ``uuid.uuid5`` gives, without importing the ``uuid`` module (and
    the ``platform`` module it imports) in every scan."""
    name = "\n".join(parts).encode("utf-8")
    value = bytearray(hashlib.sha1(SBOM_NAMESPACE + name, usedforsecurity=False).digest()[:16])
    value[6] = (value[6] & 0x0F) | 0x50  # version 5
    value[8] = (value[8] & 0x3F) | 0x80  # the RFC's variant
    text = value.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def shorten(text: str, limit: int = 300) -> str:
    """Error messages quote outside data; keep them readable."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
