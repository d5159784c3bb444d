"""CycloneDX 1.6 JSON for one analysed image.

The document is built with the CycloneDX project's own object model and serialiser, then
checked against the 1.6 JSON schema before it is returned: a store that hands out SBOMs
must never hand out one that the format's tools would reject. Identifiers inside the
document (``bom-ref``, the serial number) are derived from the content, so exporting the
same image twice gives the same bytes once the timestamp is fixed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependable, Dependency
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id, is_expression

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
from portside.scanner.sbom._schema import first_error


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


_SEVERITIES = {s.value: s for s in VulnerabilitySeverity}
_SEVERITY_WORDS = {
    "moderate": VulnerabilitySeverity.MEDIUM,
    "important": VulnerabilitySeverity.HIGH,
}

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
) -> str:
    """The inventory (and optionally its vulnerabilities) as CycloneDX 1.6 JSON.

    ``created`` is the document's timestamp (now, by default); ``image_name`` overrides the
    name taken from ``inventory.image``. Raises :class:`SbomError` if the result does not
    validate against the CycloneDX 1.6 schema.
    """
    view = build_view(inventory, image_name=image_name)
    timestamp = document_time(created)

    root = _image_component(view, inventory)
    components = [_package_component(item) for item in view.items]
    by_purl: dict[str, list[Component]] = {}
    for item, component in zip(view.items, components, strict=True):
        if item.purl_text:
            by_purl.setdefault(item.purl_text, []).append(component)
    if inventory.distro is not None:
        components.append(_distro_component(inventory.distro))
    vulnerabilities = _vulnerabilities(findings or (), by_purl)

    finding_ids = sorted(str(v.bom_ref.value) for v in vulnerabilities)
    bom = Bom(
        serial_number=derived_uuid("cyclonedx", view.fingerprint, tool_version, *finding_ids),
        metadata=BomMetaData(
            timestamp=timestamp,
            tools=ToolRepository(
                components=[
                    Component(type=ComponentType.APPLICATION, name="portside", version=tool_version)
                ]
            ),
            component=root,
            properties=[Property(name=f"{PROPERTY_PREFIX}platform", value=inventory.platform)]
            if inventory.platform
            else None,
        ),
        components=components,
        vulnerabilities=vulnerabilities,
    )
    _set_graph(bom, root, components)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    error = first_error(json.loads(text))
    if error is not None:
        raise SbomError(f"the CycloneDX document does not validate: {shorten(error)}")
    return text


def _set_graph(bom: Bom, root: Component, components: Sequence[Component]) -> None:
    """Set the dependency graph (image -> every package) in one step.

    The library's ``register_dependency`` finds its target by scanning every dependency,
    and its serialiser calls it once per component before writing: quadratic, 8 million
    comparisons for 4,000 packages. The graph is complete once set here, so this BOM's
    calls for components already in it return at once; anything else still goes to the
    library. (A subclass of ``Bom`` cannot do this: the serialiser only knows the class
    it was declared on.)
    """
    bom.dependencies = [
        Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in components]),
        *(Dependency(ref=c.bom_ref) for c in components),
    ]
    registered = frozenset([root.bom_ref, *(c.bom_ref for c in components)])
    library_register = bom.register_dependency

    def register(target: Dependable, depends_on: Iterable[Dependable] | None = None) -> None:
        if not depends_on and target.bom_ref in registered:
            return
        library_register(target, depends_on)

    bom.register_dependency = register  # type: ignore[method-assign]


def _image_component(view: SbomView, inventory: Inventory) -> Component:
    properties = [
        Property(name=f"{PROPERTY_PREFIX}layer", value=f"{layer.index}:{layer.digest}")
        for layer in inventory.layers
    ]
    return Component(
        type=ComponentType.CONTAINER,
        bom_ref="image",
        name=view.image.name,
        version=view.image.version,
        purl=view.image.purl(),
        properties=properties,
    )


def _distro_component(distro: Distro) -> Component:
    properties = []
    if distro.version_codename:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}codename", value=distro.version_codename)
        )
    if distro.id_like:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}id-like", value=" ".join(distro.id_like))
        )
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        bom_ref="os",
        name=distro.id or "unknown",
        version=_bounded_version(distro.version_id),
        description=distro.pretty_name or None,
        properties=properties,
    )


def _package_component(item: Item) -> Component:
    package = item.package
    properties = [Property(name=f"{PROPERTY_PREFIX}cataloger", value=package.cataloger)]
    if item.layer is not None:
        properties.append(Property(name=f"{PROPERTY_PREFIX}layer", value=item.layer.digest))
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}layer-index", value=str(item.layer.index))
        )
    elif package.layer:
        properties.append(Property(name=f"{PROPERTY_PREFIX}layer", value=package.layer))
    properties.extend(Property(name=f"{PROPERTY_PREFIX}path", value=p) for p in item.paths)
    if package.source_name:
        properties.append(Property(name=f"{PROPERTY_PREFIX}source-name", value=package.source_name))
    if package.source_version:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}source-version", value=package.source_version)
        )
    version = _bounded_version(package.version)
    if version != (package.version or None):
        properties.append(Property(name=f"{PROPERTY_PREFIX}version", value=package.version))
    if package.purl and item.purl is None:
        # Keep what the cataloger reported, so a reviewer can see why there is no purl.
        properties.append(Property(name=f"{PROPERTY_PREFIX}invalid-purl", value=package.purl))
    return Component(
        type=ComponentType.LIBRARY,
        bom_ref=f"pkg-{item.key[:32]}",
        name=package.name,
        version=version,
        purl=item.purl,
        licenses=_licenses(item.licenses),
        properties=properties,
    )


def _bounded_version(version: str | None) -> str | None:
    """CycloneDX 1.6 caps a version at 1,024 characters; longer ones are cut and marked."""
    if not version:
        return None
    if len(version) <= _MAX_VERSION:
        return version
    return version[: _MAX_VERSION - 3] + "..."


_MAX_VERSION = 1024


def _licenses(declared: Sequence[str]) -> list[License]:
    """SPDX ids where they are ids, one expression where they form one, names otherwise.

    CycloneDX allows either a list of licences or a single expression, never both, so
    several declarations that include an expression are joined with ``AND`` when every
    part is valid SPDX, and otherwise kept as names.
    """
    ids: list[str | None] = [fixup_id(value) for value in declared]
    expressions = [
        ident is None and _is_expression(value) for value, ident in zip(declared, ids, strict=True)
    ]
    if any(expressions):
        if all(ident is not None or expr for ident, expr in zip(ids, expressions, strict=True)):
            parts = [ident or value for value, ident in zip(declared, ids, strict=True)]
            joined = parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)
            return [LicenseExpression(joined)]
    return [
        DisjunctiveLicense(id=ident) if ident is not None else DisjunctiveLicense(name=value)
        for value, ident in zip(declared, ids, strict=True)
    ]


@lru_cache(maxsize=4096)
def _is_expression(value: str) -> bool:
    """Parsing an expression costs about a millisecond; images repeat a few licences."""
    return is_expression(value)


def _vulnerabilities(
    findings: Iterable[Finding], by_purl: dict[str, list[Component]]
) -> list[Vulnerability]:
    result: dict[str, Vulnerability] = {}
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
        targets = [
            BomTarget(
                ref=str(component.bom_ref.value),
                versions=[
                    *(
                        [BomTargetVersionRange(version=component.version, status=_AFFECTED)]
                        if component.version
                        else []
                    ),
                    *(BomTargetVersionRange(version=v, status=_UNAFFECTED) for v in fixed),
                ],
            )
            for component in by_purl.get(purl_text, ())
        ]
        properties = []
        if not targets:
            properties.append(Property(name=f"{PROPERTY_PREFIX}package-purl", value=purl_text))
        result[ref] = Vulnerability(
            bom_ref=ref,
            id=finding.id,
            source=_source(finding.id),
            references=[
                VulnerabilityReference(id=alias, source=_source(alias))
                for alias in dict.fromkeys(finding.aliases)
                if alias and alias != finding.id
            ],
            ratings=[_rating(finding)],
            recommendation=f"Upgrade to a fixed version: {', '.join(fixed)}." if fixed else None,
            affects=targets,
            properties=properties,
        )
    return list(result.values())


_AFFECTED = ImpactAnalysisAffectedStatus.AFFECTED
_UNAFFECTED = ImpactAnalysisAffectedStatus.UNAFFECTED


def _source(identifier: str) -> VulnerabilitySource:
    prefix = identifier.split("-", 1)[0].upper()
    return VulnerabilitySource(name=_SOURCES.get(prefix, prefix or "unknown"))


def _rating(finding: Finding) -> VulnerabilityRating:
    severity_word = (finding.severity or "").strip().lower()
    severity = _SEVERITIES.get(severity_word) or _SEVERITY_WORDS.get(
        severity_word, VulnerabilitySeverity.UNKNOWN
    )
    score = finding.score
    usable = (
        score is not None
        and not isinstance(score, bool)
        and math.isfinite(score)
        and 0 <= score <= 10
    )
    vector = finding.vector or None
    method = VulnerabilityScoreSource.get_from_vector(vector) if vector else None
    return VulnerabilityRating(
        score=Decimal(str(score)) if usable and score is not None else None,
        severity=severity,
        method=method,
        vector=method.get_localised_vector(vector) if method and vector else None,
    )
