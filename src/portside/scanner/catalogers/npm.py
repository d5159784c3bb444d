"""JavaScript packages: installed ones from ``node_modules``, and the dependencies an
application's lock file names when its ``node_modules`` is not in the image.

An installed package is the ``package.json`` at the root of a ``node_modules/NAME`` or
``node_modules/@SCOPE/NAME`` directory, at any depth of nesting (npm nests a second copy
of a dependency when two versions are needed). ``package.json`` files deeper inside a
package (``lib/package.json`` holding only ``{"type": "module"}``) are not claimed. Outside
``node_modules`` a ``package.json`` with a name and a version is a package too (a
global install outside the usual prefix, an application shipped as a package, the
image's application itself), ``private`` or not, as other scanners list it; a private one
has ``metadata["private"]``. A manifest with no name or no version names no package.

Lock files (``package-lock.json`` and ``npm-shrinkwrap.json`` in versions 1 to 3,
``yarn.lock`` from yarn 1 and later, ``pnpm-lock.yaml`` in formats 5 to 9) are read only
when no ``node_modules`` sits beside them; otherwise the installed packages are reported
and the lock file would count them twice. A lock file entry that is not a registry package
(a link to a workspace, a git or file dependency) is left out, since it has no version to
match against advisories.

Hostile input: the parsers raise ``NpmMetadataError`` (a ``PackageDatabaseError``, so a
``ScanError``) with a message: a file over its size limit is refused before it is decoded,
JSON nested too deeply and YAML of any shape are refused rather than crash the parser
(YAML aliases stay shared references, so a "billion laughs" document costs nothing).
``catalog`` never raises, skips the file and returns a ``Findings`` list whose
``warnings`` name the file and the reason.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

MAX_MANIFEST_BYTES = claims.NPM_MAX_MANIFEST_BYTES
# Lock files of large monorepos reach tens of MiB.
MAX_LOCK_BYTES = claims.NPM_MAX_LOCK_BYTES
MAX_LOCK_ENTRIES = 200_000

LOCK_FILES = claims.NPM_LOCK_FILES

# npm's rules for names (at most 214 characters, URL-safe); capitals are allowed because
# packages published before the rule existed still carry them.
_NAME = re.compile(r"^(?:@[A-Za-z0-9~-][A-Za-z0-9._~-]*/)?[A-Za-z0-9~_-][A-Za-z0-9._~-]*$")
# A registry version is semver; a git, file or URL "version" does not match.
_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]{1,100})?$")
_YARN_VERSION = re.compile(r'^ {2}version:? "?([^"\s]{1,128})"?\s*$')


class NpmMetadataError(PackageDatabaseError):
    """A package.json or lock file that cannot be read as one."""


# The records below are named tuples, not frozen dataclasses: this module is loaded by
# scans of images that have npm files, and a named tuple costs a tenth as much to define.


class Manifest(NamedTuple):
    """What the inventory keeps of a package.json."""

    name: str
    version: str
    private: bool
    licenses: tuple[str, ...]
    description: str = ""


class Locked(NamedTuple):
    """One package a lock file pins."""

    name: str
    version: str
    dev: bool


# Control characters and lone surrogates (which JSON's \u escapes can produce) cannot be
# stored as text by the databases the inventory is kept in.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def _load_json(data: bytes, limit: int) -> Any:
    if len(data) > limit:
        raise NpmMetadataError(f"file is {len(data)} bytes, over {limit}")
    try:
        return json.loads(data)
    except RecursionError as error:
        raise NpmMetadataError("JSON is nested too deeply") from error
    except ValueError as error:  # JSONDecodeError, bad UTF-8, numbers too long
        raise NpmMetadataError(f"not valid JSON: {error}") from error


def _valid(name: object, version: object) -> bool:
    return (
        isinstance(name, str)
        and isinstance(version, str)
        and len(name) <= 214
        and _NAME.match(name) is not None
        and _VERSION.match(version) is not None
    )


def _licenses(document: dict[str, Any]) -> tuple[str, ...]:
    """``license`` as a string (SPDX) or, in old packages, an object or a ``licenses``
    list of objects or strings."""
    found: list[str] = []
    declared = document.get("license")
    entries = document.get("licenses")
    candidates = [declared, *(entries if isinstance(entries, list) else ())]
    for candidate in candidates:
        value = candidate.get("type") if isinstance(candidate, dict) else candidate
        value = _clean(value).strip() if isinstance(value, str) else ""
        if 0 < len(value) <= 200 and value not in found:
            found.append(value)
    return tuple(found)


def parse_manifest(data: bytes) -> Manifest | None:
    """A package.json's package, or None when it names none (no name or no version: a
    ``{"type": "module"}`` marker or a build tool's configuration)."""
    document = _load_json(data, MAX_MANIFEST_BYTES)
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise NpmMetadataError(f"package.json holds a JSON {kind}, not an object")
    name, version = document.get("name"), document.get("version")
    if name is None or version is None or name == "" or version == "":
        return None
    if not _valid(name, version):
        raise NpmMetadataError(f"invalid name or version: {str(name)[:80]!r} {str(version)[:80]!r}")
    description = document.get("description")
    return Manifest(
        name=str(name),
        version=str(version),
        private=document.get("private") is True,
        licenses=_licenses(document),
        description=_clean(description)[:500] if isinstance(description, str) else "",
    )


