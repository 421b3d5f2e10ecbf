"""ISMark OPT embedding (wmark.ismark): the optimiser with the tiny random model, its
options in the library and on the command line, and the packaged model end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from wmark import api, geometry, ismark
from wmark.errors import EXIT_USAGE, UsageError
from wmark.ismark import LAYERS, IsmarkOptions, optimise
from helpers import invoke, records


@pytest.fixture(scope="module")
def covers(kodak_rgbs) -> torch.Tensor:
    """Two Kodak photos at the tiny model's working size (2×3×64×64)."""
    return torch.cat([geometry.working(rgb, 64) for rgb in (kodak_rgbs[0], kodak_rgbs[2])])


@pytest.fixture(scope="module")
def bits() -> torch.Tensor:
    return torch.randint(0, 2, (2, 64), generator=torch.Generator().manual_seed(1)).float()


def accuracy(model, images: torch.Tensor, bits: torch.Tensor, attack: str) -> float:
    """Bit accuracy of ``images`` through the noise layer of ``attack``."""
    with torch.no_grad():
        logits = model.decoder(LAYERS[attack][1](images, torch.Generator().manual_seed(0)))
    return float(((logits > 0) == bits.bool()).float().mean())


def test_a_few_iterations_raise_bit_accuracy_under_a_noise_layer(tiny_model, covers, bits):
    # The tiny model is loud (15 dB): strength 0.3 is 25.5 dB, inside a 20 dB target.
    with torch.no_grad():
        start = covers + 0.3 * tiny_model.residual(covers, bits)
    steps = []
    options = IsmarkOptions(iterations=30, attacks=("saturation",), target_psnr=20,
                            progress=lambda *step: steps.append(step))
    residual = optimise(tiny_model, covers, bits, 0.3, options=options)
    assert residual.shape == covers.shape  # a batch of two, optimised together
    assert accuracy(tiny_model, covers + residual, bits, "saturation") > accuracy(tiny_model, start, bits, "saturation")
    rms = residual.pow(2).mean(dim=(1, 2, 3)).sqrt()
    assert torch.all(rms <= 0.3 * tiny_model.amplitude * 1.001)  # never louder than the strength
    assert [step[0] for step in steps] == list(range(1, 31))
    assert all(0 <= step[2] <= 1 and step[3] >= 25.4 for step in steps)  # (iteration, loss, accuracy, psnr)
    assert all(parameter.requires_grad for parameter in tiny_model.parameters())  # the model left as it was


def test_the_target_psnr_holds_on_the_full_size_photo_and_never_raises_the_energy(tiny_model, kodak_rgb):
    for strength, target in ((1.0, 30.0), (1.0, 40.0)):  # the strength's 15 dB is too loud: lowered
        options = IsmarkOptions(iterations=3, target_psnr=target)
        result = api.embed(kodak_rgb, "hi", model=tiny_model, method="ismark", strength=strength, check=False,
                           ismark=options)
        assert result.method == "ismark" and target <= result.psnr < target + 0.5



def test_ismark_never_exceeds_the_per_pixel_budget(tiny_model, kodak_rgb):
    """ISMark is held to the mask's budget at the strength, pixel by pixel (its projected
    steps), like the encoder's mark; a loose PSNR target adds nothing to it."""
    from wmark import mask

    limit = mask.budget(kodak_rgb, 0.1)
    for method in ("ismark", "encoder"):
        marked = api.embed(kodak_rgb, "hi", model=tiny_model, method=method, strength=0.1, check=False,
                           ismark=IsmarkOptions(iterations=5, target_psnr=20)).image
        change = np.abs(marked.astype(np.float32) - kodak_rgb)
        assert np.all(change <= limit[:, :, None] + 0.5)  # 8-bit rounding: half a level
        assert change.max() > 0


def test_early_stop_when_every_attack_reads_every_bit_with_margin(tiny_model, covers, bits):
    steps = []
    options = IsmarkOptions(iterations=50, attacks=("brightness",), target_psnr=20,
                            progress=lambda *step: steps.append(step))
    residual = optimise(tiny_model, covers[:1], bits[:1], 1.0, options=options)
    used = steps[-1][0]
    assert options.patience <= used < 50 and steps[-1][2] == 1.0
    with torch.no_grad():  # what it stopped on reads with the margin, clean and through the layer
        for view in (covers[:1] + residual, LAYERS["brightness"][1](covers[:1] + residual, torch.Generator())):
            probabilities = torch.sigmoid(tiny_model.decoder(view))
            assert torch.all((probabilities - 0.5) * (2 * bits[:1] - 1) >= options.margin)
    # Asked for fewer iterations than the stop needs: all of them run.
    steps.clear()
    optimise(tiny_model, covers[:1], bits[:1], 1.0, options=IsmarkOptions(
        iterations=used - 1, attacks=("brightness",), target_psnr=20, progress=lambda *step: steps.append(step)))
    assert steps[-1][0] == used - 1


def test_the_round_trip_is_what_the_reader_sees():
    from torch.nn import functional as F

    from wmark.ismark import _round_trip

    residual = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.01

    def resized(photo_size):  # up to the photo (bicubic) and down to the working size (area)
        up = F.interpolate(residual, size=photo_size, mode="bicubic", align_corners=False)
        return F.interpolate(up, size=(64, 64), mode="area")

    for photo_size, tolerance in (((256, 192), 1e-5), ((100, 171), 1e-5), ((1500, 2000), 0.06)):
        # whole factors: a filter, exact; others up to 4x: resized; beyond: the 4x filter
        expected = resized(photo_size)
        error = (_round_trip(photo_size, 64)(residual) - expected).norm() / expected.norm()
        assert error < tolerance, photo_size
    assert torch.equal(_round_trip((50, 64), 64)(residual), residual)  # not larger: nothing to simulate


