"""Debian packages: dpkg's database.

``/var/lib/dpkg/status`` lists every package dpkg knows, one deb822 paragraph each;
only those whose ``Status`` state is ``installed`` are in the image (``config-files``,
``half-installed`` and the like have left at most their configuration behind).
Distroless images have no status file but ``/var/lib/dpkg/status.d/<name>``, the
package's control paragraph without a ``Status`` field, beside ``<name>.md5sums``.

Owned files come from ``/var/lib/dpkg/info/<name>[:<arch>].list`` (or the md5sums of
status.d), licences from ``/usr/share/doc/<name>/copyright`` when it is machine-readable
(DEP-5: the ``License`` synopsis of each ``Files`` paragraph).

The status file is read in one pass over its lines, keeping only the current paragraph
and the fields the cataloger uses (a general deb822 parser kept every field of every
paragraph, several kilobytes a package), and every line is checked on the way: a general
parser skips what it does not understand, so a damaged database would silently lose
packages. A line that is neither a field, a continuation nor a paragraph break, a
repeated field, a NUL byte or an installed package without name or version raises
``PackageDatabaseError``; more installed packages than the image's ``max_packages``
raise ``TooManyPackages`` as soon as the count passes it. Owned-file lists and
copyright files are only informative: a damaged one is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced, osrelease
from portside.scanner.catalogers.base import (
    Context,
    Files,
    FileVersion,
    check_package_count,
    text_lines,
)
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.layers import resolve
from portside.scanner.model import Package

STATUS = claims.DPKG_STATUS
STATUS_D = claims.DPKG_STATUS_D
INFO = claims.DPKG_INFO
DOC = claims.DPKG_DOC
MAX_COPYRIGHT_BYTES = claims.DPKG_MAX_COPYRIGHT_BYTES

_FIELD = re.compile(r"(?![#-])[!-9;-~]+:")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.~_-]*")
_VERSION = re.compile(r"[A-Za-z0-9.+~:_-]+")
_SOURCE = re.compile(r"(\S+)(?:\s+\((\S+)\))?")
# The format's URL, and the draft's (DEP-5) that older files still name.
_DEP5 = re.compile(r"https?://\S*(copyright-format/1\.0|/deps/dep5)\S*", re.IGNORECASE)


# A named tuple, not a frozen dataclass: a tenth of the cost to define, in every scan of
# a Debian image.
class _Record(NamedTuple):
    name: str
    version: str
    architecture: str
    source_name: str
    source_version: str
    maintainer: str
    installed_size: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.architecture)


class DpkgCataloger:
    name = "dpkg"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.dpkg(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Iterable[Package]:
        databases = []
        status = files.final(STATUS)
        if status is not None:
            databases.append(status)
        databases.extend(
            v
            for v in files.present()
            if v.path.startswith(STATUS_D) and not v.path.endswith(".md5sums")
        )
        packages: list[Package] = []
        for database in databases:
            in_status_d = database.path != STATUS
            records = parse_status(
                database.data,
                database.path,
                status_d=in_status_d,
                limit=None
                if context.max_packages is None
                else context.max_packages - len(packages),
            )
            since = introduced(
                files.history(database.path),
                _keys(database.path, in_status_d),
                final=(r.key for r in records),
            )
            for record in records:
                packages.append(self._package(record, database, since, files, context))
        return packages

    def _package(
        self,
        record: _Record,
        database: FileVersion,
        since: dict[tuple[str, str, str], int],
        files: Files,
        context: Context,
    ) -> Package:
        distro = context.distro
        qualifiers = {"arch": record.architecture} if record.architecture else {}
        if found := osrelease.qualifier(distro):
            qualifiers["distro"] = found
        purl = purls.build(
            type="deb",
            namespace=distro.id if distro else "debian",
            name=record.name,
            version=record.version,
            qualifiers=qualifiers,
        )
        layer = since.get(record.key, database.layer)
        return Package(
            type="deb",
            name=record.name,
            version=record.version,
            purl=purl,
            cataloger=self.name,
            layer=context.layer_digest(layer),
            paths=(database.path,),
            source_name=record.source_name,
            source_version=record.source_version,
            licenses=_licenses(files, context, record.name),
            files=_owned(files, record, database),
            metadata={
                "architecture": record.architecture,
                "maintainer": record.maintainer,
                "installed_size": record.installed_size,
            },
        )


def _keys(path: str, status_d: bool) -> Callable[[bytes], Iterator[tuple[str, str, str]]]:
    def keys(data: bytes) -> Iterator[tuple[str, str, str]]:
        return (r.key for r in parse_status(data, path, status_d=status_d))

    return keys


def parse_status(
    data: bytes, path: str = STATUS, *, status_d: bool = False, limit: int | None = None
) -> list[_Record]:
    """The installed packages of a status file (or a status.d paragraph, which has no
    ``Status`` and is installed by being there). Past ``limit`` installed packages,
    ``TooManyPackages`` is raised."""
    records = []
    for fields in _paragraphs(data, path):
        status = fields.get("status", "").split()
        if status_d and not status:
            status = ["install", "ok", "installed"]
        if len(status) != 3:
            raise PackageDatabaseError(
                f"{path}: package {fields.get('package', '?').strip()!r:.80} has a malformed Status"
            )
        if status[2] != "installed":
            continue
        records.append(_record(fields, path))
        check_package_count(len(records), limit, path)
    return records


def _paragraphs(data: bytes, path: str) -> Iterator[dict[str, str]]:
    """Each paragraph's fields that the cataloger reads (names in lower case, values
    stripped, continuation lines kept after a newline), checking every line on the way.

    One pass over the text, keeping only the current paragraph: the deb822 grammar of a
    status file is simple, and a general parser kept every field of every paragraph.
    """
    if b"\0" in data:
        raise PackageDatabaseError(f"{path} is not a text file (it has NUL bytes)")
    text = data.decode("utf-8", errors="replace")
    seen: set[str] = set()
    fields: dict[str, str] = {}
    current = ""  # the wanted field the last line belongs to, or ""
    for number, line in enumerate(text_lines(text), 1):
        if not line.strip():
            if seen:
                yield {name: value.strip() for name, value in fields.items()}
            seen, fields, current = set(), {}, ""
        elif line[0] in " \t":
            if not seen:
                raise PackageDatabaseError(f"{path}: line {number} continues no field")
            if current:
                fields[current] += "\n" + line
        elif match := _FIELD.match(line):
            name = match.group()[:-1].lower()
            if name in seen:
                raise PackageDatabaseError(f"{path}: line {number} repeats the field {name!r}")
            seen.add(name)
            if name in _WANTED:
                fields[name], current = line[match.end() :].strip(), name
            else:
                current = ""
        else:
            raise PackageDatabaseError(f"{path}: line {number} is not a field: {line!r:.80}")
    if seen:
        yield {name: value.strip() for name, value in fields.items()}


_WANTED = frozenset(
    {"package", "status", "version", "architecture", "source", "maintainer", "installed-size"}
)


def _record(fields: dict[str, str], path: str) -> _Record:
    name = fields.get("package", "")
    version = fields.get("version", "")
    if not _NAME.fullmatch(name):
        raise PackageDatabaseError(f"{path}: an installed package has no valid name: {name!r:.80}")
    if not _VERSION.fullmatch(version):
        raise PackageDatabaseError(f"{path}: package {name} has no valid version: {version!r:.80}")
    source_name, source_version = name, version
    if source := fields.get("source", ""):
        match = _SOURCE.fullmatch(source)
        if match is None:
            raise PackageDatabaseError(f"{path}: package {name} has a malformed Source")
        source_name, source_version = match.group(1), match.group(2) or version
    return _Record(
        name=name,
        version=version,
        architecture=fields.get("architecture", ""),
        source_name=source_name,
        source_version=source_version,
        maintainer=fields.get("maintainer", ""),
        installed_size=fields.get("installed-size", ""),
    )


def _owned(files: Files, record: _Record, database: FileVersion) -> tuple[str, ...]:
    if database.path != STATUS:
        md5sums = files.final(database.path + ".md5sums")
        return _md5sums_paths(md5sums.data) if md5sums else ()
    for candidate in (
        f"{INFO}{record.name}:{record.architecture}.list",
        f"{INFO}{record.name}.list",
    ):
        listing = files.final(candidate)
        if listing is not None:
            return _list_paths(listing.data)
    return ()


def _list_paths(data: bytes) -> tuple[str, ...]:
    if b"\0" in data:
        return ()
    lines = data.decode("utf-8", errors="surrogateescape").splitlines()
    return tuple(line for line in lines if line.startswith("/") and line != "/.")


def _md5sums_paths(data: bytes) -> tuple[str, ...]:
    if b"\0" in data:
        return ()
    paths = []
    for line in data.decode("utf-8", errors="surrogateescape").splitlines():
        checksum, _, path = line.partition(" ")
        path = path.strip()
        if len(checksum) == 32 and path:
            paths.append("/" + path.lstrip("/"))
    return tuple(paths)


def _licenses(files: Files, context: Context, name: str) -> tuple[str, ...]:
    """The DEP-5 licence synopses, in the order the file gives them. The doc directory
    is often a link to another package's (``libfoo1 -> libfoo-common``)."""
    path = resolve(context.index, f"{DOC}{name}/copyright")
    found = files.final(path) if path else None
    if found is None or b"\0" in found.data:
        return ()
    return dep5_licenses(found.data.decode("utf-8", errors="replace"))


def dep5_licenses(text: str) -> tuple[str, ...]:
    """The ``License`` synopsis of each ``Files`` paragraph of a machine-readable
    copyright file; () when its first paragraph names no DEP-5 ``Format``.

    Only two fields of each paragraph matter, so this is a single scan over the lines
    rather than a full deb822 parse: copyright files carry whole licence texts, and a
    full parse of a few hundred of them costs seconds.
    """
    licenses: list[str] = []
    header: bool | None = None
    has_files, synopsis, seen = False, "", False
    for line in (*text.splitlines(), ""):
        if not line.strip():
            if seen:
                if header is None:
                    header = False
                elif has_files and synopsis and synopsis not in licenses:
                    licenses.append(synopsis)
                if header is False:
                    return ()
            has_files, synopsis, seen = False, "", False
            continue
        if line[0] in " \t#":
            continue
        key, colon, value = line.partition(":")
        if not colon:
            continue
        seen = True
        key = key.strip().lower()
        if header is None and key == "format":
            header = True if _DEP5.fullmatch(value.strip()) else False
        elif key == "files":
            has_files = True
        elif key == "license":
            synopsis = value.strip()
    return tuple(licenses)
