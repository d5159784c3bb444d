"""Use cases of the registry: uploads, blobs, manifests, tags, referrers, pulls.

The web layer (views.py) translates HTTP to these calls and their ``OCIError`` exceptions
back to the protocol; the command line and tasks call the same functions.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import Collate

from portside.accounts import lookups
from portside.accounts.models import Organization
from portside.audit import services as audit
from portside.blobstore import UploadNotFound, UploadOffsetMismatch, UploadTooLarge
from portside.core import clock, events
from portside.core.origin import Origin
from portside.oci import errors
from portside.oci.digest import Digest, Hasher
from portside.oci.manifest import Manifest as ParsedManifest
from portside.oci.manifest import parse_manifest
from portside.oci.reference import validate_name
from portside.registry.models import (
    Blob,
    Manifest,
    ManifestBlob,
    ManifestChild,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
)
from portside.registry.storage import store

# --- repositories -------------------------------------------------------------------------


def namespace_of(name: str) -> Organization | None:
    """The organisation that owns a repository name's first path component."""
    validate_name(name)
    if "/" not in name:
        return None
    return lookups.organization_by_name(name.split("/", 1)[0])


def find_repository(name: str) -> Repository | None:
    return Repository.objects.select_related("organization").filter(name=name).first()


def repository_for_push(name: str) -> Repository:
    """The repository, created on first push inside an organisation's namespace."""
    repository = find_repository(name)
    if repository is not None:
        return repository
    organization = namespace_of(name)
    if organization is None:
        raise errors.NameInvalid(
            "Repositories live in an organisation's namespace: push to ORGANISATION/NAME."
        )
    try:
        with transaction.atomic():
            return Repository.objects.create(
                organization=organization, name=name, created_at=clock.now()
            )
    except IntegrityError:
        found = find_repository(name)
        assert found is not None
        return found


def existing_repository(name: str) -> Repository:
    repository = find_repository(name)
    if repository is None:
        raise errors.NameUnknown(f"Repository {name} is not known.")
    return repository


# --- uploads ------------------------------------------------------------------------------

# Running sha256 states of uploads this process received, so a chunked upload is hashed
# once while it streams in. Another process finishing the upload re-reads it instead.
_hashers: dict[str, tuple[int, Any]] = {}
_hashers_lock = threading.Lock()
_MAX_HASHERS = 256


def start_upload(*, repository: Repository, user_id: int | None) -> Upload:
    upload = Upload.objects.create(
        repository=repository, created_at=clock.now(), created_by_id=user_id
    )
    store().start_upload(upload.store_id)
    return upload


def find_upload(repository: Repository, upload_id: str) -> Upload:
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise errors.BlobUploadUnknown() from None
    upload = Upload.objects.filter(pk=key, repository=repository).first()
    if upload is None:
        raise errors.BlobUploadUnknown()
    return upload


def upload_size(upload: Upload) -> int:
    try:
        return store().upload_info(upload.store_id).size
    except UploadNotFound:
        raise errors.BlobUploadUnknown() from None


def _quota_left(organization: Organization, *, besides: Upload | None = None) -> int | None:
    """What the organisation may still store: its quota less the distinct blobs its
    repositories link and the bytes staged by its other uploads in progress."""
    quota = settings.REGISTRY_ORG_QUOTA_BYTES
    if not quota:
        return None
    used = (
        Blob.objects.filter(links__repository__organization=organization)
        .distinct()
        .aggregate(total=Sum("size"))["total"]
        or 0
    )
    staging = Upload.objects.filter(repository__organization=organization)
    if besides is not None:
        staging = staging.exclude(pk=besides.pk)
    used += staging.aggregate(total=Sum("staged_size"))["total"] or 0
    return max(quota - used, 0)


