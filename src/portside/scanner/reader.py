"""Reading container images without extracting them.

An image comes from an OCI image layout directory, a ``docker save`` archive (the old
layout with ``manifest.json`` and ``<id>/layer.tar``, or the newer one that carries an OCI
layout inside the tar), or a *blob source*: manifest bytes plus a function that opens a
blob by digest, which is how the store hands over what it holds. ``open_image`` and
``open_blobs`` resolve an index to one platform and return an ``Image``; ``Image.walk``
streams one layer's tar entries.

Nothing is written to disk and the input is hostile until proven otherwise: every
index, manifest and config is bounded in size (``Limits.max_metadata_bytes``) and checked
against its digest before it is parsed, manifests go through the registry's own strict
parser, and an index is resolved to exactly one platform or refused with the list of
those it offers. Blobs of a layout directory are opened without following links and
only when they are regular files; members of an archive are looked up in the archive's
own index, links among them followed inside it only. Streaming a layer (digests,
decompression, tar, whiteouts) is ``portside.scanner.layers``.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zlib
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

from portside.oci import mediatypes
from portside.oci.digest import Digest, Hasher
from portside.oci.errors import OCIError
from portside.oci.manifest import Descriptor, Manifest, parse_manifest
from portside.scanner import errors
from portside.scanner.layers import Budget, HashAhead, LayerRef, LayerWalk, Limits, TarEntry

if TYPE_CHECKING:
    import tarfile

__all__ = ["DEFAULT_PLATFORM", "BlobSource", "Image", "Limits", "open_blobs", "open_image"]

DEFAULT_PLATFORM = "linux/amd64"
_INDEX_DEPTH = 4  # an index of indexes of images is as deep as real images go

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
LAYER_TYPES = frozenset(
    {
        mediatypes.OCI_LAYER,
        mediatypes.OCI_LAYER_GZIP,
        mediatypes.OCI_LAYER_ZSTD,
        mediatypes.DOCKER_LAYER_GZIP,
        DOCKER_LAYER,
        *mediatypes.FOREIGN_LAYER_TYPES,
    }
)


class BlobSource(Protocol):
    """What the store passes: open a blob by digest (``BlobNotFound``, ``KeyError`` or
    ``FileNotFoundError`` when there is none)."""

    def get(self, digest: str) -> BinaryIO: ...


# --- opening images ------------------------------------------------------------------


class Image:
    """One image (one platform), ready to be walked layer by layer."""

    def __init__(
        self,
        *,
        name: str,
        manifest_digest: str,
        config: dict[str, Any],
        config_digest: str,
        layers: tuple[LayerRef, ...],
        platform: str,
        platforms: tuple[str, ...],
        limits: Limits,
        closer: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.manifest_digest = manifest_digest
        self.config = config
        self.config_digest = config_digest
        self.layers = layers
        self.platform = platform
        self.platforms = platforms  # every platform the index offered ((this one) if none)
        self.limits = limits
        self._closer = closer
        self._budget = Budget(limits)
        self._ahead: HashAhead | None = None

    @property
    def uncompressed_bytes(self) -> int:
        """The uncompressed bytes read from the image's layers so far."""
        return self._budget.image_bytes

    def walk(
        self, index: int, want: Callable[[TarEntry], bool] | None = None, *, defer: bool = False
    ) -> LayerWalk:
        """Stream layer ``index``; ``want`` says which regular files' bytes to keep. With
        ``defer``, a layer hashed ahead is checked by ``LayerWalk.verify``, later."""
        return LayerWalk(self.layers[index], self._budget, want, self._ahead, defer=defer)

    def hash_ahead(self) -> None:
        """Start verifying the layers that can be read in place, in the background, for
        a caller that is about to walk them all (see ``HashAhead``)."""
        if self._ahead is None:
            self._ahead = HashAhead(self.layers, self.limits)

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_image(
    path: str | os.PathLike[str],
    *,
    platform: str | None = None,
    reference: str | None = None,
    limits: Limits | None = None,
) -> Image:
    """Open an OCI image layout directory or a docker archive (``docker save``, plain or
    gzipped; an OCI layout packed in a tar works too). ``reference`` picks one image when
    the input holds several (a tag, ``org.opencontainers.image.ref.name``)."""
    limits = limits or Limits()
    target = os.fspath(path)
    if os.path.isdir(target):
        store: _Store = _DirectoryStore(target)
    elif os.path.isfile(target):
        store = _ArchiveStore(target, limits)
    else:
        raise errors.ImageFormatError(f"{target}: no such file or directory")
    try:
        if store.has("index.json"):
            index = _parse(store.read("index.json", limits), mediatypes.OCI_INDEX, "index.json")
            image = _resolve(index, "", store, platform, reference, limits, top=True)
        elif store.has("manifest.json"):
            image = _docker_archive(store, platform, reference, limits)
        else:
            raise errors.ImageFormatError(
                f"{target} is neither an OCI image layout (index.json) nor a docker "
                "archive (manifest.json)"
            )
    except BaseException:
        store.close()
        raise
    image._closer = store.close
    return image


