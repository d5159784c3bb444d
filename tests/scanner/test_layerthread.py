"""A layer's reading thread: it never outlives the walk, and its errors arrive in order.

``LayerWalk`` reads, hashes and decompresses a blob in a thread while the caller's thread
parses the tar. Whatever ends the walk (its end, an error on either side, a caller that
stops iterating) ends the thread too, before the blob's file is closed.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from portside.scanner import errors
from portside.scanner.reader import open_blobs, open_image
from tests.scanner import images
from tests.scanner.images import Blobs, file, layer, oci_layout


def _reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("read layer")]


def _settled() -> list[threading.Thread]:
    deadline = time.monotonic() + 5
    while _reading_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _reading_threads()


def _big_layer(compression: str) -> images.Layer:
    """More than the thread may read ahead (a few pieces of some MiB)."""
    members = [file(f"f{i}", os.urandom(1 << 20)) for i in range(40)]
    return layer([*members, file("../escape", "x")], compression)


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_an_error_in_the_parser_stops_the_thread(tmp_path: Path, compression: str) -> None:
    oci_layout(tmp_path, [_big_layer(compression)])
    with open_image(tmp_path) as image, pytest.raises(errors.UnsafePath):
        list(image.walk(0))
    assert _settled() == []


def test_a_caller_that_stops_iterating_stops_the_thread(tmp_path: Path) -> None:
    oci_layout(tmp_path, [_big_layer("gzip")])
    with open_image(tmp_path) as image:
        walk = iter(image.walk(0))
        next(walk)
        assert len(_reading_threads()) == 1
        walk.close()  # type: ignore[attr-defined]
        assert _settled() == []


def test_an_error_of_the_reading_side_arrives_after_the_entries_before_it() -> None:
    good = layer([file("first", b"1" * 5000), file("second", os.urandom(3 << 20))])
    cut = images.Layer(good.blob[: len(good.blob) // 2], good.diff_id, good.media_type)
    store = Blobs()
    manifest = store.manifest_bytes([cut])
    seen = []
    image = open_blobs(manifest, lambda d: io.BytesIO(store.memory[d]))
    with pytest.raises(errors.ScanError):
        for item in image.walk(0, lambda entry: True):
            seen.append(item.entry.path)
    assert seen[:1] == ["/first"]
    assert _settled() == []


def test_walks_give_the_same_entries_every_time(tmp_path: Path) -> None:
    members = [file(f"d{i % 7}/f{i}", os.urandom(i * 997 % 70000)) for i in range(300)]
    oci_layout(tmp_path, [layer(members, "gzip"), layer(members[:50], "zstd")])
    with open_image(tmp_path) as image:
        runs = [
            [
                (item.entry, item.data)
                for ref in image.layers
                for item in image.walk(ref.index, _odd)
            ]
            for _ in range(3)
        ]
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 350 and sum(data is not None for _, data in runs[0]) > 100


def _odd(entry: object) -> bool:
    return int(str(getattr(entry, "path", "")).rpartition("f")[2] or 0) % 2 == 1
