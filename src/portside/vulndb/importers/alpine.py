"""Alpine's security database (https://secdb.alpinelinux.org/): one JSON file per release
branch and repository, such as ``v3.20/main.json``::

    {"distroversion": "v3.20", "reponame": "main", "urlprefix": "...", "apkurl": "...",
     "archs": ["x86_64", ...],
     "packages": [{"pkg": {"name": "openssl",
                           "secfixes": {"3.1.4-r1": ["CVE-2023-5678"],
                                        "0": ["CVE-2022-0001"]}}}]}

``name`` is the origin (source) package; each ``secfixes`` key is the first fixed
version of the ids listed under it, and the version ``"0"`` means the package was never
affected. An entry may hold several ids separated by spaces, or an id followed by a
remark; every word shaped like an id (``CVE-...``, ``GHSA-...``, ``XSA-...``) is taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portside.vulndb.errors import MalformedInput
from portside.vulndb.importers._input import Digest, Fields, Limits, load_json, read_file
from portside.vulndb.model import DistroRecord

if TYPE_CHECKING:
    from portside.vulndb.store import ImportResult, VulnStore

_RELEASE = re.compile(r"v\d+\.\d+|edge")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]*")


def parse_alpine(name: str, document: Any) -> list[DistroRecord]:
    top = Fields(name, None, document)
    release = top.text("distroversion")
    if not _RELEASE.fullmatch(release):
        top.fail(f"field distroversion {release[:40]!r} is not a branch such as 'v3.20'")
    records = []
    for entry in top.objects("packages"):
        pkg = entry.object("pkg")
        if pkg is None:
            entry.fail("field pkg is missing")
        assert pkg is not None
        package = pkg.text("name")
        fixes = Fields(name, package, pkg.mapping("secfixes"), "secfixes")
        for version, ids in fixes.data.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                fixes.fail(f"the entry for {version!r} must be a list of strings")
            if not version or any(c.isspace() for c in version):
                fixes.fail(f"{version!r} is not a version")
            for text in ids:
                words = [w for w in text.split() if _ID.fullmatch(w)]
                if not words:
                    fixes.fail(f"the entry {text[:80]!r} under {version!r} names no id")
                for vuln_id in words:
                    records.append(
                        DistroRecord(
                            distro="alpine",
                            release=release,
                            package=package,
                            vuln_id=vuln_id,
                            status="resolved",
                            fixed_version=version,
                        )
                    )
    return records


def _alpine_inputs(paths: list[Path], limits: Limits) -> tuple[list[tuple[Path, bytes]], str]:
    files: list[tuple[Path, str]] = []  # the file, and its name inside what was given
    for path in paths:
        if path.is_dir():
            files.extend((f, f.relative_to(path).as_posix()) for f in sorted(path.rglob("*.json")))
        else:
            files.append((path, path.name))
    if not files:
        raise MalformedInput(", ".join(map(str, paths)), "holds no secdb files")
    digest = Digest()
    inputs = []
    for file, name in files:
        data = read_file(file, limits.max_file)
        digest.add(name, data)
        inputs.append((file, data))
    return inputs, digest.hexdigest()


def _parse_all(inputs: list[tuple[Path, bytes]]) -> list[DistroRecord]:
    records: list[DistroRecord] = []
    for file, data in inputs:
        records.extend(parse_alpine(str(file), load_json(str(file), data)))
    return records


def _listed(paths: Path | Iterable[Path]) -> list[Path]:
    return [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]


def read_alpine(
    paths: Path | Iterable[Path], *, limits: Limits | None = None
) -> tuple[list[DistroRecord], str]:
    """Every record in ``paths``: secdb files, or directories holding them (searched
    recursively, so a mirror of ``v3.19/``, ``v3.20/`` ... can be given whole)."""
    inputs, digest = _alpine_inputs(_listed(paths), limits or Limits())
    return _parse_all(inputs), digest


def import_alpine(
    store: VulnStore,
    paths: Path | Iterable[Path],
    *,
    source: str = "alpine",
    limits: Limits | None = None,
    origin: str = "",
    force: bool = False,
    replace: bool = True,
) -> ImportResult:
    """Replace source ``source`` with the secdb files in ``paths`` (validated in full
    first, written in one transaction; skipped when the content is unchanged)."""
    listed = _listed(paths)
    inputs, digest = _alpine_inputs(listed, limits or Limits())
    if not force and (unchanged := store.unchanged(source, digest)) is not None:
        return unchanged
    origin = origin or ", ".join(map(str, listed))
    return store.replace_distro(
        source, _parse_all(inputs), kind="alpine", digest=digest, origin=origin, replace=replace
    )
