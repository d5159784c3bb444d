"""Java archives: ``.jar``, ``.war``, ``.ear`` and Jenkins plugins (``.jpi``, ``.hpi``).

Maven writes ``META-INF/maven/GROUP/ARTIFACT/pom.properties`` into every artefact it
builds, and a shaded ("uber") jar keeps the one of each library folded into it, so each
``pom.properties`` is one package. An archive with none is named from its
``META-INF/MANIFEST.MF`` (``Implementation-*`` then ``Bundle-*`` fields) and its file
name (``name-1.2.3.jar``). Archives inside archives (``WEB-INF/lib`` of a war,
``BOOT-INF/lib`` of a Spring Boot jar, the modules of an ear) are opened too, down to
``MAX_DEPTH`` levels.

A package's ``name`` is ``group:artifact`` when the group is known (the Maven coordinates
that advisories use), its purl ``pkg:maven/group/artifact@version``; ``paths`` holds the
archive on disk, since that is the file an OS package would own, and
``metadata["location"]`` the chain of archives it was found in (``a.war!/WEB-INF/lib/b.jar``).

Hostile input: archives are bounded before they are opened (the central directory's entry
count is read from the end record, since ``zipfile`` would build an object for every
entry) and while they are read (each member is decompressed with a hard limit on the bytes
produced, whatever it declares, and one budget covers a whole tree of nested archives),
so a zip bomb or a jar nested a thousand deep costs a bounded amount of work.
``scan_archive`` raises ``JavaArchiveError`` (a ``PackageDatabaseError``, so a
``ScanError``) when the outer archive cannot be read or the budget runs out
(``JavaBudgetExceeded``), and records a warning for each nested archive or member it skips;
``catalog`` never raises and returns a ``Findings`` list whose ``warnings`` name the file
and the reason.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

from portside.core.records import field, record
from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

ARCHIVE_SUFFIXES = claims.JAVA_ARCHIVE_SUFFIXES
MAX_ARCHIVE_BYTES = claims.JAVA_MAX_ARCHIVE_BYTES
MAX_NESTED_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 3  # an ear holding a war holding a jar holding a jar
MAX_ENTRIES = 200_000
MAX_ARCHIVES = 2_000  # nested archives opened for one file
MAX_TOTAL_BYTES = 512 * 1024 * 1024  # decompressed for one file, all levels together
MAX_TEXT_BYTES = 1024 * 1024  # a MANIFEST.MF or pom.properties

_COORDINATE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-+]{0,127}$")
_POM_PROPERTIES = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
_FILE_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+?)-(?P<version>\d[A-Za-z0-9_.\-+]*)$")

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,  # a compression method zipfile lacks
    RuntimeError,  # an encrypted member
    EOFError,
    OSError,
    ValueError,
    struct.error,
    OverflowError,
)


class JavaArchiveError(PackageDatabaseError):
    """An archive, or a member of one, that cannot be read within the limits."""


class JavaBudgetExceeded(JavaArchiveError):
    """The whole tree of archives in one file costs more than the limits allow; reading
    stops there rather than skipping to the next nested archive."""


@record
class JavaPackage:
    group: str
    artifact: str
    version: str
    location: str  # archive chain, "/app.war!/WEB-INF/lib/x.jar"
    source: str  # "pom.properties" or "manifest"
    licenses: tuple[str, ...] = ()
    manifest: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return f"{self.group}:{self.artifact}" if self.group else self.artifact

    @property
    def purl(self) -> str:
        return purls.build(
            type="maven", namespace=self.group or None, name=self.artifact, version=self.version
        )


@record(frozen=False)
class Budget:
    """What one outer archive may still cost, across all its nested archives."""

    total: int = MAX_TOTAL_BYTES
    archives: int = MAX_ARCHIVES
    warnings: list[str] = field(default_factory=list)

    def spend(self, size: int) -> None:
        self.total -= size
        if self.total < 0:
            raise JavaBudgetExceeded(f"more than {MAX_TOTAL_BYTES} bytes decompressed in all")


# Control characters and lone surrogates (which JSON's \u escapes can produce) cannot be
# stored as text by the databases the inventory is kept in.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def _entry_count(data: bytes) -> int:
    """The central directory's entry count, read from the end record (zip64 included)
    before ``zipfile`` builds an object for every entry."""
    tail_start = max(0, len(data) - 65_557)
    end = data.rfind(b"PK\x05\x06", tail_start)
    if end < 0 or end + 22 > len(data):
        raise JavaArchiveError("no zip end-of-central-directory record")
    (count,) = struct.unpack_from("<H", data, end + 10)
    if count != 0xFFFF:
        return int(count)
    locator = end - 20
    if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return int(count)
    (offset,) = struct.unpack_from("<Q", data, locator + 8)
    if offset + 56 > len(data) or data[offset : offset + 4] != b"PK\x06\x06":
        raise JavaArchiveError("zip64 end record lies outside the archive")
    (count64,) = struct.unpack_from("<Q", data, offset + 32)
    return int(count64)


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, budget: Budget) -> bytes:
    """A member's bytes, stopping at ``limit`` whatever size the entry declares."""
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise JavaArchiveError(f"{info.filename} decompresses to more than {limit} bytes")
    budget.spend(len(data))
    return data


