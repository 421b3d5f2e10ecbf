"""Differentiable noise layers (wmark.noise): every layer keeps the batch's shape (and
the [0,1] range where it should), lets gradients reach its input (straight-through ones
included), does what its name says at the obvious parameter values; the mixer applies
every training noise and its curriculum favours the weakest one."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch

from wmark.noise import TRAINING_NOISES, NoiseMixer, NoiseSpec
from wmark.noise import layers as L

B, H, W = 3, 40, 56  # not multiples of 16: exercises the JPEG paddings


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def batch(kodak_rgb) -> torch.Tensor:
    """Three crops of kodim01 with a faint mark-like noise: real texture, off the 8-bit
    grid (like a marked image before quantisation), strictly inside (0, 1)."""
    rgb = torch.from_numpy(np.array(kodak_rgb)).permute(2, 0, 1).float() / 255
    crops = torch.stack([rgb[:, 10:10 + H, 20:20 + W], rgb[:, 60:60 + H, 100:100 + W],
                         rgb[:, 120:120 + H, 180:180 + W]])
    return 0.01 + 0.98 * crops + 0.004 * (torch.rand(crops.shape, generator=gen(42)) - 0.5)


def per_sample(*values: float) -> torch.Tensor:
    return torch.tensor(values)


# name -> (layer as a function of the batch, output stays in [0,1], straight-through)
LAYERS = {
    "quantize": (lambda x: L.quantize(x), True, True),
    "jpeg_real": (lambda x: L.jpeg_real(x, per_sample(30, 60, 90)), True, True),
    "jpeg_real-float": (lambda x: L.jpeg_real(x, 50), True, True),
    "webp": (lambda x: L.webp(x, per_sample(30, 60, 90)), True, True),
    "jpeg_simulated": (lambda x: L.jpeg_simulated(x, per_sample(30, 60, 90)), True, False),
    "jpeg_mask": (lambda x: L.jpeg_mask(x), False, False),
    "jpeg-real": (lambda x: L.jpeg(x, 50, "real"), True, True),
    "jpeg-simulated": (lambda x: L.jpeg(x, 50.0, "simulated"), True, False),
    "jpeg-mask": (lambda x: L.jpeg(x, 50, "mask"), False, False),
    "resize": (lambda x: L.resize(x, 0.5), True, False),
    "affine": (lambda x: L.affine(x, per_sample(0.8, 1.0, 1.2), per_sample(5, -10, 0), torch.tensor(
        [[0.1, 0.0], [0.0, -0.1], [0.05, 0.05]])), True, False),
    "jitter": (lambda x: L.jitter(x, per_sample(0.5, 1.0, 1.0), gen(2)), True, False),
    "border": (lambda x: L.border(x, per_sample(0.7, 0.8, 0.95)), True, False),
    "rotate": (lambda x: L.rotate(x, per_sample(-3, 2, 15)), True, False),
    "blur": (lambda x: L.blur(x, per_sample(0.3, 1.0, 1.6)), True, False),
    "median": (lambda x: L.median(x, 5), True, True),
    "gaussian_noise": (lambda x: L.gaussian_noise(x, per_sample(0.01, 0.02, 0.04), gen(3)), False, False),
    "salt_pepper": (lambda x: L.salt_pepper(x, per_sample(0.02, 0.05, 0.1), gen(4)), True, False),
    "brightness": (lambda x: L.brightness(x, per_sample(0.7, 1.0, 1.4)), False, False),
    "contrast": (lambda x: L.contrast(x, per_sample(0.6, 1.0, 1.5)), False, False),
    "saturation": (lambda x: L.saturation(x, per_sample(0.0, 0.5, 1.5)), False, False),
    "hue": (lambda x: L.hue(x, per_sample(-20, 5, 20)), True, False),
    "dropout": (lambda x: L.dropout(x, torch.full_like(x, 0.5), per_sample(0.5, 0.7, 0.9), gen(5)), True, False),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_keeps_shape_and_range(name, batch):
    fn, in_range, _ = LAYERS[name]
    before = batch.clone()
    out = fn(batch)
    assert out.shape == batch.shape
    assert out.dtype == batch.dtype
    assert torch.isfinite(out).all()
    torch.testing.assert_close(batch, before, atol=0, rtol=0)  # the input is not written to
    if in_range:
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6, (float(out.min()), float(out.max()))
    assert (out - batch).abs().max() > 1e-3, "the layer should change the batch at these parameters"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradient_reaches_the_input(name, batch):
    fn, _, straight = LAYERS[name]
    x = batch.clone().requires_grad_(True)
    weight = torch.rand(x.shape, generator=gen(9)) - 0.5  # a generic loss, not just the sum
    (fn(x) * weight).sum().backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    if straight:  # the identity's gradient, whatever the codec did in the forward pass
        torch.testing.assert_close(x.grad, weight)


def test_luma_is_a_grey_channel_with_gradient(batch):
    x = batch.clone().requires_grad_(True)
    y = L.luma(x)
    assert y.shape == (B, 1, H, W)
    torch.testing.assert_close(L.luma(torch.ones(1, 3, 2, 2)), torch.ones(1, 1, 2, 2))
    y.sum().backward()
    torch.testing.assert_close(x.grad[0, :, 0, 0], torch.tensor([0.299, 0.587, 0.114]))


def test_straight_through_forward_value_and_identity_gradient():
    x = torch.tensor([0.2, 0.7], requires_grad=True)
    y = torch.tensor([1.0, -1.0])
    out = L.straight_through(x, y)
    torch.testing.assert_close(out.detach(), y)
    (out * torch.tensor([2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([2.0, 3.0]))


def test_quantize_rounds_to_8_bit_levels_and_clamps():
    x = torch.tensor([-0.3, 0.0, 0.1234, 0.5, 0.99, 1.7])
    q = L.quantize(x)
    assert q.min() == 0 and q.max() == 1
    torch.testing.assert_close(q * 255, torch.round(q * 255), atol=1e-4, rtol=0)
    assert (q - x.clamp(0, 1)).abs().max() <= 0.5 / 255 + 1e-7


def test_saturation_zero_gives_grey(batch):
    grey = L.saturation(batch, 0)
    torch.testing.assert_close(grey[:, 0], grey[:, 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(grey[:, 1], grey[:, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(L.saturation(batch, 1.0), batch)
    # Per sample: only the first image of the batch becomes grey.
    mixed = L.saturation(batch, per_sample(0, 1, 1))
    assert (mixed[0, 0] - mixed[0, 2]).abs().max() < 1e-6
    torch.testing.assert_close(mixed[1:], batch[1:])


def test_border_keeps_the_centre_exactly(batch):
    keep = per_sample(0.5, 0.7, 1.0)
    out = L.border(batch, keep)
    # Centre of image 0: the middle half of each side, pixels whose centre is inside.
    assert torch.equal(out[0, :, 10:30, 14:42], batch[0, :, 10:30, 14:42])
    mean = batch[0].mean(dim=(1, 2))
    torch.testing.assert_close(out[0, :, 0, 0], mean)
    torch.testing.assert_close(out[0, :, -1, -1], mean)
    torch.testing.assert_close(out[0, :, 9, 20], mean)  # just above the kept rows
    assert torch.equal(out[1, :, 8:32, 11:45], batch[1, :, 8:32, 11:45])
    assert torch.equal(out[2], batch[2])  # keep = 1: untouched


def test_identity_parameters_are_the_identity(batch):
    n = torch.zeros(B)
    torch.testing.assert_close(L.rotate(batch, 0.0), batch, atol=1e-5, rtol=0)
    torch.testing.assert_close(L.affine(batch, torch.ones(B), n, torch.zeros(B, 2)), batch, atol=1e-5, rtol=0)
    torch.testing.assert_close(L.jitter(batch, 0.0, gen()), batch, atol=1e-5, rtol=0)
    torch.testing.assert_close(L.resize(batch, 1.0), batch, atol=1e-5, rtol=0)
    torch.testing.assert_close(L.brightness(batch, 1.0), batch)
    torch.testing.assert_close(L.contrast(batch, 1.0), batch)
    torch.testing.assert_close(L.hue(batch, 0.0), batch, atol=1e-4, rtol=0)
    torch.testing.assert_close(L.gaussian_noise(batch, 0.0, gen()), batch)
    torch.testing.assert_close(L.salt_pepper(batch, 0.0, gen()), batch)
    torch.testing.assert_close(L.dropout(batch, torch.zeros_like(batch), 1.0, gen()), batch)
    torch.testing.assert_close(L.dropout(batch, torch.zeros_like(batch), 0.0, gen()), torch.zeros_like(batch))


def test_jpeg_mask_keeps_low_frequencies():
    flat = torch.rand(2, 3, 1, 1, generator=gen(6)).expand(2, 3, 24, 40).contiguous()
    torch.testing.assert_close(L.jpeg_mask(flat), flat, atol=1e-5, rtol=0)
    # Grey blocks (luma only): DCT basis (2, 3) is kept (5x5 of Y), basis (6, 6) is dropped.
    d = L.dct_matrix(8)
    low, high = torch.outer(d[2], d[3]), torch.outer(d[6], d[6])
    image = (0.5 + low + high).repeat(2, 3).expand(1, 3, 16, 24)
    torch.testing.assert_close(L.jpeg_mask(image), (0.5 + low).repeat(2, 3).expand(1, 3, 16, 24), atol=1e-5, rtol=0)
    # Chroma keeps only 3x3: a colour pattern at (3, 0) goes, the same pattern in grey stays.
    pattern = torch.outer(d[3], d[0]).repeat(2, 2)
    colour = torch.stack([0.5 + pattern, 0.5 - pattern, 0.5 + pattern]).unsqueeze(0)
    out = L.jpeg_mask(colour)
    assert (out - colour).abs().max() > 0.05
    grey = (0.5 + pattern).expand(1, 3, 16, 16)
    torch.testing.assert_close(L.jpeg_mask(grey), grey, atol=1e-5, rtol=0)


def test_jpeg_real_matches_the_codec_and_gets_worse_with_quality(batch):
    err = {q: float((L.jpeg_real(batch, q) - batch).abs().mean()) for q in (20, 95)}
    assert err[20] > err[95] > 0
    out = L.jpeg_real(batch, 75)
    torch.testing.assert_close(out * 255, torch.round(out * 255), atol=1e-3, rtol=0)  # decoded 8-bit values
    sim = L.jpeg_simulated(batch, 20)
    assert float((sim - batch).abs().mean()) > float((L.jpeg_simulated(batch, 95) - batch).abs().mean())


def test_median_removes_salt_and_pepper(batch):
    noisy = L.salt_pepper(batch, 0.05, gen(7))

    def extreme(x):  # fraction of black or white pixels
        return float(((x <= 0) | (x >= 1)).all(dim=1).float().mean())

    assert extreme(batch) == 0 and 0.04 < extreme(noisy) < 0.06
    assert extreme(L.median(noisy, 3)) < 0.002


def test_blur_and_resize_remove_high_frequencies(batch):
    def hf(x):
        return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean())

    assert hf(L.blur(batch, 1.5)) < hf(batch) / 2
    assert hf(L.resize(batch, 0.35)) < hf(batch) / 1.5


def test_random_layers_follow_their_generator(batch):
    for fn in (lambda g: L.gaussian_noise(batch, 0.03, g), lambda g: L.salt_pepper(batch, 0.05, g),
               lambda g: L.jitter(batch, 1.0, g),
               lambda g: L.dropout(batch, torch.zeros_like(batch), 0.5, g)):
        assert torch.equal(fn(gen(11)), fn(gen(11)))
        assert not torch.equal(fn(gen(11)), fn(gen(12)))


def test_salt_pepper_amount(batch):
    out = L.salt_pepper(batch, 0.2, gen(8))
    hit = ((out == 0) | (out == 1)).all(dim=1) & ~((batch == 0) | (batch == 1)).all(dim=1)
    assert 0.15 < float(hit.float().mean()) < 0.25


# --- the mixer -------------------------------------------------------------------------

@pytest.mark.parametrize("spec", TRAINING_NOISES, ids=[s.name for s in TRAINING_NOISES])
@pytest.mark.parametrize("ramp", [0.0, 1.0])
def test_every_training_noise_applies_through_the_mixer(spec, ramp, batch):
    random.seed(0)  # the JPEG noise picks real / simulated / mask with python's random
    mixer = NoiseMixer(seed=0)
    x = batch.clone().requires_grad_(True)
    cover = batch.flip(-1)
    out = mixer(x, cover, ramp, [[spec.name]] * B)
    assert out.shape == batch.shape
    assert out.min() >= 0 and out.max() <= 1  # the mixer quantises after each slot
    torch.testing.assert_close(out * 255, torch.round(out * 255), atol=1e-3, rtol=0)
    (out * (torch.rand(out.shape, generator=gen(10)) - 0.5)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # Mildest parameters: close to the input. Not median (3x3 at its mildest), jpeg (its
    # "mask" mode, a quarter of the JPEG samples, ignores the quality), saturation (30 %
    # greyscale at any ramp).
    if ramp == 0.0 and spec.name not in ("median", "jpeg", "saturation"):
        assert float((out.detach() - batch).abs().mean()) < 0.01, spec.name


@pytest.mark.parametrize("mode", ["real", "simulated", "mask"])
def test_mixer_jpeg_noise_uses_the_chosen_mode(mode, batch, monkeypatch):
    from wmark.noise import mixer as mixer_module

    seen = []
    real_jpeg = L.jpeg
    monkeypatch.setattr(mixer_module.random, "choices", lambda population, weights=None, k=1: [mode])
    monkeypatch.setattr(L, "jpeg", lambda x, q, m: seen.append((m, q)) or real_jpeg(x, q, m))
    out = NoiseMixer(seed=0)(batch, batch, 1.0, [["jpeg"]] * B)
    assert [m for m, _ in seen] == [mode]
    assert seen[0][1].shape == (B,) and ((40 <= seen[0][1]) & (seen[0][1] <= 90)).all()
    torch.testing.assert_close(out, L.quantize(real_jpeg(batch, seen[0][1], mode)))


def test_mixer_chains_of_two_and_mixed_batches(batch):
    random.seed(1)
    mixer = NoiseMixer(seed=1)
    chains = [["blur", "jpeg"], ["identity"], ["noise", "brightness"]]
    out = mixer(batch, batch, 1.0, chains)
    assert out.shape == batch.shape
    # Identity alone only quantises.
    torch.testing.assert_close(out[1], L.quantize(batch[1:2])[0])
    assert (out[0] - batch[0]).abs().mean() > 1e-3 and (out[2] - batch[2]).abs().mean() > 1e-3


def test_noise_spec_sample_ramps_from_mild():
    spec = NoiseSpec("test", 40, 90, 98, lambda x, c, p, g: x)
    torch.testing.assert_close(spec.sample(5, 0.0, gen()), torch.full((5,), 98.0))
    full = spec.sample(1000, 1.0, gen())
    assert full.min() >= 40 and full.max() <= 90 and full.max() - full.min() > 40
    half = spec.sample(1000, 0.5, gen())
    assert half.min() >= 69 and half.max() <= 94


def test_mixer_weights_favour_the_weakest_noise():
    mixer = NoiseMixer(curriculum=0.5)
    names = list(mixer.noises)
    uniform = mixer.weights()
    assert sum(uniform) == pytest.approx(1)
    assert max(uniform) == pytest.approx(min(uniform))  # all at the same accuracy: uniform
    for name in names:
        mixer.accuracy[name] = 0.95
    mixer.accuracy["blur"] = 0.55
    weights = dict(zip(names, mixer.weights()))
    assert sum(weights.values()) == pytest.approx(1)
    assert weights["blur"] == max(weights.values())
    assert weights["blur"] > 3 * weights["jpeg"]
    random.seed(0)
    counts = {}
    for chain in mixer.sample_chains(2000):
        assert 1 <= len(chain) <= 2
        for name in chain:
            counts[name] = counts.get(name, 0) + 1
    assert max(counts, key=counts.get) == "blur"
    # curriculum = 0: uniform whatever the accuracies.
    flat = NoiseMixer(curriculum=0.0)
    flat.accuracy.update(mixer.accuracy)
    assert max(flat.weights()) == pytest.approx(min(flat.weights()))


def test_mixer_update_tracks_accuracy_per_noise():
    mixer = NoiseMixer()
    mixer.update([["jpeg"], ["blur", "jpeg"], ["identity"]], torch.tensor([0.0, 0.0, 1.0]), momentum=0.5)
    assert mixer.accuracy["jpeg"] == pytest.approx(0.5 * (0.5 * 0.5))  # two samples, both 0
    assert mixer.accuracy["blur"] == pytest.approx(0.25)
    assert mixer.accuracy["identity"] == pytest.approx(0.75)
    assert mixer.accuracy["hue"] == 0.5


def test_mixer_state_dict_round_trips():
    a = NoiseMixer(seed=3)
    a.update([["webp"], ["median"]], torch.tensor([0.2, 0.9]))
    torch.rand(7, generator=a.generator)  # move the generator on
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)  # as the trainer does, loaded back with weights_only
    buffer.seek(0)
    b = NoiseMixer(seed=99)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    assert b.accuracy == a.accuracy
    assert torch.equal(torch.rand(5, generator=b.generator), torch.rand(5, generator=a.generator))
    assert b.weights() == a.weights()
