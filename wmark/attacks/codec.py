"""What happens to the file: lossy re-encoding (JPEG, WebP, through Pillow's libjpeg and
libwebp) and the metadata a platform strips."""

from __future__ import annotations

import io

import numpy as np


def encode(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    """The bytes of ``rgb`` encoded as ``fmt`` ("JPEG" or "WEBP") at ``quality``.

    JPEG subsamples the chroma 4:2:0 (what cameras, browsers and social networks do),
    Pillow's defaults otherwise; WebP is lossy.
    """
    from PIL import Image

    buffer = io.BytesIO()
    options = {"subsampling": "4:2:0"} if fmt == "JPEG" else {}
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buffer, format=fmt, quality=int(quality), **options)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Pixels of an encoded image as H×W×3 uint8 RGB."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB")).copy()


def jpeg(rgb: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """JPEG at ``quality`` (1..100), decoded back."""
    return decode(encode(rgb, "JPEG", quality))


def webp(rgb: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    """Lossy WebP at ``quality`` (1..100), decoded back."""
    return decode(encode(rgb, "WEBP", quality))


def strip_metadata(rgb: np.ndarray, on: int, rng: np.random.Generator) -> np.ndarray:
    """The pixels unchanged (a copy): :func:`wmark.attacks.apply_chain` drops the EXIF,
    ICC, XMP and DPI of a loaded image when ``on`` is 1, as social networks do."""
    return rgb.copy()
