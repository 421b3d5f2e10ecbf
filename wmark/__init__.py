"""wmark: hide a short, error-corrected message in a photo and read it back.

The library functions are imported lazily (PEP 562) so that ``import wmark`` and
``wmark --help`` stay fast: torch, OpenCV and NumPy load on first use.

>>> import wmark
>>> wmark.__version__ != ""
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> (module, attribute): resolved on first access.
_LAZY = {
    "embed": ("wmark.api", "embed"),
    "extract": ("wmark.api", "extract"),
    "verify": ("wmark.api", "verify"),
    "attack": ("wmark.attacks", "attack"),
    "IsmarkOptions": ("wmark.ismark", "IsmarkOptions"),
    "psnr": ("wmark.metrics", "psnr"),
    "ssim": ("wmark.metrics", "ssim"),
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from .api import embed as embed, extract as extract, verify as verify  # re-exported (``__all__``)
    from .attacks import attack as attack
    from .ismark import IsmarkOptions as IsmarkOptions
    from .metrics import psnr as psnr, ssim as ssim


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'wmark' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
