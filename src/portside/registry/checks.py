"""Refuse to start with a blob store setting that cannot be used."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def blob_store_setting(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from portside.blobstore import from_url

    try:
        store = from_url(settings.BLOB_STORE_URL)
    except (ValueError, OSError) as exc:
        return [
            Error(
                f"PORTSIDE_BLOB_STORE is not usable: {exc}",
                hint="Use file:///absolute/path or s3://bucket/prefix?endpoint=...",
                id="portside.E003",
            )
        ]
    close = getattr(store, "close", None)
    if close is not None:
        close()
    return []
