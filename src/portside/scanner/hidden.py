"""What later layers hide: entries of lower layers that are not in the final file system.

A whiteout (``.wh.NAME``) or an opaque directory (``.wh..wh..opq``) takes a path out of
the file system the layers below built, and a later write of the same path replaces it;
either way the lower layer's tar is unchanged, so its bytes are still downloaded with the
image and anyone who pulls it can read them. ``Overlay`` records such entries as it
applies the layer that hides them, in the same walk that builds the final index; the
best-practice checks about caches, build tools, credentials and size read this record
beside the final view.

Only entries that carry bytes or name a program are kept (regular files, symbolic and
hard links); directories and device nodes hidden with them are not. The record keeps the
entries in groups, as each layer hid them, and makes a ``HiddenEntry`` only when it is
read: a scan that never reviews its image pays for little more than a list of references.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from portside.scanner.catalogers.base import Entry

KEPT_KINDS = frozenset({"file", "symlink", "hardlink"})

DELETED = "deleted"  # a whiteout or an opaque directory (or a file written over a directory)
REPLACED = "replaced"  # the same path written again by a later layer


class HiddenEntry(NamedTuple):
    """One entry of a lower layer that a later layer hides.

    ``entry`` is as its own layer wrote it (``entry.layer`` is the layer that added it and
    still ships it); ``by`` is the index of the layer that hides it, and ``how`` says
    whether it was deleted or replaced.
    """

    entry: Entry
    by: int
    how: str

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def layer(self) -> int:
        return self.entry.layer


class Hidden:
    """Every entry later layers hid, in the order the layers hid them."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: list[tuple[int, str, list[Entry]]] = []

    def add(self, by: int, how: str, entries: list[Entry]) -> None:
        """``entries`` (kept as given, not copied) were hidden by layer ``by``."""
        if entries:
            self._groups.append((by, how, entries))

    def __iter__(self) -> Iterator[HiddenEntry]:
        for by, how, entries in self._groups:
            for entry in entries:
                yield HiddenEntry(entry, by, how)

    def __len__(self) -> int:
        return sum(len(entries) for _, _, entries in self._groups)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def __repr__(self) -> str:
        return f"Hidden({len(self)} entries)"
