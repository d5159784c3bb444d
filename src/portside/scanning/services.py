"""Use cases of scanning: request a scan, run it, match an inventory against the
vulnerability database, match every stored inventory again, reclassify a finding.

The analysis itself is ``portside.scanner`` (reading the image from the registry's blob
store) and the matching ``portside.vulndb``; this module keeps their results and the
times findings were first seen and resolved, which the SLA clocks start from.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from portside.accounts import permissions
from portside.audit import services as audit
from portside.core import clock, events
from portside.core.errors import NotFound, PermissionDenied, ValidationFailed
from portside.core.origin import Origin
from portside.oci.digest import Digest, Hasher
from portside.registry.models import Manifest, Repository
from portside.registry.storage import store
from portside.scanner import errors as scan_errors
from portside.scanner.analyze import analyze
from portside.scanner.catalogers import default_catalogers
from portside.scanner.model import Inventory, inventory_from_dict, inventory_to_dict
from portside.scanner.practices import review
from portside.scanner.reader import open_blobs
from portside.scanning.models import (
    SEVERITY_ORDER,
    Finding,
    LayerRecord,
    Scan,
    ScanStatus,
    Severity,
)
from portside.vulndb import matcher
from portside.vulndb.store import VulnStore

logger = logging.getLogger(__name__)
_STORE_ORIGIN = Origin(ip_address=None, user_agent="portside-scanner")

IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)


def vulndb_path() -> Path:
    return Path(settings.VULNDB_PATH)


def open_vulndb(*, readonly: bool = True) -> VulnStore:
    return VulnStore.open(vulndb_path(), readonly=readonly)


# --- requesting ------------------------------------------------------------------------------


def is_scannable(manifest: Manifest) -> bool:
    """Image manifests are scanned; indexes (their images are pushed and scanned one by
    one), artifacts (signatures, SBOMs) and anything else are not."""
    try:
        document = json.loads(bytes(manifest.content))
    except ValueError:
        return False
    if not isinstance(document, dict) or document.get("artifactType"):
        return False
    config = document.get("config")
    return isinstance(config, dict) and config.get("mediaType") in IMAGE_CONFIG_TYPES


def request_scan(
    *, repository: Repository, digest: str, user: Any, origin: Origin | None = None
) -> Scan:
    """Queue a scan of the image ``digest`` in ``repository`` (again, if it was scanned).
    ``user`` None is the store itself (a scan on push)."""
    if user is not None and not permissions.can_request_scan(user, repository.organization):
        raise PermissionDenied("Only the organisation's owners and editors may scan its images.")
    manifest = Manifest.objects.filter(repository=repository, digest=digest).first()
    if manifest is None:
        raise NotFound(f"{repository.name} has no image {digest}.")
    if not is_scannable(manifest):
        raise ValidationFailed(f"{digest} is not an image manifest; only images are scanned.")
    now = clock.now()
    with transaction.atomic():
        scan, _ = Scan.objects.update_or_create(
            repository=repository,
            digest=digest,
            defaults={
                "status": ScanStatus.QUEUED,
                "error": "",
                "requested_at": now,
                "requested_by_id": getattr(user, "pk", None),
            },
        )
        if user is not None:
            audit.record(
                user,
                "scanning:scan:requested",
                scan,
                organization=repository.organization,
                repository=repository.name,
                digest=digest,
                **(origin.audit_fields() if origin else {}),
            )
        from portside.scanning.tasks import run_scan

        transaction.on_commit(partial(run_scan.enqueue, scan_id=scan.pk))
    return scan


# --- running ---------------------------------------------------------------------------------


def _blob_opener(digest: str) -> BinaryIO:
    return store().open(digest)


def run(*, scan_id: int) -> Scan:
    """Analyse the image, review it, match it; the scan ends done or failed, never
    half-written."""
    scan = Scan.objects.select_related("repository__organization").filter(pk=scan_id).first()
    if scan is None:
        raise NotFound(f"No scan {scan_id}.")
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.RUNNING, started_at=clock.now())
    repository = scan.repository
    try:
        manifest = Manifest.objects.get(repository=repository, digest=scan.digest)

        def child(digest: str) -> bytes:
            found = Manifest.objects.filter(repository=repository, digest=digest).first()
            if found is None:
                raise scan_errors.ScanError(f"{repository.name} has no manifest {digest}")
            return bytes(found.content)

        catalogers = default_catalogers()
        with open_blobs(
            bytes(manifest.content),
            _blob_opener,
            media_type=manifest.media_type,
            digest=manifest.digest,
            name=f"{repository.name}@{manifest.digest}",
            manifests=child,
        ) as image:
            analysis = analyze(image, catalogers=catalogers, cache=DatabaseLayerCache())
        tags = list(manifest.tags.values_list("name", flat=True))
        results = review(analysis, today=clock.now().date(), tags=tags or None)
    except (scan_errors.ScanError, Manifest.DoesNotExist) as exc:
        Scan.objects.filter(pk=scan.pk).update(
            status=ScanStatus.FAILED, error=str(exc)[:2000], finished_at=clock.now()
        )
        scan.refresh_from_db()
        return scan
    inventory = analysis.inventory
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        scan.inventory = inventory_to_dict(inventory, owned_files=False)
        scan.practices = [r.as_dict() for r in results]
        scan.platform = inventory.platform
        scan.distro = _distro_label(inventory)
        scan.package_count = len(inventory.packages)
        scan.layer_count = len(inventory.layers)
        scan.warnings = [{"reason": w} for w in analysis.warnings[:500]]
        scan.status = ScanStatus.DONE
        scan.error = ""
        scan.finished_at = clock.now()
        scan.save()
        store_matches(scan, inventory)
        attach_sbom(scan, manifest)
        events.emit(
            "scanning:scan:finished",
            scan_id=scan.pk,
            repository=repository.name,
            digest=scan.digest,
        )
    return scan


SBOM_ARTIFACT = "application/vnd.cyclonedx+json"
EMPTY_CONFIG = b"{}"


def attach_sbom(scan: Scan, image: Manifest) -> None:
    """Push the scan's CycloneDX SBOM into the image's repository as an artifact whose
    subject is the image (OCI 1.1 referrers); the previous one, if any, is removed."""
    from portside.oci import mediatypes
    from portside.registry import services as registry
    from portside.scanning.sbom import render

    document, _ = render(scan, "cyclonedx", base_url="")
    repository = scan.repository
    sbom_blob = registry.store_blob(repository=repository, data=document.encode())
    config = registry.store_blob(repository=repository, data=EMPTY_CONFIG)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": SBOM_ARTIFACT,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config.digest,
                "size": config.size,
            },
            "layers": [
                {"mediaType": SBOM_ARTIFACT, "digest": sbom_blob.digest, "size": sbom_blob.size}
            ],
            "subject": {
                "mediaType": image.media_type,
                "digest": image.digest,
                "size": image.size,
            },
            "annotations": {
                "org.opencontainers.image.created": (scan.finished_at or clock.now()).isoformat(),
                "org.opencontainers.image.vendor": "Portside",
                "org.opencontainers.image.description": "SBOM of the image (security scan)",
            },
        },
        sort_keys=True,
    ).encode()
    stored, _ = registry.put_manifest(
        repository=repository,
        reference=_sha256(body),
        body=body,
        content_type=mediatypes.OCI_MANIFEST,
        user=None,
        origin=_STORE_ORIGIN,
    )
    previous = scan.sbom_digest
    scan.sbom_digest = stored.digest
    scan.save(update_fields=["sbom_digest"])
    if previous and previous != stored.digest:
        try:
            registry.delete_manifest(
                repository=repository,
                reference=Digest.parse(previous),
                user=None,
                origin=_STORE_ORIGIN,
            )
        except Exception:  # already deleted by a publisher: nothing to do
            logger.info("previous SBOM %s of %s was already gone", previous, repository.name)


def _sha256(body: bytes) -> Digest:
    hasher = Hasher("sha256")
    hasher.update(body)
    return hasher.digest()


def _distro_label(inventory: Inventory) -> str:
    distro = inventory.distro
    if distro is None:
        return ""
    return distro.pretty_name or f"{distro.id} {distro.version_id}".strip()


# --- matching --------------------------------------------------------------------------------


def store_matches(scan: Scan, inventory: Inventory, *, vulndb: VulnStore | None = None) -> int:
    """Match the inventory and record the result: new findings start their clock now,
    findings seen again keep their first time, findings no longer matched are resolved.
    Returns how many findings are new."""
    now = clock.now()
    unmatched: list[Any] = []
    if vulndb is None and not vulndb_path().exists():
        found: list[Any] = []
    else:
        owned = vulndb is None
        db = vulndb or open_vulndb()
        try:
            result = matcher.match(inventory.packages, inventory.distro, db)
            found, unmatched = list(result), result.unmatched
        finally:
            if owned:
                db.close()
    # A finding is the same one when it is about the same package and any of its ids is
    # shared: an advisory that later gains a CVE alias keeps its row and its clock.
    by_id: dict[tuple[str, str, str, str], Finding] = {}
    for finding in scan.findings.all():
        for ident in (finding.advisory_id, *finding.aliases):
            by_id[(finding.package_type, finding.package_name, finding.package_version, ident)] = (
                finding
            )
    kept: set[int] = set()
    new: list[Finding] = []
    seen_again: list[Finding] = []
    for item in found:
        package = (item.package_type, item.package_name[:255], item.package_version[:255])
        current = next(
            (
                by_id[(*package, i)]
                for i in (item.advisory_id, *item.aliases)
                if (*package, i) in by_id
            ),
            None,
        )
        if current is not None and (current.pk is None or current.pk in kept):
            continue  # the same finding twice in one run
        values = {
            "aliases": list(item.aliases),
            "purl": item.package_purl[:1024],
            "layer_digest": item.layer,
            "severity": str(getattr(item.severity, "value", item.severity)),
            "score": None if item.cvss_score is None else Decimal(str(item.cvss_score)),
            "vector": item.cvss_vector[:255],
            "score_source": item.score_source,
            "fixed_versions": list(item.fixed_versions),
            "summary": item.summary,
            "urls": list(item.references)[:50],
            "data_source": ",".join(item.data_sources)[:64],
            "last_seen_at": now,
            "resolved_at": None,
        }
        if current is None:
            new.append(
                Finding(
                    scan=scan,
                    advisory_id=item.advisory_id,
                    package_type=package[0],
                    package_name=package[1],
                    package_version=package[2],
                    first_seen_at=now,
                    **values,
                )
            )
            for ident in (item.advisory_id, *item.aliases):
                by_id[(*package, ident)] = new[-1]
        else:
            kept.add(current.pk)
            changed = current.advisory_id != item.advisory_id or any(
                getattr(current, field) != value
                for field, value in values.items()
                if field not in ("last_seen_at", "resolved_at")
            )
            if changed:  # the advisory changed: rewrite the row
                current.advisory_id = item.advisory_id
                for field, value in values.items():
                    setattr(current, field, value)
                current.save()
            else:  # the usual case: only seen again, in one UPDATE below
                seen_again.append(current)
    Finding.objects.bulk_create(new)
    if seen_again:
        Finding.objects.filter(pk__in=[f.pk for f in seen_again]).update(
            last_seen_at=now, resolved_at=None
        )
    scan.findings.filter(resolved_at__isnull=True).exclude(pk__in=kept).exclude(
        pk__in=[f.pk for f in new]
    ).update(resolved_at=now)
    scan.warnings = [w for w in scan.warnings if "package" not in w] + [
        {
            "package": u.package_name,
            "version": u.package_version,
            "type": u.package_type,
            "reason": u.reason,
        }
        for u in unmatched[:500]
    ]
    _count(scan)
    scan.matched_at = now
    scan.save(update_fields=["matched_at", "warnings", *(s.value for s in SEVERITY_ORDER)])
    return len(new)


def _count(scan: Scan) -> None:
    counts = dict.fromkeys((s.value for s in SEVERITY_ORDER), 0)
    for finding in scan.findings.filter(resolved_at__isnull=True):
        counts[finding.effective_severity] += 1
    for name, value in counts.items():
        setattr(scan, name, value)


def rematch_all(*, batch: int = 200) -> dict[str, int]:
    """Match every stored inventory again (after the vulnerability data changed), without
    reading any image. Returns how many scans were matched and how many findings are new."""
    if not vulndb_path().exists():
        return {"scans": 0, "new_findings": 0}
    scans = new = 0
    db = open_vulndb()
    try:
        ids = list(
            Scan.objects.filter(status=ScanStatus.DONE).order_by("pk").values_list("pk", flat=True)
        )
        for start in range(0, len(ids), batch):
            for scan in Scan.objects.filter(pk__in=ids[start : start + batch]):
                with transaction.atomic():
                    new += store_matches(scan, inventory_from_dict(scan.inventory), vulndb=db)
                scans += 1
    finally:
        db.close()
    return {"scans": scans, "new_findings": new}


# --- the security team -------------------------------------------------------------------


def reclassify(
    *, finding: Finding, severity: str, reason: str, user: Any, origin: Origin
) -> Finding:
    """The security team sets a finding's class, with a reason, overriding the score's."""
    if not permissions.can_reclassify_findings(user):
        raise PermissionDenied("Only the security team may reclassify findings.")
    if severity not in Severity.values:
        raise ValidationFailed(f"Unknown severity {severity!r}.", field="severity")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Say why the finding is reclassified.", field="reason")
    with transaction.atomic():
        previous = finding.effective_severity
        finding.reclassified = severity
        finding.reclassified_reason = reason[:2000]
        finding.reclassified_by_id = user.pk
        finding.reclassified_at = clock.now()
        finding.save()
        scan = finding.scan
        _count(scan)
        scan.save(update_fields=[s.value for s in SEVERITY_ORDER])
        audit.record(
            user,
            "scanning:finding:reclassified",
            finding,
            organization=scan.repository.organization,
            repository=scan.repository.name,
            digest=scan.digest,
            advisory=finding.advisory_id,
            previous=previous,
            severity=severity,
            reason=reason[:500],
            **origin.audit_fields(),
        )
    return finding


def findings_by_severity(scan: Scan) -> list[tuple[str, list[Finding]]]:
    """Open findings grouped by class, most severe first."""
    groups: dict[str, list[Finding]] = {s.value: [] for s in SEVERITY_ORDER}
    for finding in scan.findings.filter(resolved_at__isnull=True).order_by("-score", "advisory_id"):
        groups[finding.effective_severity].append(finding)
    return [(name, items) for name, items in groups.items() if items]


def packages_by_layer(scan: Scan) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    layers = list(scan.inventory.get("layers") or [])
    packages = list(scan.inventory.get("packages") or [])
    by_digest: dict[str, list[dict[str, Any]]] = {layer["digest"]: [] for layer in layers}
    loose: list[dict[str, Any]] = []
    for package in packages:
        by_digest.get(package.get("layer", ""), loose).append(package)
    grouped = [(layer, by_digest[layer["digest"]]) for layer in layers]
    if loose:
        grouped.append(({"index": "?", "digest": "", "created_by": "(layer unknown)"}, loose))
    return grouped


class DatabaseLayerCache:
    """The analysis's layer cache in the store's database (``LayerRecord``), shared by
    every worker."""

    def get(self, key: str) -> bytes | None:
        row = LayerRecord.objects.filter(key=key).values_list("pk", "data", "used_at").first()
        if row is None:
            return None
        now = clock.now()
        if now - row[2] > dt.timedelta(hours=1):  # at most one write an hour per layer
            LayerRecord.objects.filter(pk=row[0]).update(used_at=now)
        return bytes(row[1])

    def put(self, key: str, value: bytes) -> None:
        now = clock.now()
        try:
            with transaction.atomic():
                LayerRecord.objects.create(
                    key=key, data=value, size=len(value), created_at=now, used_at=now
                )
        except IntegrityError:  # another worker read the same layer a moment ago
            pass
