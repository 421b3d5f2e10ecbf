"""Pixel helpers the attack families share (H×W×3 uint8 RGB in and out)."""

from __future__ import annotations

import numpy as np


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` if it is H×W×3 uint8 with pixels, else ValueError (a caller's bug)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ValueError(f"attacks want H×W×3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
    return rgb


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip float pixels on the 0..255 scale to a contiguous uint8 array."""
    return np.ascontiguousarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luminance (Pillow's ``L``) as float32 H×W on the 0..255 scale."""
    return rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)


def resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` resized to ``width``×``height``, bicubic (antialiased when shrinking, Pillow)."""
    from PIL import Image

    if (width, height) == (rgb.shape[1], rgb.shape[0]):
        return rgb.copy()
    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    return np.asarray(image.resize((max(1, width), max(1, height)), Image.Resampling.BICUBIC)).copy()
