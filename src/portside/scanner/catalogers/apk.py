"""Alpine packages (and Wolfi's, which use the same tool): apk's installed database.

``/lib/apk/db/installed`` (``/usr/lib/apk/db/installed`` on a merged /usr) holds one
paragraph per package, separated by blank lines, each line a one-letter key, a colon and
the value: ``P`` name, ``V`` version, ``A`` architecture, ``o`` origin (the source
package), ``L`` licence, ``m`` maintainer, ``U`` URL, and the owned files as ``F``
(a directory, relative to the root) followed by its ``R`` entries (file names in it).

The format is simple enough that a strict reader is short: a line that is not
``<letter>:<value>``, a NUL byte, a repeated name, version or architecture in one
paragraph, or a package without a valid name or version raises
``PackageDatabaseError`` rather than losing packages silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from portside.core.records import field, record
from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced, osrelease
from portside.scanner.catalogers.base import Context, Files, check_package_count, text_lines
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

DATABASES = claims.APK_DATABASES

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
_VERSION = re.compile(r"[A-Za-z0-9.+~_-]+")
_SINGLE = frozenset("PVAoLmUt")  # keys that a paragraph may give only once


@record(frozen=False)
class _Record:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.fields["P"], self.fields["V"], self.fields.get("A", ""))


class ApkCataloger:
    name = "apk"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.apk(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Iterable[Package]:
        for path in DATABASES:
            database = files.final(path)
            if database is None:
                continue
            records = parse_installed(database.data, path, limit=context.max_packages)
            since = introduced(files.history(path), _keys, final=(r.key for r in records))
            return [
                self._package(record, path, since.get(record.key, database.layer), context)
                for record in records
            ]
        return []

    def _package(self, record: _Record, path: str, layer: int, context: Context) -> Package:
        name, version = record.fields["P"], record.fields["V"]
        arch = record.fields.get("A", "")
        distro = context.distro
        qualifiers = {"arch": arch} if arch else {}
        if found := osrelease.qualifier(distro):
            qualifiers["distro"] = found
        purl = purls.build(
            type="apk",
            namespace=distro.id if distro else "alpine",
            name=name,
            version=version,
            qualifiers=qualifiers,
        )
        licence = record.fields.get("L", "").strip()
        return Package(
            type="apk",
            name=name,
            version=version,
            purl=purl,
            cataloger=self.name,
            layer=context.layer_digest(layer),
            paths=(path,),
            source_name=record.fields.get("o", "") or name,
            source_version=version,
            licenses=(licence,) if licence else (),
            files=tuple(record.files),
            metadata={
                "architecture": arch,
                "origin": record.fields.get("o", ""),
                "maintainer": record.fields.get("m", ""),
                "url": record.fields.get("U", ""),
            },
        )


def _keys(data: bytes) -> Iterator[tuple[str, str, str]]:
    return (record.key for record in parse_installed(data))


def parse_installed(
    data: bytes, path: str = DATABASES[0], *, limit: int | None = None
) -> list[_Record]:
    """Every package paragraph of an apk ``installed`` file (``TooManyPackages`` past
    ``limit`` of them)."""
    if b"\0" in data:
        raise PackageDatabaseError(f"{path} is not a text file (it has NUL bytes)")
    records: list[_Record] = []
    current = _Record()
    directory: str | None = None
    for number, raw in enumerate(text_lines(data.decode("utf-8", errors="replace")), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if current.fields or current.files:
                records.append(_finished(current, path))
                check_package_count(len(records), limit, path)
            current, directory = _Record(), None
            continue
        if len(line) < 2 or line[1] != ":" or not line[0].isascii() or not line[0].isalpha():
            raise PackageDatabaseError(f"{path}: line {number} is not a field: {line!r:.80}")
        key, value = line[0], line[2:]
        if not current.fields and not current.files:
            current.line = number
        if key in _SINGLE and key in current.fields:
            raise PackageDatabaseError(f"{path}: line {number} repeats the field {key}")
        if key == "F":
            directory = value.strip("/")
            current.files.append("/" + directory)
        elif key == "R":
            current.files.append(f"/{directory}/{value}" if directory else f"/{value}")
        elif key in _SINGLE:
            current.fields[key] = value
    if current.fields or current.files:
        records.append(_finished(current, path))
        check_package_count(len(records), limit, path)
    return records


def _finished(record: _Record, path: str) -> _Record:
    name, version = record.fields.get("P", ""), record.fields.get("V", "")
    if not _NAME.fullmatch(name):
        raise PackageDatabaseError(
            f"{path}: the package at line {record.line} has no valid name: {name!r:.80}"
        )
    if not _VERSION.fullmatch(version):
        raise PackageDatabaseError(f"{path}: package {name} has no valid version: {version!r:.80}")
    return record
