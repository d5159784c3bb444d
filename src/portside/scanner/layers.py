"""Streaming one layer, and the file system the layers build.

A layer is read once, front to back, through a chain of small readers: ``_Source`` hashes
and counts the blob as stored (refusing more bytes than its descriptor says), a decoder
undoes gzip or zstd (recognised from the magic bytes, with the output bounded per read),
and ``_Uncompressed`` hashes the tar for the diff_id and enforces the image's byte
budget and the compression ratio as the bytes come out, so a decompression bomb stops
after ``Limits.ratio_grace_bytes``, not after inflating. tarfile reads that stream in
``r|`` mode; extension headers larger than ``Limits.max_tar_header_bytes`` are refused
before tarfile would read them whole into memory.

When the tar ends, only zero padding may follow (tarfile treats a corrupt header as the
end of the archive, which could hide the rest of the layer), the gzip or zstd stream must
be complete, and both digests must match. A gzip stream cut short is noticed by zlib;
zstd's reader ends silently, so ``_ZstdFrames`` follows the frame and block headers of
RFC 8878 on the compressed bytes to tell a complete stream from a truncated one.

Paths are normalised (``./`` and a leading ``/`` dropped); a ``..`` component or a NUL
byte, in a path or a hard link's target, raises ``UnsafePath``. Links are recorded,
never followed while reading; ``resolve`` follows symbolic links afterwards inside the
image only, where ``..`` stops at the root as it does in a container.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, ClassVar, Protocol, cast

import zstandard
from isal import isal_zlib

from portside.oci.digest import Digest, Hasher
from portside.oci.errors import OCIError
from portside.scanner import errors
from portside.scanner.catalogers.base import Entry

MiB = 1024 * 1024
GiB = 1024 * MiB
_CHUNK = 256 * 1024
# Compressed input is taken in small steps, so that the bytes read are close to the bytes
# consumed and the compression ratio is measured, not underestimated.
_STEP = 16 * 1024

_ISAL_ERROR = cast(type[Exception], isal_zlib.error)


@dataclass(frozen=True)
class Limits:
    """How much the reader accepts; each limit has its own error in ``errors``."""

    max_metadata_bytes: int = 4 * MiB  # an index, manifest, config or manifest.json
    max_layers: int = 512
    max_entries_per_layer: int = 500_000
    max_file_bytes: int = 256 * MiB  # one claimed file (its bytes are kept in memory)
    max_claimed_bytes: int = 2 * GiB  # all versions of all claimed files
    max_image_bytes: int = 32 * GiB  # uncompressed, all layers together
    max_compression_ratio: int = 200  # uncompressed : compressed bytes of one layer
    ratio_grace_bytes: int = 16 * MiB  # the ratio is only checked past this output
    max_tar_header_bytes: int = 1 * MiB  # one pax or GNU long-name header


@dataclass(frozen=True)
class LayerRef:
    """A layer as the manifest and config describe it, before it is read."""

    index: int
    digest: str  # the blob's digest; "" for an old docker archive until the layer is read
    diff_id: str
    media_type: str
    size: int | None
    created_by: str = ""
    opener: Callable[[], BinaryIO] = field(repr=False, compare=False, default=io.BytesIO)


@dataclass(frozen=True)
class TarEntry:
    """One tar member, normalised. ``kind`` is an ``Entry`` kind, or ``whiteout`` (``path``
    is what a lower layer loses) or ``opaque`` (``path`` is the directory emptied)."""

    path: str
    kind: str
    size: int
    mode: int
    uid: int = 0
    gid: int = 0
    linkname: str = ""  # normalised for hard links; as written for symbolic links


@dataclass(frozen=True)
class LayerItem:
    entry: TarEntry
    data: bytes | None  # the file's bytes when ``want`` asked for them


class Budget:
    """What the whole image has used so far, shared by its layers."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.image_bytes = 0
        self.claimed_bytes = 0


# --- streaming a layer ----------------------------------------------------------------------


