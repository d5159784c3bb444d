"""Repository names, tags and manifest references, as the distribution specification defines them.

A repository name is one or more path components joined by ``/``; each component is
lowercase letters and digits, with single ``.``, single or double ``_``, or runs of ``-``
between them. A tag is up to 128 characters from ``[a-zA-Z0-9._-]`` that does not start with
``.`` or ``-``. A manifest reference is a tag or a digest; a digest always contains ``:``
and a tag never does, so the two cannot be confused.
"""

from __future__ import annotations

import re

from portside.oci.digest import Digest
from portside.oci.errors import NameInvalid, TagInvalid

MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 128

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name; raise ``NameInvalid`` otherwise."""
    if not isinstance(name, str) or not name:
        raise NameInvalid("repository name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise NameInvalid(
            f"repository name is longer than {MAX_NAME_LENGTH} characters",
            detail={"length": len(name), "limit": MAX_NAME_LENGTH},
        )
    if not _NAME.fullmatch(name):
        raise NameInvalid(
            "repository name must be lowercase path components of letters and digits "
            "separated by '.', '_', '__' or '-', joined by '/'",
            detail={"name": name},
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag; raise ``TagInvalid`` otherwise."""
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        shown = tag[: MAX_TAG_LENGTH + 1] if isinstance(tag, str) else None
        raise TagInvalid(
            f"tag must be 1 to {MAX_TAG_LENGTH} characters of [a-zA-Z0-9._-] "
            "and may not start with '.' or '-'",
            detail={"tag": shown},
        )
    return tag


def parse_reference(ref: str) -> Digest | str:
    """A manifest reference: a ``Digest`` when it contains ``:``, else a validated tag.

    Raises ``DigestInvalid`` for a malformed digest and ``TagInvalid`` for a malformed tag.
    """
    if isinstance(ref, str) and ":" in ref:
        return Digest.parse(ref)
    return validate_tag(ref)
