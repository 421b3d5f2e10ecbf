"""The registry entry: one attack, its CLI option, its range and its implementations.

No NumPy here, so that ``wmark --help`` builds its options without loading it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

Value = Any  # int, float or str, as the entry's ``type`` says
RealAttack = Callable[["np.ndarray", Value, "np.random.Generator"], "np.ndarray"]


@dataclass(frozen=True)
class Attack:
    """One attack: its CLI option, its valid range and its implementations.

    ``real`` takes H×W×3 uint8 RGB, the value and a ``numpy.random.Generator`` and
    returns uint8 RGB (a new array; crops and scales may change the size).
    ``differentiable`` names the torch version (``"module:function"``, BCHW float in
    [0, 1]) where training has one. For a ``str`` attack, ``low``/``high`` bound the
    length of the text. ``strips_metadata``: a true value drops a loaded image's
    metadata (EXIF, ICC, XMP, DPI) in :func:`wmark.attacks.apply_chain`.
    """

    name: str
    help: str
    param: str
    type: type
    low: float | int
    high: float | int
    real: RealAttack
    differentiable: str | None = None
    strips_metadata: bool = False

    def check(self, value: Value) -> Value:
        """``value`` converted to ``type`` and checked against the range (UsageError)."""
        option = f"--{self.name}"
        if self.type is str:
            text = str(value)
            if not self.low <= len(text) <= self.high:
                raise UsageError(f"{option} {self.param} must be {self.low} to {self.high} characters long")
            return text
        try:
            number = float(value)
            if self.type is int and not number.is_integer():
                raise ValueError
            converted = self.type(number)
        except (TypeError, ValueError, OverflowError):
            raise UsageError(f"{option} {self.param} must be {'an integer' if self.type is int else 'a number'}"
                             f" (got {value!r})") from None
        if not (math.isfinite(number) and self.low <= number <= self.high):
            raise UsageError(f"{option} {self.param} must be between {self.low:g} and {self.high:g} (got {value!r})")
        return converted
