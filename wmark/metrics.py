"""Image quality metrics of a marked photo against its original: PSNR and SSIM.

Both take two H×W×3 uint8 arrays of one shape (ValueError otherwise) and import nothing
heavy at module level (OpenCV loads inside :func:`ssim`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr", "ssim"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images of one shape (inf when equal)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr needs images of one shape, got {a.shape} and {b.shape}")
    total, rows = 0.0, max(1, (1 << 20) // max(1, a[:1].size))  # about 1 M values at a time: a
    for start in range(0, a.shape[0], rows):                     # 50 MP photo needs no 1 GB copy
        diff = a[start:start + rows].astype(np.float64) - b[start:start + rows]
        total += float(np.vdot(diff, diff))  # flattened dot product: the sum of squares
    mse = total / max(a.size, 1)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004) of the luma of two H×W×3 uint8 images of one shape:
    Gaussian window of σ 1.5 (11 taps), K1 0.01, K2 0.03, the 5 px border left out of the mean."""
    import cv2

    from .attacks.pixels import luma

    if a.shape != b.shape:
        raise ValueError(f"ssim needs images of one shape, got {a.shape} and {b.shape}")
    x, y = luma(a).astype(np.float64), luma(b).astype(np.float64)

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = 5 if min(index.shape) > 10 else 0
    return float(index[pad:index.shape[0] - pad, pad:index.shape[1] - pad].mean())
