"""CycloneDX 1.6 JSON for one analysed image.

The document is written as plain JSON from the shared :class:`SbomView`, following the
CycloneDX 1.6 JSON schema that cyclonedx-python-lib ships; by default it is then checked
against that schema before it is returned, so that a store which hands out SBOMs never
hands out one the format's tools would reject. (The library's own object model was the
writer before: its sorted containers and reflective serialiser took longer than reading
the image's layers, and twice needed work-arounds for quadratic steps.) Identifiers inside
the document (``bom-ref``, the serial number) are derived from the content, so exporting
the same image twice gives the same bytes once the timestamp is fixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from typing import Any, Protocol

from portside.scanner import runtime
from portside.scanner.model import Distro, Inventory
from portside.scanner.sbom._common import (
    PROPERTY_PREFIX,
    Item,
    SbomError,
    SbomView,
    build_view,
    canonical_purl,
    derived_uuid,
    document_time,
    shorten,
)

SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
Json = dict[str, Any]


class Finding(Protocol):
    """A vulnerability matched to a package, as the matcher reports it.

    Any object with these attributes will do; the SBOM writer does not depend on the
    vulnerability database's own types.
    """

    @property
    def id(self) -> str: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def severity(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def vector(self) -> str | None: ...
    @property
    def fixed_versions(self) -> Sequence[str]: ...
    @property
    def package_purl(self) -> str: ...


# Which database issued an identifier, from its prefix; anything else is named by prefix.
_SOURCES = {
    "CVE": "NVD",
    "GHSA": "GitHub Advisory Database",
    "PYSEC": "PyPA Advisory Database",
    "GO": "Go Vulnerability Database",
    "RUSTSEC": "RustSec Advisory Database",
    "DSA": "Debian Security Tracker",
    "DLA": "Debian Security Tracker",
    "USN": "Ubuntu Security Notices",
    "RHSA": "Red Hat Security Advisories",
    "ALSA": "AlmaLinux Errata",
    "RLSA": "Rocky Linux Errata",
    "ALAS": "Amazon Linux Security Center",
}


def to_cyclonedx(
    inventory: Inventory,
    *,
    findings: Iterable[Finding] | None = None,
    tool_version: str,
    image_name: str | None = None,
    created: dt.datetime | None = None,
    validate: bool = True,
) -> str:
    """The inventory (and optionally its vulnerabilities) as CycloneDX 1.6 JSON.

    ``created`` is the document's timestamp (now, by default); ``image_name`` overrides the
    name taken from ``inventory.image``. Raises :class:`SbomError` if the result does not
    validate against the CycloneDX 1.6 schema; ``validate=False`` skips that check, which
    costs more than writing the document (importing jsonschema and loading the schema come
    on top): for a report that goes straight to its reader, as ``portside scan`` writes it.
    The tests check this writer against the official schema, hostile inventories included.
    """
    with runtime.gc_paused():
        document = _document(inventory, findings, tool_version, image_name, created)
        if validate:
            from portside.scanner.sbom._schema import first_error  # jsonschema: when asked

            error = first_error(document)
            if error is not None:
                raise SbomError(f"the CycloneDX document does not validate: {shorten(error)}")
        return json.dumps(document, indent=2, ensure_ascii=True)


def _document(
    inventory: Inventory,
    findings: Iterable[Finding] | None,
    tool_version: str,
    image_name: str | None,
    created: dt.datetime | None,
) -> Json:
    view = build_view(inventory, image_name=image_name)
    components = [_package_component(item) for item in view.items]
    by_purl: dict[str, list[Json]] = {}
    for item, component in zip(view.items, components, strict=True):
        if item.purl_text:
            by_purl.setdefault(item.purl_text, []).append(component)
    if inventory.distro is not None:
        components.append(_distro_component(inventory.distro))
    components.sort(key=_component_order)
    vulnerabilities = _vulnerabilities(findings or (), by_purl)
    finding_ids = sorted(v["bom-ref"] for v in vulnerabilities)
    serial = derived_uuid("cyclonedx", view.fingerprint, tool_version, *finding_ids)

    metadata: Json = {
        "timestamp": document_time(created).isoformat(),
        "tools": {
            "components": [{"type": "application", "name": "portside", "version": tool_version}]
        },
        "component": _image_component(view, inventory),
    }
    if inventory.platform:
        metadata["properties"] = [_property("platform", inventory.platform)]
    document: Json = {
        "$schema": SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": metadata,
    }
    if components:
        document["components"] = components
    # The graph: the image depends on every component, which depend on nothing known.
    refs = sorted(c["bom-ref"] for c in components)
    image: Json = {"ref": "image", "dependsOn": refs} if refs else {"ref": "image"}
    document["dependencies"] = [image, *({"ref": ref} for ref in refs)]
    if vulnerabilities:
        document["vulnerabilities"] = vulnerabilities
    return document


def _property(name: str, value: str) -> Json:
    return {"name": f"{PROPERTY_PREFIX}{name}", "value": value}


def _properties(pairs: Iterable[tuple[str, str]]) -> list[Json]:
    """Properties in a stable order (by name, then value), repeats written once."""
    return [_property(name, value) for name, value in sorted(set(pairs))]


def _component_order(component: Json) -> tuple[str, str, str, str]:
    return (
        component["type"],
        component["name"],
        component.get("version", ""),
        component["bom-ref"],
    )


def _image_component(view: SbomView, inventory: Inventory) -> Json:
    component: Json = {"type": "container", "bom-ref": "image", "name": view.image.name}
    if view.image.version:
        component["version"] = view.image.version
    purl = view.image.purl()
    if purl is not None:
        component["purl"] = purl.to_string()
    properties = _properties(
        ("layer", f"{layer.index}:{layer.digest}") for layer in inventory.layers
    )
    if properties:
        component["properties"] = properties
    return component


def _distro_component(distro: Distro) -> Json:
    component: Json = {"type": "operating-system", "bom-ref": "os", "name": distro.id or "unknown"}
    version = _bounded_version(distro.version_id)
    if version:
        component["version"] = version
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    pairs = []
    if distro.version_codename:
        pairs.append(("codename", distro.version_codename))
    if distro.id_like:
        pairs.append(("id-like", " ".join(distro.id_like)))
    if pairs:
        component["properties"] = _properties(pairs)
    return component


def _package_component(item: Item) -> Json:
    package = item.package
    pairs = [("cataloger", package.cataloger)]
    if item.layer is not None:
        pairs += [("layer", item.layer.digest), ("layer-index", str(item.layer.index))]
    elif package.layer:
        pairs.append(("layer", package.layer))
    pairs.extend(("path", path) for path in item.paths)
    if package.source_name:
        pairs.append(("source-name", package.source_name))
    if package.source_version:
        pairs.append(("source-version", package.source_version))
    version = _bounded_version(package.version)
    if version != (package.version or None):
        pairs.append(("version", package.version))
    if package.purl and item.purl is None:
        # Keep what the cataloger reported, so a reviewer can see why there is no purl.
        pairs.append(("invalid-purl", package.purl))
    component: Json = {"type": "library", "bom-ref": f"pkg-{item.key[:32]}", "name": package.name}
    if version:
        component["version"] = version
    if item.purl is not None:
        component["purl"] = item.purl_text
    licenses = _licenses(item.licenses)
    if licenses:
        component["licenses"] = licenses
    component["properties"] = _properties(pairs)
    return component


def _bounded_version(version: str | None) -> str | None:
    """CycloneDX 1.6 caps a version at 1,024 characters; longer ones are cut and marked."""
    if not version:
        return None
    if len(version) <= _MAX_VERSION:
        return version
    return version[: _MAX_VERSION - 3] + "..."


_MAX_VERSION = 1024


def _licenses(declared: Sequence[str]) -> list[Json]:
    """SPDX ids where they are ids, one expression where they form one, names otherwise.

    CycloneDX allows either a list of licences or a single expression, never both, so
    several declarations that include an expression are joined with ``AND`` when every
    part is valid SPDX, and otherwise kept as names. Repeats are written once.
    """
    if not declared:
        return []
    ids: list[str | None] = [_spdx_id(value) for value in declared]
    expressions = [
        ident is None and _is_expression(value) for value, ident in zip(declared, ids, strict=True)
    ]
    if any(expressions):
        if all(ident is not None or expr for ident, expr in zip(ids, expressions, strict=True)):
            parts = [ident or value for value, ident in zip(declared, ids, strict=True)]
            joined = parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)
            return [{"expression": joined}]
    # Ids first, then names, each sorted; repeats are written once.
    chosen = sorted(
        {
            ("id", ident) if ident is not None else ("name", value)
            for value, ident in zip(declared, ids, strict=True)
        }
    )
    return [{"license": {key: value}} for key, value in chosen]


@cache
def _spdx() -> Any:
    """The SPDX licence list and expression parser, as cyclonedx-python-lib gives them
    (loaded on first use: a few hundredths of a second)."""
    from cyclonedx import spdx

    return spdx


def _spdx_id(value: str) -> str | None:
    fixed: str | None = _spdx().fixup_id(value)
    return fixed


@lru_cache(maxsize=4096)
def _is_expression(value: str) -> bool:
    """Parsing an expression costs about a millisecond; images repeat a few licences."""
    return bool(_spdx().is_expression(value))


def _vulnerabilities(findings: Iterable[Finding], by_purl: dict[str, list[Json]]) -> list[Json]:
    result: dict[str, Json] = {}
    for finding in findings:
        parsed = canonical_purl(finding.package_purl)
        purl_text = parsed[1] if parsed is not None else finding.package_purl
        ref = (
            "vuln-"
            + hashlib.sha256(
                f"{finding.id}\n{purl_text}".encode("utf-8", "surrogatepass")
            ).hexdigest()[:32]
        )
        if ref in result:
            continue
        fixed = [v for v in dict.fromkeys(map(_bounded_version, finding.fixed_versions)) if v]
        vulnerability: Json = {"bom-ref": ref, "id": finding.id, "source": _source(finding.id)}
        references = [
            {"id": alias, "source": _source(alias)}
            for alias in sorted(set(finding.aliases))
            if alias and alias != finding.id
        ]
        if references:
            vulnerability["references"] = references
        vulnerability["ratings"] = [_rating(finding)]
        if fixed:
            vulnerability["recommendation"] = f"Upgrade to a fixed version: {', '.join(fixed)}."
        targets = [
            {
                "ref": component["bom-ref"],
                "versions": [
                    *(
                        [{"version": component["version"], "status": "affected"}]
                        if "version" in component
                        else []
                    ),
                    *({"version": v, "status": "unaffected"} for v in fixed),
                ],
            }
            for component in by_purl.get(purl_text, ())
        ]
        for target in targets:
            if not target["versions"]:
                del target["versions"]  # the schema wants at least one when there are any
        if targets:
            vulnerability["affects"] = targets
        else:
            vulnerability["properties"] = [_property("package-purl", purl_text)]
        result[ref] = vulnerability
    return sorted(result.values(), key=lambda v: (v["id"], v["bom-ref"]))


def _source(identifier: str) -> Json:
    prefix = identifier.split("-", 1)[0].upper()
    return {"name": _SOURCES.get(prefix, prefix or "unknown")}


# CycloneDX's severities, and the other words for them: advisories' and the store's own
# classes (Major is CVSS 4.0-6.9, Minor 0.1-3.9).
_SEVERITIES = frozenset({"critical", "high", "medium", "low", "info", "none", "unknown"})
_SEVERITY_WORDS = {"moderate": "medium", "important": "high", "major": "medium", "minor": "low"}
# Scoring methods by the vector's prefix, and the prefix the document leaves out.
_METHODS = (
    ("CVSS:4.", "CVSSv4"),
    ("CVSS:3.1", "CVSSv31"),
    ("CVSS:3.", "CVSSv3"),
    ("CVSS:2.", "CVSSv2"),
    ("OWASP", "OWASP"),
)
_VECTOR_PREFIX = re.compile(r"^(?:CVSS:\d\.\d/?|OWASP/?)")


def _rating(finding: Finding) -> Json:
    """One rating: the score when it is a usable CVSS number, the severity (from the score
    on CVSS's qualitative scale when there is one, else from the advisory's word), and
    the scoring method and vector."""
    score = finding.score
    usable = (
        score is not None
        and not isinstance(score, bool)
        and math.isfinite(score)
        and 0 <= score <= 10
    )
    rating: Json = {}
    if usable and score is not None:
        rating["score"] = float(score)
        rating["severity"] = _qualitative(score)
    else:
        word = (finding.severity or "").strip().lower()
        severity = _SEVERITY_WORDS.get(word, word)
        rating["severity"] = severity if severity in _SEVERITIES else "unknown"
    vector = finding.vector or None
    if vector:
        method = next((m for prefix, m in _METHODS if vector.startswith(prefix)), "other")
        rating["method"] = method
        rating["vector"] = _VECTOR_PREFIX.sub("", vector, count=1) if method != "other" else vector
    return rating


def _qualitative(score: float) -> str:
    """CVSS's qualitative severity rating scale (the same for v3 and v4)."""
    if score == 0:
        return "none"
    if score < 4:
        return "low"
    if score < 7:
        return "medium"
    if score < 9:
        return "high"
    return "critical"
