"""Image quality metrics of a marked photo against its original: PSNR, SSIM, and the
perceptual SSIMULACRA 2 and FLIP.

Each takes two H×W×3 uint8 arrays of one shape (ValueError otherwise), the original first,
and imports nothing heavy at module level (OpenCV loads inside :func:`ssim`, the
``ssimulacra2`` and ``flip-evaluator`` packages inside :func:`ssimulacra2` and :func:`flip`:
a DependencyError, exit 2, names the one to install when it is missing).
"""

from __future__ import annotations

import importlib
import io
import math
from typing import Any

import numpy as np

from .errors import DependencyError

__all__ = ["flip", "psnr", "require_perceptual", "ssim", "ssimulacra2"]
PACKAGES = {"ssimulacra2": "ssimulacra2", "flip_evaluator": "flip-evaluator"}  # module -> PyPI name


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


def _package(module: str) -> Any:
    """``module`` imported, or a DependencyError (exit 2) that says what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise DependencyError(f"{PACKAGES[module]} is not installed ({error}): "
                              f"pip install {PACKAGES[module]}") from None


def require_perceptual() -> None:
    """DependencyError now unless :func:`ssimulacra2` and :func:`flip` can run."""
    for module in PACKAGES:
        _package(module)


def _rgb_pair(name: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"{name} needs two H×W×3 uint8 images of one shape, got {a.shape} {a.dtype} "
                         f"and {b.shape} {b.dtype}")
    return a, b


def ssimulacra2(a: np.ndarray, b: np.ndarray) -> float:
    """SSIMULACRA 2 (Cloudinary, JPEG XL's tools) of ``b`` against the original ``a``: 100 when
    equal, 90 visually lossless, 70 high quality, 50 medium, 30 low, negative for very strong
    distortion. ValueError under 8 px per side (its smallest scale)."""
    a, b = _rgb_pair("ssimulacra2", a, b)
    if min(a.shape[:2]) < 8:
        raise ValueError(f"ssimulacra2 needs at least 8 px per side, got {a.shape[1]}×{a.shape[0]}")
    package = _package("ssimulacra2")

    def png(rgb: np.ndarray) -> io.BytesIO:  # it reads files through PIL.Image.open: lossless PNG in memory
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(out, format="PNG", compress_level=0)
        out.seek(0)
        return out

    return float(package.compute_ssimulacra2(png(a), png(b)))


def flip(a: np.ndarray, b: np.ndarray) -> float:
    """Mean LDR FLIP error (NVIDIA, Andersson et al. 2020) of ``b`` against the original ``a``,
    at its default 67 pixels per degree: 0 when equal, up to 1."""
    a, b = _rgb_pair("flip", a, b)
    package = _package("flip_evaluator")
    _, mean, _ = package.evaluate(a.astype(np.float32) / 255, b.astype(np.float32) / 255, "LDR",
                                  applyMagma=False)
    return float(mean)
