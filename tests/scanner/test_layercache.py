"""Layers read once: a layer shared by two images is replayed from the cache, with the same
result as reading it, and a record that does not fit is never trusted."""

from __future__ import annotations

import io

from portside.scanner import layercache
from portside.scanner.analyze import analyze
from portside.scanner.reader import open_blobs
from tests.scanner.images import Blobs, config_of, file, layer, opaque, whiteout

STATUS = b"""Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

"""
OS = b"ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n"
META = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        self.data[key] = value


class CountingBlobs:
    def __init__(self, blobs: Blobs) -> None:
        self.blobs = blobs
        self.reads: list[str] = []

    def get(self, digest: str) -> io.BytesIO:
        self.reads.append(digest)
        return io.BytesIO(self.blobs.memory[digest])


BASE = layer([file("etc/os-release", OS), file("var/lib/dpkg/status", STATUS)])
APP = layer(
    [
        file("usr/lib/python3/site-packages/six-1.16.0.dist-info/METADATA", META),
        file("app/old/x", b"x"),
    ]
)
TOP = layer([whiteout("app/old/x"), opaque("app"), file("app/new", b"n")])


def _run(layers, cache, blobs=None):
    blobs = blobs or Blobs()
    manifest = blobs.manifest_bytes(layers)
    source = CountingBlobs(blobs)
    with open_blobs(manifest, source) as image:
        return analyze(image, cache=cache), source


def test_a_shared_layer_is_read_once_with_the_same_result():
    cache = DictCache()
    plain, _ = _run([BASE, APP, TOP], None)
    first, source = _run([BASE, APP, TOP], cache)
    assert BASE.digest in source.reads and len(cache.data) == 3
    second, source = _run([BASE, APP, TOP], cache)
    assert BASE.digest not in source.reads and APP.digest not in source.reads
    for result in (first, second):
        assert result.inventory.packages == plain.inventory.packages
        assert result.inventory.layers == plain.inventory.layers
        assert dict(result.context.index) == dict(plain.context.index)
    # Another image on the same base reads only its own layer.
    other, source = _run([BASE, layer([file("srv/data", b"d")])], cache)
    assert BASE.digest not in source.reads
    assert {p.name for p in other.inventory.packages} == {"zlib1g"}
    assert "/app/new" in second.context.index and "/app/old/x" not in second.context.index


def test_a_config_cannot_borrow_a_cached_layer():
    """A record is used only for the diff_id it was verified against."""
    cache = DictCache()
    _run([BASE], cache)
    blobs = Blobs()
    lying = config_of([APP], diff_ids=[BASE.diff_id])  # APP's bytes, BASE's diff_id
    manifest = blobs.manifest_bytes([APP], config=lying)
    import pytest

    from portside.scanner import errors

    with pytest.raises(errors.ScanError), open_blobs(manifest, CountingBlobs(blobs)) as image:
        analyze(image, cache=cache)


def test_damaged_or_foreign_records_are_read_again():
    cache = DictCache()
    plain, _ = _run([BASE, APP], cache)
    for key in cache.data:
        cache.data[key] = cache.data[key][:-7]  # truncated
    again, source = _run([BASE, APP], cache)
    assert BASE.digest in source.reads
    assert again.inventory.packages == plain.inventory.packages
    assert layercache.load(b"not zlib") is None
    assert layercache.load(layercache.zlib.compress(b"\x00\x00\x00\x02{}")) is None


def test_records_are_keyed_by_the_catalogers():
    assert layercache.key("sha256:a", ["dpkg", "python"]) == layercache.key(
        "sha256:a", ["python", "dpkg"]
    )
    assert layercache.key("sha256:a", ["dpkg"]) != layercache.key("sha256:a", ["dpkg", "npm"])
