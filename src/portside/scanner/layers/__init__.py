"""Streaming one layer, and the file system the layers build.

A layer is read once, front to back, by ``LayerWalk``. A reading thread runs a chain of
small readers (``blob.py``): ``_Source`` hashes and counts the blob as stored, a decoder
undoes gzip or zstd, and ``_Inflated`` enforces the image's byte budget and the
compression ratio as the bytes come out. The iterating thread hashes the tar for the
diff_id (an uncompressed layer's own hash serves) and parses it with ``_TarParser``
(``tar.py``), which also normalises paths and reads whiteouts.

An uncompressed layer that lies as a region of a plain file (a docker archive's member,
a layout's blob) is not streamed: the parser reads its headers and claimed files where
they lie (``_RegionStream``) and a thread hashes the region (``_RegionHash``), the hash
serving as both the blob digest and the diff_id; ``HashAhead`` starts that hashing for
all such layers of an image before their walks. The region is read twice, by the parser
and by the hash, so a file rewritten during the scan could show the parser other bytes
than the ones verified: the store's blobs never change, and a local file is its user's.

When the tar ends, only zero padding may follow, the gzip or zstd stream must be
complete, and both digests must match.

This module holds the walk, the reading in place and ``HashAhead``, and re-exports what
the rest of the scanner uses: ``Limits``, ``LayerRef``, ``TarEntry``, ``LayerItem`` and
``Budget`` (``base.py``), ``normalise`` (``tar.py``), and ``Overlay`` and ``resolve``
(``overlay.py``, the file system the layers build).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, BinaryIO

from portside.oci.digest import Digest, Hasher
from portside.oci.errors import OCIError
from portside.scanner import errors, runtime
from portside.scanner.layers.base import Budget, GiB, LayerItem, LayerRef, Limits, MiB, TarEntry
from portside.scanner.layers.blob import (
    _CHUNK,
    _PIECE,
    _compression,
    _decoder,
    _End,
    _Inflated,
    _Inline,
    _Pipe,
    _Source,
)
from portside.scanner.layers.overlay import Overlay, resolve
from portside.scanner.layers.tar import _byte_sum as _byte_sum  # for the tests
from portside.scanner.layers.tar import _entry, _Member, _TarParser, _TarStream, normalise
from portside.scanner.layers.tar import _HeaderError as _HeaderError  # for the tests
from portside.scanner.layers.tar import _number as _number  # for the tests

__all__ = [
    "Budget",
    "GiB",
    "HashAhead",
    "LayerItem",
    "LayerRef",
    "LayerWalk",
    "Limits",
    "MiB",
    "Overlay",
    "TarEntry",
    "normalise",
    "resolve",
]

_WINDOW = 64 * 1024  # read-ahead when the parser reads a file region in place
# A compressed blob of at most this many bytes is inflated by zlib in the walking thread:
# for it, loading ISA-L and starting a reading thread cost more than they save (a few
# hundred microseconds to inflate such a blob, which is what a small image is made of).
_SMALL_BLOB = 256 * 1024


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
