"""Reading a layer's blob: the chain of small readers that the walk's reading thread runs.

``_Source`` hashes and counts the blob as stored (refusing more bytes than its
descriptor says), a decoder undoes gzip or zstd (recognised from the magic bytes, with
the output bounded per read), and ``_Inflated`` enforces the image's byte budget and the
compression ratio as the bytes come out, so a decompression bomb stops after
``Limits.ratio_grace_bytes``, not after inflating. ``_Pipe`` runs that chain in a
thread and hands its pieces over in order, followed by an ``_End`` (what the end of the
blob said) or the error it met; ``_Inline`` does the same in the walking thread, for a
small blob.

A gzip stream cut short is noticed by zlib; zstd's reader ends silently, so
``_ZstdFrames`` follows the frame and block headers of RFC 8878 on the compressed bytes
to tell a complete stream from a truncated one.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import zlib
from types import ModuleType
from typing import IO, NamedTuple, Protocol, cast

from portside.oci.digest import Digest, Hasher
from portside.scanner import errors
from portside.scanner.layers.base import Budget

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
_QUEUED = 4
_OUTPUT_STEP = 2 * 1024 * 1024


def _tar_error(exc: Exception) -> bool:
    """One of tarfile's errors, which a layer read through tarfile (a member of a
    compressed docker archive) raises: only a loaded tarfile can have raised one, and a
    scan that reads no such archive does not load it."""
    tarfile = sys.modules.get("tarfile")
    return tarfile is not None and isinstance(exc, tarfile.TarError)


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
