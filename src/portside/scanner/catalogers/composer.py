"""PHP packages: those Composer installed into a ``vendor`` directory, and those an
application's ``composer.lock`` pins when its ``vendor`` directory is not in the image.

Composer records what it installed in ``vendor/composer/installed.json``: Composer 1
writes a bare list of package objects, Composer 2 an object whose ``packages`` holds
that list (with ``dev-package-names`` naming the development-only ones). Each package
has a ``name`` (``vendor/project``) and a ``version`` as the package's author tagged it
(``2.9.1``, ``v6.4.3``, ``dev-main``); both are reported as written, since that is the
spelling of the Packagist advisories and of the other scanners.

``composer.lock`` lists ``packages`` and ``packages-dev``. It is read only when no
``vendor/composer/installed.json`` sits beside it (in the project's ``vendor``): the
installed packages are then reported, and the lock file would count them twice. A lock
file inside a ``vendor`` directory belongs to an installed package's own project and is
not read.

Hostile input: the parsers raise ``ComposerMetadataError`` (a ``PackageDatabaseError``,
so a ``ScanError``) for a file over its size limit, one that is not JSON or not of
either shape, or one listing more than ``MAX_ENTRIES`` packages; entries of the wrong
type or with an invalid name or version are passed over. ``catalog`` never raises,
skips the file and returns a ``Findings`` list whose ``warnings`` name it and the reason.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.catalogers.jsonfile import clean, licenses, load_json
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

MAX_INSTALLED_BYTES = claims.COMPOSER_MAX_INSTALLED_BYTES
MAX_LOCK_BYTES = claims.COMPOSER_MAX_LOCK_BYTES
MAX_ENTRIES = 100_000

INSTALLED_SUFFIX = claims.COMPOSER_INSTALLED_SUFFIX
LOCK_FILE = claims.COMPOSER_LOCK_FILE

# Composer's package names are "vendor/project"; capitals survive in old packages.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# A version as tagged, or a branch ("dev-feature/x"): printable, no spaces.
_VERSION = re.compile(r"^[A-Za-z0-9][\x21-\x7e]{0,127}$")


class ComposerMetadataError(PackageDatabaseError):
    """An installed.json or composer.lock that cannot be read as one."""


# A named tuple, not a frozen dataclass: a tenth of the cost to define, in every scan of
# an image with Composer files.
class ComposerPackage(NamedTuple):
    name: str
    version: str
    dev: bool = False
    licenses: tuple[str, ...] = ()
    kind: str = ""  # Composer's "type": library, project, composer-plugin, ...

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


def _valid(name: object, version: object) -> bool:
    return (
        isinstance(name, str)
        and isinstance(version, str)
        and _NAME.match(name) is not None
        and _VERSION.match(version) is not None
    )


def _packages(
    entries: Iterable[Any], dev_names: frozenset[str], dev: bool
) -> list[ComposerPackage]:
    found: list[ComposerPackage] = []
    for count, entry in enumerate(entries, start=1):
        if count > MAX_ENTRIES:
            raise ComposerMetadataError(f"more than {MAX_ENTRIES} packages")
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not _valid(name, version):
            continue
        assert isinstance(name, str) and isinstance(version, str)
        kind = entry.get("type")
        found.append(
            ComposerPackage(
                name=name,
                version=version,
                dev=dev or name in dev_names,
                licenses=licenses(entry.get("license")),
                kind=clean(kind)[:100] if isinstance(kind, str) else "",
            )
        )
    return found


def _once(packages: Iterable[ComposerPackage]) -> list[ComposerPackage]:
    """Each (name, version) once; a package any non-development entry needs is not
    development-only."""
    found: dict[tuple[str, str], ComposerPackage] = {}
    for package in packages:
        known = found.get(package.key)
        if known is None or (known.dev and not package.dev):
            found[package.key] = package
    return list(found.values())


def parse_installed(data: bytes) -> list[ComposerPackage]:
    """The packages of a ``vendor/composer/installed.json`` in either format."""
    document = load_json(data, MAX_INSTALLED_BYTES, ComposerMetadataError)
    if isinstance(document, list):  # Composer 1
        return _once(_packages(document, frozenset(), False))
    if not isinstance(document, dict) or not isinstance(document.get("packages"), list):
        raise ComposerMetadataError("installed.json is neither a list nor an object of packages")
    declared = document.get("dev-package-names")
    dev_names = frozenset(
        n for n in (declared if isinstance(declared, list) else ()) if isinstance(n, str)
    )
    return _once(_packages(document["packages"], dev_names, False))


def parse_lock(data: bytes) -> list[ComposerPackage]:
    """The packages a ``composer.lock`` pins, development ones marked."""
    document = load_json(data, MAX_LOCK_BYTES, ComposerMetadataError)
    if not isinstance(document, dict):
        raise ComposerMetadataError("composer.lock is not a JSON object")
    found: list[ComposerPackage] = []
    for field, dev in (("packages", False), ("packages-dev", True)):
        listed = document.get(field)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise ComposerMetadataError(f"composer.lock's {field} is not a list")
        found.extend(_packages(listed, frozenset(), dev))
        if len(found) > MAX_ENTRIES:
            raise ComposerMetadataError(f"more than {MAX_ENTRIES} packages")
    return _once(found)


def purl(name: str, version: str) -> str:
    vendor, _, project = name.partition("/")
    return purls.build(type="composer", namespace=vendor or None, name=project, version=version)


_in_vendor = claims.in_vendor


class ComposerCataloger:
    """Installed Composer packages and the contents of ``composer.lock`` files."""

    name = "composer"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.composer(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            installed = current.path.endswith(INSTALLED_SUFFIX)
            if not installed and self._installed_beside(current.path, files):
                continue
            try:
                found.extend(self._packages(current, files, context, installed))
            except ComposerMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
        return found

    @staticmethod
    def _installed_beside(path: str, files: Files) -> bool:
        beside = posixpath.dirname(path).rstrip("/") + INSTALLED_SUFFIX
        return files.final(beside) is not None

    def _packages(
        self, current: FileVersion, files: Files, context: Context, installed: bool
    ) -> list[Package]:
        parse = parse_installed if installed else parse_lock
        packages = parse(current.data)

        def keys(data: bytes) -> list[tuple[str, str]]:
            listed = packages if data is current.data else parse(data)
            return [p.key for p in listed]

        since = introduced(files.history(current.path), keys)
        source = "installed" if installed else "lock_file"
        return [
            Package(
                type="composer",
                name=p.name,
                version=p.version,
                purl=purl(p.name, p.version),
                cataloger=self.name,
                layer=context.layer_digest(since.get(p.key, current.layer)),
                paths=(current.path,),
                licenses=p.licenses,
                metadata={"source": source, "dev": p.dev, **({"type": p.kind} if p.kind else {})},
            )
            for p in packages
        ]
