"""Geometry: resize (and back), scale, resize to a long side, crops (centre, edge, pixels,
random, grid), rotation, flip."""

from __future__ import annotations

import math

import numpy as np

from .pixels import resized


def _size(length: int, factor: float) -> int:
    return max(1, int(round(length * factor)))


def resize(rgb: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Resize by ``factor`` and back to the original size (bicubic, antialiased)."""
    height, width = rgb.shape[:2]
    small = resized(rgb, _size(width, factor), _size(height, factor))
    return resized(small, width, height)


def scale(rgb: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Resize by ``factor`` only: the output is ``factor`` times the size."""
    height, width = rgb.shape[:2]
    return resized(rgb, _size(width, factor), _size(height, factor))


def resize_long(rgb: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """Resize so that the long side is ``side`` px, the aspect kept (what a social network
    does to an upload: 1080 or 2048 px); the output keeps the new size."""
    height, width = rgb.shape[:2]
    factor = side / max(height, width)
    return resized(rgb, _size(width, factor), _size(height, factor))


def _window(height: int, width: int, area: float) -> tuple[int, int]:
    """Height and width of a crop keeping fraction ``area`` of the pixels, same aspect."""
    side = math.sqrt(area)
    return min(height, _size(height, side)), min(width, _size(width, side))


def crop(rgb: np.ndarray, area: float, rng: np.random.Generator) -> np.ndarray:
    """Centre crop keeping fraction ``area`` of the area, resized back to the original size."""
    height, width = rgb.shape[:2]
    h, w = _window(height, width, area)
    top, left = (height - h) // 2, (width - w) // 2
    return resized(rgb[top:top + h, left:left + w], width, height)


def crop_edge(rgb: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Cut ``fraction`` of the height from the top and the bottom and of the width from
    the left and the right (0.1 keeps the central 80 % × 80 %); no resize."""
    height, width = rgb.shape[:2]
    dy = min(int(round(height * fraction)), (height - 1) // 2)
    dx = min(int(round(width * fraction)), (width - 1) // 2)
    return rgb[dy:height - dy, dx:width - dx].copy()


def crop_px(rgb: np.ndarray, pixels: int, rng: np.random.Generator) -> np.ndarray:
    """Cut ``pixels`` px from each edge (a screenshot's frame); no resize. At least one
    pixel row and column is left."""
    height, width = rgb.shape[:2]
    dy, dx = min(int(pixels), (height - 1) // 2), min(int(pixels), (width - 1) // 2)
    return rgb[dy:height - dy, dx:width - dx].copy()


def random_crop(rgb: np.ndarray, area: float, rng: np.random.Generator) -> np.ndarray:
    """Crop keeping fraction ``area`` of the area at a random position; no resize."""
    height, width = rgb.shape[:2]
    h, w = _window(height, width, area)
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    return rgb[top:top + h, left:left + w].copy()


def rotate(rgb: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate by ``degrees`` (counter-clockwise) about the centre; same size, bilinear,
    black corners."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    return np.asarray(image.rotate(float(degrees), resample=Image.Resampling.BILINEAR,
                                   expand=False, fillcolor=(0, 0, 0))).copy()


def grid_cell(height: int, width: int) -> int:
    """Side of a grid-crop cell: 8 px per 256 px of the short side (8 px at least),
    i.e. 8×8 blocks at the models' working resolution."""
    return 8 * max(1, int(round(min(height, width) / 256)))


def grid_crop(rgb: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    """ReDMark's crop: each grid cell (see :func:`grid_cell`) is kept with probability
    ``keep`` and blacked out otherwise."""
    height, width = rgb.shape[:2]
    cell = grid_cell(height, width)
    cells = rng.random((-(-height // cell), -(-width // cell))) < keep
    mask = np.repeat(np.repeat(cells, cell, axis=0), cell, axis=1)[:height, :width]
    return np.where(mask[..., None], rgb, np.uint8(0))


def flip(rgb: np.ndarray, on: int, rng: np.random.Generator) -> np.ndarray:
    """Mirror left-right when ``on`` is 1 (0 leaves the image as it is)."""
    return np.ascontiguousarray(rgb[:, ::-1]) if on else rgb.copy()
