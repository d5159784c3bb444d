"""Fuzzing the scanner's layer reader: tar, gzip and zstd as they come out of a registry.

Layers are built with the standard library's tarfile (GNU, pax and ustar formats) from
generated members with hostile names (``../``, absolute paths, long names, whiteouts),
links pointing out of the root and odd types; then their headers are edited field by
field with the checksum put right again (so the edit reaches the parser instead of
ending the archive), then they are compressed, and then their bytes are damaged. A walk
of such a layer yields safe entries or raises a ``ScanError``; nothing else, within a
memory bound. A layer built from safe members walks to exactly those members.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import pytest
import zstandard
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

from portside.scanner import errors
from portside.scanner.layers import (
    Budget,
    LayerRef,
    LayerWalk,
    Limits,
    TarEntry,
    _HeaderError,
    _number,
)
from tests.fuzz.support import MiB, attempt, bounded_memory, fuzz, mutate_bytes

pytestmark = pytest.mark.nodb

# --- members ------------------------------------------------------------------------------

_segment = st.from_regex(r"[a-zA-Z0-9._-]{1,12}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
safe_paths = st.lists(_segment, min_size=1, max_size=4).map("/".join)
hostile_paths = st.one_of(
    safe_paths,
    safe_paths.map(lambda p: "../" + p),
    safe_paths.map(lambda p: p + "/../../" + p),
    safe_paths.map(lambda p: "/" + p),
    safe_paths.map(lambda p: "./" + p + "/"),
    safe_paths.map(lambda p: p.replace("/", "//")),
    safe_paths.map(lambda p: "a" * 150 + "/" + p),  # a long name: GNU long name or pax path
    safe_paths.map(lambda p: p + "/.wh." + p.rsplit("/", 1)[-1]),
    safe_paths.map(lambda p: p + "/.wh..wh..opq"),
    st.sampled_from([".wh..", ".wh...", ".wh.", "..", ".", "/", "a/..", "\u00e9t\u00e9/\u2603"]),
    st.text(min_size=1, max_size=30),
)
link_targets = st.one_of(
    safe_paths,
    st.sampled_from(["../../../etc/passwd", "/etc/shadow", "..", "/", "a/../../b", "x" * 300]),
    st.text(max_size=20),
)


@dataclass(frozen=True)
class Member:
    path: str
    kind: str
    data: bytes = b""
    linkname: str = ""
    pax: tuple[tuple[str, str], ...] = ()


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
    "unknown": b"Z",
}
pax_records = st.lists(
    st.tuples(
        st.sampled_from(["path", "linkpath", "size", "uid", "gid", "mtime", "comment", "x"]),
        st.sampled_from(["-5", "0", "1" * 30, "abc", "../x", "/etc", "", "9" * 5000]),
    ),
    max_size=2,
)


def members(
    paths: st.SearchStrategy[str], targets: st.SearchStrategy[str] = link_targets
) -> st.SearchStrategy[Member]:
    return st.one_of(
        st.builds(Member, paths, st.just("file"), st.binary(max_size=600)),
        st.builds(Member, paths, st.just("dir")),
        st.builds(Member, paths, st.sampled_from(["symlink", "hardlink"]), linkname=targets),
        st.builds(Member, paths, st.sampled_from(["char", "fifo", "unknown"])),
    )


def tar_of(items: list[Member], fmt: int) -> bytes | None:
    """The archive, or None when tarfile will not write it in that format."""
    raw = io.BytesIO()
    try:
        with tarfile.open(fileobj=raw, mode="w", format=fmt, encoding="utf-8") as tar:
            for m in items:
                info = tarfile.TarInfo(m.path)
                info.type = _TYPES[m.kind]
                info.mode = 0o644
                info.linkname = m.linkname
                info.size = len(m.data)
                if m.pax:
                    info.pax_headers = dict(m.pax)
                tar.addfile(info, io.BytesIO(m.data) if m.kind == "file" else None)
    except (ValueError, UnicodeError, tarfile.TarError):
        return None
    return raw.getvalue()


# --- editing headers -------------------------------------------------------------------------

FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "type": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 8),
    "prefix": (345, 155),
}
_EXTENSIONS = b"LKxgX"


def _checksum_ok(block: bytes) -> bool:
    digits = block[148:156].split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) == 256 + sum(block) - sum(block[148:156])
    except ValueError:
        return False


def headers(tar: bytes) -> list[int]:
    """The offsets of the blocks that are tar headers."""
    return [
        at
        for at in range(0, len(tar) - 511, 512)
        if tar[at : at + 512].strip(b"\0") and _checksum_ok(tar[at : at + 512])
    ]


def fix_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


def field_values(name: str, width: int) -> st.SearchStrategy[bytes]:
    if name == "type":
        return st.binary(min_size=1, max_size=1)
    if name in ("name", "linkname", "prefix"):
        return st.one_of(
            st.binary(max_size=width),
            st.sampled_from(
                [b"../../etc/passwd", b"/etc/passwd", b"a\0b", b"\xff\xfe", b"x" * width]
            ),
        )
    return st.one_of(
        st.integers(0, 8 ** (width - 1) - 1).map(lambda n: b"%0*o\0" % (width - 1, n)),
        st.binary(min_size=width - 1, max_size=width - 1).map(lambda b: b"\x80" + b),
        st.binary(min_size=width - 1, max_size=width - 1).map(lambda b: b"\xff" + b),
        st.binary(max_size=width),
        st.sampled_from(
            [b" " * width, b"\0" * width, b"9" * width, "\u0663".encode().ljust(width)]
        ),
    )


def negative_extension(block: bytes) -> bool:
    """An extension header (long name, long link, pax) with a size of -512 or less: the
    subject of ``test_extension_headers_with_a_negative_size_are_refused``. The size is
    read by the parser's own number reader, octal text and base-256 alike."""
    if block[156] not in _EXTENSIONS:
        return False
    try:
        return _number(block[124:136]) <= -512
    except _HeaderError:
        return False