def _alias(name: str, version: str) -> tuple[str, str]:
    """npm writes an aliased dependency (``"x": "npm:real@1.2.3"``) with the real name in
    the version; the package is the real one."""
    if version.startswith("npm:"):
        real = version[4:]
        at = real.rfind("@")
        if at > 0:
            return real[:at], real[at + 1 :]
    return name, version


def _package_lock(document: Any) -> Iterator[Locked]:
    if not isinstance(document, dict):
        raise NpmMetadataError("lock file is not a JSON object")
    packages = document.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        for key, entry in packages.items():
            if "node_modules/" not in key or not isinstance(entry, dict) or entry.get("link"):
                continue  # the project itself, a workspace member, or a link to one
            default = key.rsplit("node_modules/", 1)[1]
            name, version = _alias(str(entry.get("name") or default), str(entry.get("version")))
            yield Locked(name, version, bool(entry.get("dev") or entry.get("devOptional")))
        return
    dependencies = document.get("dependencies")
    # lockfileVersion 1: a tree of "dependencies", walked without recursion.
    stack = [dependencies] if isinstance(dependencies, dict) else []
    while stack:
        level = stack.pop()
        for key, entry in level.items():
            if not isinstance(entry, dict):
                continue
            name, version = _alias(str(key), str(entry.get("version")))
            yield Locked(name, version, bool(entry.get("dev")))
            nested = entry.get("dependencies")
            if isinstance(nested, dict):
                stack.append(nested)


def _yarn_name(spec: str) -> str:
    spec = spec.strip().strip('"')
    if "@npm:" in spec:
        spec = spec.split("@npm:", 1)[1]
    at = spec.rfind("@")
    return spec[:at] if at > 0 else spec


def _yarn_classic(text: str) -> Iterator[Locked]:
    """yarn 1's own format: unindented lines list the specs an entry satisfies, the
    indented ``version`` line below pins it."""
    name = ""
    for line in text.splitlines():
        if len(line) > 100_000:
            raise NpmMetadataError("yarn.lock has a line longer than 100000 characters")
        if not line or line.startswith("#"):
            continue
        if not line[0].isspace():
            if not line.rstrip().endswith(":"):
                raise NpmMetadataError(f"yarn.lock entry line does not end with ':': {line[:80]!r}")
            name = _yarn_name(line.rstrip()[:-1].split(",")[0])
            continue
        match = _YARN_VERSION.match(line)
        if match and name:
            yield Locked(name, match.group(1), False)
            name = ""


def _load_yaml(text: str) -> Any:
    import yaml  # only for pnpm lock files: not loaded by scans that have none

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except RecursionError as error:
        raise NpmMetadataError("YAML is nested too deeply") from error
    except (yaml.YAMLError, ValueError) as error:
        raise NpmMetadataError(f"not valid YAML: {str(error)[:200]}") from error


def _yarn_berry(text: str) -> Iterator[Locked]:
    """yarn 2 and later write YAML; each entry's ``resolution`` is ``name@npm:version``."""
    document = _load_yaml(text)
    if not isinstance(document, dict):
        raise NpmMetadataError("yarn.lock is not a YAML mapping")
    for key, entry in document.items():
        if key == "__metadata" or not isinstance(entry, dict):
            continue
        resolution = entry.get("resolution")
        if isinstance(resolution, str) and "@npm:" in resolution:
            name, version = resolution.rsplit("@npm:", 1)
            yield Locked(name, version, False)


def _pnpm_key(key: str, major: int) -> tuple[str, str] | None:
    """``/name/1.2.3_peer`` (format 5), ``/name@1.2.3(peer)`` (6) or ``name@1.2.3`` (9)."""
    key = key.lstrip("/").split("(", 1)[0]
    if major >= 6:
        at = key.rfind("@")
        return (key[:at], key[at + 1 :]) if at > 0 else None
    slash = key.rfind("/")
    if slash <= 0:
        return None
    return key[:slash], key[slash + 1 :].split("_", 1)[0]


