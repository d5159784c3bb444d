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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import Collate

from portside.accounts import lookups
from portside.accounts.models import Organization, User
from portside.audit import services as audit
from portside.blobstore import (
    ClosingUpload,
    UploadBusy,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)
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


def _pending(name: str, organization: Organization | None = None) -> Repository:
    """An unsaved repository (``pk`` None): what a push to a new name goes to until the
    push completes and :func:`_save_repository` creates it."""
    organization = organization or namespace_of(name)
    if organization is None:
        raise errors.NameInvalid(
            "Repositories live in an organisation's namespace: push to ORGANISATION/NAME."
        )
    return Repository(organization=organization, name=name)


def repository_for_push(name: str) -> Repository:
    """The repository, or for a name nobody pushed to yet, an unsaved one inside the
    organisation's namespace: the first push that completes (a finished upload, a mount,
    a manifest) creates it, so a refused mount or an abandoned upload leaves nothing."""
    repository = find_repository(name)
    return repository if repository is not None else _pending(name)


def existing_repository(name: str) -> Repository:
    """The repository, or an unsaved one for a name in an organisation's namespace that
    nobody pushed to yet (the upload endpoints reach an upload in progress through it);
    NAME_UNKNOWN otherwise. Reads and deletes answer NAME_UNKNOWN for an unsaved one
    (:func:`_saved`)."""
    repository = find_repository(name)
    if repository is not None:
        return repository
    organization = namespace_of(name)
    if organization is None:
        raise errors.NameUnknown(f"Repository {name} is not known.")
    return _pending(name, organization)


def _saved(repository: Repository) -> Repository:
    if repository.pk is None:
        raise errors.NameUnknown(f"Repository {repository.name} is not known.")
    return repository


def _save_repository(repository: Repository) -> bool:
    """Create ``repository`` if it is still unsaved, inside the caller's transaction, and
    fill in its key; True when this call created it (the caller then audits
    ``registry:repository:created``, last in its transaction: see ``registry.gc`` for the
    order of locks)."""
    if repository.pk is not None:
        return False
    created = False
    found = find_repository(repository.name)
    if found is None:
        try:
            with transaction.atomic():
                found = Repository.objects.create(
                    organization=repository.organization,
                    name=repository.name,
                    created_at=clock.now(),
                )
            created = True
        except IntegrityError:  # created by a concurrent push a moment ago
            found = find_repository(repository.name)
            assert found is not None
    repository.pk, repository.created_at = found.pk, found.created_at
    repository.organization = found.organization
    return created


def _record_created(repository: Repository, actor: Any, origin: Origin | None) -> None:
    audit.record(
        actor,
        "registry:repository:created",
        repository,
        organization=repository.organization,
        repository=repository.name,
        **(origin.audit_fields() if origin else {}),
    )


# --- uploads ------------------------------------------------------------------------------

# Running sha256 states of uploads this process received, so a chunked upload is hashed
# once while it streams in. Another process finishing the upload re-reads it instead.
_hashers: dict[str, tuple[int, Any]] = {}
_hashers_lock = threading.Lock()
_MAX_HASHERS = 256


def start_upload(*, repository: Repository, user_id: int | None) -> Upload:
    """Open an upload to ``repository`` (saved or not: nothing is created until the upload
    completes)."""
    upload = Upload.objects.create(
        repository_name=repository.name,
        organization=repository.organization,
        created_at=clock.now(),
        created_by_id=user_id,
    )
    try:
        store().start_upload(upload.store_id)
    except UploadNotFound:  # collected while it was being started
        Upload.objects.filter(pk=upload.pk).delete()
        raise errors.BlobUploadUnknown() from None
    return upload


def find_upload(repository: Repository, upload_id: str) -> Upload:
    try:
        key = uuid.UUID(upload_id)
    except ValueError:
        raise errors.BlobUploadUnknown() from None
    upload = (
        Upload.objects.select_related("organization")
        .filter(pk=key, repository_name=repository.name)
        .first()
    )
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
    staging = Upload.objects.filter(organization=organization)
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

    left = _quota_left(upload.organization, besides=upload)
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


def _verify_upload(upload: Upload, closing: ClosingUpload, digest: Digest) -> None:
    """Check ``digest`` against exactly the bytes ``closing`` will commit. The running
    hash stands for them when it covers all of them: an upload only grows, and an append
    that fails is cut back to where it started, so the first ``hashed_size`` bytes never
    change once an append has reported them."""
    if digest.algorithm == "sha256" and upload.hashed_size == closing.size and upload.hashed_digest:
        actual = upload.hashed_digest
    else:
        hasher = Hasher(digest.algorithm)
        for chunk in closing.read():
            hasher.update(chunk)
        actual = str(hasher.digest())
    if actual != str(digest):
        raise errors.DigestInvalid(
            f"The uploaded content has digest {actual}, not {digest}.",
            detail={"expected": str(digest), "actual": actual},
        )


