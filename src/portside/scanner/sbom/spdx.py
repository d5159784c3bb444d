"""SPDX 2.3 JSON for one analysed image.

The document DESCRIBES one package, the image, which CONTAINS every package found in it.
Package licences become SPDX licence expressions only when every declared licence parses
as SPDX and names licences on the SPDX list; anything else is ``NOASSERTION``, with what
the package declared kept word for word in the licence comment, because inventing
``LicenseRef-`` entries would make claims the analyser cannot back.

The JSON is written here, a package at a time, in the shape spdx-tools' writer gives it
(the tests parse every document back with spdx-tools and run its full validator on it).
spdx-tools' object model and writer were the writer before: building the model, its
writer's copy of the document, and above all its validator, which looks up every
package's relationships and every element id in lists of the whole document, made an
export quadratic in the packages (22 s at 5,000 packages, minutes at 20,000). What that
validator would check of a document made here is checked in one pass instead
(:func:`_check_package`): identifiers well formed and unique, every relationship between
known elements, licence expressions and package URLs as spdx-tools accepts them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from license_expression import LicenseExpression
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model import Actor, ActorType, CreationInfo
from spdx_tools.spdx.validation.creation_info_validator import validate_creation_info
from spdx_tools.spdx.validation.external_package_ref_validator import PURL_REGEX
from spdx_tools.spdx.validation.uri_validators import validate_uri

from portside.scanner import runtime
from portside.scanner.model import Distro, Inventory
from portside.scanner.sbom._common import (
    Item,
    SbomError,
    SbomView,
    Writable,
    build_view,
    derived_uuid,
    document_time,
    shorten,
)

SPDX_VERSION = "SPDX-2.3"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-Image"
OS_ID = "SPDXRef-OperatingSystem"
NOASSERTION = "NOASSERTION"
Json = dict[str, Any]

# The characters RFC 3986 allows in a URI, less "#": a namespace may not have a fragment.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")
# spdx-tools' rules: an element id, and the locator of a "purl" external reference.
_SPDX_ID = re.compile(r"SPDXRef-[\da-zA-Z.-]+")
_PURL = re.compile(PURL_REGEX)


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
    (now, by default). With ``validate`` (the default) the document is checked as it is
    written, in time linear in the packages, and :class:`SbomError` is raised at the
    first fault.
    """
    out = io.StringIO()
    write_spdx(
        out,
        inventory,
        tool_version=tool_version,
        namespace_base=namespace_base,
        image_name=image_name,
        created=created,
        validate=validate,
    )
    return out.getvalue()


def write_spdx(
    out: Writable,
    inventory: Inventory,
    *,
    tool_version: str,
    namespace_base: str,
    image_name: str | None = None,
    created: dt.datetime | None = None,
    validate: bool = True,
    view: SbomView | None = None,
) -> None:
    """:func:`to_spdx`, written to ``out`` a package at a time (on :class:`SbomError`
    what was written is incomplete; ``view``: the inventory's :func:`build_view` for
    ``image_name``, when the caller has it already)."""
    base = namespace_base.rstrip("/")
    if not _URI.fullmatch(base) or validate_uri(base):
        raise SbomError(
            "the SPDX namespace base must be an absolute URI without a fragment, "
            f"not {shorten(namespace_base)!r}"
        )
    with runtime.gc_paused():
        view = view or build_view(inventory, image_name=image_name)
        moment = document_time(created)
        name = f"portside-sbom-{view.image.name}"
        namespace = _namespace(base, view, tool_version)
        creator = f"portside-{tool_version}"
        if validate:
            info = CreationInfo(
                spdx_version=SPDX_VERSION,
                spdx_id=DOCUMENT_ID,
                name=name,
                document_namespace=namespace,
                creators=[Actor(ActorType.TOOL, creator)],
                created=moment.replace(tzinfo=None),
            )
            messages = validate_creation_info(info, SPDX_VERSION)
            if messages:
                raise SbomError(
                    "the SPDX document does not validate: "
                    + shorten("; ".join(m.validation_message for m in messages))
                )
        head: Json = {
            "SPDXID": DOCUMENT_ID,
            "creationInfo": {
                "created": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "creators": [f"Tool: {creator}"],
            },
            "dataLicense": "CC0-1.0",
            "name": name,
            "spdxVersion": SPDX_VERSION,
            "documentNamespace": namespace,
        }
        text = json.dumps(head, indent=4, ensure_ascii=True)
        out.write(text[: text.rindex("}")].rstrip())
        ids: list[str] = []
        known: set[str] = set()
        out.write(',\n    "packages": [\n        ')
        for position, package in enumerate(_packages(view, inventory.distro)):
            if validate:
                _check_package(package, known)
            ids.append(package["SPDXID"])
            if position:
                out.write(",\n        ")
            out.write(json.dumps(package, ensure_ascii=True))
        out.write('\n    ],\n    "relationships": [\n        ')
        out.write(json.dumps(_relationship(DOCUMENT_ID, "DESCRIBES", IMAGE_ID)))
        for contained in ids[1:]:
            out.write(",\n        ")
            out.write(json.dumps(_relationship(IMAGE_ID, "CONTAINS", contained)))
        out.write("\n    ]\n}")


