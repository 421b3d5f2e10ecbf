"""Lossy re-encoding: JPEG and WebP, through Pillow (libjpeg / libwebp)."""

from __future__ import annotations

import io

import numpy as np


def encode(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    """The bytes of ``rgb`` encoded as ``fmt`` ("JPEG" or "WEBP") at ``quality``.

    JPEG uses Pillow's defaults otherwise (4:2:0 chroma, what most encoders do);
    WebP is lossy.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buffer, format=fmt, quality=int(quality))
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
