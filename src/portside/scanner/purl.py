"""Package URLs (purl-spec): building the text of one, and the canonical text of one read.

The catalogers name every package with a purl and the SBOM writers put each one in its
canonical form. ``packageurl`` (packageurl-python) is the reference for both: what
``build`` returns is what ``PackageURL(...).to_string()`` returns, and what ``canonical``
returns is what ``PackageURL.from_string(raw).to_string()`` returns, including the
library's own normalisation (a PyPI name lowercased with ``_`` as ``-``, a qualifier with
an empty value dropped, percent-escapes lowercased where a type's name is). The tests
hold this against the library on generated and hostile input.

They are written here because ``portside scan`` starts a process for every image: the
library's import (with ``dataclasses``, ``inspect`` and ``typing``) costs a cold process
about 15 ms, a sixth of a small image's scan. ``canonical`` reads the common shapes
itself and hands anything else (percent-escapes, fragments, a colon that could be read as
a URL scheme, unusual characters) to the library, imported then.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Types whose namespace, and whose name, the reference lowercases.
_LOWER_NAMESPACE = frozenset(
    ("bitbucket", "github", "pypi", "gitlab", "composer", "luarocks", "qpkg", "alpm", "apk", "hex")
)
_LOWER_NAME = frozenset(
    (
        *("bitbucket", "github", "pypi", "gitlab", "composer", "luarocks", "oci", "npm"),
        *("alpm", "apk", "bitnami", "hex", "pub"),
    )
)
_LOWER_VERSION = frozenset(("huggingface", "oci"))
_KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")

# Percent-encoding as urllib.parse.quote(text, safe="/") does it, with ":" left as it is.
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/:")
_ESCAPES = tuple(chr(b) if b in _SAFE else f"%{b:02X}" for b in range(256))
_PLAIN = re.compile(r"[A-Za-z0-9_.\-~/:]*")

# What ``canonical`` reads itself: "pkg:", a type, and a path and optional qualifiers of
# these characters and percent-escapes only: no "#" (no subpath), no space or control
# character (which URL splitting would strip or drop).
_SIMPLE = re.compile(
    r"pkg:/*([A-Za-z.\-_][A-Za-z0-9.\-_]*)/((?:[A-Za-z0-9_.\-~/:@+!*]|%[0-9A-Fa-f]{2})+)"
    r"(?:\?((?:[A-Za-z0-9_.\-~/:@+!*=&?]|%[0-9A-Fa-f]{2})*))?"
)
_ESCAPED = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_SCHEME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def quote(text: str) -> str:
    """Percent-encode ``text`` as UTF-8, leaving letters, digits, ``_.-~/:`` as they are.
    A lone surrogate cannot be encoded: ``UnicodeEncodeError``, a ``ValueError``."""
    if _PLAIN.fullmatch(text):
        return text
    return "".join([_ESCAPES[b] for b in text.encode("utf-8")])


def build(
    type: str,
    name: str,
    version: str | None = None,
    *,
    namespace: str | None = None,
    qualifiers: Mapping[str, str] | None = None,
    subpath: str | None = None,
) -> str:
    """The purl of these parts, normalised and encoded; ``ValueError`` when they make none
    (no type or name, a qualifier key that is not one)."""
    if not type or not name:
        raise ValueError("a purl needs a type and a name")
    kind = quote(type.strip().lower()).strip().lower()
    if not kind:
        raise ValueError("a purl needs a type")
    if kind in "mlflow":  # the reference's test is a substring one; its rule reads qualifiers
        from packageurl import PackageURL

        reference = PackageURL(type, namespace, name, version, dict(qualifiers or {}), subpath)
        return reference.to_string()
    parts = ["pkg:", kind, "/"]
    spaced = _namespace(namespace, kind)
    if spaced:
        parts += (spaced, "/")
    parts.append(_name(_name(name, kind, encode=False), kind, encode=True))
    if version:
        version = version.strip()
        if type in _LOWER_VERSION:
            version = version.lower()
        if version:
            version = quote(version)
            if kind in _LOWER_VERSION:
                version = version.lower()
            parts += ("@", version)
    if qualifiers:
        pairs = _qualifiers(qualifiers)
        if pairs:
            parts += ("?", "&".join(f"{key}={quote(value)}" for key, value in pairs))
    if subpath:
        segments = [quote(s) for s in subpath.split("/") if s.strip() and s not in (".", "..")]
        if segments:
            parts += ("#", "/".join(segments))
    return "".join(parts)


def canonical(raw: str) -> str | None:
    """The canonical text of the purl ``raw``, or None when it is not a purl."""
    if not isinstance(raw, str) or not raw.startswith("pkg:"):
        return None
    found = _SIMPLE.fullmatch(raw)
    if found is None or not _plainly_split(found[2]):
        return _canonical_by_reference(raw)
    kind, path, query = found[1].lower(), found[2], found[3]
    namespace = ""
    if kind == "npm" and path.startswith("@"):
        namespace, _, path = path.partition("/")
    rest, at, version = path.rpartition("@")
    if not at:
        rest, version = version, ""
    segments = [s for s in rest.strip("/").split("/") if s]
    if not namespace and len(segments) > 1:
        namespace = "/".join(segments[:-1])
        name = segments[-1]
    elif len(segments) == 1:
        name = segments[0]
    else:
        return None
    qualifiers: dict[str, str] = {}
    if query:
        for pair in query.split("&"):
            key, equals, value = pair.partition("=")
            if not equals:
                return None
            if key and value:  # a key is checked even if its value decodes to blanks
                key = key.lower()
                if key[0] in "0123456789" or any(c not in _KEY_CHARACTERS for c in key):
                    return None
                qualifiers[key] = value
    try:
        # Reading normalises the parts once, as the reference's reader does, before
        # ``build`` normalises them as given and then encodes them.
        return build(
            kind,
            _name(_unquote(name), kind, encode=False),
            _unquote(version) or None,
            namespace=_namespace_pass(_unquote(namespace), kind, encode=False) or None,
            qualifiers={key: _unquote(value) for key, value in qualifiers.items()},
        )
    except UnicodeDecodeError:  # escapes that are not UTF-8: the reference's replacement
        return _canonical_by_reference(raw)
    except ValueError:
        return None


def _unquote(text: str) -> str:
    """Percent-escapes decoded, as UTF-8; ``UnicodeDecodeError`` when they are not."""
    if "%" not in text:
        return text
    return _ESCAPED.sub(lambda run: bytes.fromhex(run[0].replace("%", "")).decode(), text)


def _plainly_split(path: str) -> bool:
    """Whether URL splitting leaves ``path`` (the part after the type) whole: it would take
    what precedes a first colon for a scheme when that is all scheme characters, and a
    leading "//" for an authority."""
    if path.startswith("/"):
        return False
    colon = path.find(":")
    if colon < 0:
        return True
    head = path[:colon]
    return (
        not head
        or not (head[0].isascii() and head[0].isalpha())
        or any(c not in _SCHEME_CHARACTERS for c in head)
    )


def _canonical_by_reference(raw: str) -> str | None:
    from packageurl import PackageURL  # the shapes the fast path does not read

    try:
        return PackageURL.from_string(raw).to_string()
    except ValueError:  # also UnicodeError: a lone surrogate cannot be percent-encoded
        return None


def _namespace(namespace: str | None, kind: str) -> str:
    """The reference's two passes: once as the parts are given, once encoding them."""
    return _namespace_pass(_namespace_pass(namespace or "", kind, encode=False), kind, encode=True)