@st.composite
def edited(draw: st.DrawFn, tar: bytes) -> bytes:
    out = bytearray(tar)
    offsets = headers(tar)
    for _ in range(draw(st.integers(0, 3)) if offsets else 0):
        at = draw(st.sampled_from(offsets))
        name = draw(st.sampled_from(sorted(FIELDS)))
        start, width = FIELDS[name]
        value = draw(field_values(name, width))[:width]
        block = bytearray(out[at : at + 512])
        block[start : start + len(value)] = value
        if draw(st.integers(0, 9)):  # mostly: put the checksum right
            fix_checksum(block)
        if not negative_extension(bytes(block)):
            out[at : at + 512] = block
    return bytes(out)


# --- walking -----------------------------------------------------------------------------------


def compress(tar: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(tar, compresslevel=1, mtime=0)
    if how == "gzip, two members":
        half = len(tar) // 2
        return gzip.compress(tar[:half], mtime=0) + gzip.compress(tar[half:], mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(tar)
    return tar


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def walk(
    blob: bytes,
    diff_id: str,
    *,
    digest: str = "",
    opener: Callable[[], BinaryIO] | None = None,
    limits: Limits | None = None,
    known: tuple[type[BaseException], ...] = (),
) -> list[tuple[TarEntry, bytes | None]] | BaseException:
    """Every entry of the layer (and the bytes of every file), or the ScanError it raised
    (or one of the ``known`` errors, which the caller then reports)."""
    ref = LayerRef(
        index=0,
        digest=digest,
        diff_id=diff_id,
        media_type="application/vnd.oci.image.layer.v1.tar+gzip",
        size=len(blob) if digest else None,
        opener=opener or (lambda: io.BytesIO(blob)),
    )
    layer = LayerWalk(ref, Budget(limits or Limits()), lambda entry: True)

    def run() -> list[tuple[TarEntry, bytes | None]]:
        return [(item.entry, item.data) for item in layer]

    with bounded_memory(64 * MiB):
        outcome = attempt(run, errors.ScanError, *known)
    if not isinstance(outcome, BaseException):
        for entry, data in outcome:
            check_entry(entry, data)
    return outcome


def check_entry(entry: TarEntry, data: bytes | None) -> None:
    """What every entry the reader yields holds: a normalised path inside the root."""
    assert entry.path.startswith("/") and "\0" not in entry.path
    parts = entry.path.split("/")[1:]
    assert ".." not in parts and "." not in parts and (entry.path == "/" or "" not in parts)
    assert entry.kind in {"file", "dir", "symlink", "hardlink", "char", "block", "fifo"} | {
        "whiteout",
        "opaque",
    }
    assert entry.size >= 0
    if entry.kind == "hardlink":
        assert entry.linkname.startswith("/") and ".." not in entry.linkname.split("/")
    if data is not None:
        assert entry.kind == "file" and len(data) == entry.size


compressions = st.sampled_from(["none", "gzip", "gzip, two members", "zstd"])
formats = st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])


@fuzz(100)
@given(st.lists(members(safe_paths, safe_paths), max_size=6), formats, compressions)
def test_safe_layers_walk_to_their_members(items: list[Member], fmt: int, compression: str) -> None:
    tar = tar_of(items, fmt)
    assume(tar is not None)
    assert tar is not None
    blob = compress(tar, compression)
    outcome = walk(blob, sha256(tar), digest=sha256(blob))
    assert not isinstance(outcome, BaseException), outcome
    expected = [m for m in items if m.kind != "unknown"]
    assert [e.path for e, _ in outcome] == ["/" + m.path for m in expected]
    for (entry, data), member in zip(outcome, expected, strict=True):
        assert entry.kind == member.kind
        if member.kind == "file":
            assert data == member.data
        if member.kind == "symlink":
            assert entry.linkname == member.linkname


