"""Image files for tests, good and hostile, built in memory."""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

from PIL import Image


def encode(
    width: int = 512,
    height: int = 512,
    fmt: str = "PNG",
    *,
    mode: str = "RGB",
    color: object = (200, 30, 30),
    **options: object,
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, fmt, **options)  # type: ignore[arg-type]
    return out.getvalue()


def png(width: int = 512, height: int = 512, **options: object) -> bytes:
    return encode(width, height, "PNG", **options)


def jpeg_with_gps(width: int = 512, height: int = 512) -> bytes:
    """A JPEG whose EXIF says where and with what it was taken, plus a comment and XMP."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "SecretSoftware"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    return encode(
        width,
        height,
        "JPEG",
        exif=exif,
        comment=b"SecretComment",
        xmp=b"<x:xmpmeta>SecretXMP</x:xmpmeta>",
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid grayscale PNG of ``width`` x ``height`` black pixels in a small file.

    Its image data inflates to ``height * (width + 1)`` bytes (400 MB at the default
    size). The stream is one fully flushed deflate block of zeros repeated: each copy
    stands alone, so building it costs a fraction of a second, not a full compression.
    """
    total = height * (width + 1)  # a filter byte (0) and a byte per pixel, all zero
    piece = 1 << 24
    whole, rest = divmod(total, piece)
    zeros = bytes(piece)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = block.compress(zeros) + block.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    final = tail.compress(bytes(rest)) + tail.flush()
    adler = 1
    for _ in range(whole):
        adler = zlib.adler32(zeros, adler)
    adler = zlib.adler32(bytes(rest), adler)
    idat = b"\x78\xda" + repeated * whole + final + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    """A 512x512 PNG of noise cut in the middle of its image data."""
    noise = Image.effect_noise((512, 512), 64).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "PNG")
    data = out.getvalue()
    return data[: len(data) // 2]


GIF = encode(512, 512, "GIF", mode="P", color=1)
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">'
    b'<script>alert(1)</script><rect width="512" height="512"/></svg>'
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
