"""The library API with a tiny random model: shapes, types, PSNR, statistics, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from wmark import api
from wmark.errors import InputError, PayloadError, UsageError
from wmark.metrics import psnr
from wmark.payload import Message


def test_embed_keeps_type_shape_and_reports_psnr(kodak_rgb, tiny_model):
    result = api.embed(kodak_rgb, "hi", model=tiny_model)
    assert isinstance(result.image, np.ndarray) and result.image.dtype == np.uint8
    assert result.image.shape == kodak_rgb.shape
    assert result.psnr == pytest.approx(psnr(kodak_rgb, result.image))
    assert 13 < result.psnr < 24  # the tiny model's tests mark loud (conftest.TINY_GAIN): about 18 dB
    assert result.bits.shape == (64,) and set(np.unique(result.bits)) <= {0, 1}

    pil = api.embed(Image.fromarray(kodak_rgb), "hi", model=tiny_model)
    assert isinstance(pil.image, Image.Image) and pil.image.size == (kodak_rgb.shape[1], kodak_rgb.shape[0])
    assert np.array_equal(np.asarray(pil.image), result.image)  # deterministic


def test_strength_trades_psnr(kodak_rgb, tiny_model):
    weak = api.embed(kodak_rgb, "hi", model=tiny_model, strength=0.25, method="encoder").psnr
    strong = api.embed(kodak_rgb, "hi", model=tiny_model, strength=1.0, method="encoder").psnr
    assert weak > strong + 8  # 4x the budget is about 12 dB (less where pixels clip)


def test_greyscale_and_odd_sizes(tiny_model):
    rng = np.random.default_rng(0)
    for shape in [(40, 300), (301, 33), (97, 97, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        marked = api.embed(image, "x", model=tiny_model).image
        assert marked.shape[:2] == shape[:2] and marked.shape[2] == 3


def test_too_small_and_bad_inputs(tiny_model):
    with pytest.raises(InputError, match="at least"):
        api.embed(np.zeros((16, 200, 3), np.uint8), "x", model=tiny_model)
    with pytest.raises(InputError):
        api.extract(np.zeros((64, 64, 3), np.float32), model=tiny_model)
    with pytest.raises(InputError):
        api.extract("not an image", model=tiny_model)
    with pytest.raises(UsageError):
        api.embed(np.zeros((64, 64, 3), np.uint8), "x", model=tiny_model, strength=0)
    with pytest.raises(UsageError):
        api.embed(np.zeros((64, 64, 3), np.uint8), "x", model=tiny_model, method="magic")
    with pytest.raises(PayloadError, match="at most"):
        api.embed(np.zeros((64, 64, 3), np.uint8), "a much too long message", model=tiny_model)


def test_extract_fields(kodak_rgb, tiny_model):
    result = api.extract(kodak_rgb, model=tiny_model)
    assert result.probabilities.shape == (64,)
    assert np.all((result.probabilities >= 0) & (result.probabilities <= 1))
    assert np.array_equal(result.bits, (result.probabilities > 0.5).astype(np.uint8))
    assert 0 <= result.confidence <= 1 and 0 <= result.p_value <= 1
    record = result.to_dict()
    assert set(record) >= {"found", "message", "hex", "bits", "confidence", "p_value", "corrected_symbols", "model"}
    assert len(record["bits"]) == 64 and set(record["bits"]) <= {"0", "1"}


def test_binomial_tail():
    assert api.binomial_tail(64, 0) == 1.0
    assert api.binomial_tail(64, 64) == pytest.approx(2.0 ** -64)
    assert api.binomial_tail(10, 6) == pytest.approx(sum(math.comb(10, i) for i in range(6, 11)) / 1024)


def test_verify_statistics(kodak_rgb, tiny_model):
    from wmark.sync import TRIALS

    rows, _ = api.decode_probabilities(kodak_rgb, model=tiny_model)
    assert rows.shape == (TRIALS, 64)
    own = "".join(map(str, (rows[0] > 0.5).astype(int)))
    result = api.verify(kodak_rgb, Message.from_bits(own), model=tiny_model, fpr=1e-6)
    # The decoder's own hard bits match all 64; the p-value pays for every alignment tried.
    assert result.matching_bits == 64 and result.match
    assert result.p_value == pytest.approx(TRIALS * 2.0 ** -64)
    flipped = "".join("1" if p <= 0.5 else "0" for p in rows[0])
    plain = api.verify(kodak_rgb, Message.from_bits(flipped), model=tiny_model, search=False)
    assert plain.matching_bits == 0 and not plain.match and plain.p_value == 1.0
    with pytest.raises(UsageError):
        api.verify(kodak_rgb, "x", model=tiny_model, fpr=0)


def test_realign_undoes_a_centre_crop():
    from wmark.attacks.registry import apply_attack
    from wmark.geometry import resize
    from wmark.sync import GRID, candidates, realign

    rng = np.random.default_rng(0)
    image = resize(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8), 100, 100)
    zoomed = apply_attack("crop", image, 0.64).astype(np.float32) / 255  # the central 80 px, resized back
    original = image.astype(np.float32) / 255
    back = realign(zoomed, 1.25, 0.0)
    centre = slice(20, 80)
    error = np.abs(back - original)[centre, centre].mean()
    assert error < 0.005 and error < np.abs(zoomed - original)[centre, centre].mean() / 20
    turned = realign(realign(original, 1.0, 2.0), 1.0, -2.0)
    assert np.abs(turned - original)[centre, centre].mean() < 0.005
    views = candidates(original)
    assert views.shape == (len(GRID), 100, 100, 3) and np.array_equal(views[0], original)
    mirror = GRID.index((1.0, 0.0, True))
    assert np.array_equal(views[mirror], original[:, ::-1])
    small = candidates(original, 50)  # made at 100 px, then shrunk
    assert small.shape == (len(GRID), 50, 50, 3)
    np.testing.assert_allclose(small[mirror], original.reshape(50, 2, 50, 2, 3).mean(axis=(1, 3))[:, ::-1], atol=1e-6)


def test_search_views_realign_the_photo_before_shrinking_it(kodak_rgb):
    """A fine mark made at the working size survives a crop's realignment when it is made
    at the photo's detail, not at the working size (bilinear there blurs it)."""
    from wmark.attacks.registry import apply_attack
    from wmark.geometry import resize, working
    from wmark.sync import GRID, TRIALS, realign, realigned, search_views

    size = 64
    checker = np.indices((size, size)).sum(axis=0) % 2 * 16.0 - 8.0  # the finest pattern at 64 px
    grain = resize(checker.astype(np.float32), 256, 256, upsample="cubic")[..., None]
    photo = np.clip(resize(kodak_rgb, 256, 256).astype(np.float64) + np.repeat(grain, 3, axis=2), 0, 255)
    cropped = apply_attack("crop", photo.astype(np.uint8), 0.64)  # zoom 1.25, a grid point
    views = search_views(cropped, size)
    assert views.shape == (TRIALS, 3, size, size) and torch.equal(views[0], working(cropped, size)[0])
    index = GRID.index((1.25, 0.0, False))
    torch.testing.assert_close(views[index:index + 1], realigned(cropped, size, 1.25, 0.0))
    sign = torch.from_numpy(np.sign(checker)).float()
    centre = slice(16, 48)

    def pattern(view: torch.Tensor) -> float:  # how much of the checkerboard a view carries
        return float((view.mean(dim=1)[0] * sign)[centre, centre].mean())

    before = pattern(working(photo.astype(np.uint8), size))  # the photo before the crop: ~78 % back, ~36 %
    at_working_size = torch.from_numpy(realign(working(cropped, size)[0].permute(1, 2, 0).numpy(), 1.25, 0.0))
    assert pattern(views[index:index + 1]) > 0.7 * before > 1.4 * pattern(at_working_size.permute(2, 0, 1)[None])


