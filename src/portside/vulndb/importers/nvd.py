"""NVD CVE records in the JSON 2.0 format: API pages or the yearly feed files.

Both carry ``vulnerabilities[].cve`` objects. Portside keeps only what scoring needs: the
CVSS metrics (``cvssMetricV40``, ``cvssMetricV31``, ``cvssMetricV30``, ``cvssMetricV2``)
with their source and ``Primary``/``Secondary`` type, and the English description, which
gives distribution findings a summary when the tracker has none. Matching never uses
NVD's CPE configurations: packages are matched by their own ecosystem's data.

The 1.1 feed format (``CVE_Items``) is retired by NVD and refused with a clear error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portside.vulndb.errors import MalformedInput
from portside.vulndb.importers._input import Digest, Fields, Limits, load_json, read_file
from portside.vulndb.model import CvssMetric, NvdRecord

if TYPE_CHECKING:
    from portside.vulndb.store import ImportResult, VulnStore

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")

#: metrics key -> the CVSS version it must hold
METRIC_KEYS = {
    "cvssMetricV40": ("4.0",),
    "cvssMetricV31": ("3.1",),
    "cvssMetricV30": ("3.0",),
    "cvssMetricV2": ("2.0",),
}


def parse_nvd(name: str, document: Any) -> list[NvdRecord]:
    """The records of one NVD 2.0 document."""
    top = Fields(name, None, document)
    if "CVE_Items" in top.data:
        top.fail("is an NVD 1.1 feed; only the JSON 2.0 format is read")
    fmt = top.text("format", "NVD_CVE")
    if fmt != "NVD_CVE":
        top.fail(f"field format is {fmt!r}, not 'NVD_CVE'")
    if "vulnerabilities" not in top.data:
        top.fail("field vulnerabilities is missing")
    records = []
    for item in top.objects("vulnerabilities"):
        cve = item.object("cve")
        if cve is None:
            item.fail("field cve is missing")
        assert cve is not None
        ident = cve.text("id")
        if not _CVE.fullmatch(ident):
            cve.fail(f"field id {ident[:80]!r} is not a CVE id")
        cve = Fields(name, ident, cve.data)
        records.append(
            NvdRecord(
                cve=ident,
                modified=cve.timestamp("lastModified"),
                description=_description(cve),
                metrics=_metrics(cve),
            )
        )
    return records


def _description(cve: Fields) -> str:
    for item in cve.objects("descriptions"):
        if item.text("lang", "") == "en":
            return item.text("value", "")
    return ""


def _metrics(cve: Fields) -> tuple[CvssMetric, ...]:
    metrics = cve.object("metrics")
    if metrics is None:
        return ()
    found = []
    for key, versions in METRIC_KEYS.items():
        for entry in metrics.objects(key):
            data = entry.object("cvssData")
            if data is None:
                entry.fail("field cvssData is missing")
            assert data is not None
            version = data.text("version")
            if version not in versions:
                data.fail(f"version {version!r} does not belong under {key}")
            score = data.data.get("baseScore")
            if score is not None and not _finite_number(score):
                data.fail("field baseScore must be a number")
            kind = entry.text("type", "Secondary")
            found.append(
                CvssMetric(
                    version=version,
                    vector=data.text("vectorString"),
                    base_score=float(score) if score is not None else None,
                    source=entry.text("source", ""),
                    primary=kind == "Primary",
                )
            )
    return tuple(found)


def _finite_number(value: Any) -> bool:
    """A number a float holds: not a boolean, not a 400-digit integer."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _nvd_inputs(paths: list[Path], limits: Limits) -> tuple[list[tuple[Path, bytes]], str]:
    digest = Digest()
    inputs = []
    for file in _expand(paths):
        data = read_file(file, limits.max_file)
        digest.add(file.name, data)
        inputs.append((file, data))
    return inputs, digest.hexdigest()


def _parse_all(inputs: list[tuple[Path, bytes]]) -> list[NvdRecord]:
    latest: dict[str, NvdRecord] = {}
    for file, data in inputs:
        for record in parse_nvd(str(file), load_json(str(file), data)):
            known = latest.get(record.cve)
            if known is None or _newer(record, known):
                latest[record.cve] = record
    return [latest[k] for k in sorted(latest)]


def read_nvd(
    paths: Path | Iterable[Path], *, limits: Limits | None = None
) -> tuple[list[NvdRecord], str]:
    """Every record in ``paths`` (files, or directories of ``.json``/``.json.gz`` files)
    and the digest of what was read. A CVE found in several files keeps its most
    recently modified record."""
    inputs, digest = _nvd_inputs(_listed(paths), limits or Limits())
    return _parse_all(inputs), digest


def _listed(paths: Path | Iterable[Path]) -> list[Path]:
    return [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]


def _newer(a: NvdRecord, b: NvdRecord) -> bool:
    if a.modified is None:
        return False
    return b.modified is None or a.modified >= b.modified


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.name.endswith((".json", ".json.gz")) and not p.name.startswith(".")
                )
            )
        else:
            files.append(path)
    if not files:
        raise MalformedInput(", ".join(map(str, paths)) or "(nothing)", "holds no NVD files")
    return files


def import_nvd(
    store: VulnStore,
    paths: Path | Iterable[Path],
    *,
    source: str = "nvd",
    limits: Limits | None = None,
    origin: str = "",
    force: bool = False,
    replace: bool = True,
) -> ImportResult:
    """Replace source ``source`` with the CVE records in ``paths`` (validated in full
    first, written in one transaction; skipped when the content is unchanged)."""
    listed = _listed(paths)
    inputs, digest = _nvd_inputs(listed, limits or Limits())
    if not force and (unchanged := store.unchanged(source, digest)) is not None:
        return unchanged
    origin = origin or ", ".join(map(str, listed))
    return store.replace_nvd(
        source, _parse_all(inputs), digest=digest, origin=origin, replace=replace
    )
