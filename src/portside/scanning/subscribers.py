"""What scanning does when the registry tells it something happened. Deliveries may
repeat: each subscriber is idempotent."""

from __future__ import annotations

import logging
from typing import Any

from portside.registry.models import Manifest
from portside.scanning import services
from portside.scanning.models import Scan

logger = logging.getLogger(__name__)


def scan_pushed_manifest(*, manifest_id: int, **_: Any) -> None:
    """Every pushed image is scanned (indexes and artifacts are not: see is_scannable)."""
    from django.conf import settings

    if not settings.SCAN_ON_PUSH:
        return
    manifest = Manifest.objects.select_related("repository__organization").filter(pk=manifest_id)
    found = manifest.first()
    if found is None or not services.is_scannable(found):
        return
    if Scan.objects.filter(repository=found.repository, digest=found.digest).exists():
        return  # scanned, or queued, already: a repeated delivery, or the same image re-pushed
    services.request_scan(repository=found.repository, digest=found.digest, user=None)


def forget_deleted_manifest(*, repository: str, digest: str, tag: str = "", **_: Any) -> None:
    """A manifest deleted by digest takes its scan with it (audited); deleting a tag
    does not."""
    if tag:
        return
    services.forget_image(repository=repository, digest=digest, reason="the image was deleted")
