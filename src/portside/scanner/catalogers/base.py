"""The contract between the image reader and the catalogers.

The reader walks each layer once, in order. For every regular file it asks each
cataloger whether it ``claims`` the path; the bytes of claimed files are kept (each version
a layer wrote, so a cataloger can tell which layer introduced a package), everything else
is only indexed. After the last layer, with whiteouts applied, each cataloger's
``catalog`` is called with the claimed files and returns the packages it recognises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from portside.core.records import field, record
from portside.scanner.errors import TooManyPackages
from portside.scanner.model import Distro, Layer, Package


@record
class FileVersion:
    """One version of a claimed file, as one layer wrote it."""

    path: str  # absolute and normalised: "/var/lib/dpkg/status"
    layer: int  # index of the layer that wrote it
    data: bytes
    mode: int  # permission bits (and setuid/setgid/sticky)


@record
class Entry:
    """A path in the final file system (after whiteouts), claimed or not."""

    path: str
    layer: int  # index of the layer that last wrote it
    kind: str  # "file", "dir", "symlink", "hardlink", "char", "block", "fifo"
    size: int
    mode: int
    uid: int = 0
    gid: int = 0
    linkname: str = ""


_new = object.__new__


def new_entry(
    path: str, layer: int, kind: str, size: int, mode: int, uid: int, gid: int, linkname: str
) -> Entry:
    """``Entry(path, layer, kind, size, mode, uid, gid, linkname)``, made a quarter as
    fast: the reader makes one for every member of every layer, and a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``. The instance is the same
    (equal, same hash and repr); its fields go straight into its ``__dict__``."""
    entry = _new(Entry)
    entry.__dict__.update(
        path=path, layer=layer, kind=kind, size=size, mode=mode, uid=uid, gid=gid, linkname=linkname
    )
    return entry


@record(frozen=False)
class Files:
    """The claimed files: every version written, oldest first, and the final state."""

    versions: dict[str, list[FileVersion]] = field(default_factory=dict)
    final_paths: set[str] = field(default_factory=set)

    def final(self, path: str) -> FileVersion | None:
        """The file as the image finally has it, or None if absent or deleted."""
        if path not in self.final_paths:
            return None
        history = self.versions.get(path)
        return history[-1] if history else None

    def history(self, path: str) -> list[FileVersion]:
        return list(self.versions.get(path, ()))

    def present(self) -> Iterator[FileVersion]:
        """Every claimed file present in the final image, in path order."""
        for path in sorted(self.final_paths):
            found = self.final(path)
            if found is not None:
                yield found


@record
class Context:
    layers: tuple[Layer, ...]
    distro: Distro | None
    index: Mapping[str, Entry]  # the final file system, by absolute path
    max_packages: int | None = None  # a database listing more is refused as it is read

    def layer_digest(self, index: int) -> str:
        return self.layers[index].digest if 0 <= index < len(self.layers) else ""


# Where str.splitlines() breaks a line.
_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def text_lines(text: str) -> Iterator[str]:
    """``text.splitlines()``, one line at a time: a package database of a few hundred
    thousand packages has millions of lines, and a list of them all costs more than the
    text itself."""
    start = 0
    for found in _BREAK.finditer(text):
        yield text[start : found.start()]
        start = found.end()
    if start < len(text):
        yield text[start:]


def check_package_count(count: int, limit: int | None, where: str) -> None:
    """Refuse a package database (or an image) past ``limit`` packages, as soon as the
    count passes it: parsing the rest would only cost memory."""
    if limit is not None and count > limit:
        raise TooManyPackages(
            f"{where} lists more than {limit} packages; the limit is {limit} (max_packages)",
            limit=limit,
        )


class Findings(list[Package]):
    """What a cataloger returns: the packages it found, and a warning ("path: reason")
    for each file it had to skip. The analysis collects the warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []


class Cataloger(Protocol):
    name: str

    def claims(self, path: str, mode: int, size: int) -> bool:
        """Whether the bytes of this regular file are needed (called for every file of
        every layer, so it must be cheap: a suffix or prefix test)."""
        ...

    def catalog(self, files: Files, context: Context) -> Iterable[Package]: ...
