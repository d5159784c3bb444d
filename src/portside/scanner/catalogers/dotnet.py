""".NET packages: the NuGet packages an application's ``*.deps.json`` says it was built
with.

``dotnet publish`` writes ``APP.deps.json`` beside the application's assemblies. Its
``libraries`` object is keyed ``Name/Version``; entries of ``"type": "package"`` are
NuGet packages (``project`` entries are the application's own projects, ``reference``
entries assemblies referenced directly, neither of them published packages). Each is
reported as ``pkg:nuget/Name@Version`` with the name as written (NuGet compares names
without regard to case) and, in ``metadata``, whether the runtime target lists it (a
package only the build needed is listed in ``libraries`` but not there) and the
``sha512`` of the package.

Assemblies themselves (version resources in ``.dll`` files) are not read: other
scanners disagree on what package, if any, an assembly stands for.

Hostile input: ``parse_deps`` raises ``DotnetMetadataError`` (a ``PackageDatabaseError``,
so a ``ScanError``) for a file over its size limit, one that is not JSON, not an object,
or whose ``libraries`` is not an object, or one with more than ``MAX_LIBRARIES``
libraries; a library whose key or entry has the wrong shape is passed over. ``catalog``
never raises, skips the file and returns a ``Findings`` list whose ``warnings`` name it
and the reason.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.catalogers.jsonfile import clean, load_json
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

MAX_DEPS_BYTES = claims.DOTNET_MAX_DEPS_BYTES
MAX_LIBRARIES = 100_000
SUFFIX = claims.DOTNET_SUFFIX

# NuGet package ids: letters, digits, ".", "_" and "-", at most 100 characters.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
# NuGet versions: SemVer 2 with up to four numbers, a prerelease label, build metadata.
_VERSION = re.compile(
    r"^[0-9]{1,9}(?:\.[0-9]{1,9}){0,3}(?:-[0-9A-Za-z.-]{1,100})?(?:\+[0-9A-Za-z.-]{1,100})?$"
)


class DotnetMetadataError(PackageDatabaseError):
    """A deps.json that cannot be read as one."""


# A named tuple, not a frozen dataclass: a tenth of the cost to define, in every scan of
# an image with .NET files.
class Library(NamedTuple):
    name: str
    version: str
    sha512: str = ""
    runtime: bool = False  # listed by the runtime target

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)


def _runtime_keys(document: dict[str, Any]) -> frozenset[str]:
    """The ``Name/Version`` keys of the runtime target (or, without one, of every
    target)."""
    targets = document.get("targets")
    if not isinstance(targets, dict):
        return frozenset()
    declared = document.get("runtimeTarget")
    wanted = declared.get("name") if isinstance(declared, dict) else None
    chosen = (
        [targets[wanted]] if isinstance(wanted, str) and wanted in targets else targets.values()
    )
    return frozenset(key for target in chosen if isinstance(target, dict) for key in target)


def parse_deps(data: bytes) -> list[Library]:
    """The NuGet packages of a ``*.deps.json``."""
    document = load_json(data, MAX_DEPS_BYTES, DotnetMetadataError)
    if not isinstance(document, dict):
        raise DotnetMetadataError("deps.json is not a JSON object")
    libraries = document.get("libraries", {})
    if not isinstance(libraries, dict):
        raise DotnetMetadataError("deps.json's libraries is not an object")
    if len(libraries) > MAX_LIBRARIES:
        raise DotnetMetadataError(f"deps.json lists more than {MAX_LIBRARIES} libraries")
    runtime = _runtime_keys(document)
    found: list[Library] = []
    for key, entry in libraries.items():
        if not isinstance(entry, dict) or entry.get("type") != "package":
            continue
        name, _, version = key.partition("/")
        if _NAME.match(name) is None or _VERSION.match(version) is None:
            continue
        sha512 = entry.get("sha512")
        found.append(
            Library(
                name=name,
                version=version,
                sha512=clean(sha512)[:200] if isinstance(sha512, str) else "",
                runtime=key in runtime,
            )
        )
    return found


def purl(name: str, version: str) -> str:
    return purls.build(type="nuget", name=name, version=version)


class DotnetCataloger:
    """NuGet packages listed by ``*.deps.json`` files."""

    name = "dotnet"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.dotnet(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            try:
                found.extend(self._packages(current, files, context))
            except DotnetMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
        return found

    def _packages(self, current: FileVersion, files: Files, context: Context) -> list[Package]:
        libraries = parse_deps(current.data)

        def keys(data: bytes) -> list[tuple[str, str]]:
            listed = libraries if data is current.data else parse_deps(data)
            return [library.key for library in listed]

        since = introduced(files.history(current.path), keys)
        return [
            Package(
                type="nuget",
                name=library.name,
                version=library.version,
                purl=purl(library.name, library.version),
                cataloger=self.name,
                layer=context.layer_digest(since.get(library.key, current.layer)),
                paths=(current.path,),
                metadata={
                    "runtime": library.runtime,
                    **({"sha512": library.sha512} if library.sha512 else {}),
                },
            )
            for library in libraries
        ]
