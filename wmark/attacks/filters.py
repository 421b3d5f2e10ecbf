"""Filters and noise: Gaussian blur, median blur, Gaussian noise, salt and pepper."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .pixels import to_uint8


def blur(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel ±3σ, reflected borders)."""
    if sigma <= 0:
        return rgb.copy()
    import cv2

    return cv2.GaussianBlur(np.ascontiguousarray(rgb), (0, 0), sigmaX=float(sigma), sigmaY=float(sigma),
                            borderType=cv2.BORDER_REFLECT_101)


def median(rgb: np.ndarray, kernel: int, rng: np.random.Generator) -> np.ndarray:
    """Median filter over a ``kernel``×``kernel`` window (odd size)."""
    if kernel % 2 == 0:
        raise UsageError(f"--median K must be odd (3, 5, 7, ...), got {kernel}")
    if kernel == 1:
        return rgb.copy()
    import cv2

    return cv2.medianBlur(np.ascontiguousarray(rgb), int(kernel))


def noise(rgb: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``sigma`` on the [0, 1] scale."""
    values = rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(sigma * 255.0)
    return to_uint8(rgb + values)


def salt_pepper(rgb: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Set fraction ``fraction`` of the pixels (all three channels) to white or black,
    half each on average."""
    hit = rng.random(rgb.shape[:2]) < fraction
    salt = rng.random(rgb.shape[:2]) < 0.5
    out = rgb.copy()
    out[hit & salt] = 255
    out[hit & ~salt] = 0
    return out