def test_a_mirrored_mark_is_found(kodak_rgb, tiny_model):
    marked = api.embed(kodak_rgb, "hi", model=tiny_model).image
    mirrored = np.ascontiguousarray(marked[:, ::-1])
    assert not api.extract(mirrored, model=tiny_model, search=False).found
    result = api.extract(mirrored, model=tiny_model)
    assert result.found and result.text == "hi"


def test_ismark_stays_in_budget_and_lowers_the_loss(tiny_model):
    from wmark.ismark import DEFAULT_ATTACKS, LAYERS, IsmarkOptions, optimise

    torch.manual_seed(0)
    cover = torch.rand(1, 3, 64, 64)
    bits = torch.randint(0, 2, (1, 64)).float()
    generator = torch.Generator()
    noises = [lambda x: x, *(lambda x, f=LAYERS[name][1]: f(x, generator) for name in DEFAULT_ATTACKS)]

    def decoder_loss(residual: torch.Tensor) -> float:
        with torch.no_grad():
            return float(np.mean([torch.nn.functional.mse_loss(torch.sigmoid(tiny_model.decoder(noise(cover + residual))),
                                                               bits) for noise in noises]))

    with torch.no_grad():
        start = 0.5 * tiny_model.residual(cover, bits)
    # The tiny model is loud (15 dB): strength 0.5 (21 dB) is under the budget of a 20 dB target.
    residual = optimise(tiny_model, cover, bits, strength=0.5, iterations=20, options=IsmarkOptions(target_psnr=20))
    assert residual.shape == cover.shape
    assert residual.pow(2).mean().sqrt() <= 0.5 * tiny_model.amplitude * 1.001
    assert decoder_loss(residual) < decoder_loss(start)
    assert all(p.requires_grad for p in tiny_model.parameters())  # the model is left trainable


