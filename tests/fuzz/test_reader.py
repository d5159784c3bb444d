"""Fuzzing the scanner's image reader: manifests, indexes and configs from a blob store,
and ``docker save`` archives (plain, gzip, bzip2, xz).

The documents are mutated structurally and stored again under their new digests (so the
hostile JSON reaches the reader's parsers instead of stopping at a digest check), and
the archives are also damaged byte by byte. Opening the image and walking its layers
gives an image or a ``ScanError``; nothing else.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import tarfile
import tempfile
from typing import Any

import pytest
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st

from portside.scanner import errors
from portside.scanner.reader import Image, open_blobs, open_image
from tests.fuzz.support import MiB, attempt, bounded_memory, dumps, fuzz, mutate, mutate_bytes

pytestmark = pytest.mark.nodb

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


LAYERS = [tar_of({"etc/os-release": b"ID=alpine\n"}), tar_of({"bin/sh": b"\x7fELF"})]


def config_document() -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer) for layer in LAYERS]},
        "history": [{"created_by": "ADD rootfs /"}, {"created_by": "RUN true"}],
    }


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def open_and_walk(open_image_: Any) -> Image | BaseException:
    """Open the image and walk every layer; the image, or the ScanError it raised."""

    def run() -> Image:
        with open_image_() as image:
            for index in range(len(image.layers)):
                for _ in image.walk(index, lambda entry: True):
                    pass
            return image

    with bounded_memory(64 * MiB):
        return attempt(run, errors.ScanError)


# --- from a blob store -------------------------------------------------------------------------


@fuzz(120)
@given(st.data(), st.sampled_from(["config", "manifest", "index"]))
def test_mutated_image_documents_open_or_are_a_scan_error(data: st.DataObject, target: str) -> None:
    blobs = {sha256(layer): layer for layer in LAYERS}
    config: Any = config_document()
    if target == "config":
        config = mutate(data, config)
    config_bytes = dumps(config).encode("utf-8", "surrogatepass")
    blobs[sha256(config_bytes)] = config_bytes
    manifest: Any = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config_bytes),
        "layers": [descriptor(OCI_LAYER, layer) for layer in LAYERS],
    }
    if target == "manifest":
        manifest = mutate(data, manifest)
    manifest_bytes = dumps(manifest).encode("utf-8", "surrogatepass")
    top, media_type = manifest_bytes, OCI_MANIFEST
    if target == "index":
        platform = {"os": "linux", "architecture": "amd64"}
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, manifest_bytes, platform=platform),
                descriptor(OCI_MANIFEST, manifest_bytes, platform={**platform, "os": "windows"}),
            ],
        }
        top, media_type = dumps(mutate(data, index)).encode("utf-8", "surrogatepass"), OCI_INDEX
    platform = data.draw(st.sampled_from([None, "linux/amd64", "linux/arm64/v8", "x", "a/b/c/d"]))

    def source(digest: str) -> io.BytesIO:
        return io.BytesIO(blobs[digest])

    def manifests(digest: str) -> bytes:
        return manifest_bytes if digest == sha256(manifest_bytes) else blobs[digest]

    open_and_walk(
        lambda: open_blobs(
            top, source, media_type=media_type, platform=platform, manifests=manifests
        )
    )


# --- docker save archives ------------------------------------------------------------------------


def docker_entry() -> dict[str, Any]:
    return {
        "Config": "config.json",
        "RepoTags": ["acme/app:1.0"],
        "Layers": ["one/layer.tar", "two/layer.tar"],
    }


def docker_archive(manifest: Any, compression: str) -> bytes:
    files = {
        "manifest.json": dumps(manifest).encode("utf-8", "surrogatepass"),
        "config.json": json.dumps(config_document()).encode(),
        "one/layer.tar": LAYERS[0],
        "two/layer.tar": LAYERS[1],
    }
    tar = tar_of(files)
    if compression == "gzip":
        return gzip.compress(tar, mtime=0)
    if compression == "bzip2":
        return bz2.compress(tar)
    if compression == "xz":
        return lzma.compress(tar)
    return tar


def open_archive(archive: bytes, reference: str | None) -> Image | BaseException:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "image.tar")
        with open(path, "wb") as handle:
            handle.write(archive)
        return open_and_walk(lambda: open_image(path, reference=reference))


def seen(manifest: Any) -> Any:
    """manifest.json as the reader's JSON parser reads it (of a repeated key, the last
    value counts), or None when it is not JSON."""
    try:
        return json.loads(dumps(manifest))
    except (ValueError, RecursionError):
        return None


def repo_tags_are_lists(manifest: Any) -> bool:
    """The subject of ``test_repo_tags_of_another_type_are_refused``: left out here."""
    entries = manifest if isinstance(manifest, list) else []
    return all(
        not isinstance(e, dict) or isinstance(e.get("RepoTags"), list | type(None)) for e in entries
    )


@fuzz(80)
@given(
    st.data(),
    st.sampled_from(["none", "gzip", "bzip2"]),
    st.sampled_from([None, "acme/app:1.0", "acme/app:2.0"]),
)
def test_docker_archives_open_or_are_a_scan_error(
    data: st.DataObject, compression: str, reference: str | None
) -> None:
    manifest: Any = [docker_entry()]
    if data.draw(st.booleans(), label="mutate manifest.json"):
        manifest = mutate(data, manifest)
        assume(repo_tags_are_lists(seen(manifest)))
    archive = docker_archive(manifest, compression)
    if data.draw(st.booleans(), label="damage the archive"):
        archive = mutate_bytes(data, archive)
    outcome = open_archive(archive, reference)
    if isinstance(outcome, Image) and reference is not None:
        entries = seen(manifest)
        assert any(reference in (e.get("RepoTags") or []) for e in entries if isinstance(e, dict))


@settings(fuzz(10), phases=[Phase.explicit, Phase.generate])
@given(st.sampled_from([5, "acme/app:1.0", {"tag": "x"}, True]), st.booleans())
@example(tags=5, two=False)
def test_repo_tags_of_another_type_are_refused(tags: Any, two: bool) -> None:
    entry = {**docker_entry(), "RepoTags": tags}
    archive = docker_archive([entry, entry] if two else [entry], "none")
    outcome = open_archive(archive, None if two else "acme/app:1.0")
    assert isinstance(outcome, errors.ImageFormatError)


@settings(fuzz(10), phases=[Phase.explicit, Phase.generate])
@given(st.sampled_from(["app", "acme", "1.0", ":", "a"]))
def test_a_reference_picks_only_an_image_with_that_tag(reference: str) -> None:
    entry = {**docker_entry(), "RepoTags": "acme/app:1.0"}
    outcome = open_archive(docker_archive([entry], "none"), reference)
    assert not isinstance(outcome, Image), f"{reference!r} opened the image tagged 'acme/app:1.0'"


@settings(fuzz(10), phases=[Phase.explicit, Phase.generate])
@given(st.integers(20, 400))
@example(from_end=30)
def test_damaged_xz_archives_are_a_scan_error(from_end: int) -> None:
    tar = tar_of(
        {
            "manifest.json": json.dumps([docker_entry()]).encode(),
            "config.json": json.dumps(config_document()).encode(),
            "one/layer.tar": LAYERS[0],
            "two/layer.tar": LAYERS[1],
            "padding": bytes(range(256)) * 1200,
        }
    )
    archive = bytearray(lzma.compress(tar))
    archive[len(archive) - from_end] ^= 0x55
    outcome = open_archive(bytes(archive), None)
    assert isinstance(outcome, errors.ScanError | Image)
