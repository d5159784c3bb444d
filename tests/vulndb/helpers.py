"""Shared helpers of the vulnerability database tests: where the real data is, and
builders for packages and small OSV records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from portside.scanner.model import Distro, Package

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "vulndb"
PYPA = DATA / "pypa" / "vulns"
GOLANG = DATA / "golang" / "osv"

PYPA_RECORDS = 2661
GO_RECORDS = 4291


def make_package(
    type: str,
    name: str,
    version: str,
    *,
    source_name: str = "",
    source_version: str = "",
    purl: str = "",
    layer: str = "sha256:" + "ab" * 32,
) -> Package:
    """A package as the analyser reports it."""
    return Package(
        type=type,
        name=name,
        version=version,
        purl=purl or f"pkg:{type}/{name}@{version}",
        cataloger="test",
        layer=layer,
        source_name=source_name,
        source_version=source_version,
    )


DEBIAN_12 = Distro(id="debian", version_id="12", version_codename="bookworm")
ALPINE_320 = Distro(id="alpine", version_id="3.20.3")


def osv_record(ident: str, ecosystem: str, name: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid OSV record; ``events`` gives one range's events, ``range_type``
    its type (ECOSYSTEM by default)."""
    events = fields.pop("events", [{"introduced": "0"}])
    range_type = fields.pop("range_type", "ECOSYSTEM")
    versions = fields.pop("versions", None)
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": range_type, "events": events}],
    }
    if versions is not None:
        affected["versions"] = versions
    record: dict[str, Any] = {
        "id": ident,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [affected],
    }
    record.update(fields)
    return record


def write_records(folder: Path, records: list[dict[str, Any]], *, as_yaml: bool = False) -> Path:
    """Each record as its own file in ``folder`` (created), JSON or YAML."""
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        if as_yaml:
            (folder / f"{record['id']}.yaml").write_text(yaml.safe_dump(record))
        else:
            (folder / f"{record['id']}.json").write_text(json.dumps(record))
    return folder
