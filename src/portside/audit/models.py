"""The append-only, hash-chained audit trail.

Rows are written only by :func:`portside.audit.services.record`. Who and what a row names
is kept twice: as an id (no foreign-key constraint, so deleting a user never touches the
trail) and as a snapshot of the name at the time. Each row's ``hash`` covers its content
and the previous row's hash, so editing or removing a row in the middle breaks the chain
(``portside audit verify`` finds the first broken link). The ORM refuses updates and
deletes; a database trigger refuses updates from any client.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

from portside.core.errors import PortsideError


class AppendOnlyError(PortsideError):
    """The audit trail is append-only: rows are never changed or deleted one by one."""

    code = "append_only"


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError()

    def delete(self) -> NoReturn:
        raise AppendOnlyError()

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError()

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit rows are written one at a time by audit.record()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError()


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    action = models.CharField(max_length=80)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    organization_id = models.BigIntegerField(null=True, blank=True)
    organization_name = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created_at"], name="audit_created"),
            models.Index(fields=["action", "id"], name="audit_action_id"),
            # Action prefixes ("registry:") are LIKE 'registry:%'; PostgreSQL uses a btree
            # for that only with the pattern operator class (other databases ignore it).
            models.Index(
                fields=["action", "id"],
                name="audit_action_prefix",
                opclasses=["varchar_pattern_ops", "int8_ops"],
            ),
            models.Index(fields=["actor_name", "id"], name="audit_actor_id"),
            models.Index(fields=["organization_name", "id"], name="audit_org_id"),
            models.Index(fields=["target_type", "target_id", "id"], name="audit_target_id"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} by {self.actor_name or '-'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError()