class LayerWalk:
    """Iterate once over a layer's entries; when the iteration ends, the blob's digest and
    the diff_id have been checked and ``digest``, ``compression`` and ``size`` are set."""

    def __init__(
        self, layer: LayerRef, budget: Budget, want: Callable[[TarEntry], bool] | None
    ) -> None:
        self.layer = layer
        self.label = f"layer {layer.index}" + (f" ({layer.digest})" if layer.digest else "")
        self.budget = budget
        self.want = want or (lambda entry: False)
        self.digest = layer.digest
        self.compression = ""
        self.size = 0  # uncompressed bytes

    def __iter__(self) -> Iterator[LayerItem]:
        limits = self.budget.limits
        expected = Digest.parse(self.layer.digest) if self.layer.digest else None
        with self.layer.opener() as raw:
            source = _Source(raw, expected, self.layer.size, self.label)
            decoder = _decoder(source, self.label)
            self.compression = decoder.name
            stream = _Uncompressed(decoder, source, self.budget, self.layer, self.label)
            with _open_tar(stream, limits, self.label) as tar:
                yield from self._members(tar)
                stream.finish(tar.offset)
            self.digest = source.finish()
            self.size = stream.total

    def _members(self, tar: tarfile.TarFile) -> Iterator[LayerItem]:
        limit = self.budget.limits.max_entries_per_layer
        count = 0
        while (member := _next_member(tar, self.label)) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # r| keeps them all otherwise
            count += 1
            if count > limit:
                raise errors.TooManyEntries(
                    f"{self.label} has more than {limit} entries", limit=limit
                )
            entry = _entry(member, self.label)
            if entry is None:
                continue
            data = None
            if entry.kind == "file" and self.want(entry):
                data = self._read(tar, member, entry)
            yield LayerItem(entry, data)

    def _read(self, tar: tarfile.TarFile, member: tarfile.TarInfo, entry: TarEntry) -> bytes:
        limits = self.budget.limits
        if entry.size > limits.max_file_bytes:
            raise errors.FileTooLarge(
                f"{self.label}: {entry.path} has {entry.size} bytes; the limit for a file "
                f"that is read is {limits.max_file_bytes}",
                limit=limits.max_file_bytes,
            )
        self.budget.claimed_bytes += entry.size
        if self.budget.claimed_bytes > limits.max_claimed_bytes:
            raise errors.ClaimedBytesExceeded(
                f"the files read from the image pass {limits.max_claimed_bytes} bytes",
                limit=limits.max_claimed_bytes,
            )
        try:
            handle = tar.extractfile(member)
            data = handle.read() if handle is not None else b""
        except _TAR_ERRORS as exc:
            problem = "is truncated" if "unexpected end" in str(exc) else f"is damaged ({exc})"
            raise errors.LayerFormatError(f"{self.label} {problem} in {entry.path}") from exc
        if len(data) != entry.size:
            raise errors.LayerFormatError(f"{self.label} is truncated inside {entry.path}")
        return data


class _Source:
    """The blob as stored: counts and hashes what is read, and refuses more bytes than
    the descriptor's size (so an endless blob cannot keep the reader busy)."""

    def __init__(
        self, raw: IO[bytes], expected: Digest | None, size: int | None, label: str
    ) -> None:
        self.raw = raw
        self.expected = expected
        self.declared = size
        self.label = label
        self.hasher = Hasher(expected.algorithm if expected else "sha256")
        self.pending = b""

    @property
    def consumed(self) -> int:
        return self.hasher.size - len(self.pending)

    def peek(self, n: int) -> bytes:
        while len(self.pending) < n:
            more = self._pull(n - len(self.pending))
            if not more:
                break
            self.pending += more
        return self.pending[:n]

    def read(self, n: int = _CHUNK) -> bytes:
        if self.pending:
            data, self.pending = self.pending[:n], self.pending[n:]
            return data
        return self._pull(n)

    def _pull(self, n: int) -> bytes:
        try:
            data = self.raw.read(max(1, min(n, _CHUNK)))
        except (OSError, ValueError, EOFError, tarfile.TarError) as exc:
            raise errors.LayerFormatError(f"cannot read {self.label}: {exc}") from exc
        self.hasher.update(data)
        if self.declared is not None and self.hasher.size > self.declared:
            raise errors.DigestMismatch(
                f"{self.label} is larger than the {self.declared} bytes its descriptor says"
            )
        return data

    def finish(self) -> str:
        """Read to the end and check size and digest; returns the digest."""
        while self.read(_CHUNK):
            pass
        actual = self.hasher.digest()
        if self.declared is not None and self.hasher.size != self.declared:
            raise errors.DigestMismatch(
                f"{self.label} has {self.hasher.size} bytes, not the {self.declared} "
                "its descriptor says"
            )
        if self.expected is not None and actual != self.expected:
            raise errors.DigestMismatch(f"{self.label} hashes to {actual}")
        return str(actual)


