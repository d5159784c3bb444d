"""Images written by the tests themselves: layers from lists of entries, OCI layouts,
docker archives (old and new ``docker save`` formats) and in-memory blob stores.

Everything is built with the standard library's tarfile, gzip and zstandard, so each
test states exactly what its image holds, hostile entries included.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Member:
    """One tar entry; ``kind`` is file, dir, symlink, hardlink, char, block or fifo."""

    path: str
    data: bytes = b""
    kind: str = "file"
    mode: int = 0o644
    linkname: str = ""


def file(path: str, data: bytes | str = b"", mode: int = 0o644) -> Member:
    return Member(path, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(path: str) -> Member:
    return Member(path, kind="dir", mode=0o755)


def symlink(path: str, target: str) -> Member:
    return Member(path, kind="symlink", linkname=target, mode=0o777)


def hardlink(path: str, target: str) -> Member:
    return Member(path, kind="hardlink", linkname=target)


def device(path: str, kind: str = "char") -> Member:
    return Member(path, kind=kind, mode=0o600)


def whiteout(path: str) -> Member:
    parent, _, name = path.rpartition("/")
    return file(f"{parent}/.wh.{name}" if parent else f".wh.{name}")


def opaque(directory_path: str) -> Member:
    return file(f"{directory_path.rstrip('/')}/.wh..wh..opq")


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def tar_of(members: list[Member], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for m in members:
            info = tarfile.TarInfo(m.path)
            info.type = _TYPES[m.kind]
            info.mode = m.mode
            info.mtime = 0
            info.linkname = m.linkname
            if m.kind == "file":
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    return raw.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


@dataclass(frozen=True)
class Layer:
    blob: bytes
    diff_id: str
    media_type: str
    created_by: str = ""

    @property
    def digest(self) -> str:
        return sha256(self.blob)


def layer(members: list[Member] | bytes, compression: str = "gzip", created_by: str = "") -> Layer:
    """A layer from entries (or from a ready tar), compressed as asked."""
    tar = members if isinstance(members, bytes) else tar_of(members)
    return Layer(compress(tar, compression), sha256(tar), LAYER_TYPES[compression], created_by)


def config_of(
    layers: list[Layer],
    *,
    platform: str = "linux/amd64",
    diff_ids: list[str] | None = None,
    history: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    os_name, arch, *variant = platform.split("/")
    document: dict[str, Any] = {
        "architecture": arch,
        "os": os_name,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [x.diff_id for x in layers]},
        "history": history
        if history is not None
        else [{"created_by": x.created_by or f"layer {i}"} for i, x in enumerate(layers)],
    }
    if variant:
        document["variant"] = variant[0]
    document.update(extra or {})
    return json.dumps(document).encode()


@dataclass
class Blobs:
    """Content-addressed blobs, written to a layout directory or kept in memory."""

    root: Path | None = None
    memory: dict[str, bytes] = field(default_factory=dict)

    def put(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = sha256(data)
        if self.root is not None:
            target = self.root / "blobs" / "sha256"
            target.mkdir(parents=True, exist_ok=True)
            (target / digest.split(":")[1]).write_bytes(data)
        self.memory[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(
        self, layers: list[Layer], *, config: bytes | None = None, platform: str = "linux/amd64"
    ) -> dict[str, Any]:
        """Store the layers, config and manifest; the manifest's descriptor."""
        manifest = self.manifest_bytes(layers, config=config, platform=platform)
        return self.put(manifest, OCI_MANIFEST)

    def manifest_bytes(
        self, layers: list[Layer], *, config: bytes | None = None, platform: str = "linux/amd64"
    ) -> bytes:
        config = config if config is not None else config_of(layers, platform=platform)
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": self.put(config, OCI_CONFIG),
                "layers": [self.put(x.blob, x.media_type) for x in layers],
            }
        ).encode()

    def index_bytes(self, entries: list[tuple[dict[str, Any], str | None]]) -> bytes:
        manifests = []
        for descriptor, platform in entries:
            item = dict(descriptor)
            if platform is not None:
                os_name, arch, *variant = platform.split("/")
                item["platform"] = {"os": os_name, "architecture": arch}
                if variant:
                    item["platform"]["variant"] = variant[0]
            manifests.append(item)
        return json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        ).encode()


def oci_layout(
    root: Path,
    layers: list[Layer],
    *,
    config: bytes | None = None,
    tag: str | None = "latest",
    platform: str = "linux/amd64",
) -> str:
    """A one-image OCI layout; returns the manifest digest."""
    blobs = Blobs(root)
    descriptor = blobs.image(layers, config=config, platform=platform)
    if tag:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": tag}
    write_index(root, [descriptor])
    return str(descriptor["digest"])


def write_index(root: Path, manifests: list[dict[str, Any]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def docker_archive(
    path: Path,
    layers: list[Layer],
    *,
    tags: tuple[str, ...] = ("example:latest",),
    newer: bool = False,
    duplicate_link: bool = False,
) -> Path:
    """A ``docker save`` tar. The old format stores ``<id>/layer.tar`` (uncompressed, as
    Docker writes them) and ``<config hex>.json``; with ``duplicate_link`` a repeated
    layer is a symbolic link to the first copy, as Docker writes it. ``newer`` writes
    the Docker 25+ format: an OCI layout plus a manifest.json pointing into it."""
    config = config_of(layers)
    config_hex = sha256(config).split(":")[1]
    members: list[tuple[str, bytes | None, str]] = []  # name, data, link target
    entry: dict[str, Any] = {"RepoTags": list(tags)}
    if newer:
        blobs = Blobs()
        descriptor = blobs.image(layers, config=config)
        descriptor["annotations"] = {"io.containerd.image.name": f"docker.io/library/{tags[0]}"}
        for digest, content in blobs.memory.items():
            members.append((f"blobs/sha256/{digest.split(':')[1]}", content, ""))
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}
        members.append(("index.json", json.dumps(index).encode(), ""))
        members.append(("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', ""))
        entry["Config"] = f"blobs/sha256/{config_hex}"
        entry["Layers"] = [f"blobs/sha256/{x.digest.split(':')[1]}" for x in layers]
    else:
        members.append((f"{config_hex}.json", config, ""))
        entry["Config"] = f"{config_hex}.json"
        entry["Layers"] = []
        first: dict[str, str] = {}
        for i, x in enumerate(layers):
            name = f"{i:064x}/layer.tar"
            plain = gzip.decompress(x.blob) if x.media_type.endswith("gzip") else x.blob
            if duplicate_link and x.diff_id in first:
                members.append((name, None, f"../{first[x.diff_id]}"))
            else:
                first[x.diff_id] = name
                members.append((name, plain, ""))
            entry["Layers"].append(name)
    members.append(("manifest.json", json.dumps([entry]).encode(), ""))
    with tarfile.open(path, "w") as tar:
        for name, data, target in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path
