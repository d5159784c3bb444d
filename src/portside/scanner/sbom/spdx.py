"""SPDX 2.3 JSON for one analysed image.

Built with spdx-tools' object model and JSON writer. The document DESCRIBES one package,
the image, which CONTAINS every package found in it. Package licences become SPDX licence
expressions only when every declared licence parses as SPDX and names licences on the
SPDX list; anything else is ``NOASSERTION``, with what the package declared kept word for
word in the licence comment, because inventing ``LicenseRef-`` entries would make claims
the analyser cannot back.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from functools import lru_cache

from license_expression import LicenseExpression
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.validation.external_package_ref_validator import (
    validate_external_package_ref,
)
from spdx_tools.spdx.validation.uri_validators import validate_uri
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from portside.scanner.model import Distro, Inventory
from portside.scanner.sbom._common import (
    Item,
    SbomError,
    SbomView,
    build_view,
    derived_uuid,
    document_time,
    shorten,
)

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"

# The characters RFC 3986 allows in a URI, less "#": a namespace may not have a fragment.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")


def to_spdx(
    inventory: Inventory,
    *,
    tool_version: str,
    namespace_base: str,
    image_name: str | None = None,
    created: dt.datetime | None = None,
    validate: bool = True,
) -> str:
    """The inventory as SPDX 2.3 JSON.

    ``namespace_base`` is an absolute URI owned by the store (``https://store.example/spdx``);
    the document namespace is derived from it, the image digest and the content, so the
    same image exported twice has the same namespace. ``created`` is the creation time
    (now, by default). With ``validate`` (the default) the document is checked with
    spdx-tools' validator first and :class:`SbomError` is raised if it has any message;
    the check is quadratic in the number of packages inside spdx-tools, so callers that
    export very large images repeatedly may turn it off once they trust the input.
    """
    base = namespace_base.rstrip("/")
    if not _URI.fullmatch(base) or validate_uri(base):
        raise SbomError(
            "the SPDX namespace base must be an absolute URI without a fragment, "
            f"not {shorten(namespace_base)!r}"
        )
    view = build_view(inventory, image_name=image_name)
    moment = document_time(created)

    image = _image_package(view)
    packages = [image]
    if inventory.distro is not None:
        packages.append(_distro_package(inventory.distro))
    packages.extend(_package(item) for item in view.items)

    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, IMAGE_ID)]
    relationships.extend(
        Relationship(IMAGE_ID, RelationshipType.CONTAINS, p.spdx_id) for p in packages[1:]
    )
    document = Document(
        creation_info=CreationInfo(
            spdx_version=SPDX_VERSION,
            spdx_id=DOCUMENT_ID,
            name=f"portside-sbom-{view.image.name}",
            document_namespace=_namespace(base, view, tool_version),
            creators=[Actor(ActorType.TOOL, f"portside-{tool_version}")],
            created=moment.replace(tzinfo=None),
        ),
        packages=packages,
        relationships=relationships,
    )
    if validate:
        messages = validate_full_spdx_document(document, SPDX_VERSION)
        if messages:
            shown = "; ".join(shorten(m.validation_message) for m in messages[:5])
            raise SbomError(
                f"the SPDX document does not validate ({len(messages)} messages): {shown}"
            )
    out = io.StringIO()
    write_document_to_stream(document, out, validate=False)
    return out.getvalue()


def _namespace(base: str, view: SbomView, tool_version: str) -> str:
    """``BASE/images/ALGORITHM/HEX/UUID`` (or ``BASE/images/name/UUID`` without a digest)."""
    unique = derived_uuid("spdx", view.fingerprint, tool_version)
    digest = view.image.digest
    if digest is not None:
        return f"{base}/images/{digest.algorithm}/{digest.hex}/{unique}"
    return f"{base}/images/name/{unique}"


def _purl_refs(purl_text: str, parent_id: str) -> list[ExternalPackageRef]:
    if not purl_text:
        return []
    ref = ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl_text)
    # spdx-tools' own purl pattern is stricter than the purl parser in a few corners; a
    # reference it would refuse is left out rather than failing the whole document.
    if validate_external_package_ref(ref, parent_id, SPDX_VERSION):
        return []
    return [ref]


def _image_package(view: SbomView) -> Package:
    purl = view.image.purl()
    return Package(
        spdx_id=IMAGE_ID,
        name=view.image.name,
        download_location=SpdxNoAssertion(),
        version=view.image.version,
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        external_references=_purl_refs(purl.to_string(), IMAGE_ID) if purl else [],
        primary_package_purpose=PackagePurpose.CONTAINER,
    )


def _distro_package(distro: Distro) -> Package:
    return Package(
        spdx_id=OS_ID,
        name=distro.id or "unknown",
        download_location=SpdxNoAssertion(),
        version=distro.version_id or None,
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        description=distro.pretty_name or None,
        primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
    )


def _package(item: Item) -> Package:
    package = item.package
    spdx_id = f"SPDXRef-Package-{item.key[:32]}"
    origin: list[str] = []
    if item.layer is not None:
        origin.append(f"layer {item.layer.index} ({item.layer.digest})")
    elif package.layer:
        origin.append(f"layer {package.layer}")
    if item.paths:
        origin.append("read from " + ", ".join(item.paths))
    if package.source_name:
        origin.append(
            f"built from source package {package.source_name} {package.source_version}".rstrip()
        )
    declared = _expression(item.licenses)
    return Package(
        spdx_id=spdx_id,
        name=package.name or "NOASSERTION",
        download_location=SpdxNoAssertion(),
        version=package.version or None,
        files_analyzed=False,
        source_info="; ".join(origin) or None,
        license_concluded=SpdxNoAssertion(),
        license_declared=declared if declared is not None else SpdxNoAssertion(),
        license_comment=(
            "Declared by the package: " + " | ".join(item.licenses) if item.licenses else None
        ),
        copyright_text=SpdxNoAssertion(),
        comment=f"Found by the {package.cataloger} cataloger." if package.cataloger else None,
        external_references=_purl_refs(item.purl_text, spdx_id),
    )


def _expression(declared: Sequence[str]) -> LicenseExpression | None:
    """Every declared licence ANDed together, if each is an SPDX expression of listed ids."""
    if not declared:
        return None
    parts = [_parse_one(value) for value in declared]
    if any(part is None for part in parts):
        return None
    if len(parts) == 1:
        return parts[0]
    return _parse_one(" AND ".join(f"({part})" for part in parts))


@lru_cache(maxsize=4096)
def _parse_one(value: str) -> LicenseExpression | None:
    """Parsing costs about a millisecond; an image repeats a handful of licences."""
    try:
        info = spdx_licensing.validate(value)
        if info.errors or info.invalid_symbols:
            return None
        parsed = spdx_licensing.parse(value, validate=True, strict=True)
    except Exception:
        # license-expression's validate() itself fails with AttributeError on some
        # malformed keys (quotes, backslashes); any failure means "not SPDX".
        return None
    if not isinstance(parsed, LicenseExpression):
        return None
    return parsed
