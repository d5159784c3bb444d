"""SBOM documents of a stored scan, in CycloneDX 1.6 or SPDX 2.3 JSON."""

from __future__ import annotations

from portside.config.paths import portside_version
from portside.scanner.model import inventory_from_dict
from portside.scanner.sbom import to_cyclonedx, to_spdx
from portside.scanning.models import Scan

KINDS = {"cyclonedx": "application/vnd.cyclonedx+json", "spdx": "application/spdx+json"}


def render(scan: Scan, kind: str, *, base_url: str) -> tuple[str, str]:
    inventory = inventory_from_dict(scan.inventory)
    name = f"{scan.repository.name}@{scan.digest}"
    created = scan.finished_at
    if kind == "cyclonedx":
        open_findings = scan.findings.filter(resolved_at__isnull=True)
        document = to_cyclonedx(
            inventory,
            findings=[_FindingView(f) for f in open_findings],
            tool_version=portside_version(),
            image_name=name,
            created=created,
        )
    elif kind == "spdx":
        document = to_spdx(
            inventory,
            tool_version=portside_version(),
            namespace_base=f"{base_url}/spdx",
            image_name=name,
            created=created,
        )
    else:
        raise ValueError(kind)
    return document, KINDS[kind]


class _FindingView:
    """A stored finding in the shape the CycloneDX writer reads."""

    def __init__(self, finding: object) -> None:
        from portside.scanning.models import Finding

        assert isinstance(finding, Finding)
        self.id = finding.advisory_id
        self.aliases = tuple(finding.aliases)
        self.severity = finding.effective_severity
        self.score = None if finding.score is None else float(finding.score)
        self.vector = finding.vector
        self.fixed_versions = tuple(finding.fixed_versions)
        self.package_purl = finding.purl