class _Decoder(Protocol):
    name: str

    def read(self, n: int) -> bytes: ...


class _Plain:
    name = "none"

    def __init__(self, source: _Source) -> None:
        self.source = source

    def read(self, n: int) -> bytes:
        return self.source.read(n)


class _Gzip:
    """gzip members one after another (RFC 1952 allows several); output is bounded per
    read, a stream without its trailer is truncated, and trailing junk is an error."""

    name = "gzip"

    def __init__(self, source: _Source, label: str) -> None:
        self.source = source
        self.label = label
        # ISA-L inflates the same streams as zlib, several times faster.
        self.inflater = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        self.ended = False

    def read(self, n: int) -> bytes:
        while not self.ended:
            d = self.inflater
            if d.unconsumed_tail:
                data = d.unconsumed_tail
            elif d.eof:
                rest = d.unused_data
                while len(rest) < 2:
                    more = self.source.read(_STEP)
                    if not more:
                        break
                    rest += more
                if not rest:
                    self.ended = True
                    return b""
                if rest[:2] != b"\x1f\x8b":
                    raise errors.LayerFormatError(f"{self.label} has data after its gzip stream")
                self.inflater = d = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
                data = rest
            else:
                data = self.source.read(_STEP)
                if not data:  # zlib may still hold output for input it has taken
                    out = self._inflate(b"", n)
                    if out:
                        return out
                    if d.eof:
                        continue
                    raise errors.LayerFormatError(f"{self.label}: the gzip stream is truncated")
            out = self._inflate(data, n)
            if out:
                return out
        return b""

    def _inflate(self, data: bytes, n: int) -> bytes:
        try:
            return self.inflater.decompress(data, n)
        except (_ISAL_ERROR, zlib.error) as exc:
            raise errors.LayerFormatError(f"{self.label}: corrupt gzip stream ({exc})") from exc


class _Zstd:
    """zstd frames through the library's bounded reader; ``_ZstdFrames`` watches the same
    bytes, because the reader itself ends silently when a frame is cut short."""

    name = "zstd"

    def __init__(self, source: _Source, label: str) -> None:
        self.label = label
        self.frames = _ZstdFrames(label)
        watched = cast(IO[bytes], _Watched(source, self.frames))
        self.reader = zstandard.ZstdDecompressor().stream_reader(
            watched, read_size=_STEP, read_across_frames=True
        )

    def read(self, n: int) -> bytes:
        try:
            out = self.reader.read(n)
        except zstandard.ZstdError as exc:
            raise errors.LayerFormatError(f"{self.label}: corrupt zstd stream ({exc})") from exc
        if not out:
            self.frames.finish()
        return out


class _Watched:
    def __init__(self, source: _Source, frames: _ZstdFrames) -> None:
        self.source = source
        self.frames = frames

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(_CHUNK if n < 0 else n)
        self.frames.feed(data)
        return data


