"""Shared fixtures: a few small real photos.

``tests/data/`` holds three Kodak photos (kodim01, kodim04 portrait, kodim23),
downscaled to at most 256 px. Kodak's images are unrestricted; no other photo from
``../shared/data`` may be copied into the repository (many are research-only).
The arrays are read-only: an attack or a model that writes into its input fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"


def pytest_configure(config) -> None:
    """One torch thread: the models here are tiny, and on a busy machine extra threads
    spin against each other and run a hundred times slower."""
    import torch

    torch.set_num_threads(1)
KODAK = ("kodim01.png", "kodim04.png", "kodim23.png")


def _read_only_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        rgb = np.array(image.convert("RGB"))
    rgb.setflags(write=False)
    return rgb


@pytest.fixture(scope="session")
def kodak_paths() -> list[Path]:
    """The three Kodak test photos (PNG, ≤ 256 px); do not write beside them."""
    return [DATA / name for name in KODAK]


@pytest.fixture(scope="session")
def kodak_path(kodak_paths: list[Path]) -> Path:
    """kodim01 (256×171, landscape, detailed texture)."""
    return kodak_paths[0]


@pytest.fixture(scope="session")
def kodak_rgbs(kodak_paths: list[Path]) -> list[np.ndarray]:
    """The three photos as read-only H×W×3 uint8 arrays (171×256, 256×171, 171×256)."""
    return [_read_only_rgb(path) for path in kodak_paths]


@pytest.fixture(scope="session")
def kodak_rgb(kodak_rgbs: list[np.ndarray]) -> np.ndarray:
    """kodim01 as a read-only 171×256×3 uint8 array."""
    return kodak_rgbs[0]


@pytest.fixture
def kodak_file(tmp_path: Path, kodak_path: Path) -> Path:
    """A fresh copy of kodim01 in ``tmp_path`` (``photo.png``), free to write beside."""
    target = tmp_path / "photo.png"
    shutil.copyfile(kodak_path, target)
    return target


# Loud (15 dB) so that, untrained, its matched spread code already reads a clean mark back:
# the found / not-found paths of the commands can be tested without the packaged model.
TINY_MODEL = dict(bits=64, size=64, patch=8, channels=8, encoder_blocks=1, decoder_blocks=1, spread=True, psnr=15)


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny randomly initialised model (64 bits, 64x64 working size, 15 dB), in eval mode."""
    import torch

    from wmark.models.network import ModelConfig, WatermarkModel

    torch.manual_seed(0)
    return WatermarkModel(ModelConfig(**TINY_MODEL)).eval()


# Random weights read only a loud mark (about 15-20 dB): tests of tiny models run with this
# mask gain in place of wmark.mask.GAIN.
TINY_GAIN = 8.0


@contextmanager
def loud_mask() -> Iterator[None]:
    """wmark.mask.GAIN set to :data:`TINY_GAIN` within (for fixtures of a wider scope)."""
    from wmark import mask

    before, mask.GAIN = mask.GAIN, TINY_GAIN
    try:
        yield
    finally:
        mask.GAIN = before


@pytest.fixture(autouse=True)
def _loud_mask_for_tiny_models(request):
    if {"tiny_model", "tiny_zoo"} & set(request.fixturenames):
        with loud_mask():
            yield
    else:
        yield


@pytest.fixture
def tiny_zoo(tmp_path_factory, tiny_model, monkeypatch):
    """The tiny model registered as the zoo's only model (``tiny``), weights in a temp folder."""
    import torch

    from wmark import zoo

    folder = tmp_path_factory.mktemp("models")
    path = folder / "tiny.pt"
    torch.save({"config": tiny_model.cfg.to_dict(), "state_dict": tiny_model.state_dict()}, path)
    entry = zoo.ZooEntry(name="tiny", version=1, file="tiny.pt", sha256=zoo.sha256_of(path), bits=64, size=64,
                         summary="random weights, for tests")
    monkeypatch.setenv("WMARK_MODELS_DIR", str(folder))
    monkeypatch.setattr(zoo, "MODELS", {"tiny": entry})
    zoo.forget_loaded()
    yield entry
    zoo.forget_loaded()


@pytest.fixture(scope="session")
def console_script() -> str:
    """The installed ``wmark`` console script (beside this Python, else on PATH); skips without one."""
    import sys

    script = Path(sys.executable).with_name("wmark")
    found = str(script) if script.exists() else shutil.which("wmark")
    if found is None:
        pytest.skip("the `wmark` console script is not installed (pip install -e .)")
    return found
