"""Analyses built by hand: layers, a final file index and claimed bytes, as the analysis
pass would produce them, without reading an image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portside.scanner.catalogers.base import Context, Entry, Files, FileVersion
from portside.scanner.model import Distro, Inventory, Layer, Package
from portside.scanner.practices import SecretsCollector

DEBIAN_12 = Distro(
    id="debian", version_id="12", version_codename="bookworm", pretty_name="Debian 12"
)
GOOD_LABELS = {
    "org.opencontainers.image.source": "https://git.example/acme/web",
    "org.opencontainers.image.version": "1.4.2",
    "org.opencontainers.image.licenses": "Apache-2.0",
    "org.opencontainers.image.title": "web",
    "org.opencontainers.image.description": "The Acme web server",
    "org.opencontainers.image.vendor": "Acme",
}


def digest(index: int) -> str:
    return "sha256:" + f"{index + 1:064x}"


@dataclass(frozen=True)
class Analysis:
    inventory: Inventory
    files: Files
    context: Context


@dataclass
class ImageBuilder:
    """Start from a clean, well-behaved image and spoil it one way per test."""

    layers: list[str] = field(default_factory=list)
    index: dict[str, Entry] = field(default_factory=dict)
    versions: dict[str, list[FileVersion]] = field(default_factory=dict)
    container: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] | None = None
    distro: Distro | None = DEBIAN_12
    packages: list[Package] = field(default_factory=list)
    collector: SecretsCollector = field(default_factory=SecretsCollector)

    @classmethod
    def clean(cls) -> ImageBuilder:
        image = cls()
        image.layer("ADD file:0123 in / ")
        image.dir("/tmp", mode=0o1777)
        image.file("/etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
        image.file(
            "/etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\napp:x:10001:10001::/home/app:/bin/sh\n",
        )
        image.file("/etc/shadow", b"root:*:19000:0:99999:7:::\napp:!:19000::::::\n", mode=0o640)
        image.layer("COPY app /app # buildkit")
        image.file("/app/server", b"\x7fELF", mode=0o755)
        image.file("/app/LICENSE", b"Apache License 2.0")
        image.container = {
            "User": "app",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": dict(GOOD_LABELS),
            "Healthcheck": {"Test": ["CMD", "/app/server", "--health"]},
            "WorkingDir": "/app",
        }
        return image

    def layer(self, created_by: str = "") -> int:
        self.layers.append(created_by)
        return len(self.layers) - 1

    @property
    def top(self) -> int:
        return len(self.layers) - 1

    def file(
        self,
        path: str,
        data: bytes = b"",
        *,
        mode: int = 0o644,
        layer: int | None = None,
        size: int | None = None,
        kind: str = "file",
    ) -> None:
        """Write a file in a layer (the top one by default); keep its bytes if claimed."""
        at = self.top if layer is None else layer
        length = len(data) if size is None else size
        self.index[path] = Entry(path=path, layer=at, kind=kind, size=length, mode=mode)
        if kind == "file" and self.collector.claims(path, mode, length):
            history = self.versions.setdefault(path, [])
            history.append(FileVersion(path=path, layer=at, data=data, mode=mode))

    def dir(self, path: str, *, mode: int = 0o755, layer: int | None = None) -> None:
        at = self.top if layer is None else layer
        self.index[path] = Entry(path=path, layer=at, kind="dir", size=0, mode=mode)

    def link(self, path: str, target: str, *, layer: int | None = None) -> None:
        at = self.top if layer is None else layer
        self.index[path] = Entry(
            path=path, layer=at, kind="symlink", size=0, mode=0o777, linkname=target
        )

    def delete(self, path: str) -> None:
        """A whiteout in a later layer: gone from the index, still in the history."""
        self.index.pop(path, None)

    def build(self) -> Analysis:
        layers = tuple(
            Layer(
                index=i,
                digest=digest(i),
                diff_id=digest(100 + i),
                media_type="application/vnd.oci.image.layer.v1.tar+gzip",
                size=100,
                created_by=created_by,
            )
            for i, created_by in enumerate(self.layers)
        )
        files = Files(versions={p: list(v) for p, v in self.versions.items()})
        files.final_paths = {
            path
            for path, history in files.versions.items()
            if path in self.index and self.index[path].layer == history[-1].layer
        }
        history = self.history
        if history is None:
            history = [{"created_by": c} for c in self.layers]
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": self.container,
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            "history": history,
        }
        inventory = Inventory(
            image="sha256:" + "f" * 64,
            layers=layers,
            distro=self.distro,
            packages=tuple(self.packages),
            config=config,
            platform="linux/amd64",
        )
        return Analysis(
            inventory=inventory,
            files=files,
            context=Context(layers=layers, distro=self.distro, index=dict(self.index)),
        )