def open_blobs(
    manifest: bytes,
    blobs: BlobSource | Callable[[str], BinaryIO],
    *,
    media_type: str | None = None,
    digest: str | None = None,
    name: str | None = None,
    platform: str | None = None,
    manifests: Callable[[str], bytes] | None = None,
    limits: Limits | None = None,
) -> Image:
    """Open an image from its manifest bytes and a blob source. For an index, the chosen
    child manifest is fetched with ``manifests`` (the store keeps manifests apart from
    blobs) or, without it, from the blob source. ``digest``, when given, is checked."""
    limits = limits or Limits()
    getter: Callable[[str], BinaryIO] = blobs if callable(blobs) else blobs.get
    store = _SourceStore(getter, manifests)
    _check_size(len(manifest), limits, "manifest")
    algorithm = _digest(digest, "the manifest digest").algorithm if digest else "sha256"
    actual = _hash_all(manifest, algorithm)
    if digest is not None and str(actual) != digest:
        raise errors.DigestMismatch(f"the manifest hashes to {actual}, not {digest}")
    parsed = _parse(manifest, media_type, "manifest")
    return _resolve(parsed, str(actual), store, platform, None, limits, top=False, name=name)


def _resolve(
    manifest: Manifest,
    digest: str,
    store: _Store,
    platform: str | None,
    reference: str | None,
    limits: Limits,
    *,
    top: bool,
    name: str | None = None,
) -> Image:
    """Follow indexes down to one image manifest, then read its config."""
    platforms: tuple[str, ...] = ()
    for depth in range(_INDEX_DEPTH + 1):
        if not manifest.is_index:
            break
        if depth == _INDEX_DEPTH:
            raise errors.ImageFormatError("indexes are nested too deeply")
        candidates = manifest.manifests
        if top and depth == 0:
            candidates = _by_reference(candidates, reference)
        chosen, offered = _choose_platform(candidates, platform)
        platforms = platforms or offered
        child = store.read_manifest(str(chosen.digest), limits)
        _verify(child, chosen, "manifest")
        manifest = _parse(child, chosen.media_type, f"manifest {chosen.digest}")
        digest = str(chosen.digest)
    if manifest.config is None:
        raise errors.ImageFormatError("the manifest has no config")
    if manifest.config.media_type not in mediatypes.CONFIG_TYPES:
        raise errors.ImageFormatError(
            f"not a container image: the config's media type is {manifest.config.media_type}"
        )
    raw = store.read(str(manifest.config.digest), limits, "config")
    _verify(raw, manifest.config, "config")
    config = _config(raw)
    own = _config_platform(config)
    if not platforms and platform is not None and not _same_platform(own, platform):
        raise errors.PlatformNotFound(f"the image is for {own}, not {platform}", available=(own,))
    layers = _layer_refs(manifest.layers, config, store, limits)
    return Image(
        name=name or digest,
        manifest_digest=digest,
        config=config,
        config_digest=str(manifest.config.digest),
        layers=layers,
        platform=own,
        platforms=platforms or (own,),
        limits=limits,
    )


