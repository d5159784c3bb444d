"""Repositories, blobs and manifests of the OCI registry.

Content is addressed by digest. A blob's bytes live in the blob store; the database knows
which repositories link it (a blob is readable only through a repository that links it)
and which manifests reference it (garbage collection keeps what is referenced). Manifest
bytes are small (at most 4 MiB) and kept in the database, so a manifest GET is one query.

A repository row exists once something was pushed to it (a finished upload, a mount or a
manifest); an upload in progress names its repository and organisation instead.
"""

from __future__ import annotations

import uuid

from django.db import models

from portside.accounts.models import Organization


class Repository(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="repositories"
    )
    name = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField()
    pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[1] if "/" in self.name else self.name


class Blob(models.Model):
    """A blob the store holds. While ``available`` is true its bytes are in the blob store:
    the row is made available only in the transaction that committed the bytes, with the
    row locked, and garbage collection deletes bytes only of a row it made unavailable
    first, with the row locked again (see ``registry.gc``). An unavailable row is unknown to
    pulls, mounts and manifests; uploading the same bytes again makes it available."""

    digest = models.CharField(max_length=200, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField()
    available = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.digest


class RepositoryBlob(models.Model):
    """A blob uploaded to, or mounted into, a repository."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="blob_links")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="links")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "blob"], name="one_link_per_blob")
        ]

    def __str__(self) -> str:
        return f"{self.blob_id} in {self.repository_id}"


class Manifest(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="manifests")
    digest = models.CharField(max_length=200)
    media_type = models.CharField(max_length=255)
    artifact_type = models.CharField(max_length=255, blank=True)
    size = models.IntegerField()
    content = models.BinaryField()
    subject_digest = models.CharField(max_length=200, blank=True, db_index=True)
    annotations = models.JSONField(default=dict, blank=True)
    # Total size of config and layers (images) for listing pages; 0 for indexes.
    total_size = models.BigIntegerField(default=0)
    pushed_at = models.DateTimeField()
    pushed_by_id = models.BigIntegerField(null=True, blank=True)

    blobs = models.ManyToManyField(Blob, through="ManifestBlob", related_name="manifests")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="one_manifest_per_digest")
        ]
        indexes = [models.Index(fields=["repository", "subject_digest"], name="manifest_subject")]

    def __str__(self) -> str:
        return f"{self.repository.name}@{self.digest}"


class ManifestBlob(models.Model):
    """A config or layer blob an image manifest references (kept for GC and sizes)."""

    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["manifest", "blob"], name="one_ref_per_blob")
        ]

    def __str__(self) -> str:
        return f"{self.blob_id} in manifest {self.manifest_id}"


class ManifestChild(models.Model):
    """A manifest an index references, by digest, in the same repository."""

    parent = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="children")
    child_digest = models.CharField(max_length=200, db_index=True)

    def __str__(self) -> str:
        return f"{self.child_digest} in index {self.parent_id}"


class Tag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="tags")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="one_tag_per_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.repository.name}:{self.name}"


class Upload(models.Model):
    """An upload session; its bytes are staged in the blob store under ``id``. It names its
    repository rather than linking a row: the repository is created when the upload (or
    another push) completes, so an abandoned upload leaves no repository behind."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    repository_name = models.CharField(max_length=255, db_index=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    created_by_id = models.BigIntegerField(null=True, blank=True)
    # The sha256 of the first ``hashed_size`` bytes, computed while they streamed in, so that
    # closing the upload in any process needs no second read when nothing was added since.
    hashed_size = models.BigIntegerField(default=0)
    hashed_digest = models.CharField(max_length=200, blank=True)
    # Bytes staged so far, written after every append: the organisation's quota counts
    # uploads in progress too, so parallel uploads cannot each take what is left.
    staged_size = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"upload {self.id}"

    @property
    def store_id(self) -> str:
        return self.id.hex


class PullCount(models.Model):
    """Pulls per repository, digest, tag, user and day: the raw material of download
    reports. Incremented with one upsert per pull."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=200)
    tag = models.CharField(max_length=128, blank=True)
    user_id = models.BigIntegerField(default=0)  # 0: anonymous
    day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["repository", "digest", "tag", "user_id", "day"], name="one_counter"
            )
        ]

    def __str__(self) -> str:
        return f"{self.count} pulls of {self.digest} on {self.day}"