def parse_manifest(data: bytes) -> dict[str, str]:
    """The main section of a MANIFEST.MF: ``Name: value`` lines, continued on lines that
    start with one space, up to the first blank line."""
    text = _clean(data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n"))
    fields: dict[str, str] = {}
    key = ""
    for line in text.split("\n"):
        if not line.strip():
            if fields:
                break
            continue
        if line.startswith(" ") and key:
            fields[key] = (fields[key] + line[1:])[:4096]
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            key = ""
            continue
        fields[key] = value.strip()[:4096]
    return fields


def parse_properties(data: bytes) -> dict[str, str]:
    """A Java properties file as Maven writes pom.properties: ``key=value`` lines and
    ``#`` comments."""
    fields: dict[str, str] = {}
    for line in _clean(data.decode("latin-1")).splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut > 0:
            fields[line[:cut].strip()] = line[cut + 1 :].strip()[:1024]
    return fields


def _valid(group: str, artifact: str, version: str) -> bool:
    return (
        (not group or _COORDINATE.match(group) is not None)
        and _COORDINATE.match(artifact) is not None
        and _VERSION.match(version) is not None
    )


def _licenses(manifest: dict[str, str]) -> tuple[str, ...]:
    declared = manifest.get("Bundle-License", "")
    return (declared.split(";")[0].strip(),) if declared else ()


def _from_manifest(manifest: dict[str, str], filename: str, location: str) -> JavaPackage | None:
    """An archive without pom.properties, named by its manifest and its file name."""
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    parsed = _FILE_NAME.match(stem)
    symbolic = manifest.get("Bundle-SymbolicName", "").split(";")[0].strip()
    artifact = (
        (parsed.group("name") if parsed else "")
        or manifest.get("Implementation-Title", "")
        or symbolic
        or stem
    )
    version = (
        manifest.get("Implementation-Version")
        or manifest.get("Bundle-Version")
        or manifest.get("Specification-Version")
        or (parsed.group("version") if parsed else "")
    )
    group = manifest.get("Implementation-Vendor-Id", "")
    artifact = artifact.strip().replace(" ", "-")
    if not version or not _valid(group, artifact, version):
        return None
    return JavaPackage(
        group, artifact, version, location, "manifest", _licenses(manifest), manifest
    )


def scan_archive(
    data: bytes, location: str, *, depth: int = 0, budget: Budget | None = None
) -> list[JavaPackage]:
    """Every package in an archive and in the archives inside it. Problems below the top
    level are recorded in ``budget.warnings`` and the rest is still read."""
    budget = budget if budget is not None else Budget()
    budget.archives -= 1
    if budget.archives < 0:
        raise JavaBudgetExceeded(f"more than {MAX_ARCHIVES} nested archives")
    if _entry_count(data) > MAX_ENTRIES:
        raise JavaArchiveError(f"archive has more than {MAX_ENTRIES} entries")
    found: list[JavaPackage] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except _ZIP_ERRORS as error:
        raise JavaArchiveError(f"not a readable zip archive: {error}") from error
    manifest: dict[str, str] = {}
    poms: list[dict[str, str]] = []
    nested: list[zipfile.ZipInfo] = []
    for info in infos:
        name = info.filename
        try:
            if name.upper() == "META-INF/MANIFEST.MF":
                manifest = parse_manifest(_read(archive, info, MAX_TEXT_BYTES, budget))
            elif _POM_PROPERTIES.match(name):
                properties = parse_properties(_read(archive, info, MAX_TEXT_BYTES, budget))
                poms.append({**properties, "_path": name})
            elif name.lower().endswith(ARCHIVE_SUFFIXES) and not info.is_dir():
                nested.append(info)
        except JavaBudgetExceeded:
            raise
        except JavaArchiveError as error:
            budget.warnings.append(f"{location}: {error}")
        except _ZIP_ERRORS as error:
            budget.warnings.append(f"{location}!/{name}: unreadable member: {error}")
    own = location.rsplit("!/", 1)[-1].rsplit("/", 1)[-1]
    for pom in poms:
        group, artifact = pom.get("groupId", ""), pom.get("artifactId", "")
        version = pom.get("version", "")
        if not group or not _valid(group, artifact, version):
            budget.warnings.append(f"{location}!/{pom['_path']}: incomplete or invalid coordinates")
            continue
        mine = own.startswith(f"{artifact}-{version}.") or len(poms) == 1
        found.append(
            JavaPackage(
                group,
                artifact,
                version,
                location,
                "pom.properties",
                _licenses(manifest) if mine else (),
                manifest if mine else {},
            )
        )
    if not found:
        from_manifest = _from_manifest(manifest, own, location)
        if from_manifest is not None:
            found.append(from_manifest)
    for info in nested:
        inner = f"{location}!/{info.filename}"
        if depth + 1 > MAX_DEPTH:
            budget.warnings.append(f"{inner}: nested more than {MAX_DEPTH} archives deep")
            continue
        try:
            content = _read(archive, info, MAX_NESTED_BYTES, budget)
            found.extend(scan_archive(content, inner, depth=depth + 1, budget=budget))
        except JavaBudgetExceeded:
            raise
        except JavaArchiveError as error:
            budget.warnings.append(f"{inner}: {error}")
        except _ZIP_ERRORS as error:
            budget.warnings.append(f"{inner}: unreadable member: {error}")
    return found


class JavaCataloger:
    """Maven artefacts inside Java archives."""

    name = "java"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.java(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            budget = Budget()
            try:
                packages = scan_archive(current.data, current.path, budget=budget)
            except JavaArchiveError as error:
                found.warnings.append(f"{current.path}: {error}")
                continue
            finally:
                found.warnings.extend(budget.warnings)
            found.extend(self._packages(current, packages, files, context))
        return found

    def _packages(
        self, current: FileVersion, packages: list[JavaPackage], files: Files, context: Context
    ) -> list[Package]:
        def keys(data: bytes) -> set[tuple[str, str]]:
            listed = packages if data is current.data else scan_archive(data, current.path)
            return {(p.purl, p.location) for p in listed}

        since = introduced(files.history(current.path), keys)
        seen: set[tuple[str, str]] = set()
        result: list[Package] = []
        for package in packages:
            key = (package.purl, package.location)
            if key in seen:
                continue
            seen.add(key)
            metadata: dict[str, object] = {"location": package.location, "source": package.source}
            if package.manifest:
                metadata["manifest"] = dict(package.manifest)
            result.append(
                Package(
                    type="maven",
                    name=package.name,
                    version=package.version,
                    purl=package.purl,
                    cataloger=self.name,
                    layer=context.layer_digest(since.get(key, current.layer)),
                    paths=(current.path,),
                    licenses=package.licenses,
                    metadata=metadata,
                )
            )
        return result