class _ZstdFrames:
    """Follows the frame and block headers of RFC 8878 without decoding the blocks."""

    _MAGIC = 0xFD2FB528

    def __init__(self, label: str) -> None:
        self.label = label
        self.state = "magic"
        self.need = 4
        self.buf = b""
        self.skip = 0
        self.checksum = False
        self.frames = 0

    def feed(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if self.skip:
                step = min(self.skip, len(data) - pos)
                self.skip -= step
                pos += step
                continue
            step = min(self.need - len(self.buf), len(data) - pos)
            self.buf += data[pos : pos + step]
            pos += step
            if len(self.buf) == self.need:
                self._header(int.from_bytes(self.buf, "little"))
                self.buf = b""

    def _header(self, value: int) -> None:
        if self.state == "magic":
            if value == self._MAGIC:
                self.state, self.need = "descriptor", 1
            elif value & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame
                self.state, self.need = "skippable", 4
            else:
                raise errors.LayerFormatError(f"{self.label} has data after its zstd stream")
        elif self.state == "skippable":
            self.skip, self.state, self.need = value, "magic", 4
        elif self.state == "descriptor":
            if value & 0x08:
                raise errors.LayerFormatError(f"{self.label}: corrupt zstd frame header")
            single = bool(value & 0x20)
            content = (1 if single else 0, 2, 4, 8)[value >> 6]
            self.skip = (0 if single else 1) + (0, 1, 2, 4)[value & 3] + content
            self.checksum = bool(value & 0x04)
            self.state, self.need = "block", 3
        else:  # a block header: last flag, type, size
            kind, size = (value >> 1) & 3, value >> 3
            if kind == 3:
                raise errors.LayerFormatError(f"{self.label}: corrupt zstd block")
            self.skip = 1 if kind == 1 else size
            if value & 1:
                self.frames += 1
                self.skip += 4 if self.checksum else 0
                self.state, self.need = "magic", 4

    def finish(self) -> None:
        if self.state != "magic" or self.buf or self.skip or not self.frames:
            raise errors.LayerFormatError(f"{self.label}: the zstd stream is truncated")


def _decoder(source: _Source, label: str) -> _Decoder:
    magic = source.peek(4)
    if magic[:2] == b"\x1f\x8b":
        return _Gzip(source, label)
    if magic == b"\x28\xb5\x2f\xfd":
        return _Zstd(source, label)
    if magic[:3] == b"BZh" or magic[:4] == b"\xfd7zX":
        raise errors.LayerFormatError(f"{label} is compressed with bzip2 or xz, not supported")
    return _Plain(source)


class _Uncompressed(io.RawIOBase):
    """The tar stream tarfile reads: hashes it for the diff_id, counts it against the
    image's limit and the compression ratio, and keeps the last bytes it handed out so
    that what follows the tar's end can be checked."""

    _TAIL = 4 * _CHUNK  # more than tarfile and its buffer read ahead

    def __init__(
        self, decoder: _Decoder, source: _Source, budget: Budget, layer: LayerRef, label: str
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self.source = source
        self.budget = budget
        self.label = label
        try:
            self.expected = Digest.parse(layer.diff_id)
        except OCIError as exc:
            raise errors.ImageFormatError(f"the diff_id of {label} is not a digest") from exc
        self.hasher = Hasher(self.expected.algorithm)
        self.total = 0
        self.tail: deque[bytes] = deque()
        self.tail_size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.decoder.read(len(view))
        if not data:
            return 0
        view[: len(data)] = data
        self._account(data)
        return len(data)

    def _account(self, data: bytes) -> None:
        limits = self.budget.limits
        self.hasher.update(data)
        self.total += len(data)
        self.budget.image_bytes += len(data)
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail_size - len(self.tail[0]) >= self._TAIL:
            self.tail_size -= len(self.tail.popleft())
        if self.budget.image_bytes > limits.max_image_bytes:
            raise errors.ImageTooLarge(
                f"the image passes {limits.max_image_bytes} uncompressed bytes at {self.label}",
                limit=limits.max_image_bytes,
            )
        if self.decoder.name != "none" and self.total > limits.ratio_grace_bytes:
            ratio = self.total / max(1, self.source.consumed)
            if ratio > limits.max_compression_ratio:
                raise errors.CompressionRatioExceeded(
                    f"{self.label} inflates more than {limits.max_compression_ratio} times "
                    "its compressed size (a decompression bomb?)",
                    limit=limits.max_compression_ratio,
                )

    def finish(self, end: int) -> None:
        """Drain the stream after the tar's end (``end`` is where tarfile stopped): only
        zero padding may follow, else a corrupt header ended the archive early. Then
        check the diff_id."""
        ahead = self.total - end
        unread = b"".join(self.tail)[-ahead:] if ahead > 0 else b""
        if ahead > self.tail_size or unread.strip(b"\0"):
            raise errors.LayerFormatError(f"{self.label}: corrupt tar header at byte {end}")
        while data := self.decoder.read(_CHUNK):
            self._account(data)
            if data.strip(b"\0"):
                raise errors.LayerFormatError(f"{self.label} has data after the end of its tar")
        actual = self.hasher.digest()
        if actual != self.expected:
            raise errors.DiffIDMismatch(
                f"{self.label} does not match its diff_id {self.expected} (it hashes to {actual})"
            )


class _GuardedTarInfo(tarfile.TarInfo):
    """Refuses extension headers (pax, GNU long names) larger than the limit before
    tarfile reads them whole into memory."""

    limit: ClassVar[int] = 1 * MiB
    label: ClassVar[str] = ""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENSIONS and self.size > self.limit:
            raise errors.HeaderTooLarge(
                f"{self.label} has a {self.size}-byte tar extension header; the limit is "
                f"{self.limit}",
                limit=self.limit,
            )
        return super()._proc_member(tar)  # type: ignore[misc]


_EXTENSIONS = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, b"L", b"K"}  # GNU longs
)
# What tarfile raises (or lets escape from its internals) on malformed input.
_TAR_ERRORS = (
    tarfile.TarError,
    EOFError,
    OSError,
    ValueError,
    IndexError,
    OverflowError,
    RecursionError,
    zlib.error,
    _ISAL_ERROR,
)


