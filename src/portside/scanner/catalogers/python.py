"""Installed Python distributions: ``*.dist-info/METADATA`` (wheels, modern pip),
``*.egg-info/PKG-INFO`` and ``*.egg-info`` files (setuptools and distutils), and
``EGG-INFO/PKG-INFO`` inside unpacked eggs.

These directories sit in a ``site-packages`` or ``dist-packages`` directory, or in any
directory ``pip install --target`` was pointed at, so the cataloger does not insist on the
parent's name: a ``NAME-VERSION.dist-info/METADATA`` anywhere is an installed distribution.
The files a distribution installed are read from its ``RECORD`` (or the
``installed-files.txt`` that pip writes beside a legacy ``egg-info``), resolved against the
directory holding the metadata.

Hostile input: ``parse_metadata`` and ``parse_record`` raise ``PythonMetadataError`` (a
``PackageDatabaseError``, so a ``ScanError``) with a message. ``catalog`` never raises: it
skips a file it cannot read and returns a ``Findings`` list whose ``warnings`` say which
file was skipped and why (a ``RECORD`` entry that climbs above the root, or holds control
characters, is dropped the same way). Free text kept from the metadata loses its control
characters, which a database cannot store. The language catalogers of this package
(python, npm, golang, java, ruby, binaries) all follow this rule.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from typing import NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

# A METADATA file carries the long description; a few MiB is generous for real ones.
MAX_METADATA_BYTES = claims.PYTHON_MAX_METADATA_BYTES
# botocore's RECORD, one of the largest on PyPI, is about 1 MiB.
MAX_RECORD_BYTES = claims.PYTHON_MAX_RECORD_BYTES
MAX_RECORD_ENTRIES = 500_000

# PEP 508 names; versions are kept as written (legacy ones are not PEP 440) but must be
# one short printable word.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,127}$")

# The trove classifiers most often used, mapped to their SPDX identifier; others are
# reported by their last segment ("License :: OSI Approved :: Zope Public License").
_CLASSIFIER_LICENSES = {
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD-3-Clause",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
}
_NOT_A_LICENSE = {"", "UNKNOWN", "UNKNOWN LICENSE", "NONE", "OTHER", "OTHER/PROPRIETARY LICENSE"}


class PythonMetadataError(PackageDatabaseError):
    """A METADATA, PKG-INFO or RECORD file that cannot be read as one."""


# A named tuple, not a frozen dataclass: a tenth of the cost to define, in every scan of
# an image with Python packages.
class Distribution(NamedTuple):
    """The fields of one distribution's core metadata that the inventory keeps."""

    name: str
    version: str
    licenses: tuple[str, ...]
    summary: str = ""
    home_page: str = ""
    requires_python: str = ""
    requires_dist: tuple[str, ...] = ()
    metadata_version: str = ""


# Control characters and lone surrogates (which JSON's \u escapes can produce) cannot be
# stored as text by the databases the inventory is kept in.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def _text(value: object) -> str:
    return _clean(value).strip() if isinstance(value, str) else ""


def _licenses(raw: dict[str, object]) -> tuple[str, ...]:
    """PEP 639's expression wins; then a short ``License`` (some projects paste the whole
    licence text there, which names nothing); then the classifiers."""
    expression = _text(raw.get("license_expression"))
    if expression:
        return (expression,)
    declared = _text(raw.get("license"))
    if declared and "\n" not in declared and len(declared) <= 100:
        if declared.upper() not in _NOT_A_LICENSE:
            return (declared,)
    found: list[str] = []
    classifiers = raw.get("classifiers")
    for classifier in classifiers if isinstance(classifiers, list) else ():
        parts = [part.strip() for part in str(classifier).split("::")]
        if len(parts) < 2 or parts[0] != "License" or parts[-1] == "OSI Approved":
            continue
        name = _CLASSIFIER_LICENSES.get(parts[-1], parts[-1])
        if name.upper() not in _NOT_A_LICENSE and name not in found:
            found.append(name)
    return tuple(found)


def parse_metadata(data: bytes) -> Distribution:
    """Read core metadata (the email-header format of METADATA and PKG-INFO)."""
    if len(data) > MAX_METADATA_BYTES:
        raise PythonMetadataError(f"metadata is {len(data)} bytes, over {MAX_METADATA_BYTES}")
    fields = header_fields(data)
    return _from_fields(_parse_email(data) if fields is None else fields)


