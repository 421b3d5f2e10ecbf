"""The perceptual mask and the one embedding path: the JND heatmap, the per-pixel budget,
and the strength ladder of ``auto``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wmark import api, mask
from wmark.geometry import PEAK, masked_mark, masked_mark_torch


def flat(value: int = 128, shape: tuple[int, int] = (96, 96)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def textured(amplitude: float, seed: int = 0, shape: tuple[int, int] = (96, 96)) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 1, shape)
    return np.repeat(np.clip(128 + amplitude * noise, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def test_a_flat_mid_grey_photo_gets_a_small_budget_and_texture_and_darkness_more():
    grey = mask.heatmap(flat(128))
    assert grey.shape == (96, 96) and grey.dtype == np.float32
    assert grey.max() == pytest.approx(3.0, abs=0.1)  # Chou-Li's floor at mid-grey
    assert mask.heatmap(flat(10)).mean() > 3 * grey.mean()  # dark areas hide more
    assert mask.heatmap(flat(240)).mean() > grey.mean()  # ... and bright ones a little
    assert mask.heatmap(textured(30)).mean() > 3 * grey.mean()  # texture hides most


def test_the_heatmap_rises_with_local_contrast():
    means = [float(mask.heatmap(textured(amplitude)).mean()) for amplitude in (0, 2, 5, 10, 20, 40)]
    assert means == sorted(means) and means[-1] > means[0] + 5


def test_the_torch_heatmap_is_the_numpy_one(kodak_rgb):
    batch = torch.from_numpy(kodak_rgb.copy()).permute(2, 0, 1)[None].float() / 255
    assert np.allclose(mask.heatmap_torch(batch)[0, 0].numpy(), mask.heatmap(kodak_rgb), atol=2e-3)


def test_the_mark_never_exceeds_the_budget_and_a_flat_photo_changes_less(kodak_rgb):
    unit = np.random.default_rng(1).normal(0, 1, (64, 64, 1)).astype(np.float32)
    for photo in (kodak_rgb, flat(128, kodak_rgb.shape[:2])):
        mark = masked_mark(unit, photo, strength=2.0)
        assert mark.shape == photo.shape and mark.dtype == np.float32
        assert np.all(np.abs(mark) <= mask.budget(photo, 2.0)[:, :, None] + 1e-4)
        assert np.array_equal(mark[..., 0], mark[..., 2])  # a luma residual stays luma
    busy = np.abs(masked_mark(unit, kodak_rgb, 1.0)).mean()
    plain = np.abs(masked_mark(unit, flat(128, kodak_rgb.shape[:2]), 1.0)).mean()
    assert busy > 2 * plain
    assert np.allclose(masked_mark(unit, kodak_rgb, 3.0), 3 * masked_mark(unit, kodak_rgb, 1.0), atol=1e-4)


def test_the_training_path_is_the_embedding_path(kodak_rgb):
    """masked_mark_torch (training) and masked_mark (embed) make the same mark."""
    unit = np.random.default_rng(2).normal(0, 1, (64, 64, 1)).astype(np.float32)
    covers = torch.from_numpy(kodak_rgb.copy()).permute(2, 0, 1)[None].float() / 255
    trained = masked_mark_torch(torch.from_numpy(unit).permute(2, 0, 1)[None], covers, 1.0)[0].permute(1, 2, 0)
    embedded = masked_mark(unit, kodak_rgb, 1.0) / 255
    assert trained.shape == embedded.shape
    # Bicubic in torch and OpenCV differ a little at the borders; the budget is the same.
    assert np.abs(trained.numpy() - embedded).mean() < 0.05 * np.abs(embedded).mean()
    assert PEAK > 1


def test_a_textured_photo_gets_a_fainter_strength_than_a_flat_one(kodak_rgb):
    """auto's ladder keeps the faintest strength whose mark passes its checks (JPEG 50 among
    them): kodim01's texture holds wmark-v3's mark lower on the ladder than a flat grey,
    whose budget is small everywhere; without the self-check, the ceiling."""
    from wmark.ismark import IsmarkOptions

    quick = IsmarkOptions(iterations=2, target_psnr=None)
    busy = api.embed(kodak_rgb, "hi", model="wmark-v3", strength=4.0, ismark=quick)
    plain_photo = flat(128, kodak_rgb.shape[:2])
    plain = api.embed(plain_photo, "hi", model="wmark-v3", strength=4.0, ismark=quick)
    assert (busy.method, plain.method) == ("encoder", "encoder") and busy.robust and plain.robust
    assert busy.strength == pytest.approx(4.0 * api.LADDER[0]) and busy.strength < plain.strength <= 4.0
    assert api.embed(kodak_rgb, "hi", model="wmark-v3", strength=4.0, check=False).strength == 4.0


def test_a_faint_rung_is_kept_only_with_a_margin(kodak_rgb, monkeypatch):
    """A rung under the ceiling must read its bits after a crop of a JPEG within
    FAINT_MARGIN; with no margin good enough, the same photo is marked at the ceiling."""
    monkeypatch.setattr(api, "FAINT_MARGIN", -1.0)
    ceiling = api.embed(kodak_rgb, "hi", model="wmark-v3", strength=4.0)
    assert (ceiling.method, ceiling.strength) == ("encoder", 4.0) and ceiling.robust


def test_auto_edits_the_output_as_it_will_be_saved(kodak_rgb, monkeypatch):
    """With a lossy output, auto's edits are made to the JPEG of the mark at that quality."""
    saved = []
    plain = api.as_saved
    monkeypatch.setattr(api, "as_saved", lambda rgb, quality: saved.append(quality) or plain(rgb, quality))
    api.embed(kodak_rgb, "hi", model="wmark-v3", strength=4.0)
    assert saved == []
    result = api.embed(kodak_rgb, "hi", model="wmark-v3", strength=4.0, saved_quality=80)
    assert saved and set(saved) == {80} and result.robust


def test_the_margin_also_reads_after_webp(kodak_rgb, monkeypatch):
    """A faint mark that a WebP copy loses has no margin, whatever the crop of a JPEG reads."""
    from wmark.attacks import registry

    marked = api.embed(kodak_rgb, "hi", model="wmark-v3", strength=4.0, method="encoder")
    net, _, device = api._model("wmark-v3", "cpu")
    assert api._has_margin(np.asarray(marked.image), net, marked.bits, device)
    plain = registry.apply_attack
    monkeypatch.setattr(registry, "apply_attack", lambda name, rgb, value: (
        kodak_rgb if name == "webp" else plain(name, rgb, value)))
    assert not api._has_margin(np.asarray(marked.image), net, marked.bits, device)


def test_a_photo_without_room_for_a_mark_is_told_why(kodak_rgb):
    heat = mask.heatmap(flat(128, (40, 300)))
    assert "tiny" in api.weak_reason(flat(128, (40, 300)), heat, 128)
    assert "flat" in api.weak_reason(flat(128, (40, 300)), heat, 128)
    assert api.weak_reason(kodak_rgb, mask.heatmap(kodak_rgb), 128).startswith("its content")