def complete_upload(*, upload: Upload, digest: Digest) -> Blob:
    """Verify the staged bytes against ``digest`` and make them a blob of the repository,
    creating the repository if this is its first push.

    The upload is held closed throughout (``BlobStore.close_upload``), so an append racing
    this call is refused instead of adding bytes after the check; the blob row is locked
    while the bytes are committed, so garbage collection cannot delete them in between
    (see ``registry.gc``)."""
    try:
        with store().close_upload(upload.store_id) as closing:
            # Read now that nothing can append: the running hash is then as far as it gets.
            current = Upload.objects.select_related("organization").filter(pk=upload.pk).first()
            if current is None:
                raise errors.BlobUploadUnknown()
            _verify_upload(current, closing, digest)
            with transaction.atomic():
                repository = find_repository(current.repository_name) or _pending(
                    current.repository_name, current.organization
                )
                blob = _hold_blob(str(digest), closing.size)
                closing.commit(str(digest))
                created = _save_repository(repository)
                _link(repository, blob)
                Upload.objects.filter(pk=upload.pk).delete()
                if created:
                    _record_created(repository, _user(current.created_by_id), None)
    except UploadNotFound:
        raise errors.BlobUploadUnknown() from None
    except UploadBusy:
        raise errors.UploadBusy(
            "The upload is still being written by another request; ask for its status "
            "and close it once that request has finished.",
            detail={"size": upload_size(upload)},
        ) from None
    with _hashers_lock:
        _hashers.pop(upload.store_id, None)
    return blob


def _user(user_id: int | None) -> User | None:
    return None if user_id is None else User.objects.filter(pk=user_id).first()


def cancel_upload(upload: Upload) -> None:
    store().cancel_upload(upload.store_id)
    with _hashers_lock:
        _hashers.pop(upload.store_id, None)
    Upload.objects.filter(pk=upload.pk).delete()


def _hold_blob(digest: str, size: int, *, attempts: int = 5) -> Blob:
    """The blob row, locked until the caller's transaction ends and marked available (or
    created), for a caller that then makes sure the bytes are in the store. Holding the
    lock while the bytes go in is what keeps garbage collection, which deletes bytes only
    of an unavailable row it holds locked, from deleting them in between."""
    for _ in range(attempts):
        blob = Blob.objects.select_for_update().filter(digest=digest).first()
        if blob is not None:
            if not blob.available:
                Blob.objects.filter(pk=blob.pk).update(available=True)
                blob.available = True
            return blob
        try:
            with transaction.atomic():
                return Blob.objects.create(digest=digest, size=size, created_at=clock.now())
        except IntegrityError:  # created by a concurrent push a moment ago: lock that one
            continue
    raise RuntimeError(f"could not hold the blob row of {digest}")


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
    "WHERE b.digest = %s AND r.name = %s AND b.available = %s LIMIT 1"
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
    """The blob, if the repository called ``name`` links it and its bytes are available;
    BLOB_UNKNOWN otherwise (even when another repository has it: content is reachable
    only where it was pushed or mounted). One query: this is the hot path of blob HEAD
    and GET."""
    with connection.cursor() as cursor:
        cursor.execute(_hot_sql("blob"), [str(digest), name, True])
        row = cursor.fetchone()
    if row is None:
        raise errors.BlobUnknown(detail={"digest": str(digest)})
    return Blob(id=row[0], digest=row[1], size=row[2])


# A link found by a pusher is touched at most this often: far below the shortest grace
# period garbage collection takes (an hour), so a found blob always outlives the push.
_TOUCH_EVERY = dt.timedelta(minutes=1)


def linked_blob_for_push(name: str, digest: Digest) -> Blob:
    """:func:`linked_blob_by_name` for a caller that may push to ``name``: clients ask
    with HEAD whether the repository has a blob and do not upload it when it does, so a
    blob found this way is about to be referenced by a manifest. Its link to the
    repository is touched (its grace period restarts) with the blob row locked, as garbage
    collection locks it to mark it: either collection marked it first, and the answer is
    BLOB_UNKNOWN (the client uploads it), or the touch comes first, and collection keeps
    the blob for another grace period."""
    now = clock.now()
    with transaction.atomic():
        blob = (
            Blob.objects.select_for_update()
            .filter(digest=str(digest), available=True, links__repository__name=name)
            .only("id", "digest", "size")
            .first()
        )
        if blob is None:
            raise errors.BlobUnknown(detail={"digest": str(digest)})
        RepositoryBlob.objects.filter(
            blob_id=blob.pk, repository__name=name, created_at__lt=now - _TOUCH_EVERY
        ).update(created_at=now)
    return blob


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


