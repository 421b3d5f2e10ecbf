"""The perceptual mask: a just-noticeable-difference (JND) heatmap of a photo.

Chou & Li's pixel-domain JND, as VideoSeal/PixelSeal apply it to a watermark (DESIGN.md,
"Models"): on the luma plane Y (0..255),

- luminance adaptation ``la`` from the 5×5 weighted local mean ``bg`` (centre excluded):
  ``DARK_ADAPTATION·(1 − sqrt(bg/127)) + 3`` in the dark half (Chou & Li: 17; halved, see
  :data:`DARK_ADAPTATION`), ``3/128·(bg − 127) + 3`` in the bright half, so mid-grey hides
  least and dark and bright areas hide more;
- contrast masking ``cm`` from the Sobel gradient magnitude ``g``:
  ``0.117 · 16·g^2.4 / (g² + 26²)``, rising with local contrast (texture and edges);
- ``jnd = max(la + cm − 0.3·min(la, cm), 0)``, in 0..255 luma levels.

A flat mid-grey sky gets about 3 levels, a textured or dark region several times that.
The budget of a mark at a given strength is ``strength × GAIN × jnd`` per pixel
(:func:`budget`): the mark never exceeds it anywhere. Two forms, one formula:
:func:`heatmap` (NumPy/OpenCV, for ``embed``) and :func:`heatmap_torch` (differentiable
batches, for training); a test holds them equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

# Per-pixel budget at strength 1, in units of the JND heatmap: chosen on the quality ×
# robustness frontier of the tuning photos (`benchmarks/frontier.py --split tune`: wmark-v5
# at 0.25 and 0.35 scored SSIMULACRA 2 82.5 and 74.0, 98.2 % and 99.3 % of bits; 0.3 keeps
# the mean over 75 with room), and measured on the held-out ones (docs/quality-frontier.md).
GAIN = 0.3

_LUMA = (0.299, 0.587, 0.114)
_BACKGROUND = np.array([[1, 1, 1, 1, 1],
                        [1, 2, 2, 2, 1],
                        [1, 2, 0, 2, 1],
                        [1, 2, 2, 2, 1],
                        [1, 1, 1, 1, 1]], dtype=np.float32) / 32
_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
# Rise of the luminance threshold towards black. Chou & Li's 17 lets a smooth dark sky take
# several times a mid-grey one's change, and on a modern display it shows there as
# blotches (docs/quality.md, "Dark skies"); half of it is used.
DARK_ADAPTATION = 8.5
CONTRAST_BETA = 0.117
OVERLAP = 0.3


def _combine(background, gradient, xp):
    """The JND of a local mean and a gradient magnitude (arrays of NumPy or torch: ``xp``)."""
    dark = DARK_ADAPTATION * (1 - xp.sqrt(xp.clip(background, 0, None) / 127 + 1e-5)) + 3
    bright = 3 / 128 * (background - 127) + 3
    la = xp.where(background <= 127, dark, bright)
    cm = CONTRAST_BETA * 16 * gradient ** 2.4 / (gradient ** 2 + 26 ** 2)
    return xp.clip(la + cm - OVERLAP * xp.minimum(la, cm), 0, None)


def heatmap(rgb: np.ndarray) -> np.ndarray:
    """JND of a photo (H×W×3 or H×W uint8) at its own resolution: H×W float32, 0..255 levels."""
    import cv2

    if rgb.ndim == 3:
        luma = rgb[..., :3].astype(np.float32) @ np.array(_LUMA, dtype=np.float32)
    else:
        luma = rgb.astype(np.float32)
    background = cv2.filter2D(luma, -1, _BACKGROUND, borderType=cv2.BORDER_REFLECT_101)
    gx = cv2.filter2D(luma, -1, _SOBEL_X, borderType=cv2.BORDER_REFLECT_101)
    gy = cv2.filter2D(luma, -1, _SOBEL_X.T, borderType=cv2.BORDER_REFLECT_101)
    return _combine(background, np.sqrt(gx * gx + gy * gy), np).astype(np.float32)


def heatmap_torch(images: "torch.Tensor") -> "torch.Tensor":
    """JND of a batch (B×3×H×W in [0, 1]): B×1×H×W in 0..255 levels, as :func:`heatmap`."""
    import torch
    from torch.nn import functional as F

    weights = images.new_tensor(_LUMA).view(1, 3, 1, 1)
    luma = (images * weights).sum(dim=1, keepdim=True) * 255
    kernels = images.new_tensor(np.stack([_BACKGROUND, np.pad(_SOBEL_X, 1), np.pad(_SOBEL_X.T, 1)]))[:, None]
    # cv2.filter2D correlates (no kernel flip), as conv2d does; reflect = BORDER_REFLECT_101.
    planes = F.conv2d(F.pad(luma, (2, 2, 2, 2), mode="reflect"), kernels)
    background, gx, gy = planes[:, :1], planes[:, 1:2], planes[:, 2:3]
    return _combine(background, torch.sqrt(gx * gx + gy * gy + 1e-12), torch)


def budget(rgb: np.ndarray, strength: float, gain: float | None = None,
           heat: np.ndarray | None = None) -> np.ndarray:
    """Largest change per pixel (H×W float32, 0..255 levels) a mark may make at ``strength``
    (``gain``: :data:`GAIN` unless given; ``heat``: the photo's :func:`heatmap`, when known)."""
    return (strength * (GAIN if gain is None else gain)) * (heatmap(rgb) if heat is None else heat)