def _by_reference(
    descriptors: tuple[Descriptor, ...], reference: str | None
) -> tuple[Descriptor, ...]:
    """The entries of a layout's index.json that name ``reference``; without one, refuse a
    layout holding several differently named images rather than pick one at random."""
    keys = ("org.opencontainers.image.ref.name", "io.containerd.image.name")
    names = [tuple((d.annotations or {}).get(k, "") for k in keys) for d in descriptors]
    if reference is not None:
        found = tuple(d for d, n in zip(descriptors, names, strict=True) if reference in n)
        if not found:
            shown = sorted({n[0] or n[1] for n in names if any(n)})
            raise errors.ImageFormatError(
                f"no image named {reference!r} in the layout (it has {', '.join(shown) or 'none'})"
            )
        return found
    distinct = {n for n in names if any(n)}
    if len(distinct) > 1:
        shown = sorted(n[0] or n[1] for n in distinct)
        raise errors.ImageFormatError(
            f"the layout holds several images ({', '.join(shown)}): name one with reference"
        )
    return descriptors


def _choose_platform(
    descriptors: tuple[Descriptor, ...], platform: str | None
) -> tuple[Descriptor, tuple[str, ...]]:
    """Pick the image for ``platform`` (default linux/amd64) and list what is offered.

    Attestation manifests (platform ``unknown/unknown``) are not images. A variant left
    out matches the architecture's default variant (arm64 v8, arm v7) or none; when that
    still leaves a choice, the caller has to name the variant.
    """
    offered: list[tuple[str, Descriptor]] = []
    plain: list[Descriptor] = []
    for d in descriptors:
        if d.platform is None:
            plain.append(d)
            continue
        label = _platform_label(d.platform)
        if not label.startswith("unknown/"):
            offered.append((label, d))
    labels = tuple(dict.fromkeys(label for label, _ in offered))
    if not offered:
        if len(plain) == 1:
            return plain[0], ()
        raise errors.ImageFormatError(
            "the index holds no image"
            if not plain
            else "the index holds several images without a platform"
        )
    want_os, want_arch, want_variant = _split_platform(platform or DEFAULT_PLATFORM)
    fits = [
        (label, d) for label, d in offered if _split_platform(label)[:2] == (want_os, want_arch)
    ]
    if want_variant or len({label for label, _ in fits}) > 1:
        # Default variants normalise to "", so "" asks for the architecture's default.
        fits = [(label, d) for label, d in fits if _split_platform(label)[2] == want_variant]
    if not fits or len({label for label, _ in fits}) > 1:
        wanted = platform or DEFAULT_PLATFORM
        problem = "no image for" if not fits else "several images fit"
        raise errors.PlatformNotFound(
            f"{problem} {wanted}; the index offers {', '.join(labels)}", available=labels
        )
    return fits[0][1], labels


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


def _split_platform(value: str) -> tuple[str, str, str]:
    parts = value.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.ImageFormatError(f"a platform is os/arch[/variant], not {value!r:.80}")
    arch = _ARCH_ALIASES.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ""
    if variant == _DEFAULT_VARIANT.get(arch):
        variant = ""
    return parts[0], arch, variant


