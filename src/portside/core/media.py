"""Images uploaded by publishers, kept content-addressed in Django's default storage.

The name of a stored image is ``images/<sha256>.<ext>`` of its re-encoded bytes, so the
same logo uploaded twice is stored once, and a name can never point outside the storage.
``/media/images/...`` serves them with a long cache lifetime: the content behind a name
never changes.
"""

from __future__ import annotations

import re

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from portside.core.images import FORMATS, CleanImage

_NAME = re.compile(r"^images/[0-9a-f]{64}\.(png|jpg|webp)$")
_TYPES = {ext: ctype for ctype, ext in FORMATS.values()}


def save_image(image: CleanImage) -> str:
    name = f"images/{image.digest}.{image.extension}"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(image.content))
    return name


def url(name: str) -> str:
    return f"/media/{name}" if name else ""


@require_safe
def serve(request: HttpRequest, name: str) -> FileResponse:
    if not _NAME.match(name) or not default_storage.exists(name):
        raise Http404("No such image.")
    response = FileResponse(default_storage.open(name), content_type=_TYPES[name.rsplit(".", 1)[1]])
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
