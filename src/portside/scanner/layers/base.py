"""What a layer is before it is read, what reading it may use, and what it yields: the
reader's ``Limits``, a layer's ``LayerRef``, each member as a ``TarEntry`` (with its
bytes, a ``LayerItem``), and the ``Budget`` an image's layers share.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO, NamedTuple

from portside.core.records import field, record
from portside.scanner import errors

MiB = 1024 * 1024
GiB = 1024 * MiB


@record
class Limits:
    """How much the reader accepts; each limit has its own error in ``errors``."""

    max_metadata_bytes: int = 4 * MiB  # an index, manifest, config or manifest.json
    max_layers: int = 512
    max_entries_per_layer: int = 500_000
    max_entries: int = 1_000_000  # of all layers together: the overlay keeps each one
    max_file_bytes: int = 256 * MiB  # one claimed file (its bytes are kept in memory)
    max_claimed_bytes: int = 2 * GiB  # all versions of all claimed files
    max_image_bytes: int = 32 * GiB  # uncompressed, all layers together
    max_compression_ratio: int = 200  # uncompressed : compressed bytes of one layer
    ratio_grace_bytes: int = 16 * MiB  # the ratio is only checked past this output
    max_tar_header_bytes: int = 1 * MiB  # one pax or GNU long-name header
    max_packages: int = 100_000  # packages of all catalogers together


@record
class LayerRef:
    """A layer as the manifest and config describe it, before it is read."""

    index: int
    digest: str  # the blob's digest; "" for an old docker archive until the layer is read
    diff_id: str
    media_type: str
    size: int | None
    created_by: str = ""
    opener: Callable[[], BinaryIO] = field(repr=False, compare=False, default=io.BytesIO)


class TarEntry(NamedTuple):
    """One tar member, normalised. ``kind`` is an ``Entry`` kind, or ``whiteout`` (``path``
    is what a lower layer loses) or ``opaque`` (``path`` is the directory emptied).
    A named tuple, as ``LayerItem``: one of each is made for every member of every
    layer, four times faster than a frozen record."""

    path: str
    kind: str
    size: int
    mode: int
    uid: int = 0
    gid: int = 0
    linkname: str = ""  # normalised for hard links; as written for symbolic links


class LayerItem(NamedTuple):
    entry: TarEntry
    data: bytes | None  # the file's bytes when ``want`` asked for them


class Budget:
    """What the whole image has used so far, shared by its layers."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.image_bytes = 0
        self.claimed_bytes = 0

    def add_image_bytes(self, size: int, label: str) -> None:
        """Count ``size`` more uncompressed bytes, read at ``label``; past the limit, refuse."""
        self.image_bytes += size
        if self.image_bytes > self.limits.max_image_bytes:
            raise errors.ImageTooLarge(
                f"the image passes {self.limits.max_image_bytes} uncompressed bytes at {label}",
                limit=self.limits.max_image_bytes,
            )
