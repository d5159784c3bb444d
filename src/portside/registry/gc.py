"""Garbage collection of the registry's storage.

A blob is a candidate when no manifest references it and nothing touched it during the
grace period (its creation and every link to it are older). Collecting it takes two
transactions, each holding the blob row locked:

1. **mark**: check both conditions again and make the row unavailable. From then on
   pulls answer BLOB_UNKNOWN for it (so clients upload it again) and manifests and mounts
   no longer see it.
2. **sweep**: if the row is still unavailable and unreferenced, delete the bytes from the
   store, then the links and the row, and audit ``registry:blob:deleted``.

A push that finishes an upload of the same digest locks the same row, makes it available
and makes sure the bytes are in the store, in one transaction
(``services._hold_blob``). Either it comes before the sweep, which then finds the row
available and leaves it, or after, when row and bytes are gone and it stores its own
bytes. So bytes are deleted only while their row is unavailable, and a row is available
only once its bytes are in: a blob a HEAD answers 200 for can be read. When the sweep's
commit fails after the bytes went, the row stays unavailable and the next run finishes it.

A push that does not upload a blob because the repository has it (clients ask with HEAD,
holding their push token) restarts the grace period of that link, with the row locked
(``services.linked_blob_for_push``): either the mark came first, and the HEAD answers 404
so the client uploads the blob, or the mark sees a fresh link and leaves the blob to the
manifest that follows. Without it, a blob unreferenced for longer than the grace period
(an image deleted and later pushed again) could be taken between the HEAD and the
manifest, refusing the push with MANIFEST_BLOB_UNKNOWN whatever the grace period.

Stored objects without a row (orphans) are deleted the same way: the sweep first claims
the digest with an unavailable row of its own, which a concurrent push of that digest
waits for, so the bytes that push commits are never the ones deleted.

Rows whose bytes are missing from the store (found by listing it) are made unavailable
(``services.blob_bytes_missing``), so that pulls stop claiming them and the next push of
those bytes restores them.

Locks are taken in one order everywhere: blob rows, then the repository row, then the
audit trail's lock (PostgreSQL), so collection and pushes cannot deadlock.

An upload goes when it was last written before the grace period.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef, QuerySet

from portside.audit import services as audit
from portside.blobstore import BlobStoreError, UploadNotFound
from portside.core import clock
from portside.registry import services
from portside.registry.models import Blob, ManifestBlob, RepositoryBlob, Upload
from portside.registry.storage import store

logger = logging.getLogger(__name__)


@dataclass
class Report:
    blobs: list[tuple[str, int]] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    orphan_objects: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.blobs)


def _referenced() -> Exists:
    return Exists(ManifestBlob.objects.filter(blob=OuterRef("pk")))


def _unreferenced(cutoff: dt.datetime) -> QuerySet[Blob]:
    return (
        Blob.objects.filter(created_at__lt=cutoff, available=True)
        .annotate(referenced=_referenced(), last_link=Max("links__created_at"))
        .filter(referenced=False)
        .exclude(last_link__gte=cutoff)
    )


def _left_unavailable() -> QuerySet[Blob]:
    """Unreferenced rows already unavailable: marked by a run that did not finish, or
    whose bytes were found missing."""
    return (
        Blob.objects.filter(available=False)
        .annotate(referenced=_referenced())
        .filter(referenced=False)
    )


def _mark(pk: int, cutoff: dt.datetime) -> bool:
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(pk=pk, available=True).first()
        if blob is None or blob.created_at >= cutoff:
            return False
        if ManifestBlob.objects.filter(blob_id=pk).exists():
            return False
        if RepositoryBlob.objects.filter(blob_id=pk, created_at__gte=cutoff).exists():
            return False
        Blob.objects.filter(pk=pk).update(available=False)
    return True


def _sweep(pk: int) -> tuple[str, int] | None:
    """Delete an unavailable, unreferenced blob: bytes, links, row. None when a push made
    it available again, a manifest references it, or the store refused."""
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(pk=pk, available=False).first()
        if blob is None or ManifestBlob.objects.filter(blob_id=pk).exists():
            return None
        try:
            store().delete(blob.digest)
        except BlobStoreError:
            logger.exception("could not delete %s from the blob store", blob.digest)
            return None
        RepositoryBlob.objects.filter(blob_id=pk).delete()
        Blob.objects.filter(pk=pk).delete()
        audit.record("cli", "registry:blob:deleted", blob, digest=blob.digest, size=blob.size)
    return blob.digest, blob.size


def _sweep_orphan(digest: str) -> bool:
    """Delete a stored object no row knows, claiming its digest with a row first."""
    try:
        with transaction.atomic():
            claim = Blob.objects.create(
                digest=digest, size=0, created_at=clock.now(), available=False
            )
            store().delete(digest)
            audit.record("cli", "registry:blob:deleted", claim, digest=digest, orphan=True)
            claim.delete()
    except IntegrityError:  # a push of these bytes has a row now: not an orphan
        return False
    except BlobStoreError:
        logger.exception("could not delete %s from the blob store", digest)
        return False
    return True


def collect(*, grace: dt.timedelta, dry_run: bool, delete_orphans: bool = False) -> Report:
    cutoff = clock.now() - grace
    report = Report()
    blobs = store()

    candidates = list(_unreferenced(cutoff).order_by("id").values_list("pk", "digest", "size"))
    leftovers = list(_left_unavailable().order_by("id").values_list("pk", "digest", "size"))
    if dry_run:
        report.blobs = [(digest, size) for _, digest, size in candidates + leftovers]
    else:
        for pk, _, _ in candidates:
            if _mark(pk, cutoff):
                leftovers.append((pk, "", 0))
        for pk, _, _ in leftovers:
            swept = _sweep(pk)
            if swept is not None:
                report.blobs.append(swept)

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

    stored = set(blobs.iter_digests())
    rows = dict(Blob.objects.values_list("digest", "available"))
    for digest in sorted(stored - rows.keys()):
        if delete_orphans and not dry_run:
            if _sweep_orphan(digest):
                report.orphan_objects.append(digest)
        else:
            report.orphan_objects.append(digest)
    for digest in sorted(d for d, available in rows.items() if available and d not in stored):
        if dry_run or services.blob_bytes_missing(digest=digest):
            report.missing.append(digest)

    if not dry_run:
        audit.record(
            "cli",
            "registry:storage:collected",
            blobs=len(report.blobs),
            freed_bytes=report.freed_bytes,
            uploads=len(report.uploads),
            orphan_objects=len(report.orphan_objects) if delete_orphans else 0,
            missing=len(report.missing),
            grace_hours=grace.total_seconds() / 3600,
        )
    return report