def test_options_are_checked():
    from wmark.cli.embed import ismark_options

    assert IsmarkOptions(attacks="JPEG, blur,jpeg").attacks == ("jpeg", "blur")  # a list or "a,b", each once
    assert IsmarkOptions().attacks == ismark.DEFAULT_ATTACKS
    # The command line: 40 dB for ismark; auto's fallback keeps the strength's energy unless told.
    assert ismark_options("ismark", None, None, None) == IsmarkOptions()
    assert ismark_options("auto", 7, None, "blur") == IsmarkOptions(iterations=7, target_psnr=None, attacks=("blur",))
    assert ismark_options("auto", None, 45.0, None).target_psnr == 45.0
    assert ismark_options("encoder", None, None, None) is None
    with pytest.raises(UsageError, match="nope.*choose from jpeg, webp"):
        IsmarkOptions(attacks=("jpeg", "nope"))
    with pytest.raises(UsageError, match="'text'"):  # in the attack registry, but no noise layer
        IsmarkOptions(attacks="text")
    for bad in (dict(attacks=""), dict(target_psnr=70), dict(target_psnr=10), dict(iterations=-1),
                dict(iterations=2.5), dict(margin=0.5), dict(patience=0)):
        with pytest.raises(UsageError):
            IsmarkOptions(**bad)


def test_every_noise_layer_is_a_registry_attack_and_named_in_the_help():
    from wmark.attacks import REGISTRY
    from wmark.cli.embed import AttacksOption

    assert set(LAYERS) <= set(REGISTRY)
    assert set(ismark.DEFAULT_ATTACKS) <= set(LAYERS)
    help_text = AttacksOption.__metadata__[0].help
    assert all(name in help_text for name in LAYERS)
    assert f"default {','.join(ismark.DEFAULT_ATTACKS)};" in help_text
    bright = torch.full((1, 3, 8, 8), 0.95)
    bright[..., :4] = 0.1  # half dark: contrast x1.3 about the mean takes the bright half over 1
    for name in ("brightness", "contrast"):  # the real attacks clip to 8 bits: so do their stand-ins
        assert LAYERS[name][1](bright, torch.Generator()).max() <= 1.0, name
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    for name, (_, noise) in LAYERS.items():
        out = noise(x, torch.Generator().manual_seed(0))
        assert out.shape == x.shape, name
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_cli_options_are_refused_where_they_do_not_apply(tiny_zoo, kodak_file):
    unknown = invoke("embed", kodak_file, "--msg", "hi", "--method", "ismark", "--attacks", "jpeg,nope")
    assert unknown.exit_code == EXIT_USAGE and "'nope'" in unknown.output and "salt-pepper" in unknown.output
    encoder = invoke("embed", kodak_file, "--msg", "hi", "--method", "encoder", "--iters", "5")
    assert encoder.exit_code == EXIT_USAGE and "--iters" in encoder.output
    loud = invoke("embed", kodak_file, "--msg", "hi", "--method", "ismark", "--target-psnr", "70")
    assert loud.exit_code == EXIT_USAGE and "between 20 and 55" in loud.output
    assert not kodak_file.with_name("photo.wm.png").exists()


def test_embed_method_ismark_end_to_end_with_the_packaged_model(tmp_path, kodak_paths):
    photo = Path(shutil.copy(kodak_paths[0], tmp_path / "photo.png"))
    result = invoke("embed", photo, "--msg", "hi", "--method", "ismark", "--iters", "5", "--attacks", "jpeg,blur",
                    "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    (record,) = records(result)
    assert record["method"] == "ismark" and 1 <= record["iterations"] <= 5 and record["robust"]
    assert record["psnr"] >= 40.0
    assert "ISMark" in result.stderr
    found = invoke("extract", record["output"], "--json")
    assert found.exit_code == 0 and records(found)[0]["message"] == "hi"


def test_train_enhance_decoder_from_is_enhance(tiny_zoo, tmp_path, monkeypatch):
    from wmark import enhance, zoo

    calls = []
    monkeypatch.setattr(enhance, "enhance_weights", lambda weights, data, out, cfg, log, exclude=None: calls.append(weights) or out)
    data = tmp_path / "photos"
    data.mkdir()
    weights = zoo.weights_path(tiny_zoo)
    for source in (str(weights), "tiny"):  # a weights file, or a packaged model's name
        result = invoke("train", "--data", data, "--out", tmp_path / "run", "--enhance-decoder", "--from", source)
        assert result.exit_code == 0, result.output
    assert invoke("train", "--data", data, "--out", tmp_path / "run", "--enhance", weights).exit_code == 0
    assert calls == [weights] * 3
    for args in (["--enhance-decoder"], ["--from", "tiny"], ["--enhance-decoder", "--from", "nope"],
                 ["--enhance-decoder", "--from", "tiny", "--enhance", weights]):
        refused = invoke("train", "--data", data, "--out", tmp_path / "run", *args)
        assert refused.exit_code == EXIT_USAGE, args
    assert calls == [weights] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # nothing trained


def test_task_progress_adds_a_line_to_the_live_bar_while_it_runs(monkeypatch):
    from rich.progress import Progress

    from wmark.cli import printing

    progress = Progress()
    monkeypatch.setattr(printing, "_progress_live", progress)
    with printing.task_progress(10) as update:
        assert not progress.tasks  # the line appears at the first update (auto may never need it)
        update(3, "ISMark photo.png")
        (task,) = progress.tasks
        assert (task.completed, task.total, task.description) == (3, 10, "ISMark photo.png")
    assert not progress.tasks