def _namespace_pass(namespace: str, kind: str, *, encode: bool) -> str:
    namespace = namespace.strip().strip("/")
    if kind in _LOWER_NAMESPACE:
        namespace = namespace.lower()
    if kind in "cpan":  # the reference's test is a substring one
        namespace = namespace.upper()
    segments = [s for s in namespace.split("/") if s.strip()]
    return "/".join(quote(s) for s in segments) if encode else "/".join(segments)


def _name(name: str, kind: str, *, encode: bool) -> str:
    if encode:
        name = quote(name)
    name = name.strip().strip("/")
    if kind in _LOWER_NAME:
        name = name.lower()
    if kind == "pypi":
        name = name.replace("_", "-")
    elif kind == "hackage":
        name = name.replace("_", "-")
    elif kind == "pub":
        name = re.sub(r"[^a-z0-9]", "_", name)
    if not name:
        raise ValueError("a purl needs a name")
    return name


def _qualifiers(qualifiers: Mapping[str, str]) -> list[tuple[str, str]]:
    kept: dict[str, str] = {}
    for key, value in qualifiers.items():
        if key and key.strip() and value and value.strip():
            kept[key.strip().lower()] = value
    for key in kept:
        if key[0] in "0123456789" or any(c not in _KEY_CHARACTERS for c in key):
            raise ValueError(f"{key!r} is not a purl qualifier key")
    return sorted(kept.items())
