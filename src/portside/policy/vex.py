"""OpenVEX 0.2.0 documents, read strictly and written back, and the rule that says when
a statement covers a finding. No Django here: the import page, the API, the clocks and
the tests all use the same functions.

Reading (:func:`parse`) refuses anything the specification does not allow, and says
where: a body that is not UTF-8 JSON, a document larger than :data:`MAX_BYTES`, nested
deeper than :data:`MAX_DEPTH`, with more than :data:`MAX_STATEMENTS` statements or
:data:`MAX_COMPONENTS` products and subcomponents in one statement, a duplicated key, an
unknown key, a ``@context`` other than OpenVEX 0.2.0's, a missing required field, an
unknown status or justification, a ``not_affected`` statement with neither a
justification nor an impact statement, an ``affected`` one without an action statement,
a justification on any other status, a product that identifies nothing. Every refusal is
a :class:`VexDocumentError` whose ``field`` is the JSON path of the offending value
(``statements[2].status``).

Images and packages. A product is an image when it is named by an OCI package URL
(``pkg:oci/app@sha256:...?repository_url=registry.example.com/acme/app``), by an image
reference (``registry.example.com/acme/app@sha256:...``), or by a ``sha-256`` /
``sha-512`` hash (an image digest); its subcomponents name packages by package URL. A
package URL becomes the scanner's package type and name: the purl type, and the name
with its namespace where the scanner keeps one (``group:artifact`` for Maven,
``@scope/name`` for npm, ``namespace/name`` for Go and Composer; a distribution's
namespace such as ``debian`` is dropped).

Coverage (:func:`covers`). A statement covers a finding when all of these hold:

* it is approved by the security team (``review == "approved"``);
* its status is ``not_affected``;
* it has not expired: no ``expires_at``, or one later than ``now``;
* its advisory id equals the finding's advisory id or one of the finding's aliases,
  compared case-insensitively;
* its package is blank (any package) or equal to the finding's: the same type, and the
  same name compared case-insensitively (for ``pypi``, after PEP 503 normalisation,
  since package URLs carry normalised Python names);
* its digest is blank (every image of the product) or equal to the finding's image
  digest.

Nothing else covers a finding: an ``affected``, ``fixed`` or ``under_investigation``
statement informs customers but stops no clock.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from packageurl import PackageURL

from portside.core.errors import ValidationFailed

CONTEXT = "https://openvex.dev/ns/v0.2.0"
# The unversioned namespace is OpenVEX's "latest before 1.0", which 0.2.0 is.
CONTEXTS = (CONTEXT, "https://openvex.dev/ns")
MEDIA_TYPE = "application/openvex+json"

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 12
MAX_STATEMENTS = 2000
MAX_COMPONENTS = 500  # products and their subcomponents, in one statement
MAX_TEXT = 10_000
MAX_ADVISORY_ID = 100
MAX_PACKAGE_TYPE = 32
MAX_PACKAGE_NAME = 255
MAX_IDENTIFIER = 2048

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
# IANA's hash function textual names that OpenVEX lists; sha-256 and sha-512 name images.
HASHES = {
    "md5": 32,
    "sha1": 40,
    "sha-256": 64,
    "sha-384": 96,
    "sha-512": 128,
    "sha3-224": 56,
    "sha3-256": 64,
    "sha3-384": 96,
    "sha3-512": 128,
    "blake2s-256": 64,
    "blake2b-256": 64,
    "blake2b-512": 128,
}
_IMAGE_HASHES = {"sha-256": "sha256", "sha-512": "sha512"}
IDENTIFIERS = ("purl", "cpe23", "cpe22")

_DOCUMENT_KEYS = {
    "@context",
    "@id",
    "author",
    "role",
    "timestamp",
    "last_updated",
    "version",
    "tooling",
    "statements",
}
_STATEMENT_KEYS = {
    "@id",
    "version",
    "vulnerability",
    "timestamp",
    "last_updated",
    "products",
    "status",
    "supplier",
    "status_notes",
    "justification",
    "impact_statement",
    "action_statement",
    "action_statement_timestamp",
}
_VULNERABILITY_KEYS = {"@id", "name", "description", "aliases"}
_COMPONENT_KEYS = {"@id", "identifiers", "hashes"}
_PRODUCT_KEYS = _COMPONENT_KEYS | {"subcomponents"}

ADVISORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]*")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HEX = re.compile(r"[0-9a-f]+")
IMAGE_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})")
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
# Package URL types whose namespace is part of the package's name in the scanner.
_JOINED = {"npm": "/", "golang": "/", "composer": "/", "maven": ":"}


class VexDocumentError(ValidationFailed):
    """The OpenVEX document was refused."""

    code = "vex_invalid"


def _fail(path: str, message: str) -> VexDocumentError:
    return VexDocumentError(f"{path}: {message}" if path else message, field=path or None)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """A package as the scanner names it (``type`` is the package URL type)."""

    type: str
    name: str


@dataclass(frozen=True)
class Image:
    """An image: a repository (with its registry host, if named) and/or a digest."""

    repository: str = ""
    registry: str = ""
    digest: str = ""
    tag: str = ""


@dataclass(frozen=True)
class Component:
    """One product or subcomponent: what it names, as far as the store can tell."""

    id: str = ""
    image: Image | None = None
    package: Package | None = None
    identifiers: Mapping[str, str] = field(default_factory=dict)
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Product:
    component: Component
    subcomponents: tuple[Component, ...] = ()


@dataclass(frozen=True)
class Statement:
    advisory_id: str
    status: str
    products: tuple[Product, ...]
    aliases: tuple[str, ...] = ()
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    status_notes: str = ""
    timestamp: dt.datetime | None = None
    id: str = ""


@dataclass(frozen=True)
class Document:
    id: str
    author: str
    timestamp: dt.datetime
    version: int
    statements: tuple[Statement, ...]
    role: str = ""
    last_updated: dt.datetime | None = None
    tooling: str = ""


# --- coverage -------------------------------------------------------------------------------


def package_key(package_type: str, package_name: str) -> tuple[str, str]:
    """How two package names are compared: type as is (lower case), the name
    case-insensitively, Python names after PEP 503 normalisation."""
    kind = package_type.strip().lower()
    name = package_name.strip().lower()
    if kind == "pypi":
        name = re.sub(r"[-_.]+", "-", name)
    return kind, name


def covers(
    *,
    review: str,
    status: str,
    expires_at: dt.datetime | None,
    statement_advisory: str,
    statement_package_type: str,
    statement_package_name: str,
    statement_digest: str,
    advisory_id: str,
    aliases: Iterable[str],
    package_type: str,
    package_name: str,
    digest: str,
    now: dt.datetime,
) -> bool:
    """Whether a statement covers a finding (the rule in this module's docstring).

    The ``review``, ``status``, ``expires_at`` and ``statement_*`` arguments are the
    statement's fields (``VexStatement.review`` and so on); ``advisory_id``, ``aliases``,
    ``package_type``, ``package_name`` and ``digest`` are the finding's and its image's;
    ``now`` is the time the question is asked for (``core.clock.now()``).
    """
    if review != "approved" or status != "not_affected":
        return False
    if expires_at is not None and expires_at <= now:
        return False
    wanted = statement_advisory.strip().lower()
    if not wanted or wanted not in {a.strip().lower() for a in (advisory_id, *aliases)}:
        return False
    if statement_package_type or statement_package_name:
        if package_key(statement_package_type, statement_package_name) != package_key(
            package_type, package_name
        ):
            return False
    return not statement_digest or statement_digest == digest


# --- package URLs ---------------------------------------------------------------------------


def package_of(purl: PackageURL) -> Package:
    """The scanner's package type and name for a (non-OCI) package URL."""
    joiner = _JOINED.get(purl.type)
    name = purl.name
    if joiner and purl.namespace:
        name = f"{purl.namespace}{joiner}{purl.name}"
    return Package(type=purl.type, name=name)


def package_purl(package: Package) -> str:
    """A versionless package URL naming the package (the inverse of :func:`package_of`)."""
    namespace: str | None = None
    name = package.name
    joiner = _JOINED.get(package.type)
    if joiner and joiner in name:
        namespace, _, name = name.rpartition(joiner)
    return PackageURL(type=package.type, namespace=namespace or None, name=name).to_string()


def image_purl(image: Image) -> str:
    """``pkg:oci/NAME[@DIGEST]?repository_url=REGISTRY/REPOSITORY[&tag=TAG]`` (the
    repository is named only with its registry's host, as the qualifier requires)."""
    last = image.repository.rsplit("/", 1)[-1]
    qualifiers = {}
    if image.repository and image.registry:
        qualifiers["repository_url"] = f"{image.registry}/{image.repository}"
    if image.tag:
        qualifiers["tag"] = image.tag
    return PackageURL(
        type="oci", name=last or "image", version=image.digest or None, qualifiers=qualifiers
    ).to_string()


def _split_location(location: str, path: str, *, host_first: bool = False) -> tuple[str, str]:
    """``registry.example.com/acme/app`` into host and repository. In a package URL's
    ``repository_url`` the first part is always the host; in an image reference, a first
    part without a dot, a colon or ``localhost`` belongs to the repository."""
    first, slash, rest = location.partition("/")
    if host_first and not slash:
        raise _fail(path, "repository_url names a registry host and a repository")
    if slash and (host_first or "." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise _fail(path, f"{first!r} is not a registry host")
        host, repository = first.lower(), rest
    else:
        host, repository = "", location
    if not _REPOSITORY.fullmatch(repository) or len(repository) > MAX_PACKAGE_NAME:
        raise _fail(path, f"{repository!r} is not a repository name")
    return host, repository


def _digest(value: str, path: str) -> str:
    if not IMAGE_DIGEST.fullmatch(value):
        raise _fail(path, f"{value!r} is not a sha256 or sha512 image digest")
    return value


def _image_from_purl(purl: PackageURL, path: str) -> Image:
    location = purl.qualifiers.get("repository_url", "") if purl.qualifiers else ""
    if isinstance(location, str) and location:
        registry, repository = _split_location(location, path, host_first=True)
    else:
        registry, repository = "", ""
    digest = _digest(purl.version, path) if purl.version else ""
    tag = purl.qualifiers.get("tag", "") if purl.qualifiers else ""
    if tag and not (isinstance(tag, str) and _TAG.fullmatch(tag)):
        raise _fail(path, "the tag qualifier is not a tag")
    if not repository and not digest:
        raise _fail(path, "an OCI package URL needs a repository_url or a digest")
    return Image(repository=repository, registry=registry, digest=digest, tag=str(tag or ""))


def _image_from_reference(reference: str, path: str) -> Image | None:
    """``[host/]org/repo[:tag][@digest]``, or None when the text is not shaped like one."""
    name, at, digest = reference.partition("@")
    if at:
        digest = _digest(digest, path)
    tag = ""
    head, colon, tail = name.rpartition(":")
    if colon and "/" not in tail and head:
        name, tag = head, tail
        if not _TAG.fullmatch(tag):
            return None
    if "/" not in name and not at:
        return None
    try:
        registry, repository = _split_location(name, path)
    except VexDocumentError:
        return None
    return Image(repository=repository, registry=registry, digest=digest, tag=tag)


# --- reading --------------------------------------------------------------------------------


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _fail("", f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


def _constant(name: str) -> Any:
    raise _fail("", f"{name} is not JSON")


def _depth(value: Any) -> int:
    """The nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def load(data: bytes | str) -> Any:
    """The JSON value of a document, within the size and depth limits."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogatepass")
    if len(data) > MAX_BYTES:
        raise _fail("", f"the document is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail("", "the document is not UTF-8 text") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except RecursionError:
        raise _fail("", f"the document is nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise _fail("", f"the document is not JSON ({exc.msg}, line {exc.lineno})") from None
    if _depth(value) > MAX_DEPTH:
        raise _fail("", f"the document is nested deeper than {MAX_DEPTH} levels")
    return value


def _object(value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(path, f"unknown field {unknown[0]!r}")
    return value


def _text(
    obj: dict[str, Any], key: str, path: str, *, required: bool = False, limit: int = MAX_TEXT
) -> str:
    where = f"{path}.{key}" if path else key
    if key not in obj:
        if required:
            raise _fail(where, "is required")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise _fail(where, "must be a string")
    if required and not value.strip():
        raise _fail(where, "may not be empty")
    if len(value) > limit:
        raise _fail(where, f"is longer than {limit} characters")
    if CONTROL.search(value) or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise _fail(where, "contains control characters")
    return value


def _time(
    obj: dict[str, Any], key: str, path: str, *, required: bool = False
) -> dt.datetime | None:
    where = f"{path}.{key}" if path else key
    raw = _text(obj, key, path, required=required, limit=64)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise _fail(where, f"{raw!r} is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise _fail(where, "needs a time zone offset")
    return value.astimezone(dt.UTC)


def _integer(obj: dict[str, Any], key: str, path: str, *, minimum: int, required: bool) -> int:
    where = f"{path}.{key}" if path else key
    if key not in obj:
        if required:
            raise _fail(where, "is required")
        return minimum
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < 2**31:
        raise _fail(where, f"must be a whole number from {minimum}")
    return value


def _component(value: Any, path: str, allowed: set[str]) -> Component:
    obj = _object(value, path, allowed)
    ident = _text(obj, "@id", path, limit=MAX_IDENTIFIER)
    identifiers: dict[str, str] = {}
    if "identifiers" in obj:
        raw = _object(obj["identifiers"], f"{path}.identifiers", set(IDENTIFIERS))
        for key in raw:
            identifiers[key] = _text(
                raw, key, f"{path}.identifiers", required=True, limit=MAX_IDENTIFIER
            )
    hashes: dict[str, str] = {}
    if "hashes" in obj:
        raw = _object(obj["hashes"], f"{path}.hashes", set(HASHES))
        for key in raw:
            hexa = _text(raw, key, f"{path}.hashes", required=True, limit=128)
            if len(hexa) != HASHES[key] or not _HEX.fullmatch(hexa):
                raise _fail(f"{path}.hashes.{key}", f"must be {HASHES[key]} lowercase hex digits")
            hashes[key] = hexa
    if not ident and not identifiers and not hashes:
        raise _fail(path, "identifies nothing (no @id, identifiers or hashes)")
    image: Image | None = None
    package: Package | None = None
    for where, text in ((f"{path}.identifiers.purl", identifiers.get("purl", "")), (path, ident)):
        if not text.startswith("pkg:"):
            continue
        try:
            purl = PackageURL.from_string(text)
        except ValueError as exc:
            raise _fail(where, f"is not a package URL ({exc})") from None
        if purl.type == "oci":
            image = image or _image_from_purl(purl, where)
        else:
            found = package_of(purl)
            if len(found.type) > MAX_PACKAGE_TYPE or len(found.name) > MAX_PACKAGE_NAME:
                raise _fail(where, "names a package too long to keep")
            package = package or found
    if image is None and package is None and ident and not ident.startswith("pkg:"):
        image = _image_from_reference(ident, path)
    if image is None and package is None:
        for key, algorithm in _IMAGE_HASHES.items():
            if key in hashes:
                image = Image(digest=f"{algorithm}:{hashes[key]}")
                break
    return Component(id=ident, image=image, package=package, identifiers=identifiers, hashes=hashes)


def _statement(value: Any, path: str, count: list[int]) -> Statement:
    obj = _object(value, path, _STATEMENT_KEYS)
    _text(obj, "@id", path, limit=MAX_IDENTIFIER)
    _integer(obj, "version", path, minimum=0, required=False)
    if "vulnerability" not in obj:
        raise _fail(f"{path}.vulnerability", "is required")
    vpath = f"{path}.vulnerability"
    if isinstance(obj["vulnerability"], str):
        raise _fail(vpath, "must be an object with a name (OpenVEX 0.2.0)")
    vulnerability = _object(obj["vulnerability"], vpath, _VULNERABILITY_KEYS)
    name = _text(vulnerability, "name", vpath, required=True, limit=MAX_ADVISORY_ID).strip()
    if not ADVISORY_ID.fullmatch(name):
        raise _fail(f"{vpath}.name", f"{name!r} is not a vulnerability identifier")
    _text(vulnerability, "@id", vpath, limit=MAX_IDENTIFIER)
    _text(vulnerability, "description", vpath)
    aliases: list[str] = []
    raw_aliases = vulnerability.get("aliases", [])
    if not isinstance(raw_aliases, list) or len(raw_aliases) > 100:
        raise _fail(f"{vpath}.aliases", "must be a list of at most 100 strings")
    for i, alias in enumerate(raw_aliases):
        if not isinstance(alias, str) or not ADVISORY_ID.fullmatch(alias) or len(alias) > 100:
            raise _fail(f"{vpath}.aliases[{i}]", "is not a vulnerability identifier")
        aliases.append(alias)

    if "status" not in obj:
        raise _fail(f"{path}.status", "is required")
    status = obj["status"]
    if status not in STATUSES:
        raise _fail(f"{path}.status", f"{str(status)[:40]!r} is not one of {', '.join(STATUSES)}")
    justification = _text(obj, "justification", path, limit=60)
    if justification and justification not in JUSTIFICATIONS:
        raise _fail(
            f"{path}.justification",
            f"{justification!r} is not one of {', '.join(JUSTIFICATIONS)}",
        )
    impact = _text(obj, "impact_statement", path)
    action = _text(obj, "action_statement", path)
    if status == "not_affected" and not justification and not impact.strip():
        raise _fail(path, "a not_affected statement needs a justification or impact_statement")
    if status != "not_affected" and justification:
        raise _fail(f"{path}.justification", "is only for not_affected statements")
    if status == "affected" and not action.strip():
        raise _fail(path, "an affected statement needs an action_statement")
    _time(obj, "action_statement_timestamp", path)
    _text(obj, "supplier", path, limit=MAX_IDENTIFIER)
    notes = _text(obj, "status_notes", path)
    timestamp = _time(obj, "timestamp", path)
    _time(obj, "last_updated", path)

    raw_products = obj.get("products")
    if not isinstance(raw_products, list) or not raw_products:
        raise _fail(f"{path}.products", "must be a non-empty list (nothing else names them)")
    products: list[Product] = []
    for i, raw in enumerate(raw_products):
        ppath = f"{path}.products[{i}]"
        component = _component(raw, ppath, _PRODUCT_KEYS)
        subs: list[Component] = []
        raw_subs = raw.get("subcomponents", [])
        if not isinstance(raw_subs, list):
            raise _fail(f"{ppath}.subcomponents", "must be a list")
        count[0] += 1 + len(raw_subs)
        if count[0] > MAX_COMPONENTS:
            raise _fail(path, f"names more than {MAX_COMPONENTS} products and subcomponents")
        for j, sub in enumerate(raw_subs):
            subs.append(_component(sub, f"{ppath}.subcomponents[{j}]", _COMPONENT_KEYS))
        products.append(Product(component=component, subcomponents=tuple(subs)))
    return Statement(
        advisory_id=name,
        status=status,
        products=tuple(products),
        aliases=tuple(aliases),
        justification=justification,
        impact_statement=impact,
        action_statement=action,
        status_notes=notes,
        timestamp=timestamp,
        id=str(obj.get("@id", "")),
    )


def parse(data: bytes | str) -> Document:
    """Read an OpenVEX 0.2.0 document; raise :class:`VexDocumentError` saying what and
    where for anything the specification (or the limits above) does not allow."""
    obj = _object(load(data), "", _DOCUMENT_KEYS)
    if "@context" not in obj:
        raise _fail("@context", "is required")
    context = obj["@context"]
    if context not in CONTEXTS:
        raise _fail("@context", f"{str(context)[:80]!r} is not OpenVEX 0.2.0 ({CONTEXT})")
    ident = _text(obj, "@id", "", required=True, limit=MAX_IDENTIFIER)
    author = _text(obj, "author", "", required=True, limit=MAX_IDENTIFIER)
    timestamp = _time(obj, "timestamp", "", required=True)
    assert timestamp is not None
    version = _integer(obj, "version", "", minimum=1, required=True)
    raw = obj.get("statements")
    if not isinstance(raw, list):
        raise _fail("statements", "is required and must be a list")
    if len(raw) > MAX_STATEMENTS:
        raise _fail("statements", f"has more than {MAX_STATEMENTS} statements")
    statements = tuple(_statement(s, f"statements[{i}]", [0]) for i, s in enumerate(raw))
    return Document(
        id=ident,
        author=author,
        timestamp=timestamp,
        version=version,
        statements=statements,
        role=_text(obj, "role", "", limit=MAX_IDENTIFIER),
        last_updated=_time(obj, "last_updated", ""),
        tooling=_text(obj, "tooling", "", limit=MAX_IDENTIFIER),
    )


# --- writing --------------------------------------------------------------------------------


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _component_json(component: Component) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if component.image is not None:
        out["@id"] = image_purl(component.image)
    elif component.package is not None:
        out["@id"] = package_purl(component.package)
    elif component.id:
        out["@id"] = component.id
    if component.identifiers:
        out["identifiers"] = dict(component.identifiers)
    hashes = dict(component.hashes)
    if component.image is not None and component.image.digest:
        algorithm, _, hexa = component.image.digest.partition(":")
        hashes.setdefault("sha-256" if algorithm == "sha256" else "sha-512", hexa)
    if hashes:
        out["hashes"] = hashes
    return out


def to_json(document: Document) -> dict[str, Any]:
    """The document as OpenVEX 0.2.0 JSON (what :func:`parse` reads back unchanged)."""
    statements = []
    for s in document.statements:
        item: dict[str, Any] = {"vulnerability": {"name": s.advisory_id}}
        if s.id:
            item["@id"] = s.id
        if s.aliases:
            item["vulnerability"]["aliases"] = list(s.aliases)
        if s.timestamp is not None:
            item["timestamp"] = _stamp(s.timestamp)
        products = []
        for p in s.products:
            product = _component_json(p.component)
            if p.subcomponents:
                product["subcomponents"] = [_component_json(c) for c in p.subcomponents]
            products.append(product)
        item["products"] = products
        item["status"] = s.status
        for key in ("justification", "impact_statement", "action_statement", "status_notes"):
            if getattr(s, key):
                item[key] = getattr(s, key)
        statements.append(item)
    out: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": document.id,
        "author": document.author,
    }
    if document.role:
        out["role"] = document.role
    out["timestamp"] = _stamp(document.timestamp)
    if document.last_updated is not None:
        out["last_updated"] = _stamp(document.last_updated)
    out["version"] = document.version
    if document.tooling:
        out["tooling"] = document.tooling
    out["statements"] = statements
    return out


def serialise(document: Document) -> bytes:
    """The document's bytes: UTF-8 JSON in a fixed key order, so the same document always
    gives the same bytes and digest (it is pushed by digest as an OCI referrer)."""
    return json.dumps(to_json(document), ensure_ascii=False, indent=2).encode() + b"\n"


def document_id(base: str, *parts: str) -> str:
    """An IRI for a document the store writes: ``base`` and path parts, each quoted."""
    return base.rstrip("/") + "/" + "/".join(quote(p, safe="") for p in parts)