def _from_fields(fields: dict[str, object]) -> Distribution:
    name = _text(fields.get("name"))
    version = _text(fields.get("version"))
    if not _NAME.match(name):
        raise PythonMetadataError(f"metadata has no valid Name (found {name[:80]!r})")
    if not _VERSION.match(version):
        raise PythonMetadataError(f"metadata has no valid Version (found {version[:80]!r})")
    requires = fields.get("requires_dist")
    return Distribution(
        name=name,
        version=version,
        licenses=_licenses(fields),
        summary=_text(fields.get("summary"))[:500],
        home_page=_text(fields.get("home_page"))[:500],
        requires_python=_text(fields.get("requires_python"))[:200],
        requires_dist=tuple(_clean(str(r))[:500] for r in requires[:1000])
        if isinstance(requires, list)
        else (),
        metadata_version=_text(fields.get("metadata_version")),
    )


def _parse_email(data: bytes) -> dict[str, object]:
    """The fields as packaging's ``parse_email`` reads them. It is lenient by design:
    undecodable or repeated fields land in ``unparsed`` rather than raising, so only the
    fields used are checked by the caller. Imported here, for the metadata
    ``header_fields`` leaves to it: packaging's metadata module and the email package cost
    30 ms to import, a seventh of a whole scan of a small image."""
    from packaging.metadata import parse_email

    try:
        raw, _unparsed = parse_email(data)
    except (ValueError, TypeError, LookupError) as error:
        raise PythonMetadataError(f"metadata is not in the email header format: {error}") from error
    return dict(raw)


# The fields ``parse_metadata`` reads, by their header names in lower case: the name
# ``parse_email`` gives each, and whether the field may be repeated (a list) or must
# appear once (a string; repeated, it is left out).
_FIELDS = {
    "metadata-version": ("metadata_version", False),
    "name": ("name", False),
    "version": ("version", False),
    "summary": ("summary", False),
    "home-page": ("home_page", False),
    "license": ("license", False),
    "license-expression": ("license_expression", False),
    "requires-python": ("requires_python", False),
    "classifier": ("classifiers", True),
    "requires-dist": ("requires_dist", True),
}
# A header line as the email parser recognises one: a name of printable ASCII (no
# space, no colon), then a colon.
_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]*:")


def header_fields(data: bytes) -> dict[str, object] | None:
    """The fields of ``parse_metadata``, read from the header as packaging's
    ``parse_email`` reads it through the email package (policy ``compat32``), or None
    for a header this reader leaves to ``parse_email``.

    The header is the lines up to the first empty line, or the first line that is neither
    a field nor a continuation (the email parser starts the body there). A field's value
    is the rest of its first line without leading blanks, then its continuation lines as
    written, without the final line break. A field with bytes that are not UTF-8 is left
    out, as is a string field given more than once. Left to ``parse_email``: a carriage
    return in the header, an mbox ``From `` line, a line that starts with a colon and a
    first line that is a continuation, which the email parser treats in ways of its own.
    """
    end = data.find(b"\n\n")  # the header ends there at the latest
    fields: dict[str, list[bytes]] = {}
    current: list[bytes] | None = None  # the lines of the field being read
    name = ""
    for line in (data if end < 0 else data[: end + 1]).split(b"\n"):
        if b"\r" in line:
            return None
        if not line:
            break  # the end of the header (or of the data)
        if line[0] in b" \t":
            if current is None:
                return None
            current.append(line)
            continue
        if line.startswith(b"From "):
            return None
        if current is not None:
            fields.setdefault(name, []).append(b"\n".join(current))
            current = None
        found = _HEADER.match(line)
        if found is None:
            break  # the body starts here
        if found.end() == 1:
            return None
        name = line[: found.end() - 1].decode("ascii").lower()
        current = [line[found.end() :].lstrip(b" \t")]
    if current is not None:
        fields.setdefault(name, []).append(b"\n".join(current))
    result: dict[str, object] = {}
    for header, values in fields.items():
        wanted = _FIELDS.get(header)
        if wanted is None:
            continue
        key, repeated = wanted
        try:
            texts = [value.decode("utf-8") for value in values]
        except UnicodeDecodeError:
            continue
        if repeated:
            result[key] = texts
        elif len(texts) == 1:
            result[key] = texts[0]
    return result


def normalized_name(name: str) -> str:
    """A distribution name normalised as PEP 503 says (runs of ``-``, ``_`` and ``.``
    become one ``-``, letters lower case): how the index and purls name it."""
    return _SEPARATORS.sub("-", name).lower()


