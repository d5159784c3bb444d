"""Scans of images and what they found.

A ``Scan`` is the latest analysis of one image (a manifest digest in a repository). Its
inventory (layers, operating system, packages with their layer) is stored as JSON, so a
change of vulnerability data is matched again without reading the image; its SBOMs are
files in the default storage, made once by the worker. ``Finding`` rows are the
vulnerabilities matched to its packages; they keep the time they were first seen, and the
time they stopped matching, so that SLA clocks can start and stop per finding.
``LayerRecord`` caches what one pass read from a layer, by layer digest, so that a base
layer shared by many images is read once.

A run or a re-match writes its new findings in batches, as ``pending`` rows that the
default manager hides, and makes them visible with the rest of its result in one short
transaction at the end (``services``): no transaction is held while the image is read,
matched or its SBOMs written.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from portside.registry.models import Repository
from portside.scanner.practices import RULES_VERSION
from portside.vulndb.model import no_fix_text


class ScanStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    MAJOR = "major", "Major"
    MINOR = "minor", "Minor"
    UNKNOWN = "unknown", "Unknown"


SEVERITY_ORDER = [Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.UNKNOWN]


class Encoded(str):
    """JSON already encoded, stored as it is: a large inventory is encoded before the
    transaction that stores it begins, not while it holds the database's write lock."""


class InventoryEncoder(json.JSONEncoder):
    def encode(self, o: Any) -> str:
        if isinstance(o, Encoded):
            return str.__str__(o)
        return super().encode(o)


class Scan(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="scans")
    digest = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField()
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    platform = models.CharField(max_length=64, blank=True)
    distro = models.CharField(max_length=128, blank=True)
    package_count = models.IntegerField(default=0)
    layer_count = models.IntegerField(default=0)
    # The inventory (ScanInventory), kept apart from this row: the row changes often
    # (status, heartbeats) and SQLite rewrites a whole row, however little changes.
    inventory_row = models.ForeignKey(
        "ScanInventory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    practices = models.JSONField(default=list, blank=True)
    # The version of the best-practice checks that made ``practices``
    # (``scanner.practices.RULES_VERSION``); 0 for results kept from before it was recorded.
    practices_version = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    # The vulnerability feeds the latest match read (name, kind, records, when updated and
    # checked); empty when there was no vulnerability data, so nothing was matched.
    feeds = models.JSONField(default=list, blank=True)
    # The CycloneDX SBOM attached to the image as an OCI referrer (an artifact manifest
    # whose subject is the image), so that registry clients can find it.
    sbom_digest = models.CharField(max_length=200, blank=True)
    # The SBOM documents as files in the default storage (sboms/<sha256>.<kind>.json),
    # made by the worker and served as they are.
    sbom_cyclonedx = models.CharField(max_length=200, blank=True)
    sbom_spdx = models.CharField(max_length=200, blank=True)
    # Runs begun since the scan was last requested (a run that died is queued again until
    # max_attempts); every run ever begun, whose number identifies the current one; and
    # the current run's last sign of life.
    attempts = models.PositiveSmallIntegerField(default=0)
    run_number = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Matches stored so far; a finding seen by the latest carries its number (seen_in).
    match_count = models.PositiveIntegerField(default=0)
    critical = models.IntegerField(default=0)
    major = models.IntegerField(default=0)
    minor = models.IntegerField(default=0)
    unknown = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="one_scan_per_image")
        ]
        indexes = [
            models.Index(fields=["status", "requested_at"], name="scan_queue"),
            # The sweep's question every minute: done scans reviewed by older checks, the
            # oldest first (none, once every result is current).
            models.Index(fields=["practices_version", "finished_at"], name="scan_practices_age"),
        ]

    def __str__(self) -> str:
        return f"scan of {self.repository.name}@{self.digest}"

    @property
    def failed_practices(self) -> list[dict[str, Any]]:
        """The best-practice checks this image fails, as the scan page lists them: every
        page that summarises a scan's review reads this, so they cannot disagree."""
        return [p for p in self.practices or [] if p.get("status") == "fail"]

    @property
    def practices_outdated(self) -> bool:
        """Whether a done scan's best-practice results were made by an older version of
        the checks than this store's: shown as such until the sweep has the image scanned
        again (``running.refresh_outdated``)."""
        return self.status == ScanStatus.DONE and self.practices_version < RULES_VERSION

    @property
    def inventory(self) -> dict[str, Any]:
        """The inventory as ``scanner.model.inventory_to_dict`` writes it (layers, distro,
        packages), or ``{}`` before the first result; read once per instance."""
        if self.inventory_row_id is None:
            return {}
        cached: dict[str, Any] | None = self.__dict__.get("_inventory")
        if cached is None:
            found = ScanInventory.objects.filter(pk=self.inventory_row_id)
            cached = found.values_list("data", flat=True).first() or {}
            self.__dict__["_inventory"] = cached
        return cached

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_inventory", None)
        super().refresh_from_db(*args, **kwargs)


