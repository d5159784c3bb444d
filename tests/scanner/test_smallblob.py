"""Small compressed layers, read without a thread and inflated by zlib.

A gzip blob of at most ``layers._SMALL_BLOB`` bytes is inflated in the walking thread by
zlib, where a larger one is inflated by ISA-L in a reading thread (and hashed ahead, from
a layout). Both ways must give the same entries, bytes and digests, and refuse the same
hostile layers with the same error.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import Any

import pytest

from portside.scanner import errors, layers
from portside.scanner.reader import Image, open_blobs, open_image
from tests.scanner import images
from tests.scanner.images import Blobs, directory, file, layer, oci_layout, symlink

MEMBERS = [
    directory("etc"),
    *(file(f"etc/f{i}", os.urandom(i * 97 % 3000)) for i in range(60)),
    symlink("etc/link", "/etc/f1"),
    file("after", "the end"),
]


def _gzip_layer(blob: bytes, tar: bytes) -> images.Layer:
    return images.Layer(blob, images.sha256(tar), images.LAYER_TYPES["gzip"])


def _members_split() -> images.Layer:
    """Two gzip members one after the other, as RFC 1952 allows."""
    tar = images.tar_of(MEMBERS)
    half = len(tar) // 2
    return _gzip_layer(gzip.compress(tar[:half]) + gzip.compress(tar[half:]), tar)


def _changed(how: str) -> images.Layer:
    tar = images.tar_of(MEMBERS)
    blob = gzip.compress(tar, mtime=0)
    if how == "truncated":
        return _gzip_layer(blob[: len(blob) // 2], tar)
    if how == "trailing junk":
        return _gzip_layer(blob + b"junk", tar)
    if how == "corrupt":
        middle = len(blob) // 2
        return _gzip_layer(blob[:middle] + bytes(64) + blob[middle + 64 :], tar)
    if how == "wrong diff_id":
        return images.Layer(blob, images.sha256(b"other"), images.LAYER_TYPES["gzip"])
    raise AssertionError(how)


CASES = {
    "ordinary": lambda: [layer(MEMBERS), layer([file("x", "y")])],
    "two gzip members": lambda: [_members_split()],
    "empty tar": lambda: [layer(b"")],
    "dot-dot path": lambda: [layer([file("ok", "1"), file("../escape", "x")])],
    "truncated": lambda: [_changed("truncated")],
    "trailing junk": lambda: [_changed("trailing junk")],
    "corrupt": lambda: [_changed("corrupt")],
    "wrong diff_id": lambda: [_changed("wrong diff_id")],
}


def _odd(entry: Any) -> bool:
    return len(entry.path) % 2 == 1


def _outcome(image: Image, ahead: bool) -> Any:
    """Every layer's entries, claimed bytes and digest, or the error that stopped the walk
    (a corrupt stream's message names the library's error, which is left out)."""
    try:
        with image:
            if ahead:
                image.hash_ahead()
            found = []
            for ref in image.layers:
                walk = image.walk(ref.index, _odd)
                found.extend((item.entry, item.data) for item in walk)
                found.append((walk.digest, walk.compression, walk.size))
            return found
    except errors.ScanError as exc:
        return type(exc), str(exc).partition("corrupt gzip stream (")[0]


def _all_ways(tmp_path: Path, blobs: list[images.Layer]) -> list[Any]:
    oci_layout(tmp_path, blobs)
    store = Blobs()
    manifest = store.manifest_bytes(blobs)
    return [
        _outcome(open_image(tmp_path), ahead=True),
        _outcome(open_image(tmp_path), ahead=False),
        _outcome(open_blobs(manifest, lambda d: io.BytesIO(store.memory[d])), ahead=False),
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_small_and_large_blob_paths_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    blobs = CASES[case]()
    assert all(len(x.blob) <= layers._SMALL_BLOB for x in blobs)
    pipes: list[object] = []
    real = layers._Pipe

    def counted(*args: Any) -> Any:
        pipes.append(args)
        return real(*args)

    monkeypatch.setattr(layers, "_Pipe", counted)
    small = _all_ways(tmp_path / "small", blobs)
    assert not pipes  # no reading thread for a small blob
    monkeypatch.setattr(layers, "_SMALL_BLOB", -1)
    large = _all_ways(tmp_path / "large", blobs)
    assert pipes
    assert small == large
    if case == "ordinary":
        assert isinstance(small[0], list) and len(small[0]) > 60
    elif case not in ("two gzip members", "empty tar"):
        assert isinstance(small[0], tuple), small[0]
