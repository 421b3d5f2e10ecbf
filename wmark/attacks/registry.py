"""The one attack registry, the presets and their groups, and applying attacks and chains.

The registry drives ``wmark attack``'s options, ``wmark bench``'s columns, the shell
completions and the README table; the training noise layers name their torch versions
in ``Attack.differentiable``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .base import Attack, RealAttack, Value

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

Step = tuple[str, Value]


def _real(target: str) -> RealAttack:
    """The function ``family:function`` of this package, imported on its first call
    (so that listing the registry loads neither NumPy nor Pillow)."""
    family, _, function = target.partition(":")

    def real(rgb: np.ndarray, value: Value, rng: np.random.Generator) -> np.ndarray:
        return getattr(importlib.import_module(f"{__package__}.{family}"), function)(rgb, value, rng)

    real.__name__ = real.__qualname__ = function
    real.__doc__ = f"Runs wmark.attacks.{family}.{function}."
    return real

_ENTRIES = (
    Attack("jpeg", "JPEG re-encoding at quality Q (4:2:0 chroma).", "Q", int, 1, 100, _real("codec:jpeg")),
    Attack("webp", "Lossy WebP re-encoding at quality Q.", "Q", int, 1, 100, _real("codec:webp")),
    Attack("strip-metadata", "Drop EXIF, ICC, XMP and DPI (1), as social networks do; pixels unchanged.",
           "B", int, 0, 1, _real("codec:strip_metadata"), strips_metadata=True),
    Attack("resize", "Resize by factor F and back to the original size (bicubic).", "F", float, 0.1, 2.0,
           _real("geometric:resize")),
    Attack("scale", "Resize by factor F and keep the new size.", "F", float, 0.1, 4.0, _real("geometric:scale")),
    Attack("resize-long", "Resize so that the long side is N px, aspect kept (bicubic); keep the new size.",
           "N", int, 32, 4096, _real("geometric:resize_long")),
    Attack("crop", "Centre crop keeping fraction F of the area, resized back to the original size.",
           "F", float, 0.05, 1.0, _real("geometric:crop")),
    Attack("crop-edge", "Cut fraction F of the width and height from each edge; no resize.",
           "F", float, 0.0, 0.45, _real("geometric:crop_edge")),
    Attack("crop-px", "Cut N pixels from each edge; no resize.", "N", int, 0, 1000, _real("geometric:crop_px")),
    Attack("random-crop", "Crop keeping fraction F of the area at a random position; no resize.",
           "F", float, 0.05, 1.0, _real("geometric:random_crop")),
    Attack("grid-crop", "Keep each grid cell (8 px per 256 px) with probability P, black out the rest.",
           "P", float, 0.0, 1.0, _real("geometric:grid_crop")),
    Attack("rotate", "Rotate by DEG degrees counter-clockwise about the centre; same size, black corners.",
           "DEG", float, -180.0, 180.0, _real("geometric:rotate")),
    Attack("flip", "Mirror left-right (1) or not (0).", "B", int, 0, 1, _real("geometric:flip")),
    Attack("blur", "Gaussian blur of standard deviation SIGMA pixels.", "SIGMA", float, 0.0, 10.0,
           _real("filters:blur")),
    Attack("median", "Median filter of odd size K.", "K", int, 1, 15, _real("filters:median")),
    Attack("noise", "Gaussian noise of standard deviation SIGMA (pixels on a 0..1 scale).",
           "SIGMA", float, 0.0, 0.5, _real("filters:noise")),
    Attack("salt-pepper", "Turn fraction P of the pixels white or black.", "P", float, 0.0, 1.0,
           _real("filters:salt_pepper")),
    Attack("brightness", "Multiply the pixel values by F.", "F", float, 0.0, 3.0, _real("colour:brightness")),
    Attack("contrast", "Scale the distance to the mean luminance by F.", "F", float, 0.0, 3.0,
           _real("colour:contrast")),
    Attack("saturation", "Scale the colour saturation by F (0 = greyscale).", "F", float, 0.0, 3.0,
           _real("colour:saturation")),
    Attack("hue", "Rotate the hue by DEG degrees.", "DEG", float, -180.0, 180.0, _real("colour:hue")),
    Attack("dropout", "Set a random fraction P of the pixels to black.", "P", float, 0.0, 1.0,
           _real("occlusion:dropout")),
    Attack("cropout", "Keep a random rectangle of fraction F of the area, black out the rest.",
           "F", float, 0.05, 1.0, _real("occlusion:cropout")),
    Attack("text", "Draw TEXT on one line over the image (white, black outline, random place).",
           "TEXT", str, 1, 200, _real("occlusion:text")),
)

REGISTRY: dict[str, Attack] = {entry.name: entry for entry in _ENTRIES}
"""Every attack by its CLI option name, in the order ``wmark attack --help`` lists them."""

_REFERENCE: dict[str, list[Step]] = {
    "none": [],
    "jpeg90": [("jpeg", 90)],
    "jpeg75": [("jpeg", 75)],
    "jpeg50": [("jpeg", 50)],
    "resize0.5": [("resize", 0.5)],
    "crop80+resize": [("crop", 0.8)],
    "crop10edge": [("crop-edge", 0.1)],
    "blur1.0": [("blur", 1.0)],
    "noise0.02": [("noise", 0.02)],
    "bright1.3": [("brightness", 1.3)],
    "contrast1.3": [("contrast", 1.3)],
    "sat0": [("saturation", 0.0)],
    "s&p0.02": [("salt-pepper", 0.02)],
    "rot2": [("rotate", 2.0)],
    "webp75": [("webp", 75)],
}


_STRIP: Step = ("strip-metadata", 1)


def _social(side: int, quality: int) -> list[Step]:
    """An upload: the long side resized to ``side`` px, then JPEG 4:2:0 at ``quality``."""
    return [("resize-long", side), ("jpeg", quality)]


def _screenshot(factor: float) -> list[Step]:
    """A screenshot of the photo shown at ``factor`` x, 4 px cut from each edge (saved as PNG: lossless)."""
    return [("scale", factor), ("crop-px", 4)]


_SOCIAL: dict[str, list[Step]] = {
    "social1080q80": [_STRIP, *_social(1080, 80)],
    "social1080q70": [_STRIP, *_social(1080, 70)],
    "social2048q85": [_STRIP, *_social(2048, 85)],
    "flip": [("flip", 1)],
    "flip+social": [("flip", 1), _STRIP, *_social(1080, 80)],
}
_SCREENSHOT: dict[str, list[Step]] = {
    "screenshot1.25": [_STRIP, *_screenshot(1.25)],
    "screenshot0.8": [_STRIP, *_screenshot(0.8)],
    "social+screenshot": [_STRIP, *_social(1080, 80), *_screenshot(0.8)],
    "screenshot+social": [_STRIP, *_screenshot(1.25), *_social(1080, 80)],
}

PRESETS: dict[str, list[Step]] = {
    **_REFERENCE, **_SOCIAL, **_SCREENSHOT,
    "social": [_STRIP, *_social(1080, 80)],  # the typical chain of each group, for `wmark attack --preset`
    "screenshot": [_STRIP, *_screenshot(1.25)],
}
"""Named attack chains: the 15 reference columns of ``wmark bench`` (DESIGN.md, "What good
means"), the social-media and screenshot columns (issue 12), and ``social`` and
``screenshot``, the typical chain of each of those groups."""

REFERENCE: list[str] = list(_REFERENCE)
"""The reference columns, in the order of the reference table."""

GROUPS: dict[str, list[str]] = {"reference": REFERENCE, "social": list(_SOCIAL), "screenshot": list(_SCREENSHOT)}
"""Groups of columns for ``wmark bench --attacks``: a group's name there stands for its
columns (``social`` is the group; ``wmark attack --preset social`` applies its typical chain)."""


def get_attack(name: str) -> Attack:
    """The registry entry called ``name`` (``salt_pepper`` is ``salt-pepper``); UsageError if none."""
    key = str(name).strip().lower().replace("_", "-")
    try:
        return REGISTRY[key]
    except KeyError:
        raise UsageError(f"unknown attack {name!r} (known: {', '.join(REGISTRY)})") from None


def preset_chain(name: str) -> list[Step]:
    """A copy of the chain of the preset ``name``; UsageError if there is none."""
    try:
        return list(PRESETS[name])
    except KeyError:
        raise UsageError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None


def check_chain(chain: str | Iterable[Sequence[Any]]) -> list[Step]:
    """``chain`` (steps ``(name, value)`` or a preset name) with every value checked."""
    if isinstance(chain, str):
        chain = preset_chain(chain)
    steps = []
    for step in chain:
        if len(step) != 2:
            raise UsageError(f"an attack step is (name, value), got {step!r}")
        entry = get_attack(step[0])
        steps.append((entry.name, entry.check(step[1])))
    return steps


def apply_attack(name: str, rgb: np.ndarray, value: Value, rng: np.random.Generator | None = None) -> np.ndarray:
    """One attack on H×W×3 uint8 RGB; a new uint8 RGB array (the input is left as it is).

    UsageError for an unknown name or a value out of range; ``rng`` defaults to a
    generator seeded with 0.
    """
    import numpy as np

    from .pixels import check_rgb

    entry = get_attack(name)
    value = entry.check(value)
    return _run(entry, check_rgb(rgb), value, rng if rng is not None else np.random.default_rng(0))


def _run(entry: Attack, rgb: np.ndarray, value: Value, rng: np.random.Generator) -> np.ndarray:
    import numpy as np

    out = entry.real(rgb, value, rng)
    if out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != 3:  # pragma: no cover - a bug in an attack
        raise AssertionError(f"attack {entry.name} returned {out.dtype} {out.shape}")
    return np.ascontiguousarray(out)


def apply_chain(image: Any, chain: str | Iterable[Sequence[Any]], seed: int = 0) -> Any:
    """Apply the steps of ``chain`` in order, with one generator seeded by ``seed``.

    ``image`` is H×W×3 uint8 RGB or a :class:`wmark.imageio.LoadedImage`; the result
    is of the same kind (a LoadedImage keeps its metadata unless a step strips it, and
    its alpha when the size is unchanged; it is 8-bit, its 16-bit samples dropped).
    ``chain`` may also be a preset name. Every step is checked before the first one runs.
    """
    import numpy as np

    from .pixels import check_rgb

    steps = check_chain(chain)
    strip = any(value and REGISTRY[name].strips_metadata for name, value in steps)
    rgb = getattr(image, "rgb", image)
    out = check_rgb(rgb)
    rng = np.random.default_rng(seed)
    for name, value in steps:
        out = _run(REGISTRY[name], out, value, rng)
    if out is rgb:
        out = rgb.copy()
    if rgb is image:
        return out
    alpha = image.alpha if image.alpha is not None and image.alpha.shape == out.shape[:2] else None
    if strip:
        return dataclasses.replace(image, rgb=out, alpha=alpha, deep=None, exif=None, icc=None, xmp=None, dpi=None,
                                   text=None)
    return dataclasses.replace(image, rgb=out, alpha=alpha, deep=None)  # attacked photos are 8-bit


def attack(image: Any, chain: str | Iterable[Sequence[Any]] | None = None, *, seed: int = 0, **steps: Value) -> Any:
    """Library form: ``attack(rgb, jpeg=50, salt_pepper=0.02)``, ``attack(rgb, "jpeg50")``
    or ``attack(rgb, [("resize", 0.5), ("jpeg", 75)], seed=1)``; keyword steps run after
    ``chain``, in the order given."""
    full = check_chain(chain) if chain is not None else []
    full += check_chain(list(steps.items()))
    return apply_chain(image, full, seed=seed)