def _platform_label(platform: Mapping[str, Any]) -> str:
    parts = [str(platform.get("os", "")), str(platform.get("architecture", ""))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def _same_platform(label: str, wanted: str) -> bool:
    return _split_platform(label) == _split_platform(wanted)


def _config_platform(config: Mapping[str, Any]) -> str:
    label = _platform_label(config)
    return label if label != "/" else ""


def _config(raw: bytes) -> dict[str, Any]:
    document = _json(raw, "config")
    if not isinstance(document, dict):
        raise errors.ImageFormatError("the config is not a JSON object")
    rootfs = document.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise errors.ImageFormatError("the config has no rootfs.diff_ids list")
    for value in rootfs["diff_ids"]:
        _digest(value, "a diff_id in the config")
    history = document.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise errors.ImageFormatError("the config's history is not a list of objects")
    return document


def _created_by(config: Mapping[str, Any]) -> list[str]:
    """The history's commands of the entries that made a layer, in order."""
    return [
        str(h.get("created_by", "")) for h in config.get("history", []) if not h.get("empty_layer")
    ]


def _layer_refs(
    descriptors: tuple[Descriptor, ...], config: Mapping[str, Any], store: _Store, limits: Limits
) -> tuple[LayerRef, ...]:
    diff_ids = config["rootfs"]["diff_ids"]
    if len(descriptors) != len(diff_ids):
        raise errors.ImageFormatError(
            f"the manifest lists {len(descriptors)} layers but the config {len(diff_ids)} diff_ids"
        )
    if len(descriptors) > limits.max_layers:
        raise errors.TooManyLayers(
            f"the image has {len(descriptors)} layers; the limit is {limits.max_layers}",
            limit=limits.max_layers,
        )
    commands = _created_by(config)
    refs = []
    for i, d in enumerate(descriptors):
        if d.media_type not in LAYER_TYPES:
            raise errors.ImageFormatError(f"layer {i} has an unsupported media type {d.media_type}")
        digest = str(d.digest)
        refs.append(
            LayerRef(
                index=i,
                digest=digest,
                diff_id=diff_ids[i],
                media_type=d.media_type,
                size=d.size,
                created_by=commands[i] if i < len(commands) else "",
                opener=_opener(store, digest, i),
            )
        )
    return tuple(refs)


def _opener(store: _Store, digest: str, index: int) -> Callable[[], BinaryIO]:
    def open_layer() -> BinaryIO:
        return store.open(digest, f"layer {index} ({digest})")

    return open_layer


def _docker_archive(
    store: _Store, platform: str | None, reference: str | None, limits: Limits
) -> Image:
    """The ``docker save`` layout before Docker 25: manifest.json names the config and the
    layer tars by their paths in the archive."""
    document = _json(store.read("manifest.json", limits), "manifest.json")
    if not isinstance(document, list) or not all(isinstance(e, dict) for e in document):
        raise errors.ImageFormatError("manifest.json is not a list of objects")
    for entry in document:
        repo_tags = entry.get("RepoTags")
        if repo_tags is not None and (
            not isinstance(repo_tags, list) or not all(isinstance(t, str) for t in repo_tags)
        ):
            raise errors.ImageFormatError("manifest.json: RepoTags must be a list of strings")
    entries = document
    if reference is not None:
        entries = [e for e in document if reference in (e.get("RepoTags") or [])]
    if len(entries) != 1:
        tags = sorted(t for e in document for t in (e.get("RepoTags") or []))
        problem = "no image" if not entries else "several images"
        raise errors.ImageFormatError(
            f"{problem} in the archive{f' named {reference!r}' if reference else ''}; "
            f"it has {len(document)} ({', '.join(tags) or 'untagged'}): name one with reference"
        )
    entry = entries[0]
    config_path, layer_paths = entry.get("Config"), entry.get("Layers")
    if not isinstance(config_path, str) or not isinstance(layer_paths, list):
        raise errors.ImageFormatError("manifest.json needs Config and Layers")
    if not all(isinstance(p, str) for p in layer_paths):
        raise errors.ImageFormatError("manifest.json's Layers are not paths")
    raw = store.read(config_path, limits)
    config_digest = _hash_all(raw, "sha256")
    named = _digest_in_name(config_path)
    if named is not None and named != config_digest:
        raise errors.DigestMismatch(f"config {config_path} hashes to {config_digest}")
    config = _config(raw)
    own = _config_platform(config)
    if platform is not None and not _same_platform(own, platform):
        raise errors.PlatformNotFound(f"the image is for {own}, not {platform}", available=(own,))
    diff_ids = config["rootfs"]["diff_ids"]
    if len(layer_paths) != len(diff_ids):
        raise errors.ImageFormatError(
            f"manifest.json lists {len(layer_paths)} layers but the config {len(diff_ids)} diff_ids"
        )
    if len(layer_paths) > limits.max_layers:
        raise errors.TooManyLayers(
            f"the image has {len(layer_paths)} layers; the limit is {limits.max_layers}",
            limit=limits.max_layers,
        )
    commands = _created_by(config)
    refs = []
    for i, member in enumerate(layer_paths):
        digest = _digest_in_name(member)
        refs.append(
            LayerRef(
                index=i,
                digest=str(digest) if digest else "",
                diff_id=diff_ids[i],
                media_type="",
                size=store.size(member),
                created_by=commands[i] if i < len(commands) else "",
                opener=_opener(store, member, i),
            )
        )
    return Image(
        name=str(config_digest),
        manifest_digest="",
        config=config,
        config_digest=str(config_digest),
        layers=tuple(refs),
        platform=own,
        platforms=(own,),
        limits=limits,
    )


def _digest_in_name(member: str) -> Digest | None:
    """``blobs/sha256/<hex>`` or ``<hex>.json``: the digest a docker archive names a file by."""
    parts = member.strip("/").split("/")
    base = parts[-1].removesuffix(".json").removesuffix(".tar")
    algorithm = parts[-2] if len(parts) >= 2 and parts[-2] in ("sha256", "sha512") else "sha256"
    try:
        return Digest(algorithm, base)
    except OCIError:
        return None


def _parse(body: bytes, media_type: str | None, what: str) -> Manifest:
    try:
        return parse_manifest(body, media_type)
    except OCIError as exc:
        raise errors.ImageFormatError(f"{what} is not a valid manifest: {exc.message}") from exc


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.ImageFormatError(f"{what} is not valid JSON") from exc


def _digest(value: object, what: str) -> Digest:
    try:
        return Digest.parse(value)  # type: ignore[arg-type]
    except OCIError as exc:
        raise errors.ImageFormatError(f"{what} is not a valid digest: {value!r:.80}") from exc


def _hash_all(data: bytes, algorithm: str) -> Digest:
    hasher = Hasher(algorithm)
    hasher.update(data)
    return hasher.digest()


def _verify(data: bytes, descriptor: Descriptor, what: str) -> None:
    actual = _hash_all(data, descriptor.digest.algorithm)
    if actual != descriptor.digest or len(data) != descriptor.size:
        raise errors.DigestMismatch(
            f"the {what} {descriptor.digest} does not match its descriptor "
            f"(it hashes to {actual}, {len(data)} bytes for {descriptor.size})"
        )


def _check_size(size: int, limits: Limits, what: str) -> None:
    if size > limits.max_metadata_bytes:
        raise errors.MetadataTooLarge(
            f"the {what} is larger than the limit of {limits.max_metadata_bytes} bytes",
            limit=limits.max_metadata_bytes,
        )


def _read_bounded(stream: IO[bytes], limits: Limits, what: str) -> bytes:
    with stream:
        data = stream.read(limits.max_metadata_bytes + 1)
    _check_size(len(data), limits, what)
    return data


# --- where blobs come from -------------------------------------------------------------


class _Store(Protocol):
    def has(self, name: str) -> bool: ...
    def open(self, key: str, what: str) -> BinaryIO: ...
    def size(self, key: str) -> int | None: ...
    def close(self) -> None: ...
    def read(self, key: str, limits: Limits, what: str | None = None) -> bytes: ...
    def read_manifest(self, digest: str, limits: Limits) -> bytes: ...


class _StoreBase:
    """Blobs are addressed by digest (``blobs/<alg>/<hex>`` in a layout) or, in an old
    docker archive, by their path in the archive."""

    def has(self, name: str) -> bool:
        return False

    def open(self, key: str, what: str) -> BinaryIO:
        raise NotImplementedError

    def size(self, key: str) -> int | None:
        return None

    def close(self) -> None:
        return None

    def read(self, key: str, limits: Limits, what: str | None = None) -> bytes:
        label = what or key
        return _read_bounded(self.open(key, label), limits, label)

    def read_manifest(self, digest: str, limits: Limits) -> bytes:
        return self.read(digest, limits, f"manifest {digest}")

    @staticmethod
    def blob_path(key: str) -> str:
        if ":" not in key:
            return key
        digest = _digest(key, "a blob reference")
        return f"blobs/{digest.algorithm}/{digest.hex}"


class _DirectoryStore(_StoreBase):
    def __init__(self, root: str) -> None:
        self.root = root

    def has(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, name))

    def open(self, key: str, what: str) -> BinaryIO:
        path = os.path.join(self.root, self.blob_path(key))
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError as exc:
            raise errors.BlobMissing(f"the {what} is not in the layout") from exc
        except OSError as exc:
            raise errors.ImageFormatError(f"cannot open the {what}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise errors.ImageFormatError(f"the {what} is not a regular file in the layout")
        return os.fdopen(fd, "rb")

    def size(self, key: str) -> int | None:
        try:
            return os.stat(os.path.join(self.root, self.blob_path(key))).st_size
        except OSError:
            return None


class _ArchiveStore(_StoreBase):
    """Members of a tar file (read in random-access mode: the archive's own index)."""

    def __init__(self, path: str, limits: Limits) -> None:
        import lzma  # with tarfile, only for archives: a layout's scan loads neither
        import tarfile

        try:
            self.tar = tarfile.open(path, mode="r:*")  # closed by close()
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise errors.ImageFormatError(f"{path} is not a tar archive: {exc}") from exc
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            while (member := self.tar.next()) is not None:
                if len(self.members) >= limits.max_entries_per_layer:
                    raise errors.TooManyEntries(
                        f"the archive has more than {limits.max_entries_per_layer} members",
                        limit=limits.max_entries_per_layer,
                    )
                self.members[_archive_name(member.name)] = member
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            self.tar.close()
            raise errors.ImageFormatError(f"{path} is not a readable tar archive: {exc}") from exc
        except BaseException:
            self.tar.close()
            raise
        # An uncompressed archive's members are read in place, by position: no copies
        # through tarfile's buffers, and layers may be read from several threads.
        inner = self.tar.fileobj
        self.fd = (
            inner.fileno()
            if isinstance(inner, io.BufferedReader) and isinstance(inner.raw, io.FileIO)
            else None
        )

    def has(self, name: str) -> bool:
        return name in self.members

    def _member(self, key: str, what: str) -> tarfile.TarInfo:
        name = _archive_name(self.blob_path(key))
        for _ in range(16):  # docker save links repeated layers to the first copy
            member = self.members.get(name)
            if member is None:
                raise errors.BlobMissing(f"the {what} is not in the archive")
            if member.isreg():
                return member
            if member.issym():
                name = _archive_name(_join(name.rpartition("/")[0], member.linkname))
            elif member.islnk():
                name = _archive_name(member.linkname)
            else:
                raise errors.ImageFormatError(f"the {what} is not a file in the archive")
        raise errors.ImageFormatError(f"the {what} is a chain of links in the archive")

    def open(self, key: str, what: str) -> BinaryIO:
        member = self._member(key, what)
        if self.fd is not None and not member.issparse():
            return _MemberFile(self.fd, member.offset_data, member.size, what)  # type: ignore[return-value]
        stream = self.tar.extractfile(member)
        if stream is None:  # pragma: no cover - _member returns regular files only
            raise errors.BlobMissing(f"the {what} is not in the archive")
        return stream  # type: ignore[return-value]

    def size(self, key: str) -> int | None:
        try:
            return self._member(key, key).size
        except errors.ScanError:
            return None

    def close(self) -> None:
        self.tar.close()


class _MemberFile:
    """One member of an uncompressed archive, read with ``pread`` from the archive's
    descriptor (which stays the store's to close)."""

    def __init__(self, fd: int, offset: int, size: int, what: str) -> None:
        self.fd = fd
        self.start = offset
        self.position = 0
        self.size = size
        self.what = what
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError(f"the {self.what} is closed")
        left = self.size - self.position
        want = left if n < 0 else min(n, left)
        if want <= 0:
            return b""
        data = os.pread(self.fd, want, self.start + self.position)
        if not data:
            raise errors.ImageFormatError(f"the archive ends inside the {self.what}")
        self.position += len(data)
        return data

    def region(self) -> tuple[int, int, int] | None:
        """Where the member lies in the archive, for reading in place; None when the
        archive is cut short inside it (``read`` then says so)."""
        try:
            whole = os.fstat(self.fd).st_size
        except OSError:
            return None
        if self.position or whole < self.start + self.size:
            return None
        return self.fd, self.start, self.size

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> _MemberFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _archive_name(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def _join(base: str, target: str) -> str:
    """``target`` relative to directory ``base``, kept inside the root like a chroot."""
    parts: list[str] = [] if target.startswith("/") else [p for p in base.split("/") if p]
    for part in target.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


class _SourceStore(_StoreBase):
    def __init__(
        self, get: Callable[[str], BinaryIO], manifests: Callable[[str], bytes] | None
    ) -> None:
        self.get = get
        self.manifests = manifests

    def open(self, key: str, what: str) -> BinaryIO:
        from portside.blobstore.base import BlobNotFound  # the store's, for its blobs only

        try:
            return self.get(key)
        except (BlobNotFound, KeyError, FileNotFoundError) as exc:
            raise errors.BlobMissing(f"the {what} is not in the blob store") from exc

    def read_manifest(self, digest: str, limits: Limits) -> bytes:
        if self.manifests is None:
            return super().read_manifest(digest, limits)
        try:
            body = self.manifests(digest)
        except (KeyError, LookupError, FileNotFoundError) as exc:
            raise errors.BlobMissing(f"manifest {digest} is not in the store") from exc
        _check_size(len(body), limits, f"manifest {digest}")
        return body
