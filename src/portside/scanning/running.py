"""Running a scan in the worker, and recovering the runs a dead worker left behind.

A run claims the scan (``running``, one more attempt), reads and analyses the image,
matches it, writes its findings in short batches, writes its SBOMs to files, and then
switches its result in one short transaction (``results``): the database's write lock is
never held while the image is read, matched or its documents written. A thread beats
while the run lasts (``heartbeat_at``); a scan left ``running`` without a beat for
``conf.stale_seconds()`` (or running past ``conf.max_run_seconds()``) was left by a worker
that died, and the worker's periodic :func:`sweep` queues it again, up to
``conf.max_attempts()`` runs, after which it fails and says why. Each run has a number
(``run_number``, never reused); a run that finds its scan re-queued, re-requested or
failed meanwhile (its number is no longer the scan's) stops and stores nothing.

The same sweep queues images pushed without a scan (:func:`scan_missed`) and, a few at a
time, images whose best-practice results were made by an older version of the checks
(:func:`refresh_outdated`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from functools import partial
from types import TracebackType
from typing import Any, BinaryIO

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q

from portside.audit import services as audit
from portside.blobstore.base import BlobStoreError
from portside.core import clock, events, records
from portside.core.errors import PortsideError
from portside.core.origin import Origin
from portside.oci.digest import Digest, Hasher
from portside.oci.errors import OCIError
from portside.registry.models import Manifest
from portside.registry.storage import store
from portside.scanner import errors as scan_errors
from portside.scanner.analyze import Analysis, analyze
from portside.scanner.catalogers import default_catalogers
from portside.scanner.layers import Limits
from portside.scanner.model import Inventory, inventory_to_dict
from portside.scanner.practices import RULES_VERSION, review
from portside.scanner.reader import open_blobs
from portside.scanning import conf, results
from portside.scanning import sbom as documents
from portside.scanning.models import Encoded, LayerRecord, Scan, ScanInventory, ScanStatus
from portside.vulndb.errors import VulnDBError

logger = logging.getLogger(__name__)
STORE_ORIGIN = Origin(ip_address=None, user_agent="portside-scanner")
SBOM_ARTIFACT = "application/vnd.cyclonedx+json"
EMPTY_CONFIG = b"{}"


def run(*, scan_id: int) -> Scan | None:
    """Analyse the image, review it, match it; the scan ends done or failed, never
    half-written (or, if its worker dies, running until the sweep queues it again). A
    scan whose image was deleted before or while it ran ends quietly (None): the scan
    went with the image."""
    scan = Scan.objects.select_related("repository__organization").filter(pk=scan_id).first()
    if scan is None:
        logger.info("scan %s is gone with its image; nothing to run", scan_id)
        return None
    try:
        number = _claim(scan.pk)
    except Scan.DoesNotExist:
        logger.info("scan %s is gone with its image; nothing to run", scan_id)
        return None
    try:
        with Heartbeat(scan.pk, number):
            _run(scan, number)
    except Exception as exc:
        if not Scan.objects.filter(pk=scan.pk).exists():
            logger.info(
                "scan %s of %s@%s ended: the image was deleted while it ran",
                scan.pk,
                scan.repository.name,
                scan.digest,
            )
            results.discard_pending(scan.pk)
            return None
        logger.exception("scan %s of %s@%s failed", scan.pk, scan.repository.name, scan.digest)
        _fail(scan.pk, number, f"The scan stopped on an internal error ({type(exc).__name__}).")
        results.discard_pending(scan.pk)
        raise
    try:
        scan.refresh_from_db()
    except Scan.DoesNotExist:
        logger.info("scan %s ended: the image was deleted while it ran", scan_id)
        return None
    return scan


def _claim(scan_id: int) -> int:
    """Mark the scan running, as one more attempt; returns the run's number."""
    now = clock.now()
    with transaction.atomic():
        Scan.objects.filter(pk=scan_id).update(
            status=ScanStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            run_number=F("run_number") + 1,
            error="",
        )
        number: int = Scan.objects.filter(pk=scan_id).values_list("run_number", flat=True).get()
    return number


def _mine(scan_id: int, number: int) -> Any:
    """The scan's row, if run ``number`` still runs it."""
    return Scan.objects.filter(pk=scan_id, status=ScanStatus.RUNNING, run_number=number)


def _fail(scan_id: int, number: int, message: str) -> None:
    _mine(scan_id, number).update(
        status=ScanStatus.FAILED,
        error=message[:2000],
        finished_at=clock.now(),
        heartbeat_at=None,
    )