@fuzz(180)
@given(
    st.data(),
    st.lists(members(hostile_paths), min_size=1, max_size=5),
    st.lists(pax_records, min_size=5, max_size=5),
    formats,
    compressions,
)
def test_hostile_layers_yield_safe_entries_or_a_scan_error(
    data: st.DataObject,
    items: list[Member],
    pax: list[list[tuple[str, str]]],
    fmt: int,
    compression: str,
) -> None:
    if fmt == tarfile.PAX_FORMAT:
        items = [
            Member(m.path, m.kind, m.data, m.linkname, tuple(p))
            for m, p in zip(items, pax, strict=False)
        ]
    tar = tar_of(items, fmt)
    assume(tar is not None)
    assert tar is not None
    tar = data.draw(edited(tar), label="edited tar")
    blob = compress(tar, compression)
    if data.draw(st.booleans(), label="damage the blob"):
        blob = mutate_bytes(data, blob)
    # The blob's digest is given (as a registry's manifest does) or not (a docker archive's
    # layer), and the layer comes as a stream or as a file the reader parses in place.
    digest = data.draw(st.sampled_from(["", sha256(blob)]), label="digest")
    if data.draw(st.booleans(), label="from a file"):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "layer")
            with open(path, "wb") as handle:
                handle.write(blob)
            walk(blob, sha256(tar), digest=digest, opener=lambda: open(path, "rb"))
    else:
        walk(blob, sha256(tar), digest=digest)


@fuzz(100)
@given(st.binary(max_size=3000), st.sampled_from([b"", b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh"]))
def test_random_bytes_are_a_scan_error(noise: bytes, magic: bytes) -> None:
    blob = magic + noise
    outcome = walk(blob, sha256(blob))
    assert isinstance(outcome, errors.ScanError | list)


@fuzz(40)
@given(st.sampled_from(["gzip", "zstd", "gzip, two members"]), st.integers(1, 4096), st.data())
def test_truncated_streams_are_a_scan_error(
    compression: str, keep: int, data: st.DataObject
) -> None:
    items = [Member(f"f{i}", "file", bytes([i]) * 700) for i in range(4)]
    tar = tar_of(items, tarfile.PAX_FORMAT)
    assert tar is not None
    blob = compress(tar, compression)
    cut = blob[: min(keep, len(blob) - 1)]
    outcome = walk(cut, sha256(tar))
    assert isinstance(outcome, errors.ScanError), outcome


@settings(fuzz(20), phases=[Phase.generate])  # fails at once: no shrinking needed
@given(
    st.sampled_from(list(b"LKxg")),
    st.integers(min_value=-(2**80), max_value=-512),
    st.sampled_from(["none", "gzip"]),
)
def test_extension_headers_with_a_negative_size_are_refused(
    kind: int, size: int, compression: str
) -> None:
    tar = bytearray(tar_of([Member("file", "file", b"x")], tarfile.USTAR_FORMAT) or b"")
    header = bytearray(tar[:512])
    header[0:100] = b"././@LongLink".ljust(100, b"\0")
    header[156] = kind
    header[124:136] = b"\xff" + (size % 256**11).to_bytes(11, "big")
    fix_checksum(header)
    layer = bytes(header) + bytes(tar)
    blob = compress(layer, compression)
    outcome = walk(blob, sha256(layer), known=(RecursionError,))
    assert isinstance(outcome, errors.ScanError), f"{outcome!r}"


# --- bombs -------------------------------------------------------------------------------------


def _bomb(compression: str) -> bytes:
    """A tar of one 256 MiB file of zeros, compressed: about a megabyte of gzip."""
    info = tarfile.TarInfo("zeros")
    info.size = 256 * MiB
    head = info.tobuf(tarfile.PAX_FORMAT)
    chunk = bytes(MiB)
    if compression == "zstd":
        writer = zstandard.ZstdCompressor(level=1).compressobj()
        parts = [writer.compress(head)] + [writer.compress(chunk) for _ in range(256)]
        return b"".join([*parts, writer.flush()])
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as out:
        out.write(head)
        for _ in range(256):
            out.write(chunk)
    return raw.getvalue()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_early_within_bounded_memory(compression: str) -> None:
    blob = _bomb(compression)
    limits = Limits(max_compression_ratio=50, ratio_grace_bytes=4 * MiB)
    outcome = walk(blob, sha256(b"unknown"), limits=limits)
    assert isinstance(outcome, errors.CompressionRatioExceeded), outcome
