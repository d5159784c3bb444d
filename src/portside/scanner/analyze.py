"""One pass over an image: the final file system, the claimed files, and the packages.

Each layer is read once, in order. Every regular file is offered to each cataloger's
``claims``; the bytes of a claimed file are kept, one ``FileVersion`` per layer that wrote
it, and every entry is indexed. After the last layer the whiteouts have been applied (what
they and later writes hid of lower layers is kept aside as ``Analysis.hidden``), the
operating system is read from os-release, and each cataloger turns the claimed files into
packages. Two rules then apply to the packages of all catalogers:

* a package a language cataloger found in files that an OS package owns is dropped: a
  Python module installed with apt is the deb, not a PyPI package;
* a package whose cataloger did not say which layer introduced it gets the layer of the
  first version of its first metadata file.

The pass keeps the claimed bytes in memory (bounded by ``Limits.max_file_bytes`` and
``max_claimed_bytes``) and only an index of everything else. The packages are bounded by
``Limits.max_packages``: the package databases stop at it as they are read, and the
image's total is checked after each cataloger.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from portside.core.records import field, record, replace
from portside.scanner import runtime
from portside.scanner.catalogers import claims, default_catalogers, osrelease
from portside.scanner.catalogers.base import (
    Cataloger,
    Context,
    Entry,
    Files,
    FileVersion,
    check_package_count,
)
from portside.scanner.hidden import Hidden
from portside.scanner.layers import (
    LayerItem,
    LayerRef,
    LayerWalk,
    Limits,
    Overlay,
    TarEntry,
    resolve,
)
from portside.scanner.model import Distro, Inventory, Layer, Package
from portside.scanner.reader import Image, open_image

if TYPE_CHECKING:
    from portside.scanner.layercache import LayerCache

OS_PACKAGE_TYPES = frozenset({"deb", "rpm", "apk"})


@record
class Analysis:
    """What one pass learned: the packages, the claimed files, and the final file system."""

    inventory: Inventory
    files: Files
    context: Context
    warnings: tuple[str, ...] = ()  # files the catalogers skipped, and why
    # Files and links of lower layers that a later layer deleted or wrote over: not in
    # the final file system, but their bytes still ship (see ``hidden.py``).
    hidden: Hidden = field(default_factory=Hidden)


def analyze(
    image: Image | str | os.PathLike[str],
    *,
    catalogers: Sequence[Cataloger] | None = None,
    name: str | None = None,
    platform: str | None = None,
    limits: Limits | None = None,
    cache: LayerCache | None = None,
) -> Analysis:
    """Analyse an opened image, or open the layout or archive at a path first (then
    ``platform`` and ``limits`` apply). ``catalogers`` defaults to
    ``default_catalogers()``; ``name`` replaces the manifest digest as the image's name.
    With a ``cache``, layers read before (by blob digest) are replayed instead of read."""
    with runtime.gc_paused():
        if not isinstance(image, Image):
            with open_image(image, platform=platform, limits=limits) as opened:
                return _analyze(opened, catalogers, name, cache)
        return _analyze(image, catalogers, name, cache)


def _analyze(
    image: Image,
    catalogers: Sequence[Cataloger] | None,
    name: str | None,
    cache: LayerCache | None,
) -> Analysis:
    if cache is None:
        image.hash_ahead()  # verifying the layers overlaps with loading the catalogers
    chosen = list(default_catalogers() if catalogers is None else catalogers)
    # Layers hashed ahead are checked once the catalogers are done (see LayerWalk), so
    # that they and the later layers are read while a large layer is still being hashed;
    # nothing is returned before, and an error met meanwhile waits for the checks, so
    # that a layer's digest error still comes before any error after it.
    pending: list[LayerWalk] = []
    try:
        found = _catalog(image, chosen, cache, pending, name)
    except Exception:
        for walk in pending:
            walk.verify()
        raise
    for walk in pending:
        walk.verify()
    return found


def _catalog(
    image: Image,
    chosen: list[Cataloger],
    cache: LayerCache | None,
    pending: list[LayerWalk],
    name: str | None,
) -> Analysis:
    files, overlay, layers = _read_layers(image, chosen, cache, pending)
    index = overlay.index
    files.final_paths = {
        path
        for path, history in files.versions.items()
        if (entry := index.get(path)) is not None
        and entry.kind in ("file", "hardlink")
        and entry.layer == history[-1].layer
    }
    distro = detect_distro(files, index)
    limit = image.limits.max_packages
    context = Context(layers=layers, distro=distro, index=index, max_packages=limit)
    found: list[Package] = []
    warnings: list[str] = []
    for cataloger in chosen:
        result = cataloger.catalog(files, context)
        found.extend(result)
        check_package_count(len(found), limit, "the image")
        warnings.extend(f"{cataloger.name}: {w}" for w in getattr(result, "warnings", ()))
    packages = _attribute(_drop_owned(found, index), files, context)
    inventory = Inventory(
        image=name or image.name,
        layers=layers,
        distro=distro,
        packages=tuple(sorted(packages, key=_order)),
        config=image.config,
        platform=image.platform,
    )
    return Analysis(
        inventory=inventory,
        files=files,
        context=context,
        warnings=tuple(warnings),
        hidden=overlay.hidden,
    )


def _read_layers(
    image: Image,
    catalogers: Sequence[Cataloger],
    cache: LayerCache | None = None,
    pending: list[LayerWalk] | None = None,
) -> tuple[Files, Overlay, tuple[Layer, ...]]:
    """Walk every layer, keeping what the catalogers claim. With ``pending``, layers are
    walked with ``defer`` (when there is no cache) and each walk is added to it once its
    entries are read: the caller verifies them."""
    files = Files()
    overlay = Overlay(image.limits)
    layers = []

    tests = [c.claims for c in catalogers]
    # The built-in catalogers' tests together are asked through ``claims.wanted``,
    # which answers as asking each would, in one pass over the name.
    built_in = set(claims.BY_MODULE.values())
    fused = built_in <= set(tests)
    others = [t for t in tests if t not in built_in] if fused else tests

    def want(entry: TarEntry) -> bool:
        path, mode, size = entry.path, entry.mode, entry.size
        if osrelease.claims(path, size):
            return True
        if fused and claims.wanted(path, mode, size):
            return True
        for claim in others:  # every file of every layer: a plain loop, no generator
            if claim(path, mode, size):
                return True
        return False

    names = [c.name for c in catalogers]
    for ref in image.layers:
        items, read = _layer_items(image, ref, want, cache, names, pending)
        for item in items:
            entry = item.entry
            overlay.add(entry, ref.index)
            if item.data is not None:
                _keep(files, FileVersion(entry.path, ref.index, item.data, entry.mode))
            elif entry.kind == "hardlink":
                _link(files, entry, ref.index, catalogers)
        overlay.end_layer()
        digest, compression = read()
        layers.append(
            Layer(
                index=ref.index,
                digest=digest,
                diff_id=ref.diff_id,
                media_type=ref.media_type or _implied_type(compression),
                size=ref.size if ref.size is not None else 0,
                created_by=ref.created_by,
            )
        )
    return files, overlay, tuple(layers)


def _layer_items(
    image: Image,
    ref: LayerRef,
    want: Callable[[TarEntry], bool],
    cache: LayerCache | None,
    names: list[str],
    pending: list[LayerWalk] | None = None,
) -> tuple[Iterable[LayerItem], Callable[[], tuple[str, str]]]:
    """The layer's entries: replayed from the cache when it has them for this blob (and
    this diff_id), else read, and then kept for the next image. The second value gives
    the blob's digest and compression once the entries have been iterated (and adds a
    deferred walk to ``pending``)."""
    if cache is None and pending is not None:
        deferred = image.walk(ref.index, want, defer=True)

        def read() -> tuple[str, str]:
            pending.append(deferred)
            return deferred.digest, deferred.compression

        return deferred, read
    from portside.scanner import layercache  # the worker's, which keeps its layers

    cache_key = layercache.key(ref.digest, names) if cache is not None and ref.digest else ""
    if cache is not None and cache_key:
        stored = cache.get(cache_key)
        record = layercache.load(stored) if stored is not None else None
        if record is not None and record.digest == ref.digest and record.diff_id == ref.diff_id:
            return record.items, lambda: (record.digest, record.compression)
    walk = image.walk(ref.index, want)
    if cache is None or not cache_key:
        return walk, lambda: (walk.digest, walk.compression)
    items = tuple(walk)
    packed = layercache.dump(layercache.Record(walk.digest, ref.diff_id, walk.compression, items))
    if packed is not None:
        cache.put(cache_key, packed)
    return items, lambda: (walk.digest, walk.compression)


def _keep(files: Files, version: FileVersion) -> None:
    history = files.versions.setdefault(version.path, [])
    if history and history[-1].layer == version.layer:
        history[-1] = version  # the same layer wrote the path twice: the last one counts
    else:
        history.append(version)


def _link(files: Files, entry: TarEntry, layer: int, catalogers: Sequence[Cataloger]) -> None:
    """A hard link to a file already kept shares its bytes; tar stores them only once,
    with the first name, so they are copied from that version, never read again."""
    source = files.versions.get(entry.linkname)
    if not source:
        return
    target = source[-1]
    if osrelease.claims(entry.path, len(target.data)) or any(
        c.claims(entry.path, target.mode, len(target.data)) for c in catalogers
    ):
        _keep(files, FileVersion(entry.path, layer, target.data, target.mode))


def _implied_type(compression: str) -> str:
    """Old docker archives give no media types; name the one the bytes turned out to be."""
    return {
        "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    }.get(compression, "application/vnd.docker.image.rootfs.diff.tar")


def detect_distro(files: Files, index: dict[str, Entry]) -> Distro | None:
    """The OS from /etc/os-release, else /usr/lib/os-release, following the link
    between them (and any other) inside the image."""
    for start in osrelease.PATHS:
        path = resolve(index, start)
        entry = index.get(path) if path else None
        if entry is not None and entry.kind == "hardlink":
            path = entry.linkname
        version = files.final(path) if path else None
        if version is not None:
            found = osrelease.distro(version.data)
            if found is not None:
                return found
    return None


def _drop_owned(packages: Iterable[Package], index: dict[str, Entry]) -> list[Package]:
    """Drop language packages whose metadata files belong to an OS package. Paths are
    compared as written and with directory links resolved, because a package manager
    may list ``/lib/...`` for what the image stores under ``/usr/lib/...``."""
    packages = list(packages)
    owned: set[str] = set()
    for package in packages:
        if package.type in OS_PACKAGE_TYPES:
            owned.update(package.files)
    if not owned or all(p.type in OS_PACKAGE_TYPES for p in packages):
        return packages
    canonical = _Canonical(index)
    # Only owned paths beneath a link can change when resolved: find them by prefix.
    in_order = sorted(owned)
    resolved = set(owned)
    for path, entry in index.items():
        if entry.kind == "symlink":
            prefix = path + "/"
            at = bisect.bisect_left(in_order, prefix)
            while at < len(in_order) and in_order[at].startswith(prefix):
                resolved.add(canonical(in_order[at]))
                at += 1
    return [
        package
        for package in packages
        if package.type in OS_PACKAGE_TYPES
        or not any(path in owned or canonical(path) in resolved for path in package.paths)
    ]


class _Canonical:
    """A path with the links of its directories followed (not a link at its end), the
    directories resolved once each."""

    def __init__(self, index: dict[str, Entry]) -> None:
        self.index = index
        self.directories: dict[str, str | None] = {}

    def __call__(self, path: str) -> str:
        parent, _, base = path.rpartition("/")
        if parent not in self.directories:
            self.directories[parent] = resolve(self.index, parent or "/")
        directory = self.directories[parent]
        return path if directory is None else f"{directory.rstrip('/')}/{base}"


def _attribute(packages: list[Package], files: Files, context: Context) -> list[Package]:
    result = []
    for package in packages:
        if not package.layer and package.paths:
            history = files.history(package.paths[0])
            entry = context.index.get(package.paths[0])
            layer = history[0].layer if history else entry.layer if entry else -1
            digest = context.layer_digest(layer)
            if digest:
                package = replace(package, layer=digest)
        result.append(package)
    return result


def _order(package: Package) -> tuple[str, str, str, tuple[str, ...]]:
    return (package.type, package.name, package.version, package.paths)