_SEPARATORS = re.compile(r"[-_.]+")


def _resolve(base: str, entry: str) -> str | None:
    """Resolve a RECORD entry against the directory holding the metadata; None when it
    would climb above the image's root (a real RECORD's ``../../../bin/x`` stays inside)."""
    parts: list[str] = []
    start = entry if entry.startswith("/") else posixpath.join(base, entry)
    for part in start.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def parse_record(data: bytes, base: str) -> tuple[tuple[str, ...], list[str]]:
    """The absolute paths a RECORD (CSV) or installed-files.txt (one path a line) lists,
    and a note for each entry dropped because it escapes the root."""
    if len(data) > MAX_RECORD_BYTES:
        raise PythonMetadataError(f"file list is {len(data)} bytes, over {MAX_RECORD_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PythonMetadataError(f"file list is not UTF-8: {error}") from error
    paths: list[str] = []
    dropped: list[str] = []
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if number > MAX_RECORD_ENTRIES:
                raise PythonMetadataError(f"file list has more than {MAX_RECORD_ENTRIES} entries")
            if not row or not row[0].strip():
                continue
            if _UNSTORABLE.search(row[0]):
                dropped.append(f"entry {number} holds control characters")
                continue
            resolved = _resolve(base, row[0].strip())
            if resolved is None:
                dropped.append(f"entry {number} climbs above the root: {row[0][:200]!r}")
            else:
                paths.append(resolved)
    except csv.Error as error:
        raise PythonMetadataError(f"file list is not valid CSV: {error}") from error
    return tuple(dict.fromkeys(paths)), dropped


_DIST_INFO_SUFFIX = claims.PYTHON_DIST_INFO_SUFFIX
_EGG_INFO_SUFFIX = claims.PYTHON_EGG_INFO_SUFFIX
_is_metadata = claims.python_metadata


def _file_list(path: str) -> tuple[str, str] | None:
    """Where the list of installed files lives for this metadata file, and the directory
    its entries are relative to."""
    directory = posixpath.dirname(path)
    if path.endswith(_DIST_INFO_SUFFIX):
        return directory + "/RECORD", posixpath.dirname(directory)
    if path.endswith(_EGG_INFO_SUFFIX):
        return directory + "/installed-files.txt", directory
    return None


class PythonCataloger:
    """Python distributions installed with pip, setuptools or a distribution's packages."""

    name = "python"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.python(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not _is_metadata(current.path) or not self.claims(
                current.path, current.mode, len(current.data)
            ):
                continue
            try:
                package = self._package(current, files, context, found.warnings)
            except PythonMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
                continue
            found.append(package)
        return found

    def _package(
        self, current: FileVersion, files: Files, context: Context, warnings: list[str]
    ) -> Package:
        dist = parse_metadata(current.data)
        key = (normalized_name(dist.name), dist.version)
        since = introduced(files.history(current.path), _keys)
        owned: tuple[str, ...] = ()
        listing = _file_list(current.path)
        if listing is not None:
            record = files.final(listing[0])
            if record is not None:
                try:
                    owned, dropped = parse_record(record.data, listing[1])
                except PythonMetadataError as error:
                    warnings.append(f"{record.path}: {error}")
                else:
                    warnings.extend(f"{record.path}: {note}" for note in dropped)
        metadata: dict[str, object] = {
            "summary": dist.summary,
            "home_page": dist.home_page,
            "requires_python": dist.requires_python,
            "requires_dist": list(dist.requires_dist),
            "metadata_version": dist.metadata_version,
            "site": _site(current.path),
        }
        return Package(
            type="pypi",
            name=dist.name,
            version=dist.version,
            purl=purls.build(type="pypi", name=key[0], version=dist.version),
            cataloger=self.name,
            layer=context.layer_digest(since.get(key, current.layer)),
            paths=(current.path,),
            licenses=dist.licenses,
            files=owned,
            metadata={k: v for k, v in metadata.items() if v},
        )


def _keys(data: bytes) -> list[tuple[str, str]]:
    dist = parse_metadata(data)
    return [(normalized_name(dist.name), dist.version)]


def _site(path: str) -> str:
    """The directory the distribution is installed into (site-packages or a target)."""
    if path.endswith(".egg-info"):
        return posixpath.dirname(path)
    return posixpath.dirname(posixpath.dirname(path))
