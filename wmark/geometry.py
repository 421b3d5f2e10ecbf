"""The one embedding path: photo -> working size -> residual -> photo size -> mask -> add.

Every model works at a fixed square resolution (DESIGN.md, "Models"). The way down
(:func:`working`) resizes the whole photo to it with area interpolation, as ``extract``
reads it. The way up (:func:`masked_mark`) resizes a working-size residual of unit RMS
to the photo (bicubic) and shapes it by the perceptual mask of the photo at its own
resolution (:mod:`wmark.mask`): the change at a pixel is ``budget × clip(residual / PEAK,
-1, 1)``, so it never exceeds the budget ``strength × GAIN × JND`` anywhere, flat areas
get little and texture, edges and dark areas carry the mark. A luma residual (equal
planes) stays luma. :func:`masked_mark_torch` is the same path on batches, for training.
:func:`within_psnr` adds a mark in 8 bits, scaled down where the photo would fall under a
PSNR floor.

The encoder's mark (``wmark.api``), ISMark (``wmark.ismark``) and training
(``wmark.train``) all go through this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import mask
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


# The residual value (in units of its RMS) that fills the budget: a unit-RMS residual
# uses about 2/3 of it on average and reaches it on ~5 % of the pixels.
PEAK = 2.0


def masked_mark(unit: np.ndarray, rgb: np.ndarray, strength: float, gain: float | None = None,
                heat: np.ndarray | None = None) -> np.ndarray:
    """A working-size residual ``unit`` (S×S×3 or S×S×1, unit RMS) made the mark of ``rgb``
    (H×W×3 uint8) at ``strength``: H×W×3 float32 in 0..255 levels, each pixel within the
    :func:`wmark.mask.budget` (``gain``: :data:`wmark.mask.GAIN` unless given). ``heat``:
    the photo's :func:`wmark.mask.heatmap`, when known."""
    height, width = rgb.shape[:2]
    full = resize(np.ascontiguousarray(unit, dtype=np.float32), width, height, upsample="cubic")
    if full.ndim == 2:
        full = full[:, :, None]
    limit = mask.budget(rgb, strength, gain, heat)[:, :, None]
    mark = (limit * np.clip(full / PEAK, -1.0, 1.0)).astype(np.float32, copy=False)
    return np.repeat(mark, 3, axis=2) if mark.shape[2] == 1 else mark


def masked_mark_torch(unit: "torch.Tensor", covers: "torch.Tensor", strength: "float | torch.Tensor",
                      gain: float | None = None) -> "torch.Tensor":
    """:func:`masked_mark` on batches: ``unit`` (B×C×S×S) resized to ``covers`` (B×3×H×W in
    [0, 1]) and masked by their JND; returns the change in [0, 1] units (B×3×H×W),
    differentiable in ``unit``."""
    import torch
    from torch.nn import functional as F

    full = unit
    if unit.shape[-2:] != covers.shape[-2:]:
        full = F.interpolate(unit, size=covers.shape[-2:], mode="bicubic", align_corners=False)
    with torch.no_grad():
        limit = mask.heatmap_torch(covers) * ((mask.GAIN if gain is None else gain) / 255.0)
    if torch.is_tensor(strength):
        limit = limit * strength.reshape(-1, 1, 1, 1)
    else:
        limit = limit * strength
    return (limit * torch.clamp(full / PEAK, -1.0, 1.0)).expand(-1, 3, -1, -1)


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
