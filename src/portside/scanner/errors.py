"""The errors of the image analyser.

Everything the analyser refuses derives from ``ScanError``, so a caller (the scanning
context, ``portside scan``) catches one type and shows its message. The subclasses say
which rule was broken, because the fixes differ: a digest mismatch means a damaged or
forged image, a limit means an image too large for this configuration, a package database
error means the image's own metadata is corrupt. Messages name the layer, path or limit
concerned and never quote more than a short excerpt of the hostile input.
"""

from __future__ import annotations


class ScanError(Exception):
    """The image could not be analysed; ``message`` says why."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


# --- the image and its blobs -----------------------------------------------------------


class ImageFormatError(ScanError):
    """The input is not an image in a format the reader understands (OCI layout, docker
    archive), or its index, manifest or config is malformed."""


class PlatformNotFound(ImageFormatError):
    """An index has no image for the requested platform, or several that fit equally."""

    def __init__(self, message: str, available: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.available = available


class BlobMissing(ScanError):
    """A manifest names a blob (config or layer) that the image does not contain."""


class DigestMismatch(ScanError):
    """A blob's bytes do not hash to the digest (or size) the manifest gives for it."""


class DiffIDMismatch(DigestMismatch):
    """A layer's uncompressed tar does not hash to the config's ``rootfs.diff_ids``."""


class LayerFormatError(ScanError):
    """A layer is not a readable tar: truncated, badly compressed or malformed."""


class UnsafePath(LayerFormatError):
    """A layer holds a path that could leave the image's root (``..``, a NUL byte, or a
    hard link whose target does)."""


# --- limits ------------------------------------------------------------------------------


class LimitExceeded(ScanError):
    """The image is larger than a configured limit allows; ``limit`` names the setting."""

    limit_name = ""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class TooManyEntries(LimitExceeded):
    limit_name = "max_entries_per_layer"


class TooManyLayers(LimitExceeded):
    limit_name = "max_layers"


class FileTooLarge(LimitExceeded):
    limit_name = "max_file_bytes"


class ClaimedBytesExceeded(LimitExceeded):
    limit_name = "max_claimed_bytes"


class ImageTooLarge(LimitExceeded):
    limit_name = "max_image_bytes"


class CompressionRatioExceeded(LimitExceeded):
    limit_name = "max_compression_ratio"


class MetadataTooLarge(LimitExceeded):
    limit_name = "max_metadata_bytes"


class HeaderTooLarge(LimitExceeded):
    limit_name = "max_tar_header_bytes"


class TooManyPackages(LimitExceeded):
    """More packages than ``max_packages``: the inventory, its findings and its SBOMs grow
    with the packages, so an image past the limit is refused before they are built."""

    limit_name = "max_packages"


# --- what the catalogers read -------------------------------------------------------------


class PackageDatabaseError(ScanError):
    """A package database in the image (dpkg status, apk installed, rpmdb) is corrupt."""


class RpmHeaderError(PackageDatabaseError):
    """An RPM header blob breaks the header format (bounds, types, counts)."""
