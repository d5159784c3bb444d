"""What the analyser reports: the image's layers, its operating system, and the packages
found in it, each with the layer that introduced it and the files that hold it."""

from __future__ import annotations

from portside.core.records import asdict, field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class Layer:
    """One layer of an image, in order from the base (index 0) up."""

    index: int
    digest: str  # the (possibly compressed) blob's digest, as in the manifest
    diff_id: str  # the digest of the uncompressed tar, as in the config's rootfs
    media_type: str
    size: int  # bytes of the blob
    created_by: str = ""  # the history entry's command, when the config has one


@record
class Distro:
    """The operating system, from /etc/os-release (or /usr/lib/os-release)."""

    id: str  # "debian", "alpine", "rhel", ...
    version_id: str = ""  # "12", "3.20.3", ...
    version_codename: str = ""  # "bookworm"
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()


@record
class Package:
    """A piece of software found in the image.

    ``type`` is the package URL type (``deb``, ``apk``, ``rpm``, ``pypi``, ``npm``,
    ``golang``, ``maven``, ``gem``, ``generic`` for well-known binaries). For distribution
    packages ``source_name`` and ``source_version`` name the source package the binary was
    built from (dpkg ``Source:``, apk ``o:``, rpm ``SOURCERPM``); vulnerability data for
    distributions is keyed by source package.
    """

    type: str
    name: str
    version: str
    purl: str
    cataloger: str  # which cataloger found it ("dpkg", "python", ...)
    layer: str = ""  # digest of the layer that introduced it ("" when unknown)
    paths: tuple[str, ...] = ()  # the metadata file(s) it was read from, absolute
    source_name: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # files the package owns (OS packages), absolute
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@record
class Inventory:
    """Everything the analyser found in one image (one platform of an index)."""

    image: str  # the manifest digest, or the name the image was given on the command line
    layers: tuple[Layer, ...]
    distro: Distro | None
    packages: tuple[Package, ...]
    config: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    platform: str = ""  # "linux/amd64"


def inventory_to_dict(inventory: Inventory, *, owned_files: bool = True) -> dict[str, Any]:
    """A JSON-ready form of the inventory, kept by the store so that new vulnerability data
    can be matched against an image without reading it again. ``owned_files=False`` leaves
    out the files each OS package owns (thousands of paths that matching never needs)."""
    packages = [asdict(package) for package in inventory.packages]
    if not owned_files:
        for package in packages:
            package["files"] = []
    return {
        "image": inventory.image,
        "platform": inventory.platform,
        "distro": None if inventory.distro is None else asdict(inventory.distro),
        "layers": [asdict(layer) for layer in inventory.layers],
        "packages": packages,
    }


def inventory_from_dict(data: dict[str, Any], *, config: dict[str, Any] | None = None) -> Inventory:
    """The inverse of :func:`inventory_to_dict`."""
    distro = data.get("distro")
    return Inventory(
        image=str(data.get("image", "")),
        platform=str(data.get("platform", "")),
        distro=None
        if not distro
        else Distro(**{**distro, "id_like": tuple(distro.get("id_like") or ())}),
        layers=tuple(Layer(**layer) for layer in data.get("layers") or ()),
        packages=tuple(
            Package(
                **{
                    **package,
                    "paths": tuple(package.get("paths") or ()),
                    "licenses": tuple(package.get("licenses") or ()),
                    "files": tuple(package.get("files") or ()),
                }
            )
            for package in data.get("packages") or ()
        ),
        config=config or {},
    )
