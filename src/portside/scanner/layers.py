"""Streaming one layer, and the file system the layers build.

A layer is read once, front to back. A reading thread runs a chain of small readers:
``_Source`` hashes and counts the blob as stored (refusing more bytes than its
descriptor says), a decoder undoes gzip or zstd (recognised from the magic bytes, with
the output bounded per read), and ``_Inflated`` enforces the image's byte budget and the
compression ratio as the bytes come out, so a decompression bomb stops after
``Limits.ratio_grace_bytes``, not after inflating. The iterating thread hashes the tar
for the diff_id (an uncompressed layer's own hash serves) and parses it with
``_TarParser``, which reads headers as tarfile does in stream mode but skips the data of
unclaimed files without copying it; extension headers larger than
``Limits.max_tar_header_bytes`` are refused before they are read.

An uncompressed layer that lies as a region of a plain file (a docker archive's member,
a layout's blob) is not streamed: the parser reads its headers and claimed files where
they lie (``_RegionStream``) and a thread hashes the region (``_RegionHash``), the hash
serving as both the blob digest and the diff_id; ``HashAhead`` starts that hashing for
all such layers of an image before their walks. The region is read twice, by the parser
and by the hash, so a file rewritten during the scan could show the parser other bytes
than the ones verified: the store's blobs never change, and a local file is its user's.

When the tar ends, only zero padding may follow (a corrupt header ends the archive, as
in tarfile, which could otherwise hide the rest of the layer), the gzip or zstd stream
must be complete, and both digests must match. A gzip stream cut short is noticed by zlib;
zstd's reader ends silently, so ``_ZstdFrames`` follows the frame and block headers of
RFC 8878 on the compressed bytes to tell a complete stream from a truncated one.

Paths are normalised (``./`` and a leading ``/`` dropped); a ``..`` component or a NUL
byte, in a path or a hard link's target, raises ``UnsafePath``. A whiteout's name is such
a path, checked before it is read as a whiteout (what ``a/../.wh.b`` hides depends on how
``..`` is resolved); a whiteout naming ``..`` or ``.`` raises it too, and ``.wh.``, which
names nothing, hides nothing. Links are recorded,
never followed while reading; ``resolve`` follows symbolic links afterwards inside the
image only, where ``..`` stops at the root as it does in a container.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import stat
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import IO, BinaryIO, NamedTuple, Protocol, cast
from zlib import adler32

from portside.oci.digest import Digest, Hasher
from portside.oci.errors import OCIError
from portside.scanner import errors, runtime
from portside.scanner.catalogers.base import Entry, new_entry
from portside.scanner.hidden import DELETED, KEPT_KINDS, REPLACED, Hidden

MiB = 1024 * 1024
GiB = 1024 * MiB
_CHUNK = 256 * 1024
# Compressed input is taken in steps. zstd's reader takes small ones, so that the bytes
# read are close to the bytes consumed and the compression ratio is measured, not
# underestimated; the gzip decoder knows the input it holds (``_Decoder.held``) and takes
# larger ones, fewer calls for the same bytes.
_STEP = 16 * 1024
_GZIP_STEP = 512 * 1024
# The reading thread hands the decompressed stream to the parser in pieces of this size,
# at most _QUEUED of them ahead; a decoder gives at most _OUTPUT_STEP bytes per call, and
# the ratio is checked after each. Few large calls matter: the reading thread takes the
# GIL back after each call into C while the parser holds it, which can cost it up to the
# interpreter's switch interval each time.
_PIECE = 4 * 1024 * 1024
_WINDOW = 64 * 1024  # read-ahead when the parser reads a file region in place
_QUEUED = 4
_OUTPUT_STEP = 2 * 1024 * 1024
# A compressed blob of at most this many bytes is inflated by zlib in the walking thread:
# for it, loading ISA-L and starting a reading thread cost more than they save (a few
# hundred microseconds to inflate such a blob, which is what a small image is made of).
_SMALL_BLOB = 256 * 1024


def _tar_error(exc: Exception) -> bool:
    """One of tarfile's errors, which a layer read through tarfile (a member of a
    compressed docker archive) raises: only a loaded tarfile can have raised one, and a
    scan that reads no such archive does not load it."""
    tarfile = sys.modules.get("tarfile")
    return tarfile is not None and isinstance(exc, tarfile.TarError)


@dataclass(frozen=True)
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


class TarEntry(NamedTuple):
    """One tar member, normalised. ``kind`` is an ``Entry`` kind, or ``whiteout`` (``path``
    is what a lower layer loses) or ``opaque`` (``path`` is the directory emptied).
    A named tuple, as ``LayerItem``: one of each is made for every member of every
    layer, four times faster than a frozen dataclass."""

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


# --- streaming a layer ----------------------------------------------------------------------


class LayerWalk:
    """Iterate once over a layer's entries; when the iteration ends, the blob's digest and
    the diff_id have been checked and ``digest``, ``compression`` and ``size`` are set.

    A thread reads, hashes and decompresses the blob (the C libraries doing that release
    the GIL) while the iterating thread parses the tar, so the two overlap; the pieces
    are handed over in order, and so are the reading side's errors, so the entries and
    the errors are the ones a single thread would give.

    With ``defer``, a layer that ``HashAhead`` is hashing is not waited for: the
    iteration ends when the tar does, ``digest`` is what the check will confirm (the
    diff_id), and ``verify`` waits for the hash and checks it later, so that the caller
    works on (the next layers, the catalogers) while a large layer is still being hashed.
    The caller must call ``verify`` before it trusts anything read from the layer."""

    def __init__(
        self,
        layer: LayerRef,
        budget: Budget,
        want: Callable[[TarEntry], bool] | None,
        ahead: HashAhead | None = None,
        *,
        defer: bool = False,
    ) -> None:
        self.layer = layer
        self.ahead = ahead
        self.label = _label(layer)
        self.budget = budget
        self.want = want or (lambda entry: False)
        self.digest = layer.digest
        self.compression = ""
        self.size = 0  # uncompressed bytes
        self.defer = defer
        self._check: Callable[[], None] | None = None

    def verify(self) -> None:
        """Wait for the hash of a deferred layer and check it, raising what a walk
        without ``defer`` raises when its iteration ends; nothing for other walks."""
        check, self._check = self._check, None
        if check is not None:
            check()

    def __iter__(self) -> Iterator[LayerItem]:
        limits = self.budget.limits
        expected = Digest.parse(self.layer.digest) if self.layer.digest else None
        try:
            diff_id = Digest.parse(self.layer.diff_id)
        except OCIError as exc:
            raise errors.ImageFormatError(f"the diff_id of {self.label} is not a digest") from exc
        with self.layer.opener() as raw:
            region = _in_place(raw, expected, diff_id)
            if region is not None:
                yield from self._direct(*region, expected, diff_id)
                return
            # A compressed blob hashed ahead: the reading thread only reads and inflates.
            job = None
            if self.ahead is not None and expected is not None:
                found = _compressed(raw)
                if found is not None:
                    job = self.ahead.take(self.layer.index, found[2])
            source = _Source(raw, expected, self.layer.size, self.label, hashing=job is None)
            small = self.layer.size is not None and self.layer.size <= _SMALL_BLOB
            decoder = _decoder(source, self.label, fast=not small)
            self.compression = decoder.name
            inflated = _Inflated(decoder, source, self.budget, self.label)
            # An uncompressed layer's tar is its blob: one hash serves as both.
            same = decoder.name == "none" and source.hasher.algorithm == diff_id.algorithm
            hasher = None if same else Hasher(diff_id.algorithm)
            reader = _Inline(inflated, source) if small else _Pipe(inflated, source, self.label)
            with runtime.reading_thread(), reader as pipe:
                stream = _TarStream(pipe.get, hasher)
                tar = _TarParser(stream, limits, self.label)
                yield from self._members(tar)
                tar.finish()
                end = pipe.end()
            self.size = inflated.total
            tar_digest = None if hasher is None else hasher.digest()
            if job is None:
                self._streamed(end.actual if tar_digest is None else tar_digest, diff_id, end)
                self.digest = end.digest
                return
            ahead = job

            def check() -> None:
                blob = ahead.result()
                self._streamed(blob if tar_digest is None else tar_digest, diff_id, end)
                if expected is not None and blob != expected:
                    raise errors.DigestMismatch(f"{self.label} hashes to {blob}")
                self.digest = str(blob)

            if self.defer:
                self._check = check
                self.digest = str(expected)  # what the check confirms, or it raises
            else:
                check()

    def _streamed(self, actual: Digest | None, diff_id: Digest, end: _End) -> None:
        """A streamed layer's checks, in their order: the tar against the diff_id, then
        what the end of the blob said (its size, and its digest when it was hashed
        while read)."""
        if actual != diff_id:
            raise errors.DiffIDMismatch(
                f"{self.label} does not match its diff_id {diff_id} (it hashes to {actual})"
            )
        if end.error is not None:
            raise end.error

    def _direct(
        self, fd: int, start: int, size: int, expected: Digest | None, diff_id: Digest
    ) -> Iterator[LayerItem]:
        """An uncompressed layer stored as a plain file region (a member of a docker
        archive, a layout's blob): the parser reads headers and claimed files where they
        lie and skips the rest, while a thread hashes the whole region for the diff_id
        (which is then also the blob's digest). What the streaming path checks piece by
        piece is known here in advance: the size against the descriptor and the budget."""
        declared = self.layer.size
        if declared is not None and size != declared:
            word = "larger than" if size > declared else "smaller than"
            raise errors.DigestMismatch(
                f"{self.label} is {word} the {declared} bytes its descriptor says ({size})"
            )
        limits = self.budget.limits
        self.budget.add_image_bytes(size, self.label)
        self.compression = "none"
        ahead = self.ahead.take(self.layer.index, size) if self.ahead is not None else None
        if ahead is not None and self.defer:
            # HashAhead's thread hashes the region to its end whatever this walk does.
            tar = _TarParser(_RegionStream(fd, start, size, self.label), limits, self.label)
            yield from self._members(tar)
            tar.finish()
            job = ahead

            def check() -> None:
                self._checked(job.result(), expected, diff_id)

            self._check = check
            self.digest = str(diff_id)  # what the check confirms, or it raises
            self.size = size
            return
        hashed = ahead or _RegionHash(fd, start, size, diff_id, self.label)
        with runtime.reading_thread(), hashed:
            tar = _TarParser(_RegionStream(fd, start, size, self.label), limits, self.label)
            yield from self._members(tar)
            tar.finish()
            actual = hashed.result()
        self._checked(actual, expected, diff_id)
        self.size = size

    def _checked(self, actual: Digest, expected: Digest | None, diff_id: Digest) -> None:
        """The region's hash against the diff_id and the blob's digest; sets ``digest``."""
        if actual != diff_id:
            raise errors.DiffIDMismatch(
                f"{self.label} does not match its diff_id {diff_id} (it hashes to {actual})"
            )
        if expected is not None and actual != expected:
            raise errors.DigestMismatch(f"{self.label} hashes to {actual}")
        self.digest = str(actual)

    def _members(self, tar: _TarParser) -> Iterator[LayerItem]:
        limit = self.budget.limits.max_entries_per_layer
        count = 0
        while (member := tar.next()) is not None:
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

    def _read(self, tar: _TarParser, member: _Member, entry: TarEntry) -> bytes:
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
        if member.sparse:
            raise errors.LayerFormatError(
                f"{self.label}: {entry.path} is a sparse file, whose bytes are not read"
            )
        data = tar.stream.read(member.size)
        if len(data) != member.size:
            raise errors.LayerFormatError(f"{self.label} is truncated in {entry.path}")
        return data


class _Source:
    """The blob as stored: counts and hashes what is read, and refuses more bytes than
    the descriptor's size (so an endless blob cannot keep the reader busy). Without
    ``hashing``, the blob's digest is another thread's to take (``HashAhead``)."""

    def __init__(
        self,
        raw: IO[bytes],
        expected: Digest | None,
        size: int | None,
        label: str,
        *,
        hashing: bool = True,
    ) -> None:
        self.raw = raw
        self.expected = expected
        self.declared = size
        self.label = label
        self.hashing = hashing
        self.hasher = Hasher(expected.algorithm if expected else "sha256")
        self.count = 0  # bytes read from the blob
        self.pending = b""

    @property
    def consumed(self) -> int:
        return self.count - len(self.pending)

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
            data = self.raw.read(max(1, min(n, _PIECE)))
        except Exception as exc:
            if not isinstance(exc, (OSError, ValueError, EOFError)) and not _tar_error(exc):
                raise
            raise errors.LayerFormatError(f"cannot read {self.label}: {exc}") from exc
        self.count += len(data)
        if self.hashing:
            self.hasher.update(data)
        if self.declared is not None and self.count > self.declared:
            raise errors.DigestMismatch(
                f"{self.label} is larger than the {self.declared} bytes its descriptor says"
            )
        return data

    def finish(self) -> str:
        """Read to the end and check the size and (when hashing) the digest; returns the
        digest, "" without hashing."""
        while self.read(_CHUNK):
            pass
        if self.declared is not None and self.count != self.declared:
            raise errors.DigestMismatch(
                f"{self.label} has {self.count} bytes, not the {self.declared} its descriptor says"
            )
        if not self.hashing:
            return ""
        actual = self.hasher.digest()
        if self.expected is not None and actual != self.expected:
            raise errors.DigestMismatch(f"{self.label} hashes to {actual}")
        return str(actual)


class _Decoder(Protocol):
    name: str

    def read(self, n: int) -> bytes: ...

    def held(self) -> int:
        """Compressed bytes read from the source but not yet inflated."""
        ...


class _Plain:
    name = "none"

    def __init__(self, source: _Source) -> None:
        self.source = source

    def read(self, n: int) -> bytes:
        return self.source.read(n)

    def held(self) -> int:
        return 0


class _Gzip:
    """gzip members one after another (RFC 1952 allows several); output is bounded per
    read, a stream without its trailer is truncated, and trailing junk is an error."""

    name = "gzip"

    def __init__(self, source: _Source, label: str, *, fast: bool = True) -> None:
        self.source = source
        self.label = label
        self.library: ModuleType = zlib
        self.errors: tuple[type[Exception], ...] = (zlib.error,)
        if fast:
            # ISA-L inflates the same streams as zlib, several times faster; loaded here,
            # as zstd's library is, for the layers that need it.
            from isal import isal_zlib

            self.library = isal_zlib
            self.errors = (cast(type[Exception], isal_zlib.error), zlib.error)
        self.inflater = self.library.decompressobj(16 + zlib.MAX_WBITS)
        self.ended = False

    def read(self, n: int) -> bytes:
        while not self.ended:
            d = self.inflater
            if d.unconsumed_tail:
                data = d.unconsumed_tail
            elif d.eof:
                rest = d.unused_data
                while len(rest) < 2:
                    more = self.source.read(_GZIP_STEP)
                    if not more:
                        break
                    rest += more
                if not rest:
                    self.ended = True
                    return b""
                if rest[:2] != b"\x1f\x8b":
                    raise errors.LayerFormatError(f"{self.label} has data after its gzip stream")
                self.inflater = d = self.library.decompressobj(16 + zlib.MAX_WBITS)
                data = rest
            else:
                data = self.source.read(_GZIP_STEP)
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

    def held(self) -> int:
        return len(self.inflater.unconsumed_tail)

    def _inflate(self, data: bytes, n: int) -> bytes:
        try:
            return self.inflater.decompress(data, n)
        except self.errors as exc:
            raise errors.LayerFormatError(f"{self.label}: corrupt gzip stream ({exc})") from exc


class _Zstd:
    """zstd frames through the library's bounded reader; ``_ZstdFrames`` watches the same
    bytes, because the reader itself ends silently when a frame is cut short."""

    name = "zstd"

    def __init__(self, source: _Source, label: str) -> None:
        import zstandard

        self.label = label
        self.frames = _ZstdFrames(label)
        self.error = zstandard.ZstdError
        watched = cast(IO[bytes], _Watched(source, self.frames))
        self.reader = zstandard.ZstdDecompressor().stream_reader(
            watched, read_size=_STEP, read_across_frames=True
        )

    def read(self, n: int) -> bytes:
        try:
            out = self.reader.read(n)
        except self.error as exc:
            raise errors.LayerFormatError(f"{self.label}: corrupt zstd stream ({exc})") from exc
        if not out:
            self.frames.finish()
        return out

    def held(self) -> int:
        return 0


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


def _compression(magic: bytes) -> str:
    """What the blob's first four bytes say it is: the bytes decide, not the media type."""
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if magic[:3] == b"BZh" or magic[:4] == b"\xfd7zX":
        return "bzip2 or xz"
    return "none"


def _decoder(source: _Source, label: str, *, fast: bool = True) -> _Decoder:
    """The blob's decoder; without ``fast``, gzip is inflated by zlib, not ISA-L."""
    compression = _compression(source.peek(4))
    if compression == "gzip":
        return _Gzip(source, label, fast=fast)
    if compression == "zstd":
        return _Zstd(source, label)
    if compression != "none":
        raise errors.LayerFormatError(f"{label} is compressed with bzip2 or xz, not supported")
    return _Plain(source)


def _region(raw: IO[bytes]) -> tuple[int, int, int] | None:
    """(descriptor, offset, size) when the blob is a region of a regular file that can be
    read in place: a store's member that offers ``region()``, or a file opened at its
    start. None for anything else (a stream, a pipe, bytes in memory)."""
    offered = getattr(raw, "region", None)
    if callable(offered):
        found: tuple[int, int, int] | None = offered()
        return found
    if isinstance(raw, io.BufferedReader) and isinstance(raw.raw, io.FileIO):
        try:
            info = os.fstat(raw.fileno())
            at_start = raw.tell() == 0
        except (OSError, ValueError):
            return None
        if stat.S_ISREG(info.st_mode) and at_start:
            return raw.fileno(), 0, info.st_size
    return None


def _in_place(
    raw: IO[bytes], expected: Digest | None, diff_id: Digest
) -> tuple[int, int, int] | None:
    """The region of an uncompressed layer that can be parsed in place (see ``_region``),
    hashed once for both digests; None when the layer must be streamed."""
    region = _region(raw)
    if region is None or (expected is not None and expected.algorithm != diff_id.algorithm):
        return None
    fd, start, _ = region
    try:
        magic = os.pread(fd, 4, start)
    except OSError:
        return None  # streaming it will say what is wrong
    return region if _compression(magic) == "none" else None


def _compressed(raw: IO[bytes]) -> tuple[int, int, int] | None:
    """The region of a gzip or zstd blob that lies in a regular file, for hashing it
    apart from reading it (see ``HashAhead``); None for anything else."""
    region = _region(raw)
    if region is None:
        return None
    fd, start, _ = region
    try:
        magic = os.pread(fd, 4, start)
    except OSError:
        return None
    return region if _compression(magic) in ("gzip", "zstd") else None


def _label(layer: LayerRef) -> str:
    return f"layer {layer.index}" + (f" ({layer.digest})" if layer.digest else "")


class _RegionStream:
    """The tar of a file region as ``_TarParser`` reads it (the interface of
    ``_TarStream``): reads go to the file at their position through a small read-ahead
    window, so a run of small members costs one read, and skipping costs nothing."""

    def __init__(self, fd: int, start: int, size: int, label: str) -> None:
        self.fd = fd
        self.start = start
        self.size = size
        self.label = label
        self.pos = 0
        self.window = b""
        self.window_at = 0  # the region offset of window[0]

    def tell(self) -> int:
        return self.pos

    def read(self, n: int) -> bytes:
        """``n`` bytes, fewer only where the region ends."""
        pos = self.pos
        left = self.size - pos
        if n > left:
            n = left
        if n < 0:
            n = 0
        offset = pos - self.window_at
        if offset < 0 or offset + n > len(self.window):
            self.window = self._pread(min(max(n, _WINDOW), left), pos)
            self.window_at, offset = pos, 0
        data = self.window[offset : offset + n]
        self.pos = pos + len(data)
        return data

    def skip(self, n: int) -> bool:
        """Pass ``n`` bytes; False when the region ends first."""
        if self.pos + n > self.size:
            self.pos = self.size
            return False
        self.pos += n
        return True

    def rest(self) -> Iterator[bytes]:
        """What is left, piece by piece."""
        while self.pos < self.size:
            piece = self._pread(min(_CHUNK, self.size - self.pos), self.pos)
            self.pos += len(piece)
            yield piece

    def _pread(self, n: int, at: int) -> bytes:
        try:
            data = os.pread(self.fd, n, self.start + at)
        except OSError as exc:
            raise errors.LayerFormatError(f"cannot read {self.label}: {exc}") from exc
        if len(data) < n:  # the file shrank under the reader
            raise errors.LayerFormatError(f"{self.label} is truncated")
        return data


class _RegionHash:
    """Hashes a file region into one reused buffer, in a thread of its own (``with``) or
    in ``HashAhead``'s. The hash releases the GIL, so the parser runs meanwhile. Leaving
    the ``with`` block stops the hashing and waits for it to end."""

    def __init__(self, fd: int, start: int, size: int, digest: Digest, label: str) -> None:
        self.fd, self.start, self.size, self.label = fd, start, size, label
        self.hasher = Hasher(digest.algorithm)
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.error: errors.ScanError | None = None
        self.thread: threading.Thread | None = None
        self.queued = False  # run by HashAhead's thread, whose files these are

    def __enter__(self) -> _RegionHash:
        if not self.queued and self.thread is None:
            self.thread = threading.Thread(target=self.run, name=f"hash {self.label}", daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()

    def run(self) -> None:
        try:
            buffer = memoryview(bytearray(min(_PIECE, max(self.size, 1))))
            done = 0
            while done < self.size and not self.stopping.is_set():
                view = buffer[: min(len(buffer), self.size - done)]
                got = os.preadv(self.fd, [view], self.start + done)
                if got <= 0:
                    raise errors.LayerFormatError(f"{self.label} is truncated")
                self.hasher.update(view[:got])
                done += got
        except OSError as exc:
            self.error = errors.LayerFormatError(f"cannot read {self.label}: {exc}")
        except errors.ScanError as exc:
            self.error = exc
        finally:
            self.done.set()

    def result(self) -> Digest:
        """The region's digest, once all of it has been hashed."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.hasher.digest()


class HashAhead:
    """Verifies an image's layers ahead of their walks: the layers that lie as file
    regions (a docker archive's members, a layout's blobs) are hashed in layer order by
    one thread from the moment this is made, so that the hashing overlaps with what the
    caller does first (loading catalogers, walking earlier layers) instead of holding up
    the end of each walk. An uncompressed layer's hash is its diff_id; a compressed
    one's is the blob's digest, which the thread inflating the layer then need not take
    as well (inflating is the slowest part of reading a compressed layer). A walk takes
    its layer's hash (``take``) and waits for it; a layer that cannot be read this way
    is simply not hashed ahead. ``close`` stops the thread and closes what it opened."""

    def __init__(self, layers: Sequence[LayerRef], limits: Limits) -> None:
        self.jobs: dict[int, _RegionHash] = {}
        self.opened: list[BinaryIO] = []
        total = 0
        for ref in layers:
            job = self._job(ref)
            if job is None:
                continue
            total += job.size
            if total > limits.max_image_bytes:
                break  # the walk will refuse the image here: no use hashing on
            self.jobs[ref.index] = job
        self.order = list(self.jobs.values())
        self.interval: contextlib.AbstractContextManager[None] | None = None
        self.thread: threading.Thread | None = None
        if self.order:  # nothing to hash ahead (small blobs only): no thread
            self.interval = runtime.reading_thread()
            self.interval.__enter__()
            self.thread = threading.Thread(target=self._run, name="hash ahead", daemon=True)
            self.thread.start()

    def _job(self, ref: LayerRef) -> _RegionHash | None:
        try:
            diff_id = Digest.parse(ref.diff_id)
            expected = Digest.parse(ref.digest) if ref.digest else None
            raw = ref.opener()
        except (OCIError, errors.ScanError, OSError):
            return None  # the walk will say what is wrong
        region = _in_place(raw, expected, diff_id)
        digest = diff_id
        small = ref.size is not None and ref.size <= _SMALL_BLOB  # hashed as it is read
        if region is None and expected is not None and not small:
            region = _compressed(raw)  # a compressed blob: hashed for its own digest
            digest = expected
        if region is None:
            raw.close()
            return None
        fd, start, size = region
        self.opened.append(raw)
        job = _RegionHash(fd, start, size, digest, _label(ref))
        job.queued = True
        return job

    def _run(self) -> None:
        for job in self.order:
            if not job.stopping.is_set():
                job.run()
            job.done.set()

    def take(self, index: int, size: int) -> _RegionHash | None:
        """The hash of layer ``index`` (size ``size``), begun or done; each is taken once."""
        job = self.jobs.pop(index, None)
        if job is not None and job.size != size:
            job.stopping.set()
            return None
        return job

    def close(self) -> None:
        for job in self.order:
            job.stopping.set()
        if self.thread is not None and self.thread.is_alive():
            self.thread.join()
        for raw in self.opened:
            raw.close()
        self.opened = []
        if self.interval is not None:
            self.interval.__exit__(None, None, None)
            self.interval = None


class _Inflated:
    """The tar stream as the decoder gives it, in pieces of about ``_PIECE`` bytes, each
    counted against the image's byte budget and the compression ratio as it comes out."""

    def __init__(self, decoder: _Decoder, source: _Source, budget: Budget, label: str) -> None:
        self.decoder = decoder
        self.source = source
        self.budget = budget
        self.label = label
        self.total = 0
        self.failed: Exception | None = None

    def read(self) -> bytes:
        """The next piece; an error comes after the bytes that came out before it."""
        if self.failed is not None:
            raise self.failed
        parts = []
        size = 0
        step = _PIECE if self.decoder.name == "none" else _OUTPUT_STEP
        try:
            while size < _PIECE:
                data = self.decoder.read(min(_PIECE - size, step))
                if not data:
                    break
                self._account(len(data))
                parts.append(data)
                size += len(data)
        except Exception as exc:
            if not parts:
                raise
            self.failed = exc
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _account(self, size: int) -> None:
        limits = self.budget.limits
        self.total += size
        self.budget.add_image_bytes(size, self.label)
        if self.decoder.name != "none" and self.total > limits.ratio_grace_bytes:
            ratio = self.total / max(1, self.source.consumed - self.decoder.held())
            if ratio > limits.max_compression_ratio:
                raise errors.CompressionRatioExceeded(
                    f"{self.label} inflates more than {limits.max_compression_ratio} times "
                    "its compressed size (a decompression bomb?)",
                    limit=limits.max_compression_ratio,
                )


class _End(NamedTuple):
    """What the reading thread knows once the blob is read to its end: the digest it
    verified (or the error that check raised) and the hash of all the blob's bytes. A
    named tuple, as ``TarEntry``: a tenth of a frozen dataclass's cost to define."""

    digest: str
    actual: Digest | None  # None when the blob was hashed by another thread
    error: errors.ScanError | None


class _Pipe:
    """Runs the reading side (``_Inflated`` over ``_Source``) in a thread that hands its
    pieces over through a bounded queue, followed by an ``_End`` or the error it met.
    Leaving the ``with`` block stops and joins the thread, so the blob is never read
    after its file is closed."""

    def __init__(self, inflated: _Inflated, source: _Source, label: str) -> None:
        self.inflated = inflated
        self.source = source
        self.queue: queue.Queue[bytes | _End | BaseException] = queue.Queue(_QUEUED)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"read {label}", daemon=True)
        self.last: _End | None = None

    def __enter__(self) -> _Pipe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        while self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:
                    self.queue.get_nowait()
            self.thread.join(0.01)

    def _run(self) -> None:
        try:
            while data := self.inflated.read():
                if not self._put(data):
                    return
            self._put(_finish(self.source))
        except Exception as exc:
            self._put(exc)

    def _put(self, item: bytes | _End | BaseException) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> bytes:
        """The next piece; b"" once the blob has ended (then ``end`` is known)."""
        if self.last is not None:
            return b""
        item = self.queue.get()
        if isinstance(item, bytes):
            return item
        if isinstance(item, _End):
            self.last = item
            return b""
        raise item

    def end(self) -> _End:
        while self.get():
            pass  # pragma: no cover - the parser has read to the end already
        assert self.last is not None
        return self.last


class _Inline:
    """``_Pipe``'s reading side run in the walking thread, for a small blob: the same
    pieces, errors and ``_End``, in the same order, with no thread."""

    def __init__(self, inflated: _Inflated, source: _Source) -> None:
        self.inflated = inflated
        self.source = source
        self.last: _End | None = None

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def get(self) -> bytes:
        """The next piece; b"" once the blob has ended (then ``end`` is known)."""
        if self.last is not None:
            return b""
        data = self.inflated.read()
        if data:
            return data
        self.last = _finish(self.source)
        return b""

    def end(self) -> _End:
        while self.get():
            pass  # pragma: no cover - the parser has read to the end already
        assert self.last is not None
        return self.last


def _finish(source: _Source) -> _End:
    """The end of a blob read to its last byte: its size and digest checked."""
    try:
        digest = source.finish()
        error = None
    except errors.ScanError as exc:
        digest, error = "", exc
    actual = source.hasher.digest() if source.hashing else None
    return _End(digest, actual, error)


class _Stream(Protocol):
    """The tar as the parser reads it, front to back."""

    def tell(self) -> int: ...

    def read(self, n: int) -> bytes: ...

    def skip(self, n: int) -> bool: ...

    def rest(self) -> Iterator[bytes]: ...


class _TarStream:
    """The tar stream as the parser reads it, front to back: pieces are addressed by
    position, so skipping a member's data copies nothing. Every piece is hashed for
    the diff_id as it arrives (unless the blob's own hash serves)."""

    def __init__(self, pull: Callable[[], bytes], hasher: Hasher | None) -> None:
        self.pull = pull
        self.hasher = hasher
        self.buf = b""
        self.pos = 0
        self.base = 0  # the stream offset of buf[0]
        self.ended = False

    def tell(self) -> int:
        return self.base + self.pos

    def _more(self) -> bool:
        if self.ended:
            return False
        piece = self.pull()
        if not piece:
            self.ended = True
            return False
        if self.hasher is not None:
            self.hasher.update(piece)
        self.base += len(self.buf)
        self.buf, self.pos = piece, 0
        return True

    def read(self, n: int) -> bytes:
        """``n`` bytes, fewer only where the stream ends."""
        end = self.pos + n
        if end <= len(self.buf):
            data = self.buf[self.pos : end]
            self.pos = end
            return data
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        self.pos = len(self.buf)
        while have < n and self._more():
            take = min(n - have, len(self.buf))
            parts.append(self.buf[:take])
            self.pos = take
            have += take
        return b"".join(parts)

    def skip(self, n: int) -> bool:
        """Pass ``n`` bytes; False when the stream ends first."""
        while self.pos + n > len(self.buf):
            n -= len(self.buf) - self.pos
            self.pos = len(self.buf)
            if not self._more():
                return False
        self.pos += n
        return True

    def rest(self) -> Iterator[bytes]:
        """What is left, piece by piece."""
        if self.pos < len(self.buf):
            yield self.buf[self.pos :]
            self.pos = len(self.buf)
        while self._more():
            self.pos = len(self.buf)
            yield self.buf


_BLOCK = 512
_REGULAR = frozenset({b"0", b"\0", b"7", b"S"})  # what tarfile counts as regular files
_SUPPORTED = _REGULAR | frozenset({b"1", b"2", b"3", b"4", b"5", b"6", b"L", b"K"})
_PAX = frozenset({b"x", b"g", b"X"})  # extended, global, Solaris extended
_LONG = frozenset({b"L", b"K"})  # GNU long name, long link target
_SPECIAL = _PAX | _LONG | {b"S"}  # headers of their own, or an old sparse member
_PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")
_PAX_CHARSET = re.compile(rb"\d+ hdrcharset=([^\n]+)\n")
_SIGNED = struct.Struct("148b8x356b")
_ZEROS = bytes(_BLOCK)
# name, mode, uid, gid, size, mtime, checksum, type, link target, (magic, version, user and
# group names), device major and minor, ustar prefix
_FIELDS = struct.Struct("100s8s8s8s12s12s8sc100s72x8s8s155s12x")


class _HeaderError(Exception):
    """A block that is not a valid header; as a member's first block, it ends the archive.
    ``blank`` when the block is all zeros (the end-of-archive marker, or a cut one)."""

    def __init__(self, problem: str, *, blank: bool = False) -> None:
        super().__init__(problem)
        self.blank = blank


class _Member:
    """One member, with its extension headers applied: what tarfile's ``TarInfo`` holds,
    parsed and checked as tarfile does (checksum, numeric fields, V7 directories, the
    ustar prefix)."""

    __slots__ = (
        "data_at",
        "extended",
        "gid",
        "linkname",
        "mode",
        "name",
        "next",
        "real_size",
        "size",
        "sparse",
        "type",
        "uid",
    )

    def __init__(self, block: bytes) -> None:
        if len(block) != _BLOCK:
            problem = "empty header" if not block else "truncated header"
            raise _HeaderError(problem, blank=not block.strip(b"\0"))
        if block == _ZEROS:
            raise _HeaderError("end of file header", blank=True)
        (name, mode, uid, gid, size, mtime, checksum, kind, linkname, major, minor, prefix) = (
            _FIELDS.unpack(block)
        )
        # Numeric fields through the cache of values seen (``_number``), looked up here
        # first: headers repeat the same few modes, owners, times and device numbers.
        known = _NUMBERS.get
        expected = known(checksum)
        if expected is None:
            expected = _number(checksum)
        if expected != 256 + _byte_sum(block) - sum(checksum) and expected != 256 + sum(
            _SIGNED.unpack_from(block)
        ):
            raise _HeaderError("bad checksum")
        text = _text(name)
        value = known(mode)
        self.mode = _number(mode) if value is None else value
        value = known(uid)
        self.uid = _number(uid) if value is None else value
        value = known(gid)
        self.gid = _number(gid) if value is None else value
        value = known(size)
        self.size = _number(size) if value is None else value
        # Unused, but checked as tarfile does: the time and the device numbers.
        if known(mtime) is None:
            _number(mtime)
        if known(major) is None:
            _number(major)
        if known(minor) is None:
            _number(minor)
        self.linkname = _text(linkname) if linkname[0] else ""
        self.data_at = self.next = 0
        self.sparse = self.extended = False
        self.real_size = 0
        if kind == b"\0" and text.endswith("/"):
            kind = b"5"  # the old V7 way of writing a directory
        elif kind == b"S":  # GNU's old sparse format: four map entries here
            for at in range(386, 482, 12):
                _number(block[at : at + 12])
            self.extended = bool(block[482])
            self.real_size = _number(block[483:495])
        self.type = kind
        if kind == b"5":
            text = text.rstrip("/")
        if prefix[0] and kind not in (b"L", b"K", b"S"):
            text = _text(prefix) + "/" + text
        self.name = text

    def has_data(self) -> bool:
        """Data blocks follow the header (tarfile skips them for unknown types too)."""
        return self.type in _REGULAR or self.type not in _SUPPORTED


def _byte_sum(block: bytes) -> int:
    """``sum(block)`` for a 512-byte header, an eighth of the time: the first half of
    Adler-32 is 1 plus the sum of the bytes modulo 65521, and the bytes of half a block
    add up to at most 256 * 255 = 65280, so each half's sum comes out exact."""
    view = memoryview(block)
    return (adler32(view[:256]) & 0xFFFF) + (adler32(view[256:]) & 0xFFFF) - 2


def _number(field: bytes) -> int:
    """A numeric header field: octal digits, or GNU's base-256 after 0o200 or 0o377.
    Headers repeat the same few fields (modes, owners, times), so values are kept."""
    value = _NUMBERS.get(field)
    if value is None:
        value = _parse_number(field)
        if len(_NUMBERS) >= 4096:
            _NUMBERS.clear()
        _NUMBERS[field] = value
    return value


_NUMBERS: dict[bytes, int] = {}


def _parse_number(field: bytes) -> int:
    end = field.find(0)
    digits = field if end < 0 else field[:end]
    if digits.isdigit():  # the usual zero-padded octal
        try:
            return int(digits, 8)
        except ValueError:
            raise _HeaderError("invalid header") from None
    if field[0] in (0o200, 0o377):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] == 0o377 else value
    try:
        return int(digits.decode("ascii").strip() or "0", 8)
    except ValueError:
        raise _HeaderError("invalid header") from None


def _text(field: bytes) -> str:
    end = field.find(b"\0")
    return field[: end if end != -1 else None].decode("utf-8", "surrogateescape")


def _blocks(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK


class _TarParser:
    """Reads a tar stream member by member, as tarfile does in stream mode: ustar, GNU
    and pax headers, GNU long names and pax records applied to the member they precede
    and global pax records to all that follow. As there, a block that is not a valid
    header ends the archive; ``finish`` then insists that only zeros follow, so a
    corrupt header cannot hide the rest of a layer. Extension headers larger than
    ``Limits.max_tar_header_bytes`` are refused before they are read."""

    def __init__(self, stream: _Stream, limits: Limits, label: str) -> None:
        self.stream = stream
        self.limit = limits.max_tar_header_bytes
        self.label = label
        self.offset = 0  # where the next member's header starts
        self.end: int | None = None  # where the archive ended
        self.blank = True  # the block that ended it was zeros
        self.globals: dict[str, str] = {}

    def next(self) -> _Member | None:
        if self.end is not None:
            return None
        stream = self.stream
        at = stream.tell()
        if at != self.offset:
            if at > self.offset:
                raise errors.LayerFormatError(f"{self.label} is not a valid tar (members overlap)")
            if not stream.skip(self.offset - at):
                raise errors.LayerFormatError(f"{self.label} is truncated")
        try:
            member = self._member()
        except _HeaderError as exc:
            if self.offset == 0 and str(exc) != "end of file header":
                raise errors.LayerFormatError(f"{self.label} is not a tar archive: {exc}") from None
            self.end, self.blank = self.offset, exc.blank
            return None
        if member.size < 0 and member.has_data():
            raise errors.LayerFormatError(f"{self.label} is not a valid tar (a negative size)")
        self.offset = member.next
        return member

    def _member(self) -> _Member:
        stream = self.stream
        member = _Member(stream.read(_BLOCK))
        kind = member.type
        if kind in _SPECIAL:
            return self._old_sparse(member) if kind == b"S" else self._extension(member)
        member.data_at = at = stream.tell()
        if kind in _REGULAR or kind not in _SUPPORTED:  # ``has_data``
            member.next = at - (-member.size // _BLOCK) * _BLOCK
        else:
            member.next = at
        if self.globals:
            _apply_pax(member, self.globals, self.label)
        if kind == b"5":
            member.name = member.name.rstrip("/")
        return member

    def _following(self) -> _Member:
        """The member an extension header belongs to: here a bad header is an error."""
        try:
            return self._member()
        except _HeaderError as exc:
            raise errors.LayerFormatError(f"{self.label} is not a valid tar ({exc})") from None

    def _extension(self, header: _Member) -> _Member:
        if header.size < 0:  # a base-256 size can be negative: it would read backwards
            raise errors.LayerFormatError(
                f"{self.label} has a tar extension header of negative size ({header.size})"
            )
        if header.size > self.limit:
            raise errors.HeaderTooLarge(
                f"{self.label} has a {header.size}-byte tar extension header; the limit is "
                f"{self.limit}",
                limit=self.limit,
            )
        buf = self.stream.read(_blocks(header.size))
        if header.type in _LONG:
            member = self._following()
            if header.type == b"L":
                member.name = _text(buf)
            else:
                member.linkname = _text(buf)
            if member.type == b"5":
                member.name = member.name.removesuffix("/")
            return member
        records = self.globals if header.type == b"g" else dict(self.globals)
        self._pax(buf, records)
        member = self._following()
        if (
            "GNU.sparse.map" in records
            or "GNU.sparse.size" in records
            or (records.get("GNU.sparse.major"), records.get("GNU.sparse.minor")) == ("1", "0")
        ):
            member.sparse = True
        if header.type != b"g":
            _apply_pax(member, records, self.label)
            if "size" in records:
                member.next = member.data_at + (_blocks(member.size) if member.has_data() else 0)
        return member

    def _pax(self, buf: bytes, records: dict[str, str]) -> None:
        """pax records, ``LENGTH KEY=VALUE\n`` each, into ``records``."""
        try:
            found = _PAX_CHARSET.search(buf)
            if found is not None:
                records["hdrcharset"] = found.group(1).decode("utf-8")
            pos = 0
            while match := _PAX_RECORD.match(buf, pos):
                length = int(match.group(1))
                if length == 0:
                    raise ValueError("a pax record of length 0")
                key = match.group(2).decode("utf-8", "surrogateescape")
                value = buf[match.end(2) + 1 : match.start(1) + length - 1]
                records[key] = value.decode("utf-8", "surrogateescape")
                pos += length
        except ValueError as exc:
            raise errors.LayerFormatError(f"{self.label} has a corrupt pax header ({exc})") from exc

    def _old_sparse(self, member: _Member) -> _Member:
        """GNU's old sparse member: its map continues in extension blocks; the data is
        the stored part only (never expanded here: a sparse file is not read)."""
        extended = member.extended
        while extended:
            block = self.stream.read(_BLOCK)
            if len(block) != _BLOCK:
                raise errors.LayerFormatError(f"{self.label} is truncated")
            for at in range(0, 504, 12):
                _number(block[at : at + 12])
            extended = bool(block[504])
        member.data_at = self.stream.tell()
        member.next = member.data_at + _blocks(member.size)
        member.size = member.real_size
        member.sparse = True
        return member

    def finish(self) -> None:
        """After the last member: only zeros may follow where the archive ended."""
        if not self.blank:
            raise errors.LayerFormatError(f"{self.label}: corrupt tar header at byte {self.end}")
        for piece in self.stream.rest():
            if piece.strip(b"\0"):
                raise errors.LayerFormatError(f"{self.label} has data after the end of its tar")


def _apply_pax(member: _Member, records: Mapping[str, str], label: str) -> None:
    """pax records over the header's fields, in their order, as tarfile applies them."""
    for key, value in records.items():
        if key == "path":
            member.name = value.rstrip("/")
        elif key == "linkpath":
            member.linkname = value
        elif key in ("size", "uid", "gid"):
            try:
                number = int(value)
            except ValueError:
                number = 0
            setattr(member, key, number)
        elif key == "GNU.sparse.name":
            member.name = value
        elif key in ("GNU.sparse.size", "GNU.sparse.realsize"):
            try:
                member.size = int(value)
            except ValueError as exc:
                raise errors.LayerFormatError(f"{label} has a corrupt pax header") from exc


_KINDS = {
    b"5": "dir",
    b"2": "symlink",
    b"1": "hardlink",
    b"3": "char",
    b"4": "block",
    b"6": "fifo",
}
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


def _entry(member: _Member, label: str) -> TarEntry | None:
    """Normalise one member; None for what a file system would not show (the root,
    aufs bookkeeping, unknown types)."""
    path = normalise(member.name, label)
    kind = "file" if member.type in _REGULAR else _KINDS.get(member.type)
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
        path,
        kind,
        member.size if kind == "file" else 0,
        member.mode & 0o7777,
        member.uid,
        member.gid,
        linkname if kind in ("symlink", "hardlink") else "",
    )


def normalise(name: str, label: str = "", *, what: str = "path") -> str:
    """``./usr//bin/`` -> ``/usr/bin``; refuses ``..`` components and NUL bytes."""
    if (
        "/." not in name
        and "//" not in name
        and "\0" not in name
        and not name.startswith((".", "/"))
        and not name.endswith("/")
    ):
        return "/" + name  # plain already (``usr/bin``), as most layers write names
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