def _run(scan: Scan, number: int) -> None:
    repository = scan.repository
    try:
        manifest = Manifest.objects.get(repository=repository, digest=scan.digest)
        analysis = _analyse(manifest)
        tags = list(manifest.tags.values_list("name", flat=True))
        reviewed = review(analysis, today=clock.now().date(), tags=tags or None)
    except (scan_errors.ScanError, Manifest.DoesNotExist) as exc:
        _fail(scan.pk, number, str(exc))
        return
    inventory = analysis.inventory
    current = _mine(scan.pk, number).select_related("repository").first()
    if current is None:
        logger.info("scan %s: run %s was superseded; stopping", scan.pk, number)
        return
    results.discard_pending(scan.pk)  # rows an interrupted attempt left
    try:
        planned = results.plan(current, inventory)
    except VulnDBError as exc:
        _fail(scan.pk, number, f"The vulnerability database cannot be used: {exc.message}")
        return
    results.write(planned)
    current.finished_at = clock.now()
    try:
        names = documents.produce(current, inventory, planned.open, feeds=planned.feeds)
    except scan_errors.ScanError as exc:  # an SBOM that does not validate
        results.discard_pending(scan.pk)
        _fail(scan.pk, number, str(exc))
        return
    stored = _store_inventory(scan.pk, inventory)
    fields = _result_fields(current, analysis, inventory, reviewed, planned, names)
    fields["inventory_row"] = stored
    with transaction.atomic():
        switched = results.switch(
            planned, condition={"status": ScanStatus.RUNNING, "run_number": number}, fields=fields
        )
        if switched:
            events.emit(
                "scanning:scan:finished",
                scan_id=scan.pk,
                repository=repository.name,
                digest=scan.digest,
            )
    if not switched:
        logger.info("scan %s: run %s was superseded; its result is dropped", scan.pk, number)
        results.discard_pending(scan.pk)
        documents.discard(names.values())
        return
    ScanInventory.objects.filter(scan_id=scan.pk).exclude(pk=stored.pk).delete()
    documents.discard(
        name for name in (current.sbom_cyclonedx, current.sbom_spdx) if name not in names.values()
    )
    attach_sbom(scan.pk, manifest, names["cyclonedx"])


def _analyse(manifest: Manifest) -> Analysis:
    repository = manifest.repository

    def child(digest: str) -> bytes:
        found = Manifest.objects.filter(repository=repository, digest=digest).first()
        if found is None:
            raise scan_errors.ScanError(f"{repository.name} has no manifest {digest}")
        return bytes(found.content)

    with open_blobs(
        bytes(manifest.content),
        _blob_opener,
        media_type=manifest.media_type,
        digest=manifest.digest,
        name=f"{repository.name}@{manifest.digest}",
        manifests=child,
        limits=Limits(max_packages=conf.max_packages()),
    ) as image:
        return analyze(image, catalogers=default_catalogers(), cache=DatabaseLayerCache())


def _blob_opener(digest: str) -> BinaryIO:
    return store().open(digest)


def _result_fields(
    scan: Scan,
    analysis: Analysis,
    inventory: Inventory,
    reviewed: list[Any],
    planned: results.Plan,
    names: dict[str, str],
) -> dict[str, Any]:
    """The scan row's new values."""
    analysed = [{"reason": w} for w in analysis.warnings[:500]]
    return {
        "status": ScanStatus.DONE,
        "error": "",
        "finished_at": scan.finished_at,
        "heartbeat_at": None,
        "practices": [r.as_dict() for r in reviewed],
        "practices_version": RULES_VERSION,
        "platform": inventory.platform,
        "distro": _distro_label(inventory),
        "package_count": len(inventory.packages),
        "layer_count": len(inventory.layers),
        "warnings": results.warnings_with(analysed, planned),
        "sbom_cyclonedx": names["cyclonedx"],
        "sbom_spdx": names["spdx"],
    }


def _store_inventory(scan_id: int, inventory: Inventory) -> ScanInventory:
    """The new inventory, in a row of its own that nothing points at yet: written (in a
    short transaction of its own, encoded before it) before the switch, which only
    points the scan at it."""
    encoded = _encoded(inventory)
    return ScanInventory.objects.create(scan_id=scan_id, data=encoded, created_at=clock.now())


def _encoded(inventory: Inventory) -> Encoded:
    """``inventory_to_dict(inventory, owned_files=False)`` as JSON, encoded a package at a
    time: the whole inventory as dictionaries costs several times its text."""
    head = json.dumps(inventory_to_dict(records.replace(inventory, packages=())))
    empty = '"packages": []}'
    if not head.endswith(empty):  # pragma: no cover - inventory_to_dict's last key
        raise AssertionError("the inventory's packages are not its last key")
    parts = [head[: -len(empty)], '"packages": [']
    for position, package in enumerate(inventory.packages):
        fields = records.asdict(package)
        fields["files"] = []
        parts.append((", " if position else "") + json.dumps(fields))
    parts.append("]}")
    return Encoded("".join(parts))


