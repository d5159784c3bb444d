"""The file system the layers build: ``Overlay`` applies each layer's entries, whiteouts
and opaque markers as a container runtime would, and keeps what they hide of the layers
below. Links are recorded, never followed while reading; ``resolve`` follows symbolic
links afterwards inside the image only, where ``..`` stops at the root as it does in a
container.
"""

from __future__ import annotations

from collections.abc import Mapping

from portside.scanner import errors
from portside.scanner.catalogers.base import Entry, new_entry
from portside.scanner.hidden import DELETED, KEPT_KINDS, REPLACED, Hidden
from portside.scanner.layers.base import Limits, TarEntry


class Overlay:
    """The final file system, built layer by layer as a container runtime would.

    A whiteout removes a path (and all beneath it) from the layers below, an opaque marker
    empties a directory of what the layers below put there, and a non-directory written
    over a directory replaces the whole tree. Entries of the layer being applied are never
    hidden by that layer's own whiteouts, whatever their order in the tar.

    What a layer hides of the layers below (files and links, deleted or written over) is
    appended to ``hidden`` as the layer is applied: their bytes still ship in the lower
    layer, and the checks that care about bytes read them there (see ``hidden.py``).

    The entries added are kept until the scan ends (in the index, as hidden, as
    whiteouts), so those of all layers together are bounded by ``Limits.max_entries``:
    the bound of each layer alone would let an image of many layers fill the memory.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.max_entries = (limits or Limits()).max_entries
        self.entries = 0
        self.index: dict[str, Entry] = {}
        self.hidden = Hidden()
        self._added: dict[str, Entry] = {}
        self._deleted: set[str] = set()
        self._emptied: set[str] = set()
        self._replaced: dict[str, Entry] = {}
        self._layer = -1

    def add(self, entry: TarEntry, layer: int) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise errors.TooManyEntries(
                f"the image has more than {self.max_entries} entries in its layers together "
                f"(at layer {layer})",
                limit=self.max_entries,
            )
        # ``_layer`` is only needed, and only set, where something lower gets hidden.
        if entry.kind == "whiteout":
            self._deleted.add(entry.path)
            self._layer = layer
        elif entry.kind == "opaque":
            self._emptied.add(entry.path)
            self._layer = layer
        else:
            lower = self.index.get(entry.path)
            if lower is not None:
                self._layer = layer
                if lower.kind == "dir":
                    if entry.kind != "dir":
                        self._emptied.add(entry.path)
                elif lower.kind in KEPT_KINDS:
                    self._replaced[entry.path] = lower
            self._added[entry.path] = new_entry(
                entry.path,
                layer,
                entry.kind,
                entry.size,
                entry.mode,
                entry.uid,
                entry.gid,
                entry.linkname,
            )

    def end_layer(self) -> None:
        index, replaced = self.index, self._replaced
        if self._deleted or self._emptied:
            deleted, emptied = self._deleted, self._emptied
            if len(deleted) + len(emptied) <= _PREFIXES:
                # What lies beneath a deleted or emptied directory starts with its path
                # and a slash (everything does, beneath the root).
                prefixes = tuple("/" if p == "/" else p + "/" for p in deleted | emptied)
                lost = [path for path in index if path in deleted or path.startswith(prefixes)]
            else:
                lost = [path for path in index if _hidden(path, deleted, emptied)]
            gone = [index.pop(path) for path in lost]
            self.hidden.add(self._layer, DELETED, [e for e in gone if e.kind in KEPT_KINDS])
            if replaced:
                for path in lost:
                    replaced.pop(path, None)  # deleted and written again: counted once
        if replaced:
            self.hidden.add(self._layer, REPLACED, list(replaced.values()))
        index.update(self._added)
        self._added, self._deleted, self._emptied, self._replaced = {}, set(), set(), {}


# Up to this many deleted and emptied paths in a layer, what they hide is found by a
# prefix test on each path of the index; past it, each path's directories are looked up.
_PREFIXES = 64


def _hidden(path: str, deleted: set[str], emptied: set[str]) -> bool:
    if path in deleted:
        return True
    while path != "/":
        path = path.rpartition("/")[0] or "/"
        if path in deleted or path in emptied:
            return True
    return False


def resolve(index: Mapping[str, Entry], path: str, *, max_links: int = 40) -> str | None:
    """The path ``path`` names once every symbolic link on the way is followed inside
    the image (``..`` stops at the root, absolute targets start again from it); None for
    a loop or a chain longer than ``max_links``. The path need not exist."""
    pending = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = "/" + "/".join([*resolved, part])
        entry = index.get(candidate)
        if entry is not None and entry.kind == "symlink":
            hops += 1
            if hops > max_links:
                return None
            if entry.linkname.startswith("/"):
                resolved = []
            pending.extend(p for p in reversed(entry.linkname.split("/")) if p not in ("", "."))
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)
