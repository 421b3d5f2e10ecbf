"""Attacks on photos: one registry of real (uint8 RGB, Pillow/OpenCV/NumPy) attacks,
the presets of ``wmark bench`` (the 15 reference columns, the social-media and
screenshot ones) and their groups, and chains of them.

One module per family: :mod:`.codec` (JPEG, WebP, metadata), :mod:`.geometric`
(resize, scale, resize to a long side, crops, rotation, flip), :mod:`.filters` (blur,
median, noise, salt and pepper), :mod:`.colour` (brightness, contrast, saturation, hue)
and :mod:`.occlusion` (dropout, cropout, text). OpenCV loads only inside the attacks that use it.

>>> import numpy as np
>>> rgb = np.full((32, 48, 3), 128, np.uint8)
>>> apply_chain(rgb, [("jpeg", 50), ("crop-edge", 0.25)], seed=0).shape
(16, 24, 3)
>>> preset_chain("crop80+resize")
[('crop', 0.8)]
"""

from __future__ import annotations

from .base import Attack
from .registry import (GROUPS, PRESETS, REFERENCE, REGISTRY, apply_attack, apply_chain, attack, check_chain,
                       get_attack, preset_chain)

__all__ = ["Attack", "GROUPS", "PRESETS", "REFERENCE", "REGISTRY", "apply_attack", "apply_chain", "attack",
           "check_chain", "get_attack", "preset_chain"]