def _distro_label(inventory: Inventory) -> str:
    distro = inventory.distro
    if distro is None:
        return ""
    return distro.pretty_name or f"{distro.id} {distro.version_id}".strip()


# --- the SBOM as an OCI referrer -----------------------------------------------------------


def attach_sbom(scan_id: int, image: Manifest, document: str) -> None:
    """Push the scan's stored CycloneDX SBOM into the image's repository as an artifact
    whose subject is the image (OCI 1.1 referrers); the previous one, if any, is removed.
    The scan's result stands if the push fails (it is logged)."""
    from portside.oci import mediatypes
    from portside.registry import services as registry

    scan = Scan.objects.select_related("repository").get(pk=scan_id)
    repository = scan.repository
    try:
        sbom_blob = registry.store_blob(
            repository=repository, data=documents.read_document(document)
        )
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
                    {
                        "mediaType": SBOM_ARTIFACT,
                        "digest": sbom_blob.digest,
                        "size": sbom_blob.size,
                    }
                ],
                "subject": {
                    "mediaType": image.media_type,
                    "digest": image.digest,
                    "size": image.size,
                },
                "annotations": {
                    "org.opencontainers.image.created": (
                        scan.finished_at or clock.now()
                    ).isoformat(),
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
            origin=STORE_ORIGIN,
        )
    except (OCIError, BlobStoreError, PortsideError, OSError):
        logger.exception("the SBOM of scan %s could not be attached to its image", scan_id)
        return
    previous = scan.sbom_digest
    Scan.objects.filter(pk=scan_id).update(sbom_digest=stored.digest)
    if previous and previous != stored.digest:
        try:
            registry.delete_manifest(
                repository=repository,
                reference=Digest.parse(previous),
                user=None,
                origin=STORE_ORIGIN,
            )
        except OCIError:  # already deleted by a publisher: nothing to do
            logger.info("previous SBOM %s of %s was already gone", previous, repository.name)


def _sha256(body: bytes) -> Digest:
    hasher = Hasher("sha256")
    hasher.update(body)
    return hasher.digest()


# --- liveness and recovery -----------------------------------------------------------------


class Heartbeat:
    """While a run lasts, a thread records every ``conf.heartbeat_seconds()`` that it is
    alive; the run's analysis holds the interpreter, but not for seconds at a time."""

    def __init__(self, scan_id: int, number: int) -> None:
        self.scan_id = scan_id
        self.number = number
        self.interval = conf.heartbeat_seconds()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"scan-{scan_id}-heartbeat")

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                try:
                    beat(self.scan_id, self.number)
                except DatabaseError:
                    logger.warning("scan %s: the heartbeat was not recorded", self.scan_id)
        finally:
            connection.close()  # this thread's own connection, if it opened one


