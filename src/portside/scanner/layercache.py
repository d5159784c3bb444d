"""What one pass read from a layer, kept by layer digest so that a layer shared by many
images (a base image) is read and decompressed once.

A record holds the layer's tar entries in order and the bytes of the files the catalogers
claimed, which is all the pass needs to replay the layer: whiteouts, the index and package
attribution then work exactly as if the layer had been read. It is keyed by the blob's
digest (verified by the registry when it was pushed) and the set of catalogers; it also
holds the diff_id that was verified while reading, and a record whose diff_id differs from
the one an image's config claims is not used, so a config cannot borrow another layer's
contents.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Sequence
from typing import Protocol

from portside.core.records import record
from portside.scanner.layers import LayerItem, TarEntry

FORMAT = 2
MAX_RECORD_BYTES = 64 * 1024 * 1024  # compressed; bigger layers are simply read again
_HEADER = struct.Struct(">I")


class LayerCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


@record
class Record:
    digest: str
    diff_id: str
    compression: str
    items: tuple[LayerItem, ...]


def key(digest: str, cataloger_names: Sequence[str]) -> str:
    names = ",".join(sorted(cataloger_names))
    return f"v{FORMAT}:{digest}:{hashlib.sha256(names.encode()).hexdigest()[:16]}"


def dump(record: Record) -> bytes | None:
    """The record, compressed; None when it would be too big to be worth keeping."""
    entries, blobs = [], []
    for item in record.items:
        e = item.entry
        entries.append([e.path, e.kind, e.size, e.mode, e.uid, e.gid, e.linkname, _len(item.data)])
        if item.data is not None:
            blobs.append(item.data)
    header = json.dumps(
        {
            "format": FORMAT,
            "digest": record.digest,
            "diff_id": record.diff_id,
            "compression": record.compression,
            "entries": entries,
        },
        separators=(",", ":"),
    ).encode()
    raw = b"".join([_HEADER.pack(len(header)), header, *blobs])
    packed = zlib.compress(raw, 1)
    return packed if len(packed) <= MAX_RECORD_BYTES else None


def load(value: bytes) -> Record | None:
    """The record, or None when it cannot be read (another format, damage): the layer is
    then read again, never half-trusted."""
    try:
        raw = zlib.decompress(value)
        (size,) = _HEADER.unpack_from(raw)
        header = json.loads(raw[_HEADER.size : _HEADER.size + size])
        if header.get("format") != FORMAT:
            return None
        offset = _HEADER.size + size
        items = []
        for path, kind, length, mode, uid, gid, linkname, data_len in header["entries"]:
            data = None
            if data_len >= 0:
                data = raw[offset : offset + data_len]
                if len(data) != data_len:
                    return None
                offset += data_len
            items.append(LayerItem(TarEntry(path, kind, length, mode, uid, gid, linkname), data))
        if offset != len(raw):
            return None
        return Record(
            str(header["digest"]), str(header["diff_id"]), str(header["compression"]), tuple(items)
        )
    except (zlib.error, struct.error, ValueError, TypeError, KeyError):
        return None


def _len(data: bytes | None) -> int:
    return -1 if data is None else len(data)
