"""Parsing a layer's tar, and normalising its members into ``TarEntry``.

``_TarParser`` reads headers as tarfile does in stream mode but skips the data of
unclaimed files without copying it (``_TarStream`` holds the decompressed pieces and
hashes them for the diff_id); extension headers larger than
``Limits.max_tar_header_bytes`` are refused before they are read. When the tar ends,
only zero padding may follow (a corrupt header ends the archive, as in tarfile, which
could otherwise hide the rest of the layer).

Paths are normalised (``./`` and a leading ``/`` dropped); a ``..`` component or a NUL
byte, in a path or a hard link's target, raises ``UnsafePath``. A whiteout's name is such
a path, checked before it is read as a whiteout (what ``a/../.wh.b`` hides depends on how
``..`` is resolved); a whiteout naming ``..`` or ``.`` raises it too, and ``.wh.``, which
names nothing, hides nothing.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol
from zlib import adler32

from portside.oci.digest import Hasher
from portside.scanner import errors
from portside.scanner.layers.base import Limits, TarEntry


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