def beat(scan_id: int, number: int) -> bool:
    """Record that run ``number`` is alive; False when the scan is no longer its."""
    return bool(_mine(scan_id, number).update(heartbeat_at=clock.now()))


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Queue again the scans whose run stopped without a word (its worker died), or fail
    those that have had ``conf.max_attempts()`` runs, with the reason. Each change is
    conditional on the scan still being in the state it was found in, so several
    workers may sweep at once. Then queues the images that were missed and a batch of
    those whose best-practice results are outdated. Returns how many scans were queued
    again and failed, and how many were queued as missed (``unscanned``) and outdated."""
    from portside.scanning.tasks import run_scan

    now = now or clock.now()
    silent = now - dt.timedelta(seconds=conf.stale_seconds())
    too_long = now - dt.timedelta(seconds=conf.max_run_seconds())
    stale = Scan.objects.filter(status=ScanStatus.RUNNING).filter(
        Q(heartbeat_at__lt=silent)
        | Q(heartbeat_at__isnull=True, started_at__lt=silent)
        | Q(started_at__isnull=True)
        | Q(started_at__lt=too_long)
    )
    limit = conf.max_attempts()
    counts = {"requeued": 0, "failed": 0}
    for scan in stale.select_related("repository__organization"):
        found = Scan.objects.filter(pk=scan.pk, status=ScanStatus.RUNNING, attempts=scan.attempts)
        details: dict[str, Any] = {
            "organization": scan.repository.organization,
            "repository": scan.repository.name,
            "digest": scan.digest,
            "attempts": scan.attempts,
            "heartbeat_at": scan.heartbeat_at.isoformat() if scan.heartbeat_at else "",
        }
        with transaction.atomic():
            if scan.attempts >= limit:
                reason = (
                    f"The scan was interrupted {scan.attempts} times (the worker running it "
                    "stopped, or a run took too long) and was given up; scan the image "
                    "again to retry."
                )
                if not found.update(
                    status=ScanStatus.FAILED, error=reason, finished_at=now, heartbeat_at=None
                ):
                    continue
                audit.record(None, "scanning:scan:abandoned", scan, **details)
                counts["failed"] += 1
            else:
                if not found.update(status=ScanStatus.QUEUED, heartbeat_at=None):
                    continue
                audit.record(None, "scanning:scan:requeued", scan, **details)
                transaction.on_commit(partial(run_scan.enqueue, scan_id=scan.pk))
                counts["requeued"] += 1
        logger.warning(
            "scan %s of %s@%s was interrupted (attempt %s): %s",
            scan.pk,
            scan.repository.name,
            scan.digest,
            scan.attempts,
            "given up" if scan.attempts >= limit else "queued again",
        )
    counts["unscanned"] = scan_missed(now)
    counts["outdated"] = refresh_outdated(now)
    return counts


# Images pushed this long ago with no scan were missed (their push's event was lost or
# its delivery given up); older ones are left to `portside scan` by hand, so that the
# sweep never reads the whole registry.
MISSED_AFTER = dt.timedelta(minutes=10)
MISSED_WITHIN = dt.timedelta(days=1)
MISSED_BATCH = 200


def scan_missed(now: dt.datetime) -> int:
    """Queue a scan of each image manifest pushed between a day and ten minutes ago that
    has no scan (at most ``MISSED_BATCH`` a sweep). Returns how many were queued."""
    from django.conf import settings
    from django.db.models import Exists, OuterRef

    from portside.oci import mediatypes
    from portside.scanning import services

    if not settings.SCAN_ON_PUSH:
        return 0
    scanned = Scan.objects.filter(
        repository_id=OuterRef("repository_id"), digest=OuterRef("digest")
    )
    missed = (
        Manifest.objects.filter(
            pushed_at__lt=now - MISSED_AFTER,
            pushed_at__gte=now - MISSED_WITHIN,
            media_type__in=mediatypes.IMAGE_TYPES,
            artifact_type="",
        )
        .exclude(Exists(scanned))
        .select_related("repository__organization")
        .order_by("pushed_at")[:MISSED_BATCH]
    )
    queued = 0
    for manifest in missed:
        if not services.is_scannable(manifest):
            continue
        try:
            services.request_scan(repository=manifest.repository, digest=manifest.digest, user=None)
        except PortsideError:
            continue  # deleted meanwhile
        logger.warning("%s was pushed without being scanned; scan queued", manifest)
        queued += 1
    return queued


# Scans queued or running that were asked for within this long take up the refresh's
# batch; older ones are stuck (their task was lost), not work waiting for the worker.
BUSY_WITHIN = dt.timedelta(days=1)


def refresh_outdated(now: dt.datetime) -> int:
    """Queue a new scan of done images whose best-practice results were made by an older
    version of the checks (``practices_version`` below ``RULES_VERSION``), the oldest
    results first: ``conf.refresh_batch()`` less the scans already queued or running, so
    that the worker's queue stays short and pushed images go first. Each change is
    conditional on the scan still being done with older results, so a scan already
    queued or running is not queued again, however many sweeps find it. Returns how many
    scans were queued."""
    from django.db.models import Exists, OuterRef

    from portside.scanning.tasks import run_scan

    batch = conf.refresh_batch()
    if batch <= 0:
        return 0
    busy = Scan.objects.filter(
        status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING], requested_at__gte=now - BUSY_WITHIN
    ).count()
    if busy >= batch:
        return 0
    image = Manifest.objects.filter(
        repository_id=OuterRef("repository_id"), digest=OuterRef("digest")
    )
    outdated = Scan.objects.filter(status=ScanStatus.DONE, practices_version__lt=RULES_VERSION)
    oldest = (
        outdated.filter(Exists(image))
        .order_by("practices_version", F("finished_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[: batch - busy]
    )
    queued = 0
    for pk in list(oldest):
        with transaction.atomic():
            if not outdated.filter(pk=pk).update(
                status=ScanStatus.QUEUED,
                error="",
                requested_at=now,
                requested_by_id=None,
                attempts=0,
                heartbeat_at=None,
            ):
                continue  # queued by another worker's sweep, or by a publisher, meanwhile
            transaction.on_commit(partial(run_scan.enqueue, scan_id=pk))
        queued += 1
    if queued:
        logger.info("best-practice results made by older checks: %s images queued", queued)
    return queued


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