def _pnpm(text: str) -> Iterator[Locked]:
    document = _load_yaml(text)
    if not isinstance(document, dict):
        raise NpmMetadataError("pnpm-lock.yaml is not a YAML mapping")
    declared = str(document.get("lockfileVersion", "5"))
    major_text = declared.strip("'\"").split(".", 1)[0]
    major = int(major_text) if major_text.isdigit() and len(major_text) < 4 else 5
    packages = document.get("packages")
    if not isinstance(packages, dict):
        return
    for key, entry in packages.items():
        entry = entry if isinstance(entry, dict) else {}
        pinned = entry.get("name"), entry.get("version")
        if isinstance(pinned[0], str) and isinstance(pinned[1], str):
            yield Locked(pinned[0], pinned[1], entry.get("dev") is True)
            continue
        parsed = _pnpm_key(str(key), major)
        if parsed is not None:
            yield Locked(parsed[0], parsed[1], entry.get("dev") is True)


def parse_lock(data: bytes, filename: str) -> list[Locked]:
    """The registry packages a lock file pins, once each (a package that any
    non-development dependency needs is not development-only)."""
    if len(data) > MAX_LOCK_BYTES:
        raise NpmMetadataError(f"lock file is {len(data)} bytes, over {MAX_LOCK_BYTES}")
    if filename in ("package-lock.json", "npm-shrinkwrap.json"):
        entries = _package_lock(_load_json(data, MAX_LOCK_BYTES))
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NpmMetadataError(f"lock file is not UTF-8: {error}") from error
        if filename == "pnpm-lock.yaml":
            entries = _pnpm(text)
        elif "\n__metadata:" in text or text.startswith("__metadata:"):
            entries = _yarn_berry(text)
        else:
            entries = _yarn_classic(text)
    found: dict[tuple[str, str], Locked] = {}
    for count, entry in enumerate(entries, start=1):
        if count > MAX_LOCK_ENTRIES:
            raise NpmMetadataError(f"lock file has more than {MAX_LOCK_ENTRIES} entries")
        if not _valid(entry.name, entry.version):
            continue
        known = found.get((entry.name, entry.version))
        if known is None or (known.dev and not entry.dev):
            found[(entry.name, entry.version)] = entry
    return list(found.values())


def _purl(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return purls.build(type="npm", namespace=scope or None, name=bare, version=version)


_in_node_modules = claims.in_node_modules
_package_root = claims.npm_package_root


class NpmCataloger:
    """Installed npm packages and the contents of JavaScript lock files."""

    name = "npm"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.npm(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            basename = current.path.rpartition("/")[2]
            try:
                if basename == "package.json":
                    package = self._installed(current, files, context)
                    if package is not None:
                        found.append(package)
                elif not self._installed_beside(current.path, files, context):
                    found.extend(self._locked(current, basename, files, context))
            except NpmMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
        return found

    def _installed(self, current: FileVersion, files: Files, context: Context) -> Package | None:
        manifest = parse_manifest(current.data)
        if manifest is None:
            return None
        key = (manifest.name, manifest.version)
        since = introduced(files.history(current.path), _manifest_keys)
        metadata: dict[str, Any] = {"directory": posixpath.dirname(current.path)}
        if manifest.private:
            metadata["private"] = True
        if manifest.description:
            metadata["description"] = manifest.description
        return Package(
            type="npm",
            name=manifest.name,
            version=manifest.version,
            purl=_purl(manifest.name, manifest.version),
            cataloger=self.name,
            layer=context.layer_digest(since.get(key, current.layer)),
            paths=(current.path,),
            licenses=manifest.licenses,
            metadata=metadata,
        )

    @staticmethod
    def _installed_beside(path: str, files: Files, context: Context) -> bool:
        modules = posixpath.join(posixpath.dirname(path), "node_modules")
        if modules in context.index:
            return True
        return any(p.startswith(modules + "/") for p in files.final_paths)

    def _locked(
        self, current: FileVersion, basename: str, files: Files, context: Context
    ) -> list[Package]:
        entries = parse_lock(current.data, basename)

        def keys(data: bytes) -> list[tuple[str, str]]:
            listed = entries if data is current.data else parse_lock(data, basename)
            return [(e.name, e.version) for e in listed]

        since = introduced(files.history(current.path), keys)
        return [
            Package(
                type="npm",
                name=entry.name,
                version=entry.version,
                purl=_purl(entry.name, entry.version),
                cataloger=self.name,
                layer=context.layer_digest(since.get((entry.name, entry.version), current.layer)),
                paths=(current.path,),
                metadata={"lock_file": basename, "dev": entry.dev},
            )
            for entry in entries
        ]


def _manifest_keys(data: bytes) -> list[tuple[str, str]]:
    manifest = parse_manifest(data)
    return [(manifest.name, manifest.version)] if manifest is not None else []