class ScanInventory(models.Model):
    """A scan's inventory as JSON: a run writes a new one before it switches its result,
    so the switch only points the scan at it."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="inventories")
    data = models.JSONField(default=dict, blank=True, encoder=InventoryEncoder)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"inventory of scan {self.scan_id}"


class VisibleFindings(models.Manager["Finding"]):
    """Findings of stored results only: not the rows a run or re-match is still writing."""

    def get_queryset(self) -> models.QuerySet[Finding]:
        return super().get_queryset().filter(pending=False)


class EveryFinding(models.Manager["Finding"]):
    """Every row, pending ones included: for the code that writes and switches them."""


class Finding(models.Model):
    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="findings")
    advisory_id = models.CharField(max_length=100)
    aliases = models.JSONField(default=list, blank=True)
    package_type = models.CharField(max_length=32)
    package_name = models.CharField(max_length=255)
    package_version = models.CharField(max_length=255)
    purl = models.CharField(max_length=1024, blank=True)
    layer_digest = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    vector = models.CharField(max_length=255, blank=True)
    score_source = models.CharField(max_length=32, blank=True)
    fixed_versions = models.JSONField(default=list, blank=True)
    # The distribution tracker's word for an issue without a fix ("end-of-life",
    # "undetermined", "ignored", ...) and its reason: see portside.vulndb.model.no_fix_text.
    fix_status = models.CharField(max_length=32, blank=True)
    fix_note = models.TextField(blank=True)
    summary = models.TextField(blank=True)
    urls = models.JSONField(default=list, blank=True)
    data_source = models.CharField(max_length=64, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The security team's classification, when it overrides the score's.
    reclassified = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    reclassified_reason = models.TextField(blank=True)
    reclassified_by_id = models.BigIntegerField(null=True, blank=True)
    reclassified_at = models.DateTimeField(null=True, blank=True)
    # Written by a run or re-match that has not finished yet (hidden until it does).
    pending = models.BooleanField(default=False)
    # The scan's match_count when it last matched this finding.
    seen_in = models.PositiveIntegerField(default=0)

    objects = VisibleFindings()
    every_row = EveryFinding()

    class Meta:
        base_manager_name = "every_row"
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "advisory_id", "package_type", "package_name", "package_version"],
                name="one_finding_per_package",
            )
        ]
        indexes = [
            models.Index(fields=["scan", "resolved_at"], name="finding_open"),
            # The security team's console filters the whole store by these.
            models.Index(fields=["advisory_id"], name="finding_advisory"),
            models.Index(fields=["package_name"], name="finding_package"),
        ]

    def __str__(self) -> str:
        return f"{self.advisory_id} in {self.package_name} {self.package_version}"

    @property
    def effective_severity(self) -> str:
        return self.reclassified or self.severity

    @property
    def no_fix(self) -> str:
        """What the page says instead of a fixed version when there is none."""
        return no_fix_text(self.fix_status, self.fix_note)


class LayerRecord(models.Model):
    """What the analysis read from one layer (its index entries and the claimed files),
    compressed, keyed by layer digest and the catalogers' fingerprint."""

    key = models.CharField(max_length=255, unique=True)
    data = models.BinaryField()
    size = models.IntegerField()
    created_at = models.DateTimeField()
    used_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
