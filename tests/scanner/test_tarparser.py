"""The layer reader's tar parser reads what tarfile reads.

``layers._TarParser`` replaces tarfile's stream mode in the analyser (it skips the data of
unclaimed files without copying it). These tests hold it to tarfile itself: the same
members, with the same names, types, sizes, modes, owners and link targets, and the same
place where the archive ends, for archives in every format tarfile writes, with long
names, long links, ustar prefixes, global and per-member pax records, base-256 numbers
and V7 directories, and for thousands of mangled archives.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.scanner import errors
from portside.scanner.layers import Limits, _TarParser, _TarStream
from portside.scanner.reader import open_image
from tests.scanner.images import layer, oci_layout

Seen = tuple[list[tuple[Any, ...]], int | None] | str


def reference(data: bytes) -> Seen:
    """What tarfile (stream mode, as the analyser used it) sees: the members and the
    offset where the archive ended, or "error"."""
    found = []
    try:
        with tarfile.open(
            fileobj=io.BytesIO(data), mode="r|", encoding="utf-8", errors="surrogateescape"
        ) as tar:
            while (member := tar.next()) is not None:
                tar.members.clear()  # type: ignore[attr-defined]
                found.append(_fields(member.name, member.type, member, member.linkname))
            end = tar.offset
    except (tarfile.TarError, EOFError, OSError, ValueError, IndexError, OverflowError):
        return "error"
    return found, end


def parsed(data: bytes, piece: int = 4096) -> Seen:
    """What the parser sees, fed in pieces of ``piece`` bytes."""
    pieces: Iterator[bytes] = (data[i : i + piece] for i in range(0, len(data), piece))
    stream = _TarStream(lambda: next(pieces, b""), None)
    tar = _TarParser(stream, Limits(), "layer 0")
    found = []
    try:
        while (member := tar.next()) is not None:
            found.append(_fields(member.name, member.type, member, member.linkname))
    except errors.LayerFormatError as exc:
        if "negative size" in str(exc):
            return "negative"
        return "error"
    return found, tar.end


def _fields(name: str, kind: bytes, member: Any, linkname: str) -> tuple[Any, ...]:
    return (name, kind, member.size, member.mode, member.uid, member.gid, linkname)


def _archive(fmt: int, members: list[tuple[tarfile.TarInfo, bytes]], **options: Any) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt, **options) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return raw.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, **fields: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _members() -> list[tuple[tarfile.TarInfo, bytes]]:
    deep = "/".join(["directory"] * 12)  # longer than 100 bytes: prefix, long name or pax
    return [
        (_info("etc", tarfile.DIRTYPE, mode=0o755), b""),
        (_info("etc/passwd", mode=0o644, uid=0, gid=0), b"root:x:0:0::/root:/bin/sh\n"),
        (_info(f"{deep}/file.txt", uid=1000, gid=1000), b"x" * 1000),
        (_info("link", tarfile.SYMTYPE, linkname="etc/passwd"), b""),
        (_info("hard", tarfile.LNKTYPE, linkname="etc/passwd"), b""),
        (_info("far", tarfile.SYMTYPE, linkname="/" + deep + "/file.txt"), b""),
        (_info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
        (_info("run/fifo", tarfile.FIFOTYPE), b""),
        (_info("caf\u00e9/\u00fcber", mode=0o600), b"unicode"),
        (_info("empty"), b""),
        (_info("exact", mode=0o755), b"e" * 512),
    ]


@pytest.mark.parametrize(
    "fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=str
)
@pytest.mark.parametrize("piece", [1, 511, 512, 4096, 1 << 20])
def test_every_format_reads_as_tarfile_reads_it(fmt: int, piece: int) -> None:
    members = _members()
    if fmt == tarfile.USTAR_FORMAT:  # no long link targets and no non-ASCII names there
        members = [m for m in members if len(m[0].linkname) < 100 and m[0].name.isascii()]
    data = _archive(fmt, members)
    seen = parsed(data, piece)
    assert seen == reference(data)
    assert isinstance(seen, tuple) and len(seen[0]) == len(members)


def test_pax_records_and_global_headers() -> None:
    data = _archive(
        tarfile.PAX_FORMAT,
        [
            (_info("a", pax_headers={"path": "renamed/", "uid": "77", "gid": "x"}), b"1"),
            (_info("b", tarfile.SYMTYPE, pax_headers={"linkpath": "target"}), b""),
            (_info("c", pax_headers={"size": "3", "comment": "=\n="}), b"abc"),
        ],
        pax_headers={"uid": "5", "gid": "6"},  # a global header before the first member
    )
    assert parsed(data) == reference(data)
    found = parsed(data)
    assert isinstance(found, tuple)
    assert [m[0] for m in found[0]] == ["renamed", "b", "c"]
    assert found[0][0][4:6] == (77, 0)  # per-member records win; a bad number is 0


def test_base256_numbers_and_v7_directories() -> None:
    big = _archive(tarfile.GNU_FORMAT, [(_info("big", uid=8**8 + 5, gid=2**40), b"z")])
    assert parsed(big) == reference(big)
    v7 = bytearray(_archive(tarfile.USTAR_FORMAT, [(_info("old/", tarfile.AREGTYPE), b"")]))
    v7[156:157] = b"\0"  # AREGTYPE with a trailing slash is a directory in V7 tar
    v7[148:156] = f"{sum(v7[:148]) + sum(v7[156:512]) + 256:06o}\0 ".encode()
    seen = parsed(bytes(v7))
    assert seen == reference(bytes(v7))
    assert isinstance(seen, tuple) and seen[0][0][:2] == ("old", b"5")


def test_archives_without_an_end_marker_and_empty_ones() -> None:
    data = _archive(tarfile.PAX_FORMAT, _members())
    last = data.rstrip(b"\0")
    cut = last + b"\0" * (-len(last) % 512)  # the last member's padding, no end blocks
    assert parsed(cut) == reference(cut)
    for empty in (b"\0" * 1024, b"\0" * 512, b"\0" * 10240):
        assert parsed(empty) == reference(empty) == ([], 0)
    for not_tar in (b"", b"\0" * 100, b"x" * 512):
        assert parsed(not_tar) == reference(not_tar) == "error"


_SAMPLE = _archive(tarfile.PAX_FORMAT, _members()[:6])
_GNU_SAMPLE = _archive(tarfile.GNU_FORMAT, _members()[:6])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gnu=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 10**6),
    piece=st.sampled_from([7, 512, 4096]),
)
def test_mangled_archives_read_as_tarfile_reads_them(
    gnu: bool, flips: list[tuple[int, int]], cut: int, piece: int
) -> None:
    blob = bytearray(_GNU_SAMPLE if gnu else _SAMPLE)
    for position, value in flips:
        blob[position % len(blob)] = value
    data = bytes(blob[: len(blob) - cut % len(blob)])
    seen = parsed(data, piece)
    if seen == "negative":
        return  # tarfile would go on with a negative size; the parser refuses it
    assert seen == reference(data)


def _sparse(real_size: int) -> bytes:
    """A GNU old-format sparse member: stored data "abc", ``real_size`` bytes expanded."""
    block = bytearray(_archive(tarfile.GNU_FORMAT, [(_info("holes"), b"abc")]))
    block[156:157] = b"S"
    block[386:398] = b"00000000000\0"  # one map entry: offset 0, 3 bytes
    block[398:410] = b"00000000003\0"
    block[483:495] = f"{real_size:011o}\0".encode()
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block[:512]):06o}\0 ".encode()
    return bytes(block)


def test_a_sparse_file_is_indexed_at_its_full_size_but_never_read(tmp_path: Path) -> None:
    data = _sparse(1 << 20)
    seen = parsed(data)
    assert seen == reference(data)
    assert isinstance(seen, tuple) and seen[0][0][1:3] == (b"S", 1 << 20)
    oci_layout(tmp_path, [layer(data)])
    with open_image(tmp_path) as image:
        (item,) = image.walk(0)
        assert (item.entry.kind, item.entry.size, item.data) == ("file", 1 << 20, None)
        with pytest.raises(errors.LayerFormatError, match="sparse"):
            list(image.walk(0, lambda entry: True))


def test_header_byte_sum_is_the_sum_of_the_bytes() -> None:
    """The checksum's byte sum, taken through Adler-32 half a block at a time, is the
    plain sum for any block: zeros, all 0xff (the largest sums), and random ones."""
    import random

    from portside.scanner.layers import _byte_sum

    rng = random.Random(7)
    blocks = [bytes(512), b"\xff" * 512, b"\xff" * 256 + bytes(256), bytes(256) + b"\xff" * 256]
    blocks += [rng.randbytes(512) for _ in range(2000)]
    for block in blocks:
        assert _byte_sum(block) == sum(block)
