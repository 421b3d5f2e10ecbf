"""`extract --raw` reads raw bits at the alignment a reader picks (the most confident of the
sync grid, as `wmark bench` scores them), with the packaged default model on a small synthetic photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wmark import api, payload, zoo
from wmark.attacks import apply_chain, preset_chain
from wmark.sync import confidence, most_confident
from helpers import invoke, records

MODEL = "wmark-v3"  # 100 raw bits at 128x128; marks of it must stay readable whatever the default becomes
STRENGTH = 2.0  # wmark-v3's mark holds the crop columns here (benchmarks/frontier.py); at 1 it is fainter


def synthetic(side: int = 192, seed: int = 0) -> np.ndarray:
    """Stripes, a ramp and grain: texture enough to carry a mark, no photo needed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side]
    channels = [128 + 60 * np.sin(x / 9.0), 128 + 50 * np.cos(y / 7.0), 110 + 0.4 * x]
    return np.stack([c + rng.normal(0, 12, x.shape) for c in channels], -1).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def marked() -> tuple[np.ndarray, np.ndarray]:
    """(a synthetic photo marked with 100 random raw bits by the encoder, the bits)."""
    if MODEL not in zoo.MODELS:
        pytest.skip(f"{MODEL} is not packaged")
    bits = np.random.default_rng(1).integers(0, 2, zoo.get_entry(MODEL).bits).astype(np.uint8)
    result = api.embed(synthetic(), api.Message.from_bits(bits), model=MODEL, method="encoder", strength=STRENGTH,
                       check=False, device="cpu")
    return result.image, bits


def accuracy(read: str | np.ndarray, bits: np.ndarray) -> float:
    read = np.array([int(b) for b in read], np.uint8) if isinstance(read, str) else np.asarray(read, np.uint8)
    return float(np.mean(read == bits))


@pytest.mark.parametrize("preset", ["crop10edge", "crop80+resize"])
def test_raw_bits_are_read_at_the_most_confident_alignment(marked, preset, tmp_path: Path) -> None:
    image, bits = marked
    attacked = apply_chain(image, preset_chain(preset), seed=0)
    path = tmp_path / "cropped.png"
    Image.fromarray(attacked).save(path)

    rows, _ = api.decode_probabilities(attacked, model=MODEL, device="cpu")
    assert accuracy(rows[0] > 0.5, bits) < 0.7  # the photo as it is reads near chance
    chosen = most_confident(rows)
    assert chosen != 0 and confidence(rows)[chosen] == confidence(rows).max()

    raw = invoke("extract", path, "--raw", "--model", MODEL, "--device", "cpu")
    assert raw.exit_code == 0, raw.output  # the bits were printed: exit 0, though no message decodes
    printed = raw.stdout.strip()
    assert len(printed) == bits.size and accuracy(printed, bits) >= 0.95
    assert printed == "".join(map(str, (rows[chosen] > 0.5).astype(int)))  # the row bench scores

    as_json = invoke("extract", path, "--json", "--model", MODEL, "--device", "cpu")
    (record,) = records(as_json)
    assert as_json.exit_code == 1 and record["found"] is False  # no message: exit 1 without --raw
    assert record["bits"] == printed and record["confidence"] == pytest.approx(confidence(rows)[chosen], abs=1e-4)
    raw_json = invoke("extract", path, "--raw", "--json", "--model", MODEL, "--device", "cpu")
    assert raw_json.exit_code == 0 and records(raw_json)[0]["bits"] == printed


def test_the_library_reports_the_same_alignment(marked) -> None:
    image, bits = marked
    attacked = apply_chain(image, preset_chain("crop10edge"), seed=0)
    result = api.extract(attacked, model=MODEL, device="cpu")
    assert not result.found and accuracy(result.bits, bits) >= 0.95
    assert result.confidence == pytest.approx(float(confidence(result.probabilities[None])[0]))
    unsearched = api.extract(attacked, model=MODEL, device="cpu", search=False)
    assert accuracy(unsearched.bits, bits) < 0.7  # without the grid: the photo as it is


def test_a_message_still_reads_at_its_own_alignment(tmp_path: Path) -> None:
    if MODEL not in zoo.MODELS:
        pytest.skip(f"{MODEL} is not packaged")
    image = api.embed(synthetic(seed=2), "owner", model=MODEL, method="encoder", strength=STRENGTH, check=False,
                      device="cpu").image
    attacked = apply_chain(image, preset_chain("crop10edge"), seed=0)
    result = api.extract(attacked, model=MODEL, device="cpu")
    assert result.found and result.text == "owner"
    expected = payload.encode(payload.Message.from_text("owner"), zoo.get_entry(MODEL).bits)
    assert accuracy(result.bits, expected) >= 0.95  # the bits of the alignment it decoded at
