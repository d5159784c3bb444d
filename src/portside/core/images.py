"""Validation of images uploaded by publishers: logos, product icons and screenshots.

The decision is made from the decoded image, never from the file name or the declared
content type. Only PNG, JPEG and WebP are accepted; anything else (a PDF renamed to
``.png``, an SVG, a truncated file) is refused with a clear reason. Images whose declared
dimensions would need more than ``max_pixels`` pixels are refused before they are
decoded, so a small file that inflates to gigabytes (a decompression bomb) costs nothing.
Accepted images are re-encoded, which drops EXIF, XMP, comments and any bytes appended
after the image data; the EXIF orientation is applied to the pixels first, so a photo
keeps the way up it was shown in.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from portside.core.errors import ValidationFailed

FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
}
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
# EXIF orientation -> the transposition that shows the image the right way up.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class CleanImage:
    content: bytes
    format: str  # PNG, JPEG or WEBP
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][0]

    @property
    def extension(self) -> str:
        return FORMATS[self.format][1]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def clean_image(
    data: bytes,
    *,
    field: str,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] = (8192, 8192),
    square: bool = False,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> CleanImage:
    """Decode, check and re-encode ``data``; raise ``ValidationFailed`` naming ``field``."""
    if not data:
        raise ValidationFailed("The file is empty.", field=field)
    if len(data) > max_bytes:
        raise ValidationFailed(
            f"The file is {len(data):,} bytes; at most {max_bytes:,} are accepted.", field=field
        )
    try:
        # The dimensions are checked below against ``max_pixels``; Pillow's own, larger
        # limit must not turn a merely big header into a warning or an uncaught error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
                fmt = "JPEG" if probe.format == "MPO" else probe.format or ""
                width, height = probe.size
                orientation = _orientation(probe)
    except UnidentifiedImageError:
        raise ValidationFailed("The file is not a PNG, JPEG or WebP image.", field=field) from None
    except Image.DecompressionBombError:
        raise ValidationFailed("The image's dimensions are too large.", field=field) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValidationFailed(f"The image cannot be read: {exc}.", field=field) from None
    if fmt not in FORMATS:
        raise ValidationFailed("The file is not a PNG, JPEG or WebP image.", field=field)
    if orientation in (5, 6, 7, 8):  # shown turned by a quarter
        width, height = height, width
    if width * height > max_pixels or width > max_size[0] or height > max_size[1]:
        raise ValidationFailed(
            f"The image is {width}x{height} px; at most {max_size[0]}x{max_size[1]} px "
            "are accepted.",
            field=field,
        )
    if square and width != height:
        raise ValidationFailed(f"The image must be square; it is {width}x{height} px.", field=field)
    if min_size and (width < min_size[0] or height < min_size[1]):
        raise ValidationFailed(
            f"The image is {width}x{height} px; it must be at least "
            f"{min_size[0]}x{min_size[1]} px.",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                image.load()
                return _reencode(image, fmt, width, height, orientation)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed("The image's dimensions are too large.", field=field) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValidationFailed(f"The image is damaged or truncated: {exc}.", field=field) from None


def _orientation(probe: Image.Image) -> int:
    """The EXIF orientation, read from the header only (never by decoding the image)."""
    raw = probe.info.get("exif")
    if not isinstance(raw, bytes):
        return 1
    try:
        value = Image.Exif()
        value.load(raw)
        orientation = value.get(0x0112, 1)
    except Exception:  # a damaged EXIF block only loses its orientation
        return 1
    return orientation if isinstance(orientation, int) and orientation in _ORIENTATION else 1


def _reencode(
    image: Image.Image, fmt: str, width: int, height: int, orientation: int = 1
) -> CleanImage:
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animations keep their first frame only
    out = io.BytesIO()
    if fmt == "JPEG":
        clean = image.convert("RGB")
    elif fmt == "PNG":
        mode = image.mode if image.mode in ("RGB", "RGBA", "L", "LA", "P") else "RGBA"
        clean = image.convert(mode)
    else:
        clean = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    if orientation in _ORIENTATION:
        clean = clean.transpose(_ORIENTATION[orientation])
    # Encoders copy some metadata from ``info`` (a JPEG's comment, a PNG's ICC profile);
    # only a palette's transparency is part of the picture.
    transparency = clean.info.get("transparency")
    clean.info = {} if transparency is None else {"transparency": transparency}
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "WEBP", quality=90)
    return CleanImage(out.getvalue(), fmt, width, height)