def test_round_trip_with_and_without_a_key(kodak_rgb, tiny_model):
    marked = api.embed(kodak_rgb, "hi", model=tiny_model).image
    found = api.extract(marked, model=tiny_model)
    assert found.found and found.text == "hi" and found.p_value < 1e-6
    assert api.verify(marked, "hi", model=tiny_model).match
    assert not api.verify(kodak_rgb, "hi", model=tiny_model).match
    assert not api.extract(kodak_rgb, model=tiny_model).found

    key, other = b"k" * 16, b"o" * 16
    keyed = api.embed(kodak_rgb, "hi", model=tiny_model, key=key).image
    assert api.extract(keyed, model=tiny_model, key=key).text == "hi"
    assert not api.extract(keyed, model=tiny_model, key=other).found
    assert not api.extract(keyed, model=tiny_model).found
    assert api.verify(keyed, "hi", model=tiny_model, key=key).match
    assert not api.verify(keyed, "hi", model=tiny_model, key=other).match


def test_auto_falls_back_to_ismark_when_the_encoder_mark_fails(kodak_rgb, tiny_model, monkeypatch):
    from wmark import ismark

    failing = [{"clean": True, "jpeg75": False}] * len(api.LADDER)  # every strength of the ladder
    checks = iter([*failing, {"clean": True, "jpeg75": True}])
    monkeypatch.setattr(api, "_self_check", lambda *args: next(checks))
    calls = []
    optimise = ismark.optimise
    monkeypatch.setattr(ismark, "optimise",
                        lambda *args, **kwargs: calls.append(1) or optimise(*args[:4], 2, **kwargs))
    result = api.embed(kodak_rgb, "hi", model=tiny_model)
    assert result.method == "ismark" and calls == [1] and result.robust
    assert result.psnr < 24  # the fallback keeps the strength's budget (loud for the tiny model): no 40 dB target
    # A mark that passes at once stays the encoder's; encoder and ismark never switch.
    monkeypatch.setattr(api, "_self_check", lambda *args: {"clean": True, "jpeg75": True})
    monkeypatch.setattr(api, "_holds_colour_edits", lambda *args: True)
    assert api.embed(kodak_rgb, "hi", model=tiny_model).method == "encoder"
    # One that passes the check but not a colour edit goes to ISMark under auto only.
    monkeypatch.setattr(api, "_holds_colour_edits", lambda *args: False)
    assert api.embed(kodak_rgb, "hi", model=tiny_model).method == "ismark" and calls == [1, 1]
    assert api.embed(kodak_rgb, "hi", model=tiny_model, method="encoder").method == "encoder"
    calls.clear()
    monkeypatch.setattr(api, "_self_check", lambda *args: {"clean": False, "jpeg75": False})
    failed = api.embed(kodak_rgb, "hi", model=tiny_model, method="encoder")
    assert failed.method == "encoder" and failed.robust is False and calls == []


def test_the_colour_checks_read_the_mark_after_each_edit(kodak_rgb, tiny_model, monkeypatch):
    """``auto``'s checks read the message after JPEG 50, greyscale, brightness and contrast;
    one miss fails them."""
    copies = []
    monkeypatch.setattr(api, "_reads_back", lambda copy, *args: copies.append(copy) or True)
    message = api._as_message("hi")
    bits = api._message_bits(message, tiny_model.cfg.bits, "tiny", None)
    assert api._holds_colour_edits(kodak_rgb, tiny_model, message, bits, None, "cpu")
    assert [copy.shape for copy in copies] == [kodak_rgb.shape] * 4
    jpeg, grey, bright, contrast = copies
    assert 0 < np.abs(jpeg.astype(int) - kodak_rgb).mean() < 10
    assert np.array_equal(grey[..., 0], grey[..., 1]) and not np.array_equal(kodak_rgb[..., 0], kodak_rgb[..., 1])
    assert bright.mean() > kodak_rgb.mean() + 10 and contrast.std() > kodak_rgb.std() * 1.1
    answers = iter([True, True, False, True])
    monkeypatch.setattr(api, "_reads_back", lambda *args: next(answers))
    assert not api._holds_colour_edits(kodak_rgb, tiny_model, message, bits, None, "cpu")


