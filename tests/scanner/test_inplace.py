"""Uncompressed layers read in place, and verified ahead of their walks.

A layer that lies as a region of a plain file (a docker archive's member, a layout's
uncompressed blob) is parsed where it lies while a thread hashes it; any other layer is
streamed through the reading thread. Both ways must give the same entries and bytes, and
refuse the same hostile layers with the same kind of error. ``Image.hash_ahead`` starts
that hashing for every such layer at once; its thread never outlives the image.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from portside.scanner import errors
from portside.scanner.analyze import analyze
from portside.scanner.layers import Limits, _region
from portside.scanner.reader import Image, open_blobs, open_image
from tests.scanner import images
from tests.scanner.images import Blobs, directory, file, hardlink, layer, oci_layout, symlink


def _hash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hash ")]


def _settled() -> list[threading.Thread]:
    deadline = time.monotonic() + 5
    while _hash_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _hash_threads()


def _odd(entry: Any) -> bool:
    return len(entry.path) % 2 == 1


def _outcome(image: Image) -> list[Any] | tuple[type, str]:
    """Every layer's entries and claimed bytes, or the error that stopped the walk."""
    try:
        with image:
            return [
                (item.entry, item.data)
                for ref in image.layers
                for item in image.walk(ref.index, _odd)
            ]
    except errors.ScanError as exc:
        return type(exc), str(exc)


def _both(
    tmp_path: Path,
    layers: list[images.Layer],
    *,
    config: bytes | None = None,
    limits: Limits | None = None,
) -> tuple[Any, Any]:
    """The outcome read in place (a layout on disk) and streamed (the same blobs in memory)."""
    oci_layout(tmp_path, layers, config=config)
    in_place = _outcome(open_image(tmp_path, limits=limits))
    store = Blobs()
    manifest = store.manifest_bytes(layers, config=config)
    streamed = _outcome(open_blobs(manifest, lambda d: io.BytesIO(store.memory[d]), limits=limits))
    return in_place, streamed


def test_a_layout_blob_is_a_region_and_bytes_in_memory_are_not(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 100)
    with open(blob, "rb") as raw:
        region = _region(raw)
        assert region is not None and region[1:] == (0, 100)
        raw.read(1)
        assert _region(raw) is None  # not at its start
    assert _region(io.BytesIO(b"x" * 100)) is None


def test_in_place_and_streamed_give_the_same_entries(tmp_path: Path) -> None:
    members = [
        directory("etc"),
        *(
            file(f"etc/d{i % 5}/{'long' * (i % 40)}f{i}", os.urandom(i * 331 % 9000))
            for i in range(400)
        ),
        symlink("etc/link", "/etc/d1"),
        hardlink("etc/hard", "etc/d0/f0"),
        file("big", os.urandom(3 << 20)),
        file("after", "the end"),
    ]
    layers = [layer(members, "none"), layer(members[:40], "gzip"), layer([file("x", "y")], "none")]
    in_place, streamed = _both(tmp_path, layers)
    assert isinstance(in_place, list) and len(in_place) > 400
    assert in_place == streamed
    assert sum(data is not None for _, data in in_place) > 100


def _tar(members: list[images.Member]) -> bytes:
    return images.tar_of(members)


def _uncompressed(tar: bytes, diff_id: str | None = None) -> images.Layer:
    return images.Layer(tar, diff_id or images.sha256(tar), images.LAYER_TYPES["none"])


