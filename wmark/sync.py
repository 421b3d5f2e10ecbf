"""Synchronisation: undo a crop-and-zoom, a small rotation or a mirror before decoding.

A suspect photo may be a crop of the marked one (resized back or not), slightly
rotated or mirrored (a flipped selfie, a re-post): at the working size its content
then appears zoomed, turned or flipped, and the
mark is out of register. Extraction tries a small grid of inverse geometries and
keeps the one that decodes (an exhaustive synchronisation search, as classical
template watermarks do); the model is trained to absorb what is left between grid
points (``wmark.noise.layers.jitter``) and the constant border an inverse zoom
leaves (``wmark.noise.layers.border``). One more view is the photo despeckled
(:func:`despeckled`, a 3×3 median at its own size): salt-and-pepper noise survives the
downscale as noise far louder than a faint mark, and a median takes it out while a mark
smooth at that scale passes it (measured on 10 held-out photos at 512², salt and pepper
2 %: 90.9 % of run v5's bits read as it is, 98.6 % despeckled, 98.6 % clean). Statistics
that pick the best of the views pay for it with a Bonferroni factor of :data:`TRIALS`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

# (zoom, angle, mirrored): zoom of the suspect's content (a crop of 1/zoom of the side,
# resized back), its rotation in degrees, and whether it is a left-right mirror. Zoom
# in 4 % steps (the model is trained to absorb ±3 %), the rotations at three zooms, the
# mirror as it is; the photo as it is comes first.
GRID: tuple[tuple[float, float, bool], ...] = (
    *((zoom, 0.0, False) for zoom in (1.0, 1.04, 1.08, 1.12, 1.16, 1.2, 1.25, 1.3, 1.35)),
    *((zoom, angle, False) for zoom in (1.0, 1.12, 1.25) for angle in (-2.0, 2.0)),
    (1.0, 0.0, True),
)
TRIALS = len(GRID) + 1  # the grid and the despeckled photo


def despeckled(rgb: np.ndarray) -> np.ndarray:
    """The photo (H×W×3 uint8) through a 3×3 median: impulse noise out, smooth marks kept."""
    import cv2

    return cv2.medianBlur(np.ascontiguousarray(rgb), 3)


def realign(image: torch.Tensor, zoom: float, angle: float) -> torch.Tensor:
    """``image`` (B×3×S×S) shrunk by ``zoom`` and turned back by ``angle`` degrees about
    its centre; the uncovered border gets the image's mean colour."""
    batch = image.shape[0]
    rad = torch.tensor(-angle * torch.pi / 180, dtype=image.dtype)
    theta = torch.zeros(batch, 2, 3, dtype=image.dtype)
    theta[:, 0, 0] = zoom * torch.cos(rad)
    theta[:, 0, 1] = -zoom * torch.sin(rad)
    theta[:, 1, 0] = zoom * torch.sin(rad)
    theta[:, 1, 1] = zoom * torch.cos(rad)
    grid = F.affine_grid(theta.to(image.device), list(image.shape), align_corners=False)
    moved = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    covered = F.grid_sample(torch.ones_like(image[:, :1]), grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
    mean = image.mean(dim=(2, 3), keepdim=True)
    return moved + (1 - covered) * mean


def candidates(image: torch.Tensor) -> torch.Tensor:
    """Every realignment of the grid for one image (1×3×S×S) -> TRIALS×3×S×S; the first
    is the image itself."""
    views = []
    for zoom, angle, mirrored in GRID:
        view = image if (zoom, angle) == (1.0, 0.0) else realign(image, zoom, angle)
        views.append(view.flip(-1) if mirrored else view)
    return torch.cat(views)


def confidence(rows: np.ndarray) -> np.ndarray:
    """How sure the decoder is of each row of P(bit = 1) (one row per alignment): mean
    ``|2p - 1|``, 0 (coin flips) .. 1 (certain). A misaligned read is unsure."""
    return np.mean(np.abs(2 * np.asarray(rows, dtype=np.float64) - 1), axis=-1)


def most_confident(rows: np.ndarray) -> int:
    """The row a reader without the embedded bits picks: the most confident alignment
    (``wmark bench`` scores raw bits on it; ``extract`` reports it when no message decodes)."""
    return int(np.argmax(confidence(rows)))
