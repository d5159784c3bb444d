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
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any, Protocol

from portside.scanner import runtime
from portside.scanner.model import Distro, Inventory
from portside.scanner.sbom._common import (
    PROPERTY_PREFIX,
    Item,
    SbomError,
    SbomView,
    Writable,
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
    vulnerability_data: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The inventory (and optionally its vulnerabilities) as CycloneDX 1.6 JSON.

    ``created`` is the document's timestamp (now, by default); ``image_name`` overrides the
    name taken from ``inventory.image``. Raises :class:`SbomError` if the result does not
    validate against the CycloneDX 1.6 schema; ``validate=False`` skips that check, which
    costs more than writing the document (importing jsonschema and loading the schema come
    on top): for a report that goes straight to its reader, as ``portside scan`` writes it.
    The tests check this writer against the official schema, hostile inventories included.
    ``vulnerability_data`` names the feeds the findings were matched against (name, kind,
    ``updated``); given empty, the document says that nothing was matched.
    """
    out = io.StringIO()
    write_cyclonedx(
        out,
        inventory,
        findings=findings,
        tool_version=tool_version,
        image_name=image_name,
        created=created,
        validate=validate,
        vulnerability_data=vulnerability_data,
    )
    return out.getvalue()


def write_cyclonedx(
    out: Writable,
    inventory: Inventory,
    *,
    findings: Iterable[Finding] | None = None,
    tool_version: str,
    image_name: str | None = None,
    created: dt.datetime | None = None,
    validate: bool = True,
    view: SbomView | None = None,
    vulnerability_data: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """:func:`to_cyclonedx`, written to ``out`` as it is made (``view``: the inventory's
    :func:`build_view` for ``image_name``, when the caller has it already).

    The components, the dependency graph and the vulnerabilities are built, checked and
    written a chunk at a time, so the memory used besides the inventory does not grow
    with it. With ``validate``, each chunk is checked against the schema inside the
    document's head (the schema's ``uniqueItems`` hold because every ``bom-ref`` is
    checked to be unique); on :class:`SbomError` what was written is incomplete.
    """
    with runtime.gc_paused():
        view = view or build_view(inventory, image_name=image_name)
        by_purl: dict[str, list[tuple[str, str | None]]] = {}
        for item in view.items:
            if item.purl_text:
                by_purl.setdefault(item.purl_text, []).append(
                    (_ref(item), _bounded_version(item.package.version))
                )
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
        properties = [_property("platform", inventory.platform)] if inventory.platform else []
        properties.extend(_feed_properties(vulnerability_data))
        if properties:
            metadata["properties"] = properties
        head: Json = {
            "$schema": SCHEMA_URL,
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": f"urn:uuid:{serial}",
            "version": 1,
            "metadata": metadata,
        }
        check = _checker(head) if validate else None
        if check is not None:
            check(None, [])
        items = sorted(view.items, key=_item_order)
        refs = sorted([*(_ref(item) for item in items), *(["os"] if inventory.distro else [])])
        if len(set(refs)) != len(refs):
            raise SbomError("the CycloneDX document would repeat a bom-ref")
        text = json.dumps(head, indent=2, ensure_ascii=True)
        out.write(text[: text.rindex("}")].rstrip())
        components: Iterator[Json] = (_package_component(item) for item in items)
        if inventory.distro is not None:
            components = itertools.chain(components, [_distro_component(inventory.distro)])
        _write_array(out, "components", components, check)
        # The graph: the image depends on every component, which depend on nothing known.
        image: Json = {"ref": "image", "dependsOn": refs} if refs else {"ref": "image"}
        _write_array(
            out, "dependencies", itertools.chain([image], ({"ref": r} for r in refs)), check
        )
        _write_array(out, "vulnerabilities", iter(vulnerabilities), check)
        out.write("\n}")


_CHUNK = 500


def _write_array(
    out: Writable,
    key: str,
    values: Iterator[Json],
    check: Callable[[str | None, list[Json]], None] | None,
) -> None:
    """``"key": [values]`` at the top level of the document, one value a line, checked
    and written a chunk at a time; nothing when there are no values (the schema wants at
    least one item in some of these arrays)."""
    first = True
    while chunk := list(itertools.islice(values, _CHUNK)):
        if check is not None:
            check(key, chunk)
        for value in chunk:
            out.write(f',\n  "{key}": [\n    ' if first else ",\n    ")
            out.write(json.dumps(value, ensure_ascii=True))
            first = False
    if not first:
        out.write("\n  ]")


def _checker(head: Json) -> Callable[[str | None, list[Json]], None]:
    from portside.scanner.sbom._schema import ComponentCheck, first_error  # when asked

    components = ComponentCheck(head)

    def check(key: str | None, chunk: list[Json]) -> None:
        if key == "components":
            error = components(chunk)
        else:
            error = first_error({**head, key: chunk} if key else head)
        if error is not None:
            raise SbomError(f"the CycloneDX document does not validate: {shorten(error)}")

    return check


def _ref(item: Item) -> str:
    return f"pkg-{item.key[:32]}"


def _item_order(item: Item) -> tuple[str, str, str]:
    """Components in the order (type, name, version, bom-ref); every package is a
    library, and the operating system ("operating-system") comes after them."""
    return (item.package.name, _bounded_version(item.package.version) or "", _ref(item))


def _feed_properties(feeds: Sequence[Mapping[str, Any]] | None) -> list[Json]:
    """``portside:vulnerability-data`` properties: one per feed matched against, as
    ``name (kind) updated <time>``, or one saying that nothing was matched."""
    if feeds is None:
        return []
    if not feeds:
        return [_property("vulnerability-data", "none: not matched")]
    return [
        _property(
            "vulnerability-data",
            f"{feed.get('name', '')} ({feed.get('kind', '')}) updated {feed.get('updated', '')}",
        )
        for feed in feeds
    ]


def _property(name: str, value: str) -> Json:
    return {"name": f"{PROPERTY_PREFIX}{name}", "value": value}


def _properties(pairs: Iterable[tuple[str, str]]) -> list[Json]:
    """Properties in a stable order (by name, then value), repeats written once."""
    return [_property(name, value) for name, value in sorted(set(pairs))]


def _image_component(view: SbomView, inventory: Inventory) -> Json:
    component: Json = {"type": "container", "bom-ref": "image", "name": view.image.name}
    if view.image.version:
        component["version"] = view.image.version
    purl = view.image.purl()
    if purl is not None:
        component["purl"] = purl
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
    if package.purl and not item.purl_text:
        # Keep what the cataloger reported, so a reviewer can see why there is no purl.
        pairs.append(("invalid-purl", package.purl))
    component: Json = {"type": "library", "bom-ref": _ref(item), "name": package.name}
    if version:
        component["version"] = version
    if item.purl_text:
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
def _spdx_ids() -> dict[str, str]:
    """The SPDX licence ids of the list cyclonedx-python-lib ships (the schema's enum),
    by their lower-case spelling, as the library's ``fixup_id`` looks them up. Read from
    the list alone: importing the library's ``spdx`` module also builds the expression
    parser's table of every licence key, a tenth of a small image's whole scan, which
    only a licence that is not an id needs."""
    from cyclonedx.schema._res import SPDX_JSON

    with open(SPDX_JSON, encoding="utf-8") as schema:
        ids = json.load(schema).get("enum", [])
    return {ident.lower(): ident for ident in ids}


@cache
def _spdx() -> Any:
    """The SPDX expression parser, as cyclonedx-python-lib gives it (loaded on first
    use: a few hundredths of a second)."""
    from cyclonedx import spdx

    return spdx


def _spdx_id(value: str) -> str | None:
    return _spdx_ids().get(value.lower())


@lru_cache(maxsize=4096)
def _is_expression(value: str) -> bool:
    """Parsing an expression costs about a millisecond; images repeat a few licences."""
    return bool(_spdx().is_expression(value))


def _vulnerabilities(
    findings: Iterable[Finding], by_purl: dict[str, list[tuple[str, str | None]]]
) -> list[Json]:
    """The vulnerabilities, each affecting the components with its purl; ``by_purl``
    gives each purl's components as (bom-ref, version)."""
    result: dict[str, Json] = {}
    for finding in findings:
        purl_text = canonical_purl(finding.package_purl) or finding.package_purl
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
                "ref": ref,
                "versions": [
                    *([{"version": version, "status": "affected"}] if version else []),
                    *({"version": v, "status": "unaffected"} for v in fixed),
                ],
            }
            for ref, version in by_purl.get(purl_text, ())
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
