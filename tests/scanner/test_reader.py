"""The image reader: formats, platforms, digests, limits and hostile layers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.blobstore.memory import MemoryBlobStore
from portside.scanner import errors
from portside.scanner.layers import Limits, Overlay, TarEntry, normalise, resolve
from portside.scanner.reader import Image, open_blobs, open_image
from tests.scanner import images
from tests.scanner.images import (
    Blobs,
    device,
    directory,
    file,
    hardlink,
    layer,
    oci_layout,
    opaque,
    sha256,
    symlink,
    whiteout,
)


def walk(image: Image, index: int = 0, want: Any = None) -> list[tuple[TarEntry, bytes | None]]:
    return [(item.entry, item.data) for item in image.walk(index, want)]


def entries(image: Image, index: int = 0) -> dict[str, TarEntry]:
    return {entry.path: entry for entry, _ in walk(image, index)}


def everything(entry: TarEntry) -> bool:
    return True


def read_all(image: Image) -> None:
    for ref in image.layers:
        walk(image, ref.index, everything)


# --- formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_oci_layout_streams_entries_in_order_with_their_bytes(
    tmp_path: Path, compression: str
) -> None:
    members = [
        directory("etc"),
        file("etc/hostname", "box\n"),
        file("./usr//bin/tool", b"\x7fELF", mode=0o4755),
        symlink("bin", "usr/bin"),
        hardlink("usr/bin/tool2", "/usr/bin/tool"),
    ]
    digest = oci_layout(tmp_path, [layer(members, compression, "RUN build")])
    with open_image(tmp_path) as image:
        assert image.name == image.manifest_digest == digest
        assert image.platform == "linux/amd64" and image.platforms == ("linux/amd64",)
        assert image.layers[0].created_by == "RUN build"
        walked = image.walk(0, lambda e: e.path == "/etc/hostname")
        seen = [(item.entry.path, item.entry.kind, item.data) for item in walked]
        assert walked.compression == compression
        assert walked.digest == image.layers[0].digest
    assert seen == [
        ("/etc", "dir", None),
        ("/etc/hostname", "file", b"box\n"),
        ("/usr/bin/tool", "file", None),
        ("/bin", "symlink", None),
        ("/usr/bin/tool2", "hardlink", None),
    ]


def test_entries_keep_mode_and_link_targets(tmp_path: Path) -> None:
    oci_layout(
        tmp_path,
        [
            layer(
                [
                    file("usr/bin/su", "x", mode=0o4755),
                    symlink("lib", "/usr/lib"),
                    hardlink("a", "./usr/bin/su"),
                ]
            )
        ],
    )
    with open_image(tmp_path) as image:
        found = entries(image)
    assert found["/usr/bin/su"].mode == 0o4755 and found["/usr/bin/su"].size == 1
    assert found["/lib"].linkname == "/usr/lib"  # symbolic links keep their target as written
    assert found["/a"].linkname == "/usr/bin/su"  # hard links are normalised


def test_the_bytes_decide_the_compression_not_the_media_type(tmp_path: Path) -> None:
    tar = images.tar_of([file("f", "one")])
    mislabelled = images.Layer(gzip.compress(tar), sha256(tar), images.LAYER_TYPES["none"])
    plain_as_zstd = images.Layer(tar, sha256(tar), images.LAYER_TYPES["zstd"])
    oci_layout(tmp_path, [mislabelled, plain_as_zstd])
    with open_image(tmp_path) as image:
        assert walk(image, 0, everything)[0][1] == b"one"
        assert walk(image, 1, everything)[0][1] == b"one"


def test_multi_member_gzip_and_multi_frame_zstd_are_read_whole(tmp_path: Path) -> None:
    tar = images.tar_of([file("a", "A" * 5000), file("b", "B" * 5000)])
    half = len(tar) // 2
    two_members = gzip.compress(tar[:half]) + gzip.compress(tar[half:])
    compressor = zstandard.ZstdCompressor()
    two_frames = compressor.compress(tar[:half]) + compressor.compress(tar[half:])
    layers = [
        images.Layer(two_members, sha256(tar), images.LAYER_TYPES["gzip"]),
        images.Layer(two_frames, sha256(tar), images.LAYER_TYPES["zstd"]),
    ]
    oci_layout(tmp_path, layers)
    with open_image(tmp_path) as image:
        for index in (0, 1):
            assert [d for _, d in walk(image, index, everything)] == [b"A" * 5000, b"B" * 5000]


@pytest.mark.parametrize("newer", [False, True])
def test_docker_archive_old_and_new_formats(tmp_path: Path, newer: bool) -> None:
    layers = [layer([file("etc/a", "1")]), layer([file("etc/b", "2")], "none")]
    archive = images.docker_archive(tmp_path / "image.tar", layers, newer=newer)
    with open_image(archive) as image:
        assert len(image.layers) == 2
        read_all(image)
        assert entries(image, 1)["/etc/b"].size == 1
        assert image.platform == "linux/amd64"


def test_docker_archive_follows_its_links_between_repeated_layers(tmp_path: Path) -> None:
    same = layer([file("etc/same", "x")], "none")
    archive = images.docker_archive(tmp_path / "i.tar", [same, same], duplicate_link=True)
    with tarfile.open(archive) as tar:
        assert any(m.issym() for m in tar.getmembers())
    with open_image(archive) as image:
        read_all(image)
        assert "/etc/same" in entries(image, 1)


def test_a_gzipped_docker_archive_is_read_too(tmp_path: Path) -> None:
    archive = images.docker_archive(tmp_path / "i.tar", [layer([file("x", "y")])])
    packed = tmp_path / "i.tar.gz"
    packed.write_bytes(gzip.compress(archive.read_bytes()))
    with open_image(packed) as image:
        assert "/x" in entries(image)


def test_docker_archive_with_several_images_needs_a_reference(tmp_path: Path) -> None:
    archive = images.docker_archive(tmp_path / "i.tar", [layer([file("x", "y")])])
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    manifest.append({**manifest[0], "RepoTags": ["other:1"]})
    rewritten = tmp_path / "two.tar"
    with tarfile.open(archive) as old, tarfile.open(rewritten, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps(manifest).encode()
                member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    with pytest.raises(errors.ImageFormatError, match="several images"):
        open_image(rewritten)
    with open_image(rewritten, reference="other:1") as image:
        assert "/x" in entries(image)


def test_blob_source_from_the_store(tmp_path: Path) -> None:
    blobs = Blobs()
    manifest = blobs.manifest_bytes([layer([file("etc/os-release", "ID=test\n")])])
    store = MemoryBlobStore()
    for digest, data in blobs.memory.items():
        store.put(digest, data)
    image = open_blobs(manifest, store.open, digest=sha256(manifest))
    assert image.name == sha256(manifest)
    assert walk(image, 0, everything)[0][1] == b"ID=test\n"

    class Source:  # the BlobSource protocol: an object with get()
        def get(self, digest: str) -> BinaryIO:
            return io.BytesIO(blobs.memory[digest])

    assert walk(open_blobs(manifest, Source()), 0, everything)[0][1] == b"ID=test\n"
    with pytest.raises(errors.DigestMismatch, match="manifest"):
        open_blobs(manifest, store.open, digest=sha256(b"other"))


def test_blob_source_resolves_an_index_with_the_manifest_lookup() -> None:
    blobs = Blobs()
    amd = blobs.manifest_bytes([layer([file("amd", "")])])
    arm = blobs.manifest_bytes([layer([file("arm", "")])], platform="linux/arm64")
    manifests = {sha256(m): m for m in (amd, arm)}
    index = blobs.index_bytes(
        [
            ({"mediaType": images.OCI_MANIFEST, "digest": sha256(m), "size": len(m)}, p)
            for m, p in ((amd, "linux/amd64"), (arm, "linux/arm64"))
        ]
    )
    image = open_blobs(
        index,
        lambda d: io.BytesIO(blobs.memory[d]),
        manifests=manifests.__getitem__,
        platform="linux/arm64",
    )
    assert image.platform == "linux/arm64" and image.manifest_digest == sha256(arm)
    assert image.platforms == ("linux/amd64", "linux/arm64")
    assert "/arm" in entries(image)


def test_sha512_digests_are_verified_too() -> None:
    tar = images.tar_of([file("etc/x", "512")])
    blob = gzip.compress(tar)

    def sha512(data: bytes) -> str:
        return "sha512:" + hashlib.sha512(data).hexdigest()

    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha512(tar)]},
        }
    ).encode()
    store = {sha512(blob): blob, sha512(config): config}

    def manifest_for(layer_digest: str) -> bytes:
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": images.OCI_MANIFEST,
                "config": {
                    "mediaType": images.OCI_CONFIG,
                    "digest": sha512(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": images.LAYER_TYPES["gzip"],
                        "digest": layer_digest,
                        "size": len(blob),
                    }
                ],
            }
        ).encode()

    manifest = manifest_for(sha512(blob))
    image = open_blobs(manifest, lambda d: io.BytesIO(store[d]), digest=sha512(manifest))
    walked = image.walk(0, everything)
    assert [item.data for item in walked] == [b"512"]
    assert walked.digest == sha512(blob)
    forged = "sha512:" + "0" * 128
    store[forged] = blob
    with pytest.raises(errors.DigestMismatch, match="sha512"):
        walk(open_blobs(manifest_for(forged), lambda d: io.BytesIO(store[d])))


def test_docker_manifest_lists_and_media_types() -> None:
    docker_list = "application/vnd.docker.distribution.manifest.list.v2+json"
    docker_manifest = "application/vnd.docker.distribution.manifest.v2+json"
    docker_config = "application/vnd.docker.container.image.v1+json"
    docker_layer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    x = layer([file("docker", "yes")])
    blobs = Blobs()
    config = images.config_of([x])
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": docker_manifest,
            "config": blobs.put(config, docker_config),
            "layers": [blobs.put(x.blob, docker_layer)],
        }
    ).encode()
    listing = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": docker_list,
            "manifests": [
                {
                    "mediaType": docker_manifest,
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    blobs.memory[sha256(manifest)] = manifest
    image = open_blobs(listing, lambda d: io.BytesIO(blobs.memory[d]))
    assert image.manifest_digest == sha256(manifest)
    assert image.layers[0].media_type == docker_layer
    assert walk(image, 0, everything)[0][1] == b"yes"


def test_indexes_nested_too_deeply_are_refused() -> None:
    blobs = Blobs()
    child = blobs.image([layer([file("deep", "")])])
    for _ in range(6):
        body = blobs.index_bytes([(child, "linux/amd64")])
        child = blobs.put(body, images.OCI_INDEX)
    with pytest.raises(errors.ImageFormatError, match="nested too deeply"):
        open_blobs(body, lambda d: io.BytesIO(blobs.memory[d]))


# --- platforms ------------------------------------------------------------------------------


def _multi_platform(root: Path) -> None:
    blobs = Blobs(root)
    platforms = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/amd64/v3"]
    entries_: list[tuple[dict[str, Any], str | None]] = []
    for platform in platforms:
        descriptor = blobs.image([layer([file(platform.replace("/", "_"), "")])], platform=platform)
        entries_.append((descriptor, platform))
    attestation = blobs.image([layer([file("attestation", "")])])
    entries_.append((attestation, "unknown/unknown"))
    index = blobs.put(blobs.index_bytes(entries_), images.OCI_INDEX)
    index["annotations"] = {"org.opencontainers.image.ref.name": "multi"}
    images.write_index(root, [index])


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        (None, "linux/amd64"),
        ("linux/amd64", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/aarch64/v8", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
    ],
)
def test_an_index_resolves_to_one_platform(tmp_path: Path, wanted: str | None, chosen: str) -> None:
    _multi_platform(tmp_path)
    with open_image(tmp_path, platform=wanted) as image:
        assert image.platform == chosen
        assert image.platforms == (
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/amd64/v3",
        )
        assert f"/{chosen.replace('/', '_')}" in entries(image)


def test_a_missing_platform_names_those_offered(tmp_path: Path) -> None:
    _multi_platform(tmp_path)
    with pytest.raises(errors.PlatformNotFound) as caught:
        open_image(tmp_path, platform="linux/s390x")
    assert "linux/arm/v6" in caught.value.message and len(caught.value.available) == 5
    with pytest.raises(errors.PlatformNotFound):
        open_image(tmp_path, platform="linux/arm/v5")
    with pytest.raises(errors.ImageFormatError, match="os/arch"):
        open_image(tmp_path, platform="linux")


def test_a_single_image_for_another_platform_is_refused_only_when_asked(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file("x", "")])], platform="linux/arm64")
    with open_image(tmp_path) as image:
        assert image.platform == "linux/arm64"
    with pytest.raises(errors.PlatformNotFound, match="linux/arm64"):
        open_image(tmp_path, platform="linux/amd64")


def test_a_layout_with_several_tags_needs_a_reference(tmp_path: Path) -> None:
    blobs = Blobs(tmp_path)
    one = blobs.image([layer([file("one", "")])])
    two = blobs.image([layer([file("two", "")])])
    one["annotations"] = {"org.opencontainers.image.ref.name": "1"}
    two["annotations"] = {"org.opencontainers.image.ref.name": "2"}
    images.write_index(tmp_path, [one, two])
    with pytest.raises(errors.ImageFormatError, match="several images"):
        open_image(tmp_path)
    with open_image(tmp_path, reference="2") as image:
        assert "/two" in entries(image)
    with pytest.raises(errors.ImageFormatError, match="no image named"):
        open_image(tmp_path, reference="3")


def test_an_artifact_is_not_an_image(tmp_path: Path) -> None:
    blobs = Blobs(tmp_path)
    config = blobs.put(b"{}", "application/vnd.example.config+json")
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": images.OCI_MANIFEST, "config": config, "layers": []}
    ).encode()
    images.write_index(tmp_path, [blobs.put(manifest, images.OCI_MANIFEST)])
    with pytest.raises(errors.ImageFormatError, match="not a container image"):
        open_image(tmp_path)


def test_inputs_that_are_no_image(tmp_path: Path) -> None:
    with pytest.raises(errors.ImageFormatError, match="no such file"):
        open_image(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.ImageFormatError, match="neither"):
        open_image(tmp_path / "empty")
    (tmp_path / "junk.tar").write_bytes(os.urandom(2048))
    with pytest.raises(errors.ImageFormatError):
        open_image(tmp_path / "junk.tar")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.json").write_text("{not json")
    with pytest.raises(errors.ImageFormatError, match=r"index\.json"):
        open_image(tmp_path / "bad")


# --- digests ------------------------------------------------------------------------------


def test_a_layer_whose_bytes_do_not_match_its_digest(tmp_path: Path) -> None:
    good = layer([file("a", "1")], "none")
    oci_layout(tmp_path, [layer([file("base", "")]), good])
    blob = tmp_path / "blobs" / "sha256" / good.digest.split(":")[1]
    forged = layer([file("a", "2")], "none")  # same size, other content
    assert len(forged.blob) == len(good.blob)
    blob.write_bytes(forged.blob)
    with open_image(tmp_path) as image:
        walk(image, 0)
        with pytest.raises(errors.DigestMismatch, match=f"layer 1 \\({good.digest}\\)"):
            walk(image, 1)


def test_a_layer_longer_than_its_descriptor_stops_at_the_declared_size(tmp_path: Path) -> None:
    good = layer([file("a", "1")])
    oci_layout(tmp_path, [good])
    blob = tmp_path / "blobs" / "sha256" / good.digest.split(":")[1]
    blob.write_bytes(good.blob + b"\0" * 4096)
    with open_image(tmp_path) as image, pytest.raises(errors.DigestMismatch, match="larger"):
        walk(image)


def test_a_wrong_diff_id_names_the_layer(tmp_path: Path) -> None:
    layers = [layer([file("a", "1")]), layer([file("b", "2")])]
    config = images.config_of(layers, diff_ids=[layers[0].diff_id, sha256(b"not the tar")])
    oci_layout(tmp_path, layers, config=config)
    with open_image(tmp_path) as image:
        walk(image, 0)
        with pytest.raises(errors.DiffIDMismatch, match=r"layer 1 .* diff_id"):
            walk(image, 1)


def test_a_config_that_does_not_match_its_digest(tmp_path: Path) -> None:
    x = layer([file("a", "1")])
    oci_layout(tmp_path, [x])
    config = images.config_of([x])
    (tmp_path / "blobs" / "sha256" / sha256(config).split(":")[1]).write_bytes(
        config.replace(b"amd64", b"arm64")
    )
    with pytest.raises(errors.DigestMismatch, match="config"):
        open_image(tmp_path)


def test_a_manifest_whose_layers_do_not_exist(tmp_path: Path) -> None:
    missing = layer([file("a", "1")])
    oci_layout(tmp_path, [missing])
    (tmp_path / "blobs" / "sha256" / missing.digest.split(":")[1]).unlink()
    with open_image(tmp_path) as image, pytest.raises(errors.BlobMissing, match="layer 0"):
        walk(image)
    store = MemoryBlobStore()
    manifest = Blobs().manifest_bytes([missing])
    with pytest.raises(errors.BlobMissing, match="config"):
        open_blobs(manifest, store.open)


def test_diff_ids_and_layers_must_agree_in_number(tmp_path: Path) -> None:
    x = layer([file("a", "1")])
    oci_layout(tmp_path, [x], config=images.config_of([x], diff_ids=[x.diff_id, x.diff_id]))
    with pytest.raises(errors.ImageFormatError, match="1 layers but the config 2"):
        open_image(tmp_path)


def test_a_docker_archive_naming_paths_outside_it(tmp_path: Path) -> None:
    archive = images.docker_archive(tmp_path / "i.tar", [layer([file("x", "y")])])
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    secret = tmp_path / "secret"
    secret.write_text("host file")
    manifest[0]["Layers"] = ["../../" + str(secret)]
    rewritten = tmp_path / "escape.tar"
    with tarfile.open(archive) as old, tarfile.open(rewritten, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps(manifest).encode()
                member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    with open_image(rewritten) as image, pytest.raises(errors.BlobMissing):
        walk(image)


def test_layout_blobs_that_are_links_or_fifos_are_refused(tmp_path: Path) -> None:
    x = layer([file("a", "1")])
    oci_layout(tmp_path, [x])
    blob = tmp_path / "blobs" / "sha256" / x.digest.split(":")[1]
    outside = tmp_path / "outside"
    blob.rename(outside)
    blob.symlink_to(outside)
    with open_image(tmp_path) as image, pytest.raises(errors.ImageFormatError, match="cannot open"):
        walk(image)
    blob.unlink()
    os.mkfifo(blob)
    started = time.monotonic()
    with open_image(tmp_path) as image, pytest.raises(errors.ImageFormatError, match="regular"):
        walk(image)
    assert time.monotonic() - started < 5


# --- hostile layers ----------------------------------------------------------------------------


def _raw_layer(tmp_path: Path, tar: bytes, compression: str = "none") -> Image:
    oci_layout(tmp_path, [layer(tar, compression)])
    return open_image(tmp_path)


def _tar_with(*names: str, linkname: str = "", kind: bytes = tarfile.REGTYPE) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            info = tarfile.TarInfo("placeholder")
            info.type = kind
            info.pax_headers = {"path": name, **({"linkpath": linkname} if linkname else {})}
            tar.addfile(info, io.BytesIO(b""))
    return raw.getvalue()


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "a/../../etc/passwd", "/../../etc/shadow", "./..", "etc/pass\0wd"]
)
def test_paths_that_leave_the_root_are_refused(tmp_path: Path, name: str) -> None:
    with _raw_layer(tmp_path, _tar_with(name)) as image, pytest.raises(errors.UnsafePath):
        walk(image)


def test_absolute_paths_are_normalised_into_the_image(tmp_path: Path) -> None:
    with _raw_layer(tmp_path, _tar_with("/etc/passwd", "//usr/./bin//x")) as image:
        assert set(entries(image)) == {"/etc/passwd", "/usr/bin/x"}


@pytest.mark.parametrize("target", ["../../etc/shadow", "a/../../b", "x\0y"])
def test_hard_links_out_of_the_image_are_refused(tmp_path: Path, target: str) -> None:
    tar = _tar_with("link", linkname=target, kind=tarfile.LNKTYPE)
    with _raw_layer(tmp_path, tar) as image, pytest.raises(errors.UnsafePath):
        walk(image)


def test_whiteouts_naming_dot_dot_are_refused(tmp_path: Path) -> None:
    with _raw_layer(tmp_path, _tar_with("etc/.wh..")) as image, pytest.raises(errors.UnsafePath):
        walk(image)


def test_symbolic_links_resolve_inside_the_image_only(tmp_path: Path) -> None:
    outside = tmp_path / "host-os-release"
    outside.write_text("ID=host\n")
    members = [
        symlink("etc/os-release", "../../../../../../../../" + str(outside)),
        symlink("abs", str(outside)),
        symlink("loop", "loop"),
        symlink("usr/lib64", "lib"),
        file("usr/lib/libc.so", "elf"),
    ]
    with _raw_layer(tmp_path / "img", images.tar_of(members)) as image:
        overlay = Overlay()
        for entry, _ in walk(image, 0, everything):
            overlay.add(entry, 0)
        overlay.end_layer()
    index = overlay.index
    assert resolve(index, "/etc/os-release") == str(outside)  # as a path inside the image
    assert str(outside) not in index
    assert resolve(index, "/abs") == str(outside)
    assert resolve(index, "/loop") is None
    assert resolve(index, "/usr/lib64/libc.so") == "/usr/lib/libc.so"
    assert resolve(index, "/usr/lib64/../../../../x") == "/x"


def test_device_files_are_indexed_never_read(tmp_path: Path) -> None:
    members = [device("dev/null"), device("dev/sda", "block"), device("run/fifo", "fifo")]
    asked: list[str] = []

    def want(entry: TarEntry) -> bool:
        asked.append(entry.path)
        return True

    with _raw_layer(tmp_path, images.tar_of(members)) as image:
        found = {e.path: (e.kind, d) for e, d in walk(image, 0, want)}
    assert found == {
        "/dev/null": ("char", None),
        "/dev/sda": ("block", None),
        "/run/fifo": ("fifo", None),
    }
    assert asked == []


def _bomb_tar(size: int, compression: str) -> tuple[bytes, str]:
    """A tar holding one file of ``size`` zero bytes, compressed as a stream."""
    info = tarfile.TarInfo("zeros")
    info.size = size
    header = info.tobuf(tarfile.PAX_FORMAT)
    chunk = b"\0" * (1 << 20)
    digest = hashlib.sha256(header)
    packer: Any = (
        zlib.compressobj(9, zlib.DEFLATED, 31)
        if compression == "gzip"
        else zstandard.ZstdCompressor(level=1).compressobj()
    )
    parts = [packer.compress(header)]
    for _ in range(size // len(chunk)):
        parts.append(packer.compress(chunk))
        digest.update(chunk)
    parts.append(packer.flush())
    return b"".join(parts), "sha256:" + digest.hexdigest()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_early(compression: str) -> None:
    blob, diff_id = _bomb_tar(128 << 20, compression)
    assert len(blob) < 2 << 20  # a ratio of several hundred
    bomb = images.Layer(blob, diff_id, images.LAYER_TYPES[compression])
    blobs = Blobs()
    manifest = blobs.manifest_bytes([bomb])
    image = open_blobs(manifest, lambda d: io.BytesIO(blobs.memory[d]))
    started = time.monotonic()
    with pytest.raises(errors.CompressionRatioExceeded, match="layer 0"):
        walk(image)
    assert time.monotonic() - started < 10
    # Stopped soon after the grace allowance, far from the 128 MiB the layer would inflate to.
    assert image.uncompressed_bytes < Limits().ratio_grace_bytes + (4 << 20)


def test_the_ratio_limit_can_be_raised(tmp_path: Path) -> None:
    blob, diff_id = _bomb_tar(32 << 20, "gzip")
    oci_layout(tmp_path, [images.Layer(blob, diff_id, images.LAYER_TYPES["gzip"])])
    with open_image(tmp_path, limits=Limits(max_compression_ratio=10_000)) as image:
        assert entries(image)["/zeros"].size == 32 << 20


def test_a_truncated_gzip_stream(tmp_path: Path) -> None:
    good = layer([file("a", os.urandom(20000))])
    cut = images.Layer(good.blob[: len(good.blob) // 2], good.diff_id, good.media_type)
    with _raw_layer_of(tmp_path, cut) as image:
        with pytest.raises(errors.LayerFormatError, match="gzip stream is truncated"):
            walk(image)


def test_a_truncated_zstd_stream(tmp_path: Path) -> None:
    good = layer([file("a", os.urandom(20000))], "zstd")
    for cut_at in (len(good.blob) // 2, len(good.blob) - 1):
        cut = images.Layer(good.blob[:cut_at], good.diff_id, good.media_type)
        with _raw_layer_of(tmp_path / str(cut_at), cut) as image:
            with pytest.raises(errors.LayerFormatError, match="zstd stream is truncated"):
                walk(image)


def test_a_truncated_layer(tmp_path: Path) -> None:
    tar = images.tar_of([file("a", os.urandom(20000)), file("b", "x")])
    cut = images.Layer(tar[:6000], sha256(tar), images.LAYER_TYPES["none"])
    with _raw_layer_of(tmp_path, cut) as image:
        with pytest.raises(errors.LayerFormatError, match="truncated"):
            walk(image, 0, everything)
    with _raw_layer_of(tmp_path / "skipped", cut) as image:
        with pytest.raises(errors.LayerFormatError, match="truncated"):
            walk(image)  # the file is skipped, not read: the end still shows


def test_junk_after_the_compressed_stream(tmp_path: Path) -> None:
    tar = images.tar_of([file("a", "1")])
    for name, blob in [
        ("gzip", gzip.compress(tar) + b"junk"),
        ("zstd", zstandard.ZstdCompressor().compress(tar) + b"junk"),
    ]:
        junk = images.Layer(blob, sha256(tar), images.LAYER_TYPES[name])
        with _raw_layer_of(tmp_path / name, junk) as image:
            with pytest.raises(errors.LayerFormatError, match="after its"):
                walk(image)


def test_a_corrupt_header_cannot_hide_the_rest_of_a_layer(tmp_path: Path) -> None:
    tar = bytearray(images.tar_of([file("a", "1"), file("hidden", "secret")]))
    second = tar.index(b"hidden")
    tar[second + 148 : second + 156] = b"0000000\0"  # a wrong header checksum
    with _raw_layer(tmp_path, bytes(tar)) as image:
        with pytest.raises(errors.LayerFormatError, match="corrupt tar header"):
            walk(image)


def test_a_layer_that_is_not_a_tar(tmp_path: Path) -> None:
    for name, data in [("random", os.urandom(4096)), ("empty", b"")]:
        with _raw_layer(tmp_path / name, data) as image, pytest.raises(errors.LayerFormatError):
            walk(image)
    with _raw_layer(tmp_path / "bz", b"BZh91AY&SY" + os.urandom(100)) as image:
        with pytest.raises(errors.LayerFormatError, match="bzip2"):
            walk(image)


def _raw_layer_of(root: Path, x: images.Layer) -> Image:
    oci_layout(root, [x])
    return open_image(root)


# --- limits ----------------------------------------------------------------------------------


def test_limit_on_entries_per_layer(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file(f"f{i}", "") for i in range(20)])])
    with open_image(tmp_path, limits=Limits(max_entries_per_layer=19)) as image:
        with pytest.raises(errors.TooManyEntries, match="more than 19"):
            walk(image)
    with open_image(tmp_path, limits=Limits(max_entries_per_layer=20)) as image:
        assert len(walk(image)) == 20


def test_limit_on_the_bytes_of_a_claimed_file(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file("big", b"x" * 5000), file("small", b"y")])])
    with open_image(tmp_path, limits=Limits(max_file_bytes=4096)) as image:
        assert len(walk(image)) == 2  # unclaimed files may be any size
        with pytest.raises(errors.FileTooLarge, match="/big has 5000 bytes"):
            walk(image, 0, everything)


def test_limit_on_all_claimed_bytes(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file(f"f{i}", b"x" * 1000) for i in range(5)])])
    with open_image(tmp_path, limits=Limits(max_claimed_bytes=3500)) as image:
        with pytest.raises(errors.ClaimedBytesExceeded):
            walk(image, 0, everything)


def test_limit_on_the_uncompressed_image(tmp_path: Path) -> None:
    layers = [layer([file("a", os.urandom(30000))]), layer([file("b", os.urandom(30000))])]
    oci_layout(tmp_path, layers)
    with open_image(tmp_path, limits=Limits(max_image_bytes=50000)) as image:
        walk(image, 0)
        with pytest.raises(errors.ImageTooLarge, match="layer 1"):
            walk(image, 1)


def test_limit_on_metadata(tmp_path: Path) -> None:
    x = layer([file("a", "1")])
    padded = images.config_of([x], extra={"padding": "x" * 5000})
    oci_layout(tmp_path, [x], config=padded)
    with pytest.raises(errors.MetadataTooLarge):
        open_image(tmp_path, limits=Limits(max_metadata_bytes=4096))
    with pytest.raises(errors.MetadataTooLarge):
        open_blobs(b" " * 5000, MemoryBlobStore().open, limits=Limits(max_metadata_bytes=4096))


def test_limit_on_layers(tmp_path: Path) -> None:
    oci_layout(tmp_path, [layer([file(f"{i}", "")]) for i in range(4)])
    with pytest.raises(errors.TooManyLayers):
        open_image(tmp_path, limits=Limits(max_layers=3))


def test_limit_on_tar_extension_headers(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "c" * 20000}
        tar.addfile(info, io.BytesIO(b""))
    oci_layout(tmp_path, [layer(raw.getvalue())])
    with open_image(tmp_path, limits=Limits(max_tar_header_bytes=4096)) as image:
        with pytest.raises(errors.HeaderTooLarge, match="20"):
            list(image.walk(0))
    with open_image(tmp_path) as image:
        assert "/x" in entries(image)


def test_limits_have_sane_defaults() -> None:
    limits = Limits()
    assert limits.max_metadata_bytes == 4 << 20
    assert limits.max_file_bytes < limits.max_claimed_bytes < limits.max_image_bytes
    assert 10 < limits.max_compression_ratio < 1000  # a gzip bomb reaches about 1,000


# --- whiteouts -------------------------------------------------------------------------------


def _final(tmp_path: Path, *layers_members: list[images.Member]) -> dict[str, Any]:
    oci_layout(tmp_path, [layer(m) for m in layers_members])
    overlay = Overlay()
    with open_image(tmp_path) as image:
        for ref in image.layers:
            for entry, _ in walk(image, ref.index):
                overlay.add(entry, ref.index)
            overlay.end_layer()
    return overlay.index


def test_a_file_deleted_by_a_later_layer_is_gone(tmp_path: Path) -> None:
    index = _final(
        tmp_path,
        [directory("etc"), file("etc/secret", "k"), file("etc/keep", "")],
        [whiteout("etc/secret")],
    )
    assert "/etc/secret" not in index and "/etc/keep" in index
    assert not any(".wh." in path for path in index)


def test_a_deleted_directory_takes_its_tree(tmp_path: Path) -> None:
    index = _final(
        tmp_path,
        [directory("opt"), directory("opt/a"), file("opt/a/b", ""), file("optx", "")],
        [whiteout("opt")],
    )
    assert set(index) == {"/optx"}


def test_an_opaque_directory_hides_lower_contents_but_not_its_own(tmp_path: Path) -> None:
    index = _final(
        tmp_path,
        [directory("app"), file("app/old", ""), directory("app/sub"), file("app/sub/x", "")],
        [file("app/new", ""), opaque("app"), directory("app")],
    )
    assert set(index) == {"/app", "/app/new"}
    assert index["/app"].layer == 1


def test_a_whiteout_does_not_hide_its_own_layer(tmp_path: Path) -> None:
    index = _final(
        tmp_path, [file("etc/conf", "old")], [file("etc/conf", "new"), whiteout("etc/conf")]
    )
    assert index["/etc/conf"].layer == 1


def test_a_file_over_a_directory_replaces_the_tree(tmp_path: Path) -> None:
    index = _final(tmp_path, [directory("data"), file("data/x", "")], [file("data", "now a file")])
    assert set(index) == {"/data"} and index["/data"].kind == "file"


def test_normalise() -> None:
    assert normalise("./a//b/./c/") == "/a/b/c"
    assert normalise("") == normalise(".") == normalise("/") == "/"
    with pytest.raises(errors.UnsafePath, match="leaves"):
        normalise("a/..")


# --- fuzzing ----------------------------------------------------------------------------------

_SAMPLE = images.tar_of([directory("etc"), file("etc/a", "hello"), symlink("b", "etc/a")])
_SAMPLES = {name: images.compress(_SAMPLE, name) for name in ("gzip", "zstd", "none")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(_SAMPLES)),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.integers(0, 10**6),
)
def test_mangled_layers_raise_only_scan_errors(
    kind: str, flips: list[tuple[int, int]], cut: int
) -> None:
    blob = bytearray(_SAMPLES[kind])
    for position, value in flips:
        blob[position % len(blob)] = value
    data = bytes(blob[: max(1, len(blob) - cut % 64)])
    mangled = images.Layer(data, sha256(_SAMPLE), images.LAYER_TYPES[kind])
    manifest = Blobs().manifest_bytes([mangled])
    store = Blobs()
    store.manifest_bytes([mangled])
    image = open_blobs(manifest, lambda d: io.BytesIO(store.memory[d]))
    try:
        walk(image, 0, everything)
    except errors.ScanError:
        pass
