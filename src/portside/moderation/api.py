"""The moderation part of the JSON API under /api/v1/."""

from ninja import Router

router = Router(tags=["moderation"])