def _relationship(element: str, kind: str, related: str) -> Json:
    return {"spdxElementId": element, "relatedSpdxElement": related, "relationshipType": kind}


def _packages(view: SbomView, distro: Distro | None) -> Iterator[Json]:
    """The image, its operating system, then every package, in the view's order."""
    yield _image_package(view)
    if distro is not None:
        yield _distro_package(distro)
    for item in view.items:
        yield _package(item)


def _check_package(package: Json, known: set[str]) -> None:
    """What spdx-tools' validator would say of a package written here, for one package:
    its id is well formed and new (the relationships name only these ids), its name is
    there, its licence and package URL are as spdx-tools accepts them."""
    spdx_id = package["SPDXID"]
    fault = ""
    if not _SPDX_ID.fullmatch(spdx_id):
        fault = "is not a valid SPDX element id"
    elif spdx_id in known:
        fault = "is used twice"
    elif not package.get("name"):
        fault = "has no name"
    elif any(
        ref["referenceType"] == "purl" and not _PURL.match(ref["referenceLocator"])
        for ref in package.get("externalRefs", ())
    ):
        fault = "has a package URL spdx-tools refuses"
    else:
        declared = package["licenseDeclared"]
        if declared != NOASSERTION and _parse_one(declared) is None:
            fault = f"declares a licence that is not an SPDX expression: {declared!r}"
    if fault:
        raise SbomError(f"the SPDX document does not validate: {shorten(spdx_id)} {fault}")
    known.add(spdx_id)


def _namespace(base: str, view: SbomView, tool_version: str) -> str:
    """``BASE/images/ALGORITHM/HEX/UUID`` (or ``BASE/images/name/UUID`` without a digest)."""
    unique = derived_uuid("spdx", view.fingerprint, tool_version)
    digest = view.image.digest
    if digest is not None:
        return f"{base}/images/{digest.algorithm}/{digest.hex}/{unique}"
    return f"{base}/images/name/{unique}"


def _purl_refs(purl_text: str) -> list[Json]:
    # spdx-tools' own purl pattern is stricter than the purl parser in a few corners; a
    # reference it would refuse is left out rather than failing the whole document.
    if not purl_text or not _PURL.match(purl_text):
        return []
    return [
        {
            "referenceCategory": "PACKAGE_MANAGER",
            "referenceLocator": purl_text,
            "referenceType": "purl",
        }
    ]


def _image_package(view: SbomView) -> Json:
    purl = view.image.purl()
    package: Json = {
        "SPDXID": IMAGE_ID,
        "copyrightText": NOASSERTION,
        "downloadLocation": NOASSERTION,
    }
    refs = _purl_refs(purl) if purl else []
    if refs:
        package["externalRefs"] = refs
    package |= {
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "name": view.image.name,
        "primaryPackagePurpose": "CONTAINER",
    }
    if view.image.version:
        package["versionInfo"] = view.image.version
    return package


def _distro_package(distro: Distro) -> Json:
    package: Json = {"SPDXID": OS_ID, "copyrightText": NOASSERTION}
    if distro.pretty_name:
        package["description"] = distro.pretty_name
    package |= {
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "name": distro.id or "unknown",
        "primaryPackagePurpose": "OPERATING_SYSTEM",
    }
    if distro.version_id:
        package["versionInfo"] = distro.version_id
    return package


def _package(item: Item) -> Json:
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
    result: Json = {"SPDXID": spdx_id}
    if package.cataloger:
        result["comment"] = f"Found by the {package.cataloger} cataloger."
    result["copyrightText"] = NOASSERTION
    result["downloadLocation"] = NOASSERTION
    refs = _purl_refs(item.purl_text)
    if refs:
        result["externalRefs"] = refs
    result["filesAnalyzed"] = False
    if item.licenses:
        result["licenseComments"] = "Declared by the package: " + " | ".join(item.licenses)
    result["licenseConcluded"] = NOASSERTION
    result["licenseDeclared"] = _declared(item.licenses)
    result["name"] = package.name or NOASSERTION
    if origin:
        result["sourceInfo"] = "; ".join(origin)
    if package.version:
        result["versionInfo"] = package.version
    return result


@lru_cache(maxsize=4096)
def _declared(declared: tuple[str, ...]) -> str:
    """The declared licences as one SPDX expression, or ``NOASSERTION``; an image repeats
    a handful of licence lists."""
    expression = _expression(declared)
    return NOASSERTION if expression is None else str(expression)


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
