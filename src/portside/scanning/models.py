"""Scans of images and what they found.

A ``Scan`` is the latest analysis of one image (a manifest digest in a repository). Its
inventory (layers, operating system, packages with their layer) is stored as JSON, so a
change of vulnerability data is matched again without reading the image. ``Finding`` rows
are the vulnerabilities matched to its packages; they keep the time they were first seen,
and the time they stopped matching, so that SLA clocks can start and stop per finding.
``LayerRecord`` caches what one pass read from a layer, by layer digest, so that a base
layer shared by many images is read once.
"""

from __future__ import annotations

from django.db import models

from portside.registry.models import Repository


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
    # The inventory as portside.scanning.inventory writes it: layers, distro, packages.
    inventory = models.JSONField(default=dict, blank=True)
    practices = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # The CycloneDX SBOM attached to the image as an OCI referrer (an artifact manifest
    # whose subject is the image), so that registry clients can find it.
    sbom_digest = models.CharField(max_length=200, blank=True)
    critical = models.IntegerField(default=0)
    major = models.IntegerField(default=0)
    minor = models.IntegerField(default=0)
    unknown = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="one_scan_per_image")
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="scan_queue")]

    def __str__(self) -> str:
        return f"scan of {self.repository.name}@{self.digest}"


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

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "advisory_id", "package_type", "package_name", "package_version"],
                name="one_finding_per_package",
            )
        ]
        indexes = [models.Index(fields=["scan", "resolved_at"], name="finding_open")]

    def __str__(self) -> str:
        return f"{self.advisory_id} in {self.package_name} {self.package_version}"

    @property
    def effective_severity(self) -> str:
        return self.reclassified or self.severity


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
