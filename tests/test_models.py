"""The model family (wmark.models): every option of the config builds a working pair,
the encoder's residual follows the strength convention (mean-free, RMS = amplitude), the
decoder reads any size on the patch grid, the fixed DCT blocks are invertible, and a
spread-spectrum model starts with a matched code."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from wmark.models.layers import SpaceToDepth, dct_matrix, make_norm
from wmark.models.network import (
    ModelConfig,
    WatermarkModel,
    amplitude_to_psnr,
    count_parameters,
    psnr_to_amplitude,
    luma,
    unit_energy,
)

BASE = ModelConfig(bits=16, size=64, patch=8, channels=8, encoder_blocks=1, decoder_blocks=1,
                   message="broadcast", message_channels=8, psnr=30)

# One option changed at a time from BASE, plus a few paper-like combinations.
VARIANTS = {
    "broadcast": {},
    "coding": {"message": "coding"},
    "processor": {"message": "processor"},
    "processor+diffusion": {"message": "processor", "diffusion": True},
    "diffusion": {"diffusion": True},
    "se": {"block": "se"},
    "dct": {"dct": True},
    "circular": {"padding": "circular"},
    "attention": {"attention": True},
    "spread": {"spread": True},
    "instance": {"encoder_norm": "instance", "decoder_norm": "instance"},
    "no-norm": {"encoder_norm": "none", "decoder_norm": "none"},
    "mbrs": {"block": "se", "message": "processor", "diffusion": True},
    "redmark": {"dct": True, "padding": "circular", "message": "coding"},
    "iga": {"message": "coding", "attention": True, "spread": True, "decoder_norm": "instance"},
    "luma": {"luma": True},
    "standardise": {"standardise": True},
    "v4": {"message": "processor", "diffusion": True, "luma": True, "standardise": True},
}


def make(name: str, seed: int = 0) -> WatermarkModel:
    torch.manual_seed(seed)
    return WatermarkModel(replace(BASE, **VARIANTS[name])).eval()


def inputs(batch: int = 2, size: tuple[int, int] = (64, 64), bits: int = 16, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    cover = torch.rand(batch, 3, *size, generator=g)
    message = torch.randint(0, 2, (batch, bits), generator=g).float()
    return cover, message


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_residual_is_mean_free_with_rms_amplitude(name):
    model = make(name)
    cover, bits = inputs()
    with torch.no_grad():
        residual = model.residual(cover, bits)
    assert residual.shape == cover.shape
    assert torch.isfinite(residual).all()
    rms = residual.pow(2).mean(dim=(1, 2, 3)).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, model.amplitude), rtol=1e-3, atol=0)
    channel_means = residual.mean(dim=(2, 3))
    assert channel_means.abs().max() < 1e-4 * model.amplitude
    # The message matters: other bits give another residual.
    with torch.no_grad():
        other = model.residual(cover, 1 - bits)
    assert (other - residual).abs().max() > 1e-3 * model.amplitude


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_forward_adds_strength_times_residual(name):
    model = make(name)
    cover, bits = inputs()
    with torch.no_grad():
        residual = model.residual(cover, bits)
        marked = model(cover, bits, strength=2.5)
    torch.testing.assert_close(marked, cover + 2.5 * residual, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(VARIANTS))
@pytest.mark.parametrize("size", [(64, 64), (48, 80), (128, 96), (8, 16)])
def test_decoder_gives_bit_logits_on_patch_multiples(name, size):
    model = make(name)
    image = torch.rand(3, 3, *size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model.decoder(image)
    assert logits.shape == (3, BASE.bits)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_gradients_reach_every_parameter_and_the_cover(name):
    model = make(name).train()
    cover, bits = inputs(batch=4)
    cover.requires_grad_(True)
    marked = model(cover, bits)
    loss = F.binary_cross_entropy_with_logits(model.decoder(marked), bits)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    for n, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), n
    total = sum(float(p.grad.abs().sum()) for p in model.encoder.parameters())
    assert total > 0
    assert cover.grad is not None and cover.grad.abs().sum() > 0


def test_processor_without_diffusion_refuses_too_many_bits():
    # grid 8 -> a 4x4 message plane: at most 16 bits.
    with pytest.raises(ValueError, match="diffusion"):
        WatermarkModel(replace(BASE, message="processor", bits=17))
    WatermarkModel(replace(BASE, message="processor", diffusion=True, bits=17))  # diffusion lifts the limit


@pytest.mark.parametrize("option", [{"message": "telepathy"}, {"encoder_norm": "layer"}, {"decoder_norm": "group"}])
def test_unknown_options_are_refused(option):
    with pytest.raises(ValueError, match="unknown"):
        WatermarkModel(replace(BASE, **option))


def test_make_norm_kinds():
    assert isinstance(make_norm("batch", 4), torch.nn.BatchNorm2d)
    assert isinstance(make_norm("instance", 4), torch.nn.InstanceNorm2d)
    assert isinstance(make_norm("none", 4), torch.nn.Identity)
    with pytest.raises(ValueError):
        make_norm("weird", 4)


def test_config_from_dict_round_trips_and_rejects_unknown_keys():
    cfg = replace(BASE, dct=True, spread=True, message="coding")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({}) == ModelConfig()
    with pytest.raises(ValueError, match="bogus.*colour|colour.*bogus"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1, "colour": "red"})
    assert cfg.grid == 8


@pytest.mark.parametrize("n", [4, 8, 16])
def test_dct_matrix_is_orthonormal(n):
    d = dct_matrix(n).double()
    torch.testing.assert_close(d @ d.t(), torch.eye(n, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(d.t() @ d, torch.eye(n, dtype=torch.float64), atol=1e-6, rtol=0)
    # Row 0 is the constant (DC) basis vector.
    torch.testing.assert_close(d[0], torch.full((n,), n ** -0.5, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dct", [False, True])
@pytest.mark.parametrize("patch", [4, 8])
def test_space_to_depth_inverse_round_trips(dct, patch):
    s2d = SpaceToDepth(patch, dct)
    x = torch.rand(2, 3, 4 * patch, 6 * patch, generator=torch.Generator().manual_seed(3))
    blocks = s2d(x)
    assert blocks.shape == (2, 3 * patch * patch, 4, 6)
    torch.testing.assert_close(s2d.inverse(blocks), x, atol=1e-5, rtol=0)
    # An orthonormal transform keeps the energy.
    torch.testing.assert_close(blocks.pow(2).sum(), x.pow(2).sum(), rtol=1e-5, atol=0)


def test_dct_blocks_of_a_flat_image_are_dc_only():
    s2d = SpaceToDepth(8, dct=True)
    flat = torch.full((1, 3, 16, 16), 0.25)
    flat[:, 1] = 0.5
    coefficients = s2d(flat).view(1, 3, 64, 2, 2)
    # DC coefficient of an 8x8 block of value v is 8 v; every AC coefficient is 0.
    torch.testing.assert_close(coefficients[:, :, 0], torch.tensor([2.0, 4.0, 2.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2),
                               atol=1e-5, rtol=0)
    assert coefficients[:, :, 1:].abs().max() < 1e-5


def test_unit_energy_normalises_per_image():
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(4)) * torch.tensor([0.1, 1.0, 7.0]).view(3, 1, 1, 1)
    x = x + 5
    y = unit_energy(x)
    torch.testing.assert_close(y.pow(2).mean(dim=(1, 2, 3)), torch.ones(3), rtol=1e-4, atol=0)
    assert y.mean(dim=(2, 3)).abs().max() < 1e-5
    # Invariant to the energy and to a constant per channel.
    shifted = x * 3 + torch.tensor([0.5, -2.0, 1.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(unit_energy(shifted), y, atol=1e-3, rtol=1e-3)


def test_spread_model_starts_with_a_matched_code(tiny_model):
    cfg = tiny_model.cfg
    assert cfg.spread
    spread = tiny_model.encoder.spread.weight  # (3 p^2, bits)
    despread = tiny_model.decoder.despread
    assert spread.shape == (3 * cfg.patch ** 2, cfg.bits)
    torch.testing.assert_close(despread.weight, spread.t() * 8.0)
    assert torch.count_nonzero(despread.bias) == 0
    # Orthogonal init: the bit patterns are orthonormal, so despread . spread is 8 I.
    torch.testing.assert_close(despread.weight @ spread, 8.0 * torch.eye(cfg.bits), atol=1e-4, rtol=0)


def test_models_without_spread_have_no_spread_layers():
    model = make("broadcast")
    assert model.encoder.spread is None and model.decoder.despread is None


def test_attention_mask_is_in_unit_range_and_not_constant():
    model = make("attention")
    cover, bits = inputs()
    mask = model.attention_mask(cover, bits)
    assert mask.shape == cover.shape
    assert mask.min() >= 0 and mask.max() <= 1
    # Min-max normalised per image: each image reaches (close to) both ends.
    assert torch.allclose(mask.amin(dim=(1, 2, 3)), torch.zeros(2), atol=1e-6)
    assert torch.allclose(mask.amax(dim=(1, 2, 3)), torch.ones(2), atol=1e-6)
    assert not cover.requires_grad  # the probe does not leak into the caller's tensor


def test_amplitude_psnr_conversions():
    assert psnr_to_amplitude(40) == pytest.approx(0.01)
    assert amplitude_to_psnr(psnr_to_amplitude(36.5)) == pytest.approx(36.5)
    model = make("broadcast")
    assert model.amplitude == pytest.approx(psnr_to_amplitude(BASE.psnr))
    assert count_parameters(model) == sum(p.numel() for p in model.parameters()) > 0


def test_state_dict_round_trip_reproduces_outputs():
    a, b = make("iga", seed=0), make("iga", seed=5)
    cover, bits = inputs()
    with torch.no_grad():
        assert not torch.allclose(a.decoder(cover), b.decoder(cover))
    b.load_state_dict(a.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(b.residual(cover, bits), a.residual(cover, bits))
        torch.testing.assert_close(b.decoder(cover), a.decoder(cover))


def test_luma_residual_is_the_same_in_every_colour_plane():
    model = make("v4")
    cover, bits = inputs()
    with torch.no_grad():
        residual = model.residual(cover, bits)
    torch.testing.assert_close(residual[:, 0], residual[:, 1])
    torch.testing.assert_close(residual[:, 0], residual[:, 2])


# Colour edits the luma, standardised decoder is invariant to by construction: a greyscale
# copy (BT.601, as PIL's "L"), a gain, a contrast stretch about the mean, and a hue rotation
# that keeps luma. Values stay inside [0, 1], where nothing clips.
COLOUR_EDITS = {
    "greyscale": lambda x: luma(x).expand(-1, 3, -1, -1),
    "brightness1.3": lambda x: x * 1.3,
    "contrast1.3": lambda x: (x - x.mean(dim=(1, 2, 3), keepdim=True)) * 1.3 + x.mean(dim=(1, 2, 3), keepdim=True),
    "luma-preserving tint": lambda x: x + luma(x) * 0 + torch.tensor([0.05, -0.0255, 0.0]).view(1, 3, 1, 1)
                                       - (torch.tensor([0.05, -0.0255, 0.0]) * torch.tensor([0.299, 0.587, 0.114])).sum(),
}


@pytest.mark.parametrize("edit", sorted(COLOUR_EDITS))
def test_luma_standardised_decoder_ignores_colour_edits(edit):
    model = make("v4")
    unstandardised = WatermarkModel(replace(model.cfg, standardise=False)).eval()
    unstandardised.load_state_dict(model.state_dict())
    cover, bits = inputs()
    cover = 0.2 + 0.4 * cover[:, :1] + 0.05 * cover  # a photo's contrast, headroom for the edits
    with torch.no_grad():
        marked = model(cover, bits)
        edited = COLOUR_EDITS[edit](marked)
        assert 0 <= edited.min() and edited.max() <= 1
        change = (model.decoder(edited) - model.decoder(marked)).abs().max()
        spread = model.decoder(marked).std()
        if edit in ("greyscale", "luma-preserving tint"):  # luma is unchanged: exactly the same read
            assert change < 1e-4 * spread
        else:  # a gain or stretch only moves the standardising epsilon's share
            plain_change = (unstandardised.decoder(edited) - unstandardised.decoder(marked)).abs().max()
            assert change < 0.1 * spread and change < 0.25 * plain_change


def test_an_rgb_decoder_is_not_invariant_to_greyscale():
    """The check above means something: the RGB decoder of the same family does see it."""
    model = make("mbrs")
    cover, bits = inputs()
    with torch.no_grad():
        marked = model(cover, bits)
        grey = COLOUR_EDITS["greyscale"](marked)
        assert (model.decoder(grey) - model.decoder(marked)).abs().max() > 1e-2
