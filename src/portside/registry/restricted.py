"""What a pull limited to some tags may read: the tags' images and everything they hold.

Members of a publisher's organisation pull whole repositories. A customer's bearer token
names the repository with the tags their tiers cover (``Access.tags``); such a token
reads a manifest by tag only for a covered tag, and by digest only when the digest is
*reachable* from the covered tags: the image a covered tag points at, an image an index
among them lists, an artifact whose subject is one of them (an SBOM, a signature), and
the same from digests the customer was entitled to earlier (``extra``: the digests the
live revision froze for those tags, the digests they pulled before). Blobs follow the
manifests: only the config and layers of a reachable image.

The set is computed once per token and kept in memory for the token's lifetime; a digest
not in it is looked up afresh once (a publisher may have pushed to a covered tag since),
so a refusal is never the result of a stale set.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from portside.registry.models import Manifest, ManifestBlob, ManifestChild, Tag

MAX_DEPTH = 8  # index -> image -> referrer -> ... ; deeper graphs are not followed


@dataclass(frozen=True)
class Reachable:
    manifests: frozenset[str]
    blobs: frozenset[str]


def reachable(repository: str, tags: Iterable[str], extra: Iterable[str] = ()) -> Reachable:
    """The manifests and blobs of ``repository`` reachable from ``tags`` and ``extra``."""
    tags = list(tags)
    ids: dict[int, str] = dict(
        Tag.objects.filter(repository__name=repository, name__in=tags).values_list(
            "manifest_id", "manifest__digest"
        )
    )
    extra = [d for d in extra if d not in ids.values()]
    if extra:
        ids.update(
            Manifest.objects.filter(repository__name=repository, digest__in=extra).values_list(
                "id", "digest"
            )
        )
    frontier = dict(ids)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        found: dict[int, str] = {}
        children = ManifestChild.objects.filter(parent_id__in=list(frontier)).values_list(
            "child_digest", flat=True
        )
        child_digests = set(children)
        if child_digests:
            found.update(
                Manifest.objects.filter(
                    repository__name=repository, digest__in=list(child_digests)
                ).values_list("id", "digest")
            )
        found.update(
            Manifest.objects.filter(
                repository__name=repository, subject_digest__in=list(frontier.values())
            ).values_list("id", "digest")
        )
        frontier = {k: v for k, v in found.items() if k not in ids}
        ids.update(frontier)
    blobs = ManifestBlob.objects.filter(manifest_id__in=list(ids)).values_list(
        "blob__digest", flat=True
    )
    return Reachable(frozenset(ids.values()), frozenset(blobs))


class _Cache:
    """Reachable sets per bearer token (its ``jti``), dropped when the token expires."""

    def __init__(self, entries: int = 4096) -> None:
        self.entries = entries
        self._items: OrderedDict[tuple[str, str], tuple[float, Reachable]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Reachable | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple[str, str], value: Reachable, ttl: float) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = _Cache()
