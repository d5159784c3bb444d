"""The Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json).

The document maps a source package to its issues, each issue to the releases it was
assessed for::

    {"openssl": {"CVE-2023-0286": {
        "description": "...", "scope": "remote",
        "releases": {"bookworm": {"status": "resolved", "fixed_version": "3.0.8-1",
                                  "urgency": "high", "repositories": {...}}}}}}

``status`` is ``resolved``, ``open`` or ``undetermined``; ``fixed_version`` ``"0"`` means
the release was never affected; ``urgency`` may be ``unimportant`` or ``end-of-life`` (see
the matcher for what Portside does with them) and sometimes carries a ``*`` suffix, kept
as given. An open issue Debian will not fix with a security update has ``nodsa`` (the
reason, ``"Minor issue"``) and ``nodsa_reason`` (``ignored``, ``postponed`` or empty);
both are kept. Issue ids are CVE ids or the tracker's own ``TEMP-...`` ids; both are
imported.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portside.vulndb.importers._input import Digest, Fields, Limits, load_json, read_file
from portside.vulndb.model import DistroRecord

if TYPE_CHECKING:
    from portside.vulndb.store import ImportResult, VulnStore


def parse_debian(
    name: str, document: Any, *, releases: Collection[str] | None = None
) -> list[DistroRecord]:
    """The records of one tracker document, optionally only for ``releases``
    (codenames such as ``bookworm``)."""
    top = Fields(name, None, document)
    records = []
    for package, issues in top.data.items():
        if not package or not isinstance(issues, dict):
            top.fail(f"package {package!r} must map to an object of issues")
        for vuln_id, issue in issues.items():
            f = Fields(name, f"{package}/{vuln_id}", issue)
            if not vuln_id or any(c.isspace() for c in vuln_id):
                f.fail("the issue id must be a non-empty word")
            description = f.text("description", "")
            per_release = f.object("releases")
            if per_release is None:
                continue
            for release, verdict in per_release.data.items():
                if releases is not None and release not in releases:
                    continue
                v = Fields(name, f"{package}/{vuln_id}", verdict, f"releases.{release}")
                records.append(
                    DistroRecord(
                        distro="debian",
                        release=release,
                        package=package,
                        vuln_id=vuln_id,
                        status=v.text("status"),
                        fixed_version=v.text("fixed_version", ""),
                        urgency=v.text("urgency", ""),
                        description=description,
                        nodsa=v.text("nodsa", ""),
                        nodsa_reason=v.text("nodsa_reason", ""),
                    )
                )
    return records


def read_debian(
    path: Path, *, releases: Collection[str] | None = None, limits: Limits | None = None
) -> tuple[list[DistroRecord], str]:
    data, digest = _read(Path(path), limits or Limits())
    return parse_debian(str(path), load_json(str(path), data), releases=releases), digest


def _read(path: Path, limits: Limits) -> tuple[bytes, str]:
    data = read_file(path, limits.max_file)
    digest = Digest()
    digest.add(path.name, data)
    return data, digest.hexdigest()


def import_debian(
    store: VulnStore,
    path: Path,
    *,
    source: str = "debian",
    releases: Collection[str] | None = None,
    limits: Limits | None = None,
    origin: str = "",
    force: bool = False,
    replace: bool = True,
) -> ImportResult:
    """Replace source ``source`` with the tracker document at ``path`` (validated in
    full first, written in one transaction; skipped when the content is unchanged).
    ``releases`` keeps only those codenames, which makes the database much smaller."""
    path = Path(path)
    data, digest = _read(path, limits or Limits())
    if not force and (unchanged := store.unchanged(source, digest)) is not None:
        return unchanged
    records = parse_debian(str(path), load_json(str(path), data), releases=releases)
    return store.replace_distro(
        source, records, kind="debian", digest=digest, origin=origin or str(path), replace=replace
    )
