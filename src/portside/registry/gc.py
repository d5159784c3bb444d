"""Garbage collection of the registry's storage.

A blob goes when no manifest references it and nothing touched it during the grace
period (its creation and every link to it are older); an upload goes when it was last
written before the grace period. The grace period is what keeps a push in flight safe:
its blobs are new, and manifests are checked against existing blobs when they arrive.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, Max, OuterRef

from portside.audit import services as audit
from portside.blobstore import BlobStoreError, UploadNotFound
from portside.core import clock
from portside.registry.models import Blob, ManifestBlob, RepositoryBlob, Upload
from portside.registry.storage import store

logger = logging.getLogger(__name__)


@dataclass
class Report:
    blobs: list[tuple[str, int]] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    orphan_objects: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.blobs)


def _unreferenced(cutoff: dt.datetime):  # type: ignore[no-untyped-def]
    return (
        Blob.objects.filter(created_at__lt=cutoff)
        .annotate(
            referenced=Exists(ManifestBlob.objects.filter(blob=OuterRef("pk"))),
            last_link=Max("links__created_at"),
        )
        .filter(referenced=False)
        .exclude(last_link__gte=cutoff)
    )


def collect(*, grace: dt.timedelta, dry_run: bool, delete_orphans: bool = False) -> Report:
    cutoff = clock.now() - grace
    report = Report()
    blobs = store()

    for blob in _unreferenced(cutoff).order_by("id").iterator():
        if dry_run:
            report.blobs.append((blob.digest, blob.size))
            continue
        with transaction.atomic():
            # Lock the row, then re-check: a manifest may have arrived meanwhile (a new
            # reference to a locked row waits for this transaction, then fails cleanly).
            if not Blob.objects.select_for_update().filter(pk=blob.pk).exists():
                continue
            if ManifestBlob.objects.filter(blob_id=blob.pk).exists():
                continue
            if RepositoryBlob.objects.filter(blob_id=blob.pk, created_at__gte=cutoff).exists():
                continue
            RepositoryBlob.objects.filter(blob=blob).delete()
            Blob.objects.filter(pk=blob.pk).delete()
        try:
            blobs.delete(blob.digest)
        except BlobStoreError:
            logger.exception("could not delete %s from the blob store", blob.digest)
        report.blobs.append((blob.digest, blob.size))

    known_uploads = {u.store_id: u for u in Upload.objects.all()}
    for info in list(blobs.iter_uploads()):
        if info.modified >= cutoff.timestamp():
            continue
        report.uploads.append(info.upload_id)
        if dry_run:
            continue
        try:
            blobs.cancel_upload(info.upload_id)
        except UploadNotFound:
            pass
        row = known_uploads.get(info.upload_id)
        if row is not None:
            Upload.objects.filter(pk=row.pk).delete()
    # Sessions whose staging object is already gone.
    staged = {info.upload_id for info in blobs.iter_uploads()} | set(report.uploads)
    for key, row in known_uploads.items():
        if key not in staged and row.created_at < cutoff:
            report.uploads.append(key)
            if not dry_run:
                Upload.objects.filter(pk=row.pk).delete()

    known_blobs = set(Blob.objects.values_list("digest", flat=True))
    for digest in blobs.iter_digests():
        if digest not in known_blobs:
            report.orphan_objects.append(digest)
            if delete_orphans and not dry_run:
                blobs.delete(digest)

    if not dry_run:
        audit.record(
            "cli",
            "registry:storage:collected",
            blobs=len(report.blobs),
            freed_bytes=report.freed_bytes,
            uploads=len(report.uploads),
            orphan_objects=len(report.orphan_objects) if delete_orphans else 0,
            grace_hours=grace.total_seconds() / 3600,
        )
    return report