def test_embed_reads_and_checks_a_large_photo_on_one_copy_at_4x_the_working_size(kodak_rgb, tiny_model,
                                                                                  monkeypatch):
    """A photo larger than 4x the working size is read (an earlier mark) and self-checked
    (clean, JPEG, the colour edits) on a copy at that size; a smaller one as it is."""
    side = 4 * tiny_model.cfg.size
    photo = kodak_rgb.repeat(2, axis=0).repeat(2, axis=1)  # larger than 4x the working size
    assert api._reading_copy(photo, tiny_model.cfg.size).shape == (side, side, 3)
    small = kodak_rgb[:side // 2, :side // 2]
    assert api._reading_copy(small, tiny_model.cfg.size) is small
    seen = []
    read = api.decode_probabilities
    monkeypatch.setattr(api, "decode_probabilities",
                        lambda image, **kwargs: seen.append(np.asarray(image).shape) or read(image, **kwargs))
    api.embed(photo, "hi", model=tiny_model, method="encoder", device="cpu")
    assert seen and set(seen) == {(side, side, 3)}
    seen.clear()
    monkeypatch.setattr(api, "_holds_colour_edits", lambda marked, *args: seen.append(marked.shape) or True)
    api.embed(photo, "hi", model=tiny_model, method="auto", device="cpu", force=True)
    assert seen and set(seen) == {(side, side, 3)}


def test_marks_of_an_earlier_packaged_model_stay_readable(kodak_rgb, tiny_zoo, monkeypatch):
    """``default`` reads with every packaged model: a photo marked by an older version is
    found (and named), verified, and refused for a second mark."""
    import torch

    from wmark import zoo
    from wmark.errors import AlreadyMarkedError
    from wmark.models.network import ModelConfig, WatermarkModel

    from conftest import TINY_MODEL

    torch.manual_seed(1)
    newer = WatermarkModel(ModelConfig(**TINY_MODEL)).eval()
    folder = zoo.weights_path(tiny_zoo).parent
    torch.save({"config": newer.cfg.to_dict(), "state_dict": newer.state_dict()}, folder / "tiny2.pt")
    entry = zoo.ZooEntry(name="tiny2", version=2, file="tiny2.pt", sha256=zoo.sha256_of(folder / "tiny2.pt"),
                         bits=64, size=64, summary="random weights, for tests")
    monkeypatch.setattr(zoo, "MODELS", {"tiny2": entry, "tiny": tiny_zoo})  # tiny2 is now the default
    old = api.embed(kodak_rgb, "hi", model="tiny", check=False).image
    assert not api.extract(old, model="tiny2").found
    found = api.extract(old)
    assert found.found and found.text == "hi" and found.model == "tiny"
    only_tiny = api.extract(old, model="tiny")
    assert found.p_value > only_tiny.p_value  # it paid for the models tried
    assert api.verify(old, "hi").match and api.verify(old, "hi").model == "tiny"
    with pytest.raises(AlreadyMarkedError, match="'hi'"):
        api.embed(old, "new")


def test_the_self_check_of_raw_bits_counts_wrong_bits(kodak_rgb, tiny_model, monkeypatch):
    """Raw bits carry no error correction: a mark reads back when at most 1 % of its bits
    read wrong, and one that does stays the encoder's under ``auto`` (no needless ISMark)."""
    bits = Message.from_bits("10" * 32)
    result = api.embed(kodak_rgb, bits, model=tiny_model, method="encoder")
    rows, _ = api.decode_probabilities(result.image, model=tiny_model, search=False)
    wrong = np.mean((rows[0] > 0.5) != result.bits.astype(bool))
    assert result.survived["clean"] == (wrong <= api.RAW_BITS_TOLERANCE)
    monkeypatch.setattr(api, "RAW_BITS_TOLERANCE", 1.0)  # every copy reads back
    assert api.embed(kodak_rgb, bits, model=tiny_model).method == "encoder"
    monkeypatch.setattr(api, "RAW_BITS_TOLERANCE", -1.0)  # none does
    assert not any(api.embed(kodak_rgb, bits, model=tiny_model, method="encoder").survived.values())


def test_the_last_view_searched_is_the_photo_despeckled(kodak_rgb, tiny_model):
    """Salt and pepper is taken out by a 3×3 median before the last view is decoded."""
    import torch

    from wmark.attacks.registry import apply_attack
    from wmark.geometry import working
    from wmark.sync import despeckled

    smooth = np.repeat(np.linspace(60, 200, 256).astype(np.uint8)[None, :, None], 3, axis=2).repeat(171, axis=0)
    speckled = apply_attack("salt-pepper", smooth, 0.02, np.random.default_rng(0))
    assert np.abs(speckled.astype(int) - smooth).mean() > 1 and np.abs(despeckled(speckled).astype(int) - smooth).max() <= 2
    noisy = apply_attack("salt-pepper", kodak_rgb, 0.02, np.random.default_rng(0))
    rows, _ = api.decode_probabilities(noisy, model=tiny_model)
    with torch.no_grad():
        last = torch.sigmoid(tiny_model.decoder(working(despeckled(noisy), 64)).double())[0].numpy()
    assert np.allclose(rows[-1], last)