HOSTILE = {
    "truncated": lambda: _uncompressed(
        _tar([file("a", os.urandom(20000)), file("b", "x")])[:6000],
        images.sha256(_tar([file("a", "0")])),
    ),
    "wrong diff_id": lambda: _uncompressed(_tar([file("a", "1")]), images.sha256(b"other")),
    "dot-dot path": lambda: _uncompressed(_tar([file("ok", "1"), file("../escape", "x")])),
    "hard link out": lambda: _uncompressed(_tar([hardlink("h", "../../etc/passwd")])),
    "not a tar": lambda: _uncompressed(b"\x01" * 4096),
    "empty": lambda: _uncompressed(b""),
    "junk after the end": lambda: _uncompressed(_tar([file("a", "1")]) + b"junk" + b"\0" * 508),
    "bzip2": lambda: _uncompressed(b"BZh91AY&SY" + b"\0" * 100),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_fail_the_same_way_in_place_and_streamed(tmp_path: Path, case: str) -> None:
    hostile = HOSTILE[case]()
    in_place, streamed = _both(tmp_path, [layer([file("base", "ok")], "none"), hostile])
    assert isinstance(in_place, tuple), in_place
    assert in_place[0] is streamed[0]
    assert issubclass(in_place[0], errors.ScanError)


def test_a_corrupt_header_cannot_hide_the_rest_in_place(tmp_path: Path) -> None:
    tar = bytearray(_tar([file("a", "1"), file("hidden", "secret")]))
    second = tar.index(b"hidden")
    tar[second + 148 : second + 156] = b"0000000\0"
    in_place, streamed = _both(tmp_path, [_uncompressed(bytes(tar))])
    assert in_place == streamed
    assert in_place[0] is errors.LayerFormatError and "corrupt tar header" in in_place[1]


@pytest.mark.parametrize(
    "limits, error",
    [
        (Limits(max_entries_per_layer=10), errors.TooManyEntries),
        (Limits(max_image_bytes=64 * 1024), errors.ImageTooLarge),
        (Limits(max_file_bytes=1000), errors.FileTooLarge),
    ],
)
def test_limits_hold_in_place(tmp_path: Path, limits: Limits, error: type) -> None:
    members = [file(f"f{i}", os.urandom(1500)) for i in range(60)]
    in_place, streamed = _both(tmp_path, [layer(members, "none")], limits=limits)
    assert in_place[0] is streamed[0] is error


def test_a_blob_unlike_its_descriptor_size_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    good = layer([file("a", "1")], "none")
    oci_layout(tmp_path, [good])
    blob = tmp_path / "blobs" / "sha256" / good.digest.split(":")[1]
    blob.write_bytes(good.blob + b"\0" * 4096)
    with open_image(tmp_path) as image, pytest.raises(errors.DigestMismatch, match="larger"):
        list(image.walk(0))


def test_an_archive_cut_inside_a_layer_is_streamed_and_says_so(tmp_path: Path) -> None:
    big = layer([file("a", os.urandom(200_000)), file("b", "x")], "none")
    archive = images.docker_archive(tmp_path / "image.tar", [big])
    data = archive.read_bytes()
    at = data.index(big.blob[:512]) + 100_000
    archive.write_bytes(data[:at])
    with pytest.raises(errors.ScanError):
        with open_image(archive) as image:
            list(image.walk(0))


# --- hashing ahead -------------------------------------------------------------------------


def _archive(tmp_path: Path, layers: list[images.Layer], **kwargs: Any) -> Path:
    return images.docker_archive(tmp_path / "image.tar", layers, **kwargs)


def test_analyze_verifies_every_layer_ahead_and_names_a_wrong_one(tmp_path: Path) -> None:
    layers = [layer([file(f"l{i}/f", str(i))], "none") for i in range(3)]
    archive = _archive(tmp_path, layers)
    assert {p.path for p in analyze(archive).inventory.packages} == set()
    forged = bytearray(archive.read_bytes())
    at = forged.index(b"l1/f")
    second = forged.index(b"1", at + 512)  # the content of l1/f, same length
    forged[second] = ord("9")
    archive.write_bytes(bytes(forged))
    with pytest.raises(errors.DigestMismatch, match="layer 1"):
        analyze(archive)
    assert _settled() == []


def test_closing_an_image_stops_the_hashing_ahead(tmp_path: Path) -> None:
    members = [file(f"f{i}", os.urandom(1 << 20)) for i in range(64)]
    archive = _archive(tmp_path, [layer(members, "none"), layer(members[:8], "none")])
    with open_image(archive) as image:
        image.hash_ahead()
        assert len(_hash_threads()) == 1
    assert _settled() == []


def test_a_walk_left_half_way_and_a_second_walk_both_work(tmp_path: Path) -> None:
    members = [file(f"f{i}", os.urandom(256 << 10)) for i in range(40)]
    archive = _archive(tmp_path, [layer(members, "none")])
    with open_image(archive) as image:
        image.hash_ahead()
        walk = iter(image.walk(0))
        next(walk)
        walk.close()  # type: ignore[attr-defined]
        again = [item.entry.path for item in image.walk(0)]
        assert len(again) == 40
    assert _settled() == []


def test_layers_that_cannot_be_read_in_place_are_left_to_the_walk(tmp_path: Path) -> None:
    layers = [layer([file("a", "1")], "gzip"), layer([file("b", "2")], "none")]
    archive = _archive(tmp_path, layers, newer=True)
    with open_image(archive) as image:
        image.hash_ahead()
        assert [item.entry.path for ref in image.layers for item in image.walk(ref.index)] == [
            "/a",
            "/b",
        ]