def append(*, upload: Upload, chunks: Iterable[bytes], start: int | None) -> int:
    """Append streamed bytes; ``start`` is the offset the client says it writes at."""
    current = upload_size(upload)
    if start is not None and start != current:
        raise errors.RangeInvalid(
            f"The upload holds {current} bytes; a chunk starting at {start} is out of order.",
            detail={"size": current},
        )
    key = upload.store_id
    with _hashers_lock:
        state = _hashers.pop(key, None)
    hasher = None
    if current == 0:
        hasher = hashlib.sha256()
    elif state is not None and state[0] == current:
        hasher = state[1]

    def hashed(source: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in source:
            if hasher is not None:
                hasher.update(chunk)
            yield chunk

    left = _quota_left(upload.repository.organization, besides=upload)
    limit = None if left is None else current + left
    try:
        size = store().append_upload(key, hashed(chunks), offset=current, limit=limit)
    except UploadOffsetMismatch as exc:
        raise errors.RangeInvalid(detail={"size": exc.actual}) from None
    except UploadTooLarge:
        raise errors.Denied(
            f"The organisation's storage quota ({settings.REGISTRY_ORG_QUOTA_BYTES} bytes) "
            "would be exceeded."
        ) from None
    except UploadNotFound:
        raise errors.BlobUploadUnknown() from None
    upload.staged_size = size
    if hasher is None:
        Upload.objects.filter(pk=upload.pk).update(staged_size=size)
        return size
    with _hashers_lock:
        while len(_hashers) >= _MAX_HASHERS:  # abandoned uploads: forget the oldest
            _hashers.pop(next(iter(_hashers)))
        _hashers[key] = (size, hasher)
    upload.hashed_size, upload.hashed_digest = size, "sha256:" + hasher.copy().hexdigest()
    Upload.objects.filter(pk=upload.pk).update(
        staged_size=size, hashed_size=size, hashed_digest=upload.hashed_digest
    )
    return size


def _verify_upload(upload: Upload, digest: Digest, size: int) -> None:
    if digest.algorithm == "sha256" and upload.hashed_size == size and upload.hashed_digest:
        actual = upload.hashed_digest
    else:
        hasher = Hasher(digest.algorithm)
        for chunk in store().read_upload(upload.store_id):
            hasher.update(chunk)
        actual = str(hasher.digest())
    if actual != str(digest):
        raise errors.DigestInvalid(
            f"The uploaded content has digest {actual}, not {digest}.",
            detail={"expected": str(digest), "actual": actual},
        )


def complete_upload(*, upload: Upload, digest: Digest) -> Blob:
    """Verify the staged bytes against ``digest`` and make them a blob of the repository."""
    upload = Upload.objects.get(pk=upload.pk)  # fresh hashed_* columns
    size = upload_size(upload)
    _verify_upload(upload, digest, size)
    store().commit_upload(upload.store_id, str(digest))
    with _hashers_lock:
        _hashers.pop(upload.store_id, None)
    with transaction.atomic():
        blob = _blob_row(str(digest), size)
        _link(upload.repository, blob)
        Upload.objects.filter(pk=upload.pk).delete()
    return blob


def cancel_upload(upload: Upload) -> None:
    store().cancel_upload(upload.store_id)
    with _hashers_lock:
        _hashers.pop(upload.store_id, None)
    Upload.objects.filter(pk=upload.pk).delete()


def _blob_row(digest: str, size: int) -> Blob:
    blob = Blob.objects.filter(digest=digest).first()
    if blob is not None:
        return blob
    try:
        with transaction.atomic():
            return Blob.objects.create(digest=digest, size=size, created_at=clock.now())
    except IntegrityError:
        return Blob.objects.get(digest=digest)


def _link(repository: Repository, blob: Blob) -> None:
    """Link a blob to a repository; linking again (a re-upload, a mount) restarts the
    garbage-collection grace period of the link."""
    if RepositoryBlob.objects.filter(repository=repository, blob=blob).update(
        created_at=clock.now()
    ):
        return
    try:
        with transaction.atomic():
            RepositoryBlob.objects.create(repository=repository, blob=blob, created_at=clock.now())
    except IntegrityError:  # linked by a concurrent request a moment ago
        pass


# --- blobs --------------------------------------------------------------------------------


# The two lookups every pull makes (a manifest by tag or digest, a blob through its
# repository) are written as SQL once: compiling the equivalent ORM query cost several
# times more than running it. The rows are turned into model instances by hand.
def _table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


_BLOB_SQL = (
    "SELECT b.id, b.digest, b.size FROM {blob} b "
    "JOIN {link} l ON l.blob_id = b.id JOIN {repo} r ON r.id = l.repository_id "
    "WHERE b.digest = %s AND r.name = %s LIMIT 1"
)
_MANIFEST_SQL = (
    "SELECT m.id, m.digest, m.media_type, m.content, r.id, r.name, o.id, o.name "
    "FROM {manifest} m JOIN {repo} r ON r.id = m.repository_id "
    "JOIN {org} o ON o.id = r.organization_id "
)
_BY_DIGEST = "WHERE r.name = %s AND m.digest = %s LIMIT 1"
_BY_TAG = "JOIN {tag} t ON t.manifest_id = m.id WHERE r.name = %s AND t.name = %s LIMIT 1"


@functools.cache
def _hot_sql(kind: str) -> str:
    tables = {
        "blob": _table(Blob),
        "link": _table(RepositoryBlob),
        "repo": _table(Repository),
        "manifest": _table(Manifest),
        "org": _table(Organization),
        "tag": _table(Tag),
    }
    if kind == "blob":
        return _BLOB_SQL.format(**tables)
    return (_MANIFEST_SQL + (_BY_TAG if kind == "tag" else _BY_DIGEST)).format(**tables)


def linked_blob_by_name(name: str, digest: Digest) -> Blob:
    """The blob, if the repository called ``name`` links it; BLOB_UNKNOWN otherwise (even
    when another repository has it: content is reachable only where it was pushed or
    mounted). One query: this is the hot path of blob HEAD and GET."""
    with connection.cursor() as cursor:
        cursor.execute(_hot_sql("blob"), [str(digest), name])
        row = cursor.fetchone()
    if row is None:
        raise errors.BlobUnknown(detail={"digest": str(digest)})
    return Blob(id=row[0], digest=row[1], size=row[2])


@dataclass(frozen=True, slots=True)
class PulledManifest:
    """What a manifest GET or HEAD needs, read in one query without building models."""

    id: int
    digest: str
    media_type: str
    content: bytes
    repository_id: int
    repository_name: str
    organization_id: int
    organization_name: str

    @property
    def organization(self) -> audit.Owner:
        return audit.Owner(self.organization_id, self.organization_name)

    @property
    def audit_target(self) -> audit.Target:
        return audit.Target(
            "registry.manifest", str(self.id), f"{self.repository_name}@{self.digest}"
        )


def manifest_by_name(name: str, reference: Digest | str) -> PulledManifest:
    """A manifest by repository name and tag or digest, with its repository and
    organisation, in one query (the hot path of every pull)."""
    kind = "digest" if isinstance(reference, Digest) else "tag"
    with connection.cursor() as cursor:
        cursor.execute(_hot_sql(kind), [name, str(reference)])
        row = cursor.fetchone()
    if row is None:
        raise errors.ManifestUnknown(detail={"reference": str(reference)})
    return PulledManifest(row[0], row[1], row[2], bytes(row[3]), *row[4:8])


def mount(*, target: Repository, source: Repository | None, digest: Digest) -> Blob | None:
    """Link a blob the source repository has; None when it has not (the client then
    uploads)."""
    if source is None:
        return None
    blob = Blob.objects.filter(digest=str(digest), links__repository=source).first()
    if blob is None:
        return None
    _link(target, blob)
    return blob


def unlink_blob(*, repository: Repository, digest: Digest) -> None:
    deleted, _ = RepositoryBlob.objects.filter(
        repository=repository, blob__digest=str(digest)
    ).delete()
    if not deleted:
        raise errors.BlobUnknown(detail={"digest": str(digest)})


# --- manifests ----------------------------------------------------------------------------


def _check_references(repository: Repository, parsed: ParsedManifest) -> list[Blob]:
    if parsed.is_index:
        wanted = {str(d.digest) for d in parsed.manifests}
        found = set(
            Manifest.objects.filter(repository=repository, digest__in=wanted).values_list(
                "digest", flat=True
            )
        )
        missing = sorted(wanted - found)
        if missing:
            raise errors.ManifestBlobUnknown(
                f"The index references manifests this repository does not have: {missing[0]}",
                detail={"digest": missing[0]},
            )
        return []
    descriptors = [d for d in parsed.references() if not d.is_foreign]
    wanted = {str(d.digest) for d in descriptors}
    blobs = list(
        Blob.objects.select_for_update()
        .filter(digest__in=wanted, links__repository=repository)
        .order_by("pk")
    )
    missing = sorted(wanted - {b.digest for b in blobs})
    if missing:
        raise errors.ManifestBlobUnknown(
            f"The manifest references a blob this repository does not have: {missing[0]}",
            detail={"digest": missing[0]},
        )
    sizes = {b.digest: b.size for b in blobs}
    for d in descriptors:
        if sizes[str(d.digest)] != d.size:
            raise errors.ManifestInvalid(
                f"Descriptor {d.digest} says {d.size} bytes; the blob has {sizes[str(d.digest)]}.",
                detail={"digest": str(d.digest)},
            )
    return blobs


def put_manifest(
    *,
    repository: Repository,
    reference: Digest | str,
    body: bytes,
    content_type: str | None,
    user: Any,
    origin: Origin,
) -> tuple[Manifest, ParsedManifest]:
    parsed = parse_manifest(body, content_type)
    algorithm = reference.algorithm if isinstance(reference, Digest) else "sha256"
    hasher = Hasher(algorithm)
    hasher.update(body)
    digest = hasher.digest()
    if isinstance(reference, Digest) and digest != reference:
        raise errors.DigestInvalid(
            f"The manifest's digest is {digest}, not {reference}.",
            detail={"expected": str(reference), "actual": str(digest)},
        )
    now = clock.now()
    tag = reference if isinstance(reference, str) else ""
    with transaction.atomic():
        # Checked inside the transaction with the blob rows locked: garbage collection
        # locks a row before deleting it, so the two can never interleave.
        blobs = _check_references(repository, parsed)
        manifest = Manifest.objects.filter(repository=repository, digest=str(digest)).first()
        if manifest is None:
            manifest = Manifest.objects.create(
                repository=repository,
                digest=str(digest),
                media_type=parsed.media_type,
                artifact_type=parsed.effective_artifact_type or "",
                size=len(body),
                content=body,
                subject_digest=str(parsed.subject.digest) if parsed.subject else "",
                annotations=parsed.annotations or {},
                total_size=sum(b.size for b in blobs),
                pushed_at=now,
                pushed_by_id=getattr(user, "pk", None),
            )
            ManifestBlob.objects.bulk_create(
                [ManifestBlob(manifest=manifest, blob=b) for b in blobs]
            )
            ManifestChild.objects.bulk_create(
                [
                    ManifestChild(parent=manifest, child_digest=str(d.digest))
                    for d in parsed.manifests
                ]
            )
        if tag:
            Tag.objects.update_or_create(
                repository=repository, name=tag, defaults={"manifest": manifest, "updated_at": now}
            )
        Repository.objects.filter(pk=repository.pk).update(pushed_at=now)
        audit.record(
            user,
            "registry:manifest:pushed",
            manifest,
            organization=repository.organization,
            repository=repository.name,
            digest=str(digest),
            tag=tag,
            media_type=parsed.media_type,
            **origin.audit_fields(),
        )
        events.emit(
            "registry:manifest:pushed",
            manifest_id=manifest.pk,
            repository=repository.name,
            digest=str(digest),
            tag=tag,
        )
    return manifest, parsed


def find_manifest(repository: Repository | None, reference: Digest | str) -> Manifest:
    if repository is not None:
        if isinstance(reference, Digest):
            manifest = Manifest.objects.filter(repository=repository, digest=str(reference)).first()
        else:
            found = (
                Tag.objects.select_related("manifest")
                .filter(repository=repository, name=reference)
                .first()
            )
            manifest = found.manifest if found else None
        if manifest is not None:
            return manifest
    raise errors.ManifestUnknown(detail={"reference": str(reference)})


def record_pull(*, manifest: PulledManifest, tag: str, user: Any, origin: Origin) -> None:
    """Count and audit one pull (a manifest GET); see ``registry.pulls`` for when."""
    from portside.registry import pulls

    pulls.record(manifest=manifest, tag=tag, user=user, origin=origin)


def delete_manifest(
    *, repository: Repository, reference: Digest | str, user: Any, origin: Origin
) -> None:
    """By digest: the manifest and every tag on it. By tag: only the tag."""
    with transaction.atomic():
        if isinstance(reference, str):
            tag = (
                Tag.objects.select_related("manifest")
                .filter(repository=repository, name=reference)
                .first()
            )
            if tag is None:
                raise errors.ManifestUnknown(detail={"reference": reference})
            tag.delete()
            details: dict[str, Any] = {"tag": reference}
            action, target = "registry:tag:deleted", tag.manifest
        else:
            manifest = find_manifest(repository, reference)
            tags = list(manifest.tags.values_list("name", flat=True))
            target = manifest
            manifest.delete()
            action, details = "registry:manifest:deleted", {"tags": tags}
        audit.record(
            user,
            action,
            target,
            organization=repository.organization,
            repository=repository.name,
            digest=target.digest,
            **details,
            **origin.audit_fields(),
        )
        events.emit(
            "registry:manifest:deleted",
            repository=repository.name,
            digest=target.digest,
            tag=reference if isinstance(reference, str) else "",
        )


def list_tags(
    repository: Repository, *, n: int | None, last: str, only: Iterable[str] | None = None
) -> tuple[list[str], bool]:
    """Tag names in "ASCIIbetical" order (distribution spec, "Listing Tags"), compared byte
    by byte whatever the database's collation, so that pages after ``last`` continue it.
    ``only`` limits the list to those tags (a customer sees the tags their tiers cover)."""
    name: Any = F("name")
    if connection.vendor == "postgresql":
        name = Collate("name", "C")
    qs = Tag.objects.filter(repository=repository).alias(key=name).order_by("key")
    if only is not None:
        qs = qs.filter(name__in=list(only))
    if last:
        qs = qs.filter(key__gt=last)
    names = list(qs.values_list("name", flat=True)[: (n + 1) if n is not None else None])
    if n is not None and len(names) > n:
        return names[:n], True
    return names, False


def referrers(
    repository: Repository | None, digest: Digest, artifact_type: str
) -> list[dict[str, Any]]:
    if repository is None:
        return []
    qs = Manifest.objects.filter(repository=repository, subject_digest=str(digest))
    if artifact_type:
        qs = qs.filter(artifact_type=artifact_type)
    result = []
    for m in qs.order_by("pushed_at", "id"):
        descriptor: dict[str, Any] = {
            "mediaType": m.media_type,
            "digest": m.digest,
            "size": m.size,
        }
        if m.artifact_type:
            descriptor["artifactType"] = m.artifact_type
        if m.annotations:
            descriptor["annotations"] = m.annotations
        result.append(descriptor)
    return result


def catalog(*, n: int | None, last: str) -> tuple[list[str], bool]:
    qs = Repository.objects.order_by("name")
    if last:
        qs = qs.filter(name__gt=last)
    names = list(qs.values_list("name", flat=True)[: (n + 1) if n is not None else None])
    if n is not None and len(names) > n:
        return names[:n], True
    return names, False


def stale_uploads(*, older_than: dt.timedelta) -> list[Upload]:
    return list(Upload.objects.filter(created_at__lt=clock.now() - older_than))


def store_blob(*, repository: Repository, data: bytes) -> Blob:
    """Store a small blob the store itself produces (an SBOM, an empty config) and link it
    to ``repository``, as an upload would."""
    digest = Hasher("sha256")
    digest.update(data)
    key = str(digest.digest())
    blobs = store()
    if blobs.stat(key) is None:
        blobs.put(key, data)
    blob = _blob_row(key, len(data))
    _link(repository, blob)
    return blob
