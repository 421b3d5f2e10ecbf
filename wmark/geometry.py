"""Working-size geometry: a photo of any size to the model's square and a residual back.

Every model works at a fixed square resolution (DESIGN.md, "Models"). The way down
(:func:`working`) resizes the whole photo to it with area interpolation, as ``extract``
reads it. The way up (:func:`photo_residual`) resizes a working-size residual to the
photo (bicubic) and holds it at a given RMS, since resampling changes its energy and
the energy is the PSNR contract; :func:`within_psnr` adds it to the photo in 8 bits and
scales it down where rounding leaves the photo under a target PSNR.

``wmark.api`` (the encoder's mark) and ``wmark.ismark`` (OPT embedding) both use these,
so a photo's path through ``embed`` goes one way, down to this module and back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .metrics import psnr

if TYPE_CHECKING:  # pragma: no cover
    import torch


def resize(array: np.ndarray, width: int, height: int, upsample: str = "linear") -> np.ndarray:
    """``array`` (H×W×C) at ``width`` × ``height``: area interpolation to shrink,
    ``upsample`` (``linear`` or ``cubic``) to enlarge."""
    import cv2

    shrinking = width * height < array.shape[0] * array.shape[1]
    enlarge = cv2.INTER_CUBIC if upsample == "cubic" else cv2.INTER_LINEAR
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrinking else enlarge)


def working(rgb: np.ndarray, size: int) -> torch.Tensor:
    """The photo (H×W×3 uint8) at the model's working size, as a 1×3×S×S float tensor in [0, 1]."""
    import torch

    small = resize(rgb, size, size).astype(np.float32) / 255.0
    return torch.from_numpy(small).permute(2, 0, 1)[None]


def photo_residual(residual: np.ndarray, width: int, height: int, rms: float) -> np.ndarray:
    """A working-size residual (S×S×3, [0, 1] units) resized to the photo (bicubic) and
    scaled to RMS ``rms`` (resampling changes its energy: the PSNR contract), in 0..255 units."""
    import cv2

    full = resize(residual, width, height, upsample="cubic")
    full *= 255.0 * rms / max(cv2.norm(full) / math.sqrt(full.size), 1e-12)
    return full


def within_psnr(rgb: np.ndarray, full: np.ndarray, target_psnr: float | None) -> np.ndarray:
    """``rgb + full`` as uint8, ``full`` scaled down until the PSNR is at least ``target_psnr``
    (as it is when None)."""
    import cv2

    marked = cv2.add(full, rgb, dtype=cv2.CV_8U)  # rounds and saturates to 0..255
    for _ in range(8 if target_psnr is not None else 0):
        value = psnr(rgb, marked)
        if value >= target_psnr:
            break
        full *= 10 ** ((value - target_psnr) / 20) * 0.99
        marked = cv2.add(full, rgb, dtype=cv2.CV_8U)
    return marked
