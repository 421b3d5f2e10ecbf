"""Colour edits: brightness, contrast, saturation, hue."""

from __future__ import annotations

import numpy as np

from .pixels import luma, to_uint8


def brightness(rgb: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Multiply every channel by ``factor`` (clipped), as Pillow's ImageEnhance.Brightness."""
    return to_uint8(rgb * np.float32(factor))


def contrast(rgb: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Scale the distance to the image's mean luminance by ``factor`` (ImageEnhance.Contrast)."""
    mean = np.float32(luma(rgb).mean())
    return to_uint8(mean + (rgb - mean) * np.float32(factor))


def saturation(rgb: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Scale each pixel's distance to its own luminance by ``factor``: 0 is greyscale
    (R = G = B), 1 the image as it is."""
    grey = luma(rgb)[..., None]
    return to_uint8(grey + (rgb - grey) * np.float32(factor))


def hue(rgb: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate the hue by ``degrees`` (HSV, saturation and value unchanged)."""
    if degrees % 360 == 0:
        return rgb.copy()
    import cv2

    hsv = cv2.cvtColor(rgb.astype(np.float32) / np.float32(255.0), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + np.float32(degrees), np.float32(360.0))
    return to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255.0))
