"""Packaged models: a registry of name -> weights file, full sha256 and figures.

Weights are found in ``models/`` of a source checkout, or inside an installed wheel
(``wmark/models_data``), or in ``$WMARK_MODELS_DIR``. Every load checks the full
sha256 and uses ``torch.load(weights_only=True)`` with strict state-dict keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelError, PayloadError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .models.network import WatermarkModel
    from .payload import Capacity, Message

DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class ZooEntry:
    """One packaged model."""

    name: str
    version: int
    file: str
    sha256: str
    bits: int
    size: int
    summary: str
    metrics: dict[str, float] = field(default_factory=dict)
    # Trained through the perceptual mask (wmark.geometry's masked path)? Every model embeds
    # through it; one trained without it was made for an unmasked residual of fixed energy.
    mask_trained: bool = False


INDEX = "zoo.json"  # written by scripts/package_model.py; never edited by hand


def models_dirs() -> list[Path]:
    """Folders searched for weight files, first match wins."""
    here = Path(__file__).resolve().parent
    dirs = [here / "models_data", here.parent / "models"]
    if os.environ.get("WMARK_MODELS_DIR"):
        dirs.insert(0, Path(os.environ["WMARK_MODELS_DIR"]))
    return dirs


def _read_index() -> tuple[dict[str, ZooEntry], str | None]:
    """Entries of the first ``zoo.json`` found in :func:`models_dirs` (the first entry is
    the default), and the reason it could not be read, if any."""
    for folder in models_dirs():
        index = folder / INDEX
        if index.is_file():
            try:
                data = json.loads(index.read_text(encoding="utf-8"))
                entries = [ZooEntry(**item) for item in data["models"]]
            except (OSError, ValueError, KeyError, TypeError) as error:
                return {}, f"cannot read the model index {index}: {error}"
            return {entry.name: entry for entry in entries}, None
    return {}, None


# The packaged models; their figures are measured by the command in models/MODEL_CARD.md.
MODELS, _INDEX_ERROR = _read_index()


def get_entry(name: str) -> ZooEntry:
    """Registry entry for ``name`` (``default`` is an alias); ModelError when unknown."""
    if not MODELS and _INDEX_ERROR:
        raise ModelError(_INDEX_ERROR)
    if name == DEFAULT_MODEL and DEFAULT_MODEL not in MODELS and MODELS:
        return next(iter(MODELS.values()))
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS)) or "none"
        raise ModelError(f"unknown model {name!r} (packaged: {known})") from None


def capacity_of(entry: ZooEntry) -> "Capacity | None":
    """The payload layout of ``entry``'s raw bits (:func:`wmark.payload.capacity`), None when
    they are too few or too many for a protected message (raw bits only)."""
    from .payload import capacity

    try:
        return capacity(entry.bits)
    except PayloadError:
        return None


def _carries(entry: ZooEntry, message: "Message") -> bool:
    from .payload import encode

    try:
        encode(message, entry.bits, model=entry.name)
    except PayloadError:
        return False
    return True


def _room(entry: ZooEntry, message: "Message") -> str:
    """What ``entry`` holds, said for ``message``: ``takes 64`` (raw bits), ``holds 16 (20 characters)``."""
    from .payload import alphabet_of

    if message.kind == "bits":
        return f"takes {entry.bits}"
    cap = capacity_of(entry)
    room = f"holds {cap.max_bytes if cap else 0}"
    alphabet = alphabet_of(message)
    if cap is not None and alphabet is not None and cap.max_chars(alphabet.name) > cap.max_bytes:
        room += f" ({cap.max_chars(alphabet.name)} characters)"
    return room


def check_fits(message: "Message", name: str = DEFAULT_MODEL, *, option: str = "--model") -> ZooEntry:
    """The entry of model ``name``, checked to carry ``message``.

    ModelError (exit 5) for an unknown model; PayloadError (exit 2) when the message does not
    fit, naming the packaged models that would hold it: ``message is 16 bytes; model 'wmark-v3'
    holds at most 5 (7 characters of plain ASCII); 'wmark-v4' holds 16 (20 characters): use
    --model wmark-v4`` (``option`` is how the hint names the choice).
    """
    from .payload import encode

    entry = get_entry(name)
    try:
        encode(message, entry.bits, model=entry.name)
        return entry
    except PayloadError as error:
        reason = str(error)
    holders = [other for other in MODELS.values() if other.name != entry.name and _carries(other, message)]
    if holders:
        rooms = ", ".join(f"{other.name!r} {_room(other, message)}" for other in holders)
        raise PayloadError(f"{reason}; {rooms}: use {option} {holders[0].name}")
    if len(MODELS) > 1:
        raise PayloadError(f"{reason}; no packaged model holds it")
    raise PayloadError(reason)


def weights_path(entry: ZooEntry) -> Path:
    for folder in models_dirs():
        candidate = folder / entry.file
        if candidate.is_file():
            return candidate
    raise ModelError(f"weights for model {entry.name!r} not found ({entry.file})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_weights(path: Path, sha256: str | None = None, device: str | "torch.device" = "cpu") -> "WatermarkModel":
    """Build a model from a weights file (config + state dict), checking its sha256."""
    import pickle

    import torch

    from .models.network import ModelConfig, WatermarkModel

    path = Path(path)
    if sha256 is not None:
        try:
            actual = sha256_of(path)
        except OSError as error:
            raise ModelError(f"cannot read model weights {path}: {error.strerror or error}") from None
        if actual != sha256:
            raise ModelError(f"model weights {path.name} fail their sha256 check (expected {sha256[:12]}…, "
                             f"got {actual[:12]}…): the file is damaged or was tampered with")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols: noise on stderr
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:  # weights_only met something that is not plain data
        found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", str(error))  # the callable it refused
        if found:
            raise ModelError(f"cannot load model weights {path.name}: it holds Python objects ({found.group(1)}), "
                             "not only tensors (refused: unpickling them could run code)") from None
        raise ModelError(f"cannot load model weights {path.name}: damaged, or not a weights file") from None
    except Exception as error:  # torch: RuntimeError, EOFError, KeyError, ... on a damaged file
        raise ModelError(f"cannot load model weights {path.name}: damaged, or not a weights file "
                         f"({_first_line(error)})") from None
    try:
        config = ModelConfig.from_dict(saved["config"])
        model = WatermarkModel(config)
        model.load_state_dict(saved["state_dict"], strict=True)
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as error:
        raise ModelError(f"cannot load model weights {path.name}: {_first_line(error)}") from None
    return model.to(device).eval()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_model(name: str = DEFAULT_MODEL, device: str = "cpu") -> "WatermarkModel":
    """The packaged model ``name`` on ``device``, verified and in eval mode (cached: ``default``
    and the name it stands for share one copy).

    On a GPU it comes as a :class:`wmark.batching.BatchedModel`: photos processed at
    once by several threads share its passes.
    """
    return _loaded(get_entry(name).name, device)


@lru_cache(maxsize=8)
def _loaded(name: str, device: str) -> "WatermarkModel":
    from . import batching

    entry = get_entry(name)
    model = load_weights(weights_path(entry), entry.sha256, device)
    return batching.BatchedModel(model) if device in batching.BATCHED_DEVICES else model  # type: ignore[return-value]


def forget_loaded() -> None:
    """Drop the cached models (tests, and after the zoo changed)."""
    _loaded.cache_clear()


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> cuda, then mps, then cpu; other names are checked for availability."""
    import torch

    from .errors import UsageError

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps: no MPS device is available")
    if device not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unknown device {device!r} (choose auto, cpu, cuda or mps)")
    return device
