"""The SBOM documents of a scan, CycloneDX 1.6 and SPDX 2.3 JSON, as files.

The worker writes both once a scan's result is known (and the CycloneDX one again when
its vulnerabilities change), streaming them to a temporary file and keeping them in the
default storage under ``sboms/<sha256>.<kind>.json``, content-addressed as publishers'
images are. A download serves the stored file as it is, so asking for an SBOM costs the
web server a file read however large the image, and never a render.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Q

from portside.config.paths import portside_version
from portside.scanner.model import Inventory
from portside.scanner.sbom._common import SbomView, build_view
from portside.scanner.sbom.cyclonedx import write_cyclonedx
from portside.scanning.models import Finding, Scan

KINDS = {"cyclonedx": "application/vnd.cyclonedx+json", "spdx": "application/spdx+json"}
SUFFIXES = {"cyclonedx": "cdx.json", "spdx": "spdx.json"}
FIELDS = {"cyclonedx": "sbom_cyclonedx", "spdx": "sbom_spdx"}


class _Sink:
    """Text written by an SBOM writer, encoded into a file and hashed on the way."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.hash.update(data)
        self.raw.write(data)
        return len(text)


def produce(
    scan: Scan,
    inventory: Inventory,
    findings: Iterable[Finding],
    *,
    kinds: Iterable[str] = ("cyclonedx", "spdx"),
    feeds: list[dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Write the scan's documents (``kinds`` of them) to the default storage; returns the
    stored name of each. ``findings`` are the open findings the CycloneDX document lists
    as vulnerabilities, matched against ``feeds`` (the scan's own, by default).
    Validation errors (``SbomError``) propagate."""
    image = f"{scan.repository.name}@{scan.digest}"
    view = build_view(inventory, image_name=image)  # both documents list the same packages
    names: dict[str, str] = {}
    try:
        for kind in kinds:
            names[kind] = _write(
                kind, scan, inventory, findings, view, image, scan.feeds if feeds is None else feeds
            )
    except BaseException:
        discard(names.values())  # the documents of a result that will not be stored
        raise
    return names


def _write(
    kind: str,
    scan: Scan,
    inventory: Inventory,
    findings: Iterable[Finding],
    view: SbomView,
    image: str,
    feeds: list[dict[str, Any]],
) -> str:
    """One document, streamed to a temporary file and then kept under its digest."""
    with tempfile.TemporaryFile() as raw:
        sink = _Sink(raw)
        if kind == "cyclonedx":
            write_cyclonedx(
                sink,
                inventory,
                findings=[_FindingView(f) for f in findings],
                tool_version=portside_version(),
                image_name=image,
                created=scan.finished_at,
                view=view,
                vulnerability_data=feeds,
            )
        elif kind == "spdx":
            from portside.scanner.sbom.spdx import write_spdx  # spdx-tools: when asked

            write_spdx(
                sink,
                inventory,
                tool_version=portside_version(),
                namespace_base=f"{settings.BASE_URL}/spdx",
                image_name=image,
                created=scan.finished_at,
                view=view,
            )
        else:
            raise ValueError(kind)
        name = f"sboms/{sink.hash.hexdigest()}.{SUFFIXES[kind]}"
        if not default_storage.exists(name):
            raw.seek(0)
            name = default_storage.save(name, File(raw, name=name))
        return name


def exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def open_document(name: str) -> IO[bytes] | None:
    """A stored document, open for reading, or None when it is not (or no longer) there."""
    if not name or not default_storage.exists(name):
        return None
    opened: IO[bytes] = default_storage.open(name, "rb")
    return opened


def read_document(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        data: bytes = handle.read()
    return data


def discard(names: Iterable[str]) -> None:
    """Delete stored documents that no scan names any more."""
    for name in set(names):
        if name and not Scan.objects.filter(Q(sbom_cyclonedx=name) | Q(sbom_spdx=name)).exists():
            default_storage.delete(name)


class _FindingView:
    """A stored finding in the shape the CycloneDX writer reads."""

    def __init__(self, finding: Finding) -> None:
        self.id = finding.advisory_id
        self.aliases = tuple(finding.aliases)
        self.severity = finding.effective_severity
        self.score = None if finding.score is None else float(finding.score)
        self.vector = finding.vector
        self.fixed_versions = tuple(finding.fixed_versions)
        self.package_purl = finding.purl


def headers(scan: Scan, kind: str) -> dict[str, Any]:
    safe = scan.repository.name.replace("/", "_")
    return {
        "content_type": KINDS[kind],
        "filename": f"{safe}-{scan.digest[7:19]}.{SUFFIXES[kind]}",
    }