def _open_tar(stream: _Uncompressed, limits: Limits, label: str) -> tarfile.TarFile:
    info = type("_Info", (_GuardedTarInfo,), {"limit": limits.max_tar_header_bytes, "label": label})
    try:
        return tarfile.open(
            fileobj=io.BufferedReader(stream, buffer_size=_CHUNK),
            mode="r|",
            tarinfo=info,
            encoding="utf-8",
            errors="surrogateescape",
        )
    except _TAR_ERRORS as exc:
        raise errors.LayerFormatError(f"{label} is not a tar archive: {exc}") from exc


def _next_member(tar: tarfile.TarFile, label: str) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except _TAR_ERRORS as exc:
        problem = "is truncated" if "unexpected end" in str(exc) else f"is not a valid tar ({exc})"
        raise errors.LayerFormatError(f"{label} {problem}") from exc


_KINDS = {
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


def _entry(member: tarfile.TarInfo, label: str) -> TarEntry | None:
    """Normalise one member; None for what a file system would not show (the root,
    aufs bookkeeping, unknown types)."""
    path = normalise(member.name, label)
    kind = "file" if member.isreg() else _KINDS.get(member.type)
    if kind is None:
        return None
    parent, _, base = path.rpartition("/")
    if base.startswith(_WHITEOUT):
        if base == _OPAQUE:
            return TarEntry(parent or "/", "opaque", 0, 0)
        if base.startswith(_WHITEOUT + _WHITEOUT):
            return None  # aufs metadata (.wh..wh.plnk and the like)
        target = base[len(_WHITEOUT) :]
        if not target:
            return None
        if target in (".", ".."):
            raise errors.UnsafePath(f"{label}: the whiteout {path} names {target}")
        return TarEntry(f"{parent}/{target}", "whiteout", 0, 0)
    if path == "/":
        return None
    linkname = member.linkname
    if "\0" in linkname:
        raise errors.UnsafePath(f"{label}: the link {path} has a NUL byte in its target")
    if kind == "hardlink":
        linkname = normalise(linkname, label, what="hard link target")
    return TarEntry(
        path=path,
        kind=kind,
        size=member.size if kind == "file" else 0,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        linkname=linkname if kind in ("symlink", "hardlink") else "",
    )


def normalise(name: str, label: str = "", *, what: str = "path") -> str:
    """``./usr//bin/`` -> ``/usr/bin``; refuses ``..`` components and NUL bytes."""
    if "\0" in name:
        raise errors.UnsafePath(f"{label}: a {what} has a NUL byte: {name!r:.120}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise errors.UnsafePath(f"{label}: the {what} {name!r:.120} leaves the image's root")
    return "/" + "/".join(parts)


# --- the file system the layers build --------------------------------------------------------


class Overlay:
    """The final file system, built layer by layer as a container runtime would.

    A whiteout removes a path (and all beneath it) from the layers below, an opaque marker
    empties a directory of what the layers below put there, and a non-directory written
    over a directory replaces the whole tree. Entries of the layer being applied are never
    hidden by that layer's own whiteouts, whatever their order in the tar.
    """

    def __init__(self) -> None:
        self.index: dict[str, Entry] = {}
        self._added: dict[str, Entry] = {}
        self._deleted: set[str] = set()
        self._emptied: set[str] = set()

    def add(self, entry: TarEntry, layer: int) -> None:
        if entry.kind == "whiteout":
            self._deleted.add(entry.path)
        elif entry.kind == "opaque":
            self._emptied.add(entry.path)
        else:
            lower = self.index.get(entry.path)
            if lower is not None and lower.kind == "dir" and entry.kind != "dir":
                self._emptied.add(entry.path)
            self._added[entry.path] = Entry(
                path=entry.path,
                layer=layer,
                kind=entry.kind,
                size=entry.size,
                mode=entry.mode,
                uid=entry.uid,
                gid=entry.gid,
                linkname=entry.linkname,
            )

    def end_layer(self) -> None:
        if self._deleted or self._emptied:
            deleted, emptied = self._deleted, self._emptied
            self.index = {
                path: e for path, e in self.index.items() if not _hidden(path, deleted, emptied)
            }
        self.index.update(self._added)
        self._added, self._deleted, self._emptied = {}, set(), set()


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
