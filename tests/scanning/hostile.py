"""Hostile image layers, built in the test process as a publisher's tooling could build
them, and a small client that pushes them to a running store over HTTP (the token flow
and the /v2/ API).

Each builder returns the layer as stored (the blob) and the digest of its tar (the
diff_id the image's config must give). Large layers are produced a piece at a time, so
the test process never holds the uncompressed tar.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from isal import isal_zlib

MiB = 1024 * 1024
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Layer:
    blob: bytes
    diff_id: str


def _packed(pieces: Iterator[bytes], level: int = 1) -> Layer:
    """The tar given in pieces, gzip-compressed, with its digest."""
    # 31: a gzip wrapper. ISA-L is fast at its levels (up to 3); zlib's 9 packs hardest.
    packer = (
        isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
        if level <= 3
        else zlib.compressobj(level, zlib.DEFLATED, 31)
    )
    hasher = hashlib.sha256()
    out = []
    for piece in pieces:
        hasher.update(piece)
        out.append(packer.compress(piece))
    out.append(packer.flush())
    return Layer(b"".join(out), "sha256:" + hasher.hexdigest())


def _header(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname, info.mode, info.mtime = size, kind, link, 0o644, 0
    return info.tobuf(tarfile.USTAR_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % 512)


END = b"\0" * 1024  # two zero blocks end a tar


def files_layer(files: list[tuple[str, bytes]]) -> Layer:
    def pieces() -> Iterator[bytes]:
        for name, data in files:
            yield _header(name, len(data)) + data + _padding(len(data))
        yield END

    return _packed(pieces(), level=3)


def gzip_bomb(size: int, name: str = "var/lib/dpkg/status") -> Layer:
    """One file of ``size`` zero bytes, at a path the dpkg cataloger claims (so that a
    reader without a ratio limit would keep all of it in memory), compressed as hard
    as gzip goes: about a thousand times."""

    def pieces() -> Iterator[bytes]:
        yield _header(name, size)
        zeros = b"\0" * MiB
        for _ in range(size // MiB):
            yield zeros
        yield b"\0" * (size % MiB) + _padding(size) + END

    return _packed(pieces(), level=9)


def tiny_entries(count: int, directory: str = "e") -> Layer:
    """``count`` empty files with distinct names, one 512-byte header each.

    A name is ``directory/AAAAaaaaBBBbbb``: ``A`` and ``B`` count, ``a`` and ``b`` are
    their digits' complements to nine, so every name has the same byte sum and every
    header the same checksum. A block of a thousand headers is made once and copied with
    its ``A``/``a`` part replaced, which keeps a million entries to a fraction of a second.
    """
    if count > 10_000 * 1000:
        raise ValueError("at most ten million names")

    def complement(digits: str) -> str:
        return "".join(str(9 - int(d)) for d in digits)

    placeholder = "0000" + complement("0000")
    prefix = f"{directory}/".encode()
    names = [f"{inner:03d}{complement(f'{inner:03d}')}" for inner in range(1000)]
    block = b"".join(_header(f"{directory}/{placeholder}{inner}") for inner in names)
    marker = prefix + placeholder.encode()
    assert block.count(marker) == 1000

    def pieces() -> Iterator[bytes]:
        left = count
        outer = 0
        while left > 0:
            digits = f"{outer:04d}"
            part = block.replace(marker, prefix + (digits + complement(digits)).encode())
            take = min(left, 1000)
            yield part[: take * 512]
            left -= take
            outer += 1
        yield END

    return _packed(pieces())


def truncated(layer: Layer) -> Layer:
    """The layer's gzip stream cut in the middle (the tar's digest is the whole one's)."""
    return Layer(layer.blob[: len(layer.blob) // 2], layer.diff_id)


def link_layer(links: list[tuple[str, str, bytes]]) -> Layer:
    """Links: (name, target, tarfile.SYMTYPE or LNKTYPE), after one ordinary file."""

    def pieces() -> Iterator[bytes]:
        yield _header("etc/hostname", 5) + b"host\n" + _padding(5)
        for name, target, kind in links:
            yield _header(name, 0, kind, target)
        yield END

    return _packed(pieces(), level=3)


def raw_names_layer(names: list[str]) -> Layer:
    """Files named exactly as given (``tarfile`` writes ``../`` as it is told)."""
    return files_layer([(name, b"x\n") for name in names])


# --- pushing to a running store --------------------------------------------------------------


class Pusher:
    """Pushes images to a store at ``url`` as ``login`` (a password or an access token)."""

    def __init__(self, url: str, login: str, secret: str) -> None:
        self.url = url
        self.basic = base64.b64encode(f"{login}:{secret}".encode()).decode()

    def _token(self, name: str) -> str:
        host = urllib.parse.urlsplit(self.url).netloc
        query = urllib.parse.urlencode({"service": host, "scope": f"repository:{name}:pull,push"})
        request = urllib.request.Request(
            f"{self.url}/auth/token?{query}", headers={"Authorization": f"Basic {self.basic}"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["token"]

    def _send(
        self, method: str, path: str, token: str, body: bytes, content_type: str
    ) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                return answer.status, dict(answer.headers)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None

    def blob(self, name: str, token: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _ = self._send(
            "POST",
            f"/v2/{name}/blobs/uploads/?digest={digest}",
            token,
            data,
            "application/octet-stream",
        )
        assert status == 201, status
        return digest

    def image(self, name: str, tag: str, layers: list[Layer]) -> str:
        """Push the layers with a config naming their diff_ids; returns the digest."""
        token = self._token(name)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self.blob(name, token, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": GZIP_LAYER,
                        "digest": self.blob(name, token, layer.blob),
                        "size": len(layer.blob),
                    }
                    for layer in layers
                ],
            }
        ).encode()
        status, headers = self._send(
            "PUT",
            f"/v2/{name}/manifests/{tag}",
            token,
            manifest,
            "application/vnd.oci.image.manifest.v1+json",
        )
        assert status == 201, status
        return headers["Docker-Content-Digest"]


def names_in(layer: Layer, limit: int) -> list[str]:
    """The first ``limit`` names in a layer, read back with tarfile (for the tests of the
    builders themselves)."""
    raw = isal_zlib.decompressobj(31).decompress(layer.blob, limit * 512 + 1024)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tar:
        found = []
        for member in tar:
            found.append(member.name)
            if len(found) == limit:
                break
    return found
