"""Occlusion: pixel dropout, cropout and a line of text drawn over the image.

No cover image exists at attack time, so what is removed becomes black (HiDDeN's
dropout and cropout put the cover's pixels there instead).
"""

from __future__ import annotations

import math

import numpy as np


def dropout(rgb: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Set a random fraction ``fraction`` of the pixels to black."""
    dropped = rng.random(rgb.shape[:2]) < fraction
    return np.where(dropped[..., None], np.uint8(0), rgb)


def cropout(rgb: np.ndarray, area: float, rng: np.random.Generator) -> np.ndarray:
    """Keep a random rectangle of fraction ``area`` of the area (same aspect); the rest
    becomes black; same size."""
    height, width = rgb.shape[:2]
    h = min(height, max(1, int(round(height * math.sqrt(area)))))
    w = min(width, max(1, int(round(width * math.sqrt(area)))))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    out = np.zeros_like(rgb)
    out[top:top + h, left:left + w] = rgb[top:top + h, left:left + w]
    return out


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def text(rgb: np.ndarray, words: str, rng: np.random.Generator) -> np.ndarray:
    """Draw ``words`` on one line, white with a black outline, a tenth of the image
    height tall, at a random position (kept inside the image where it fits)."""
    from PIL import Image, ImageDraw

    height, width = rgb.shape[:2]
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    draw = ImageDraw.Draw(image)
    size = max(8, height // 10)
    font, stroke = _font(size), max(1, size // 12)
    left, top, right, bottom = draw.textbbox((0, 0), words, font=font, stroke_width=stroke)
    x = int(rng.integers(0, max(0, width - (right - left)) + 1)) - left
    y = int(rng.integers(0, max(0, height - (bottom - top)) + 1)) - top
    draw.text((x, y), words, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0))
    return np.asarray(image).copy()