def mount(
    *,
    target: Repository,
    source: Repository | None,
    digest: Digest,
    user: Any = None,
    origin: Origin | None = None,
) -> Blob | None:
    """Link a blob the source repository has; None when it has not (the client then
    uploads). A mount into a repository nobody pushed to yet creates it."""
    if source is None or source.pk is None:
        return None
    with transaction.atomic():
        blob = (
            Blob.objects.select_for_update()
            .filter(digest=str(digest), available=True, links__repository=source)
            .first()
        )
        if blob is None:
            return None
        created = _save_repository(target)
        _link(target, blob)
        if created:
            _record_created(target, user, origin)
    return blob


def unlink_blob(
    *, repository: Repository, digest: Digest, user: Any = None, origin: Origin | None = None
) -> None:
    """Remove the repository's link to a blob (the bytes go when garbage collection finds
    them unreferenced); audited as ``registry:blob:unlinked``."""
    _saved(repository)
    with transaction.atomic():
        link = (
            RepositoryBlob.objects.select_related("blob")
            .filter(repository=repository, blob__digest=str(digest))
            .first()
        )
        if link is None:
            raise errors.BlobUnknown(detail={"digest": str(digest)})
        RepositoryBlob.objects.filter(pk=link.pk).delete()
        audit.record(
            user,
            "registry:blob:unlinked",
            link.blob,
            organization=repository.organization,
            repository=repository.name,
            digest=str(digest),
            **(origin.audit_fields() if origin else {}),
        )


# --- manifests ----------------------------------------------------------------------------


def _check_references(repository: Repository, parsed: ParsedManifest) -> list[Blob]:
    """The blobs an image manifest references, locked; an unsaved repository (a first
    push) has none, nor manifests."""
    if parsed.is_index:
        wanted = {str(d.digest) for d in parsed.manifests}
        found = set()
        if repository.pk is not None:
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
    blobs = []
    if repository.pk is not None and wanted:
        blobs = list(
            Blob.objects.select_for_update()
            .filter(digest__in=wanted, available=True, links__repository=repository)
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
    tags: Sequence[str] = (),
) -> tuple[Manifest, ParsedManifest]:
    """Store a manifest under ``reference`` (a tag or its digest), and point ``tags`` (the
    ``tag`` parameters of a push by digest) at it too, all in one transaction."""
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
    names = list(dict.fromkeys([tag, *tags] if tag else tags))
    with transaction.atomic():
        # Checked inside the transaction with the blob rows locked: garbage collection
        # locks a row before deleting it, so the two can never interleave.
        blobs = _check_references(repository, parsed)
        created = _save_repository(repository)
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
        for name in names:
            Tag.objects.update_or_create(
                repository=repository, name=name, defaults={"manifest": manifest, "updated_at": now}
            )
        Repository.objects.filter(pk=repository.pk).update(pushed_at=now)
        if created:
            _record_created(repository, user, origin)
        audit.record(
            user,
            "registry:manifest:pushed",
            manifest,
            organization=repository.organization,
            repository=repository.name,
            digest=str(digest),
            tag=tag,
            tags=names,
            media_type=parsed.media_type,
            **origin.audit_fields(),
        )
        events.emit(
            "registry:manifest:pushed",
            manifest_id=manifest.pk,
            repository=repository.name,
            digest=str(digest),
            tag=tag,
            tags=names,
        )
    return manifest, parsed


def find_manifest(repository: Repository | None, reference: Digest | str) -> Manifest:
    if repository is not None and repository.pk is not None:
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
    _saved(repository)
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
    _saved(repository)
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
    with transaction.atomic():
        blob = _hold_blob(key, len(data))
        if blobs.stat(key) != len(data):
            blobs.put(key, data)
        _link(_saved(repository), blob)
    return blob


def blob_bytes_missing(*, digest: str) -> bool:
    """Make the blob unavailable when its bytes are not in the store (found by a pull that
    could not read them, or by garbage collection's listing): pulls then answer
    BLOB_UNKNOWN instead of claiming it, and clients upload it again, which makes it
    available. Checked with the row locked, since only then is the store's answer final.
    True when the row was changed (audited as ``registry:blob:lost``)."""
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(digest=digest, available=True).first()
        if blob is None or store().stat(digest) is not None:
            return False
        Blob.objects.filter(pk=blob.pk).update(available=False)
        audit.record(None, "registry:blob:lost", blob, digest=digest, size=blob.size)
    return True
