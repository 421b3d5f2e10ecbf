"""The attack registry on a real photo: shape, dtype, determinism, that each attack does
what its name says, ranges, presets and chains."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from wmark.attacks import (GROUPS, PRESETS, REFERENCE, REGISTRY, Attack, apply_attack, apply_chain, attack,
                           preset_chain)
from wmark.attacks.codec import encode
from wmark.attacks.geometric import grid_cell
from wmark.errors import UsageError
from wmark.imageio import LoadedImage
from wmark.metrics import psnr

ROOT = Path(__file__).resolve().parent.parent

# A typical value per attack, away from the identity.
TYPICAL = {
    "jpeg": 50, "webp": 50, "resize": 0.5, "scale": 0.5, "crop": 0.6, "crop-edge": 0.1, "random-crop": 0.5,
    "grid-crop": 0.5, "rotate": 10.0, "flip": 1, "blur": 1.5, "median": 5, "noise": 0.05, "salt-pepper": 0.05,
    "brightness": 1.3, "contrast": 1.5, "saturation": 0.3, "hue": 60.0, "dropout": 0.3, "cropout": 0.5,
    "text": "wmark test 2024", "strip-metadata": 1, "resize-long": 128, "crop-px": 4,
}
RESIZING = {"scale", "crop-edge", "random-crop", "resize-long", "crop-px"}  # the output size differs
RANDOM = {"random-crop", "grid-crop", "noise", "salt-pepper", "dropout", "cropout", "text"}


def run(name, rgb, value, seed=0):
    return apply_attack(name, rgb, value, np.random.default_rng(seed))


def high_frequency(rgb: np.ndarray) -> float:
    grey = rgb.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


# --------------------------------------------------------------------------- the registry


def test_registry_entries_are_complete():
    assert set(TYPICAL) == set(REGISTRY), "give every attack a typical value in TYPICAL"
    for name, entry in REGISTRY.items():
        assert isinstance(entry, Attack) and entry.name == name
        assert entry.help.strip() and entry.param.strip() and callable(entry.real)
        assert entry.type in (int, float, str) and entry.low < entry.high
        assert entry.differentiable is None or ":" in entry.differentiable
        assert name == name.lower() and " " not in name and "_" not in name


def test_presets_are_the_reference_columns():
    assert REFERENCE == list(PRESETS)[:15] == GROUPS["reference"] == [
        "none", "jpeg90", "jpeg75", "jpeg50", "resize0.5", "crop80+resize", "crop10edge", "blur1.0",
        "noise0.02", "bright1.3", "contrast1.3", "sat0", "s&p0.02", "rot2", "webp75"]
    assert PRESETS["none"] == []
    assert PRESETS["crop80+resize"] == [("crop", 0.8)] and PRESETS["crop10edge"] == [("crop-edge", 0.1)]
    assert PRESETS["resize0.5"] == [("resize", 0.5)] and PRESETS["s&p0.02"] == [("salt-pepper", 0.02)]
    for chain in PRESETS.values():
        for name, value in chain:
            assert REGISTRY[name].check(value) == value


def test_social_and_screenshot_presets():
    """Issue 12: what social networks (long side 1080 or 2048, JPEG 70-85 in 4:2:0, metadata
    stripped) and screenshots (x1.25 or x0.8, a few pixels cut per edge, PNG) do, a flip,
    and chains of two."""
    assert GROUPS["social"] == ["social1080q80", "social1080q70", "social2048q85", "flip", "flip+social"]
    assert GROUPS["screenshot"] == ["screenshot1.25", "screenshot0.8", "social+screenshot", "screenshot+social"]
    assert list(PRESETS) == [*REFERENCE, *GROUPS["social"], *GROUPS["screenshot"], "social", "screenshot"]
    social = [("strip-metadata", 1), ("resize-long", 1080), ("jpeg", 80)]
    screenshot = [("strip-metadata", 1), ("scale", 1.25), ("crop-px", 4)]
    assert PRESETS["social"] == PRESETS["social1080q80"] == social
    assert PRESETS["social2048q85"] == [("strip-metadata", 1), ("resize-long", 2048), ("jpeg", 85)]
    assert PRESETS["screenshot"] == PRESETS["screenshot1.25"] == screenshot
    assert PRESETS["screenshot0.8"] == [("strip-metadata", 1), ("scale", 0.8), ("crop-px", 4)]
    assert PRESETS["flip"] == [("flip", 1)] and PRESETS["flip+social"] == [("flip", 1), *social]
    assert PRESETS["social+screenshot"] == [*social, ("scale", 0.8), ("crop-px", 4)]
    assert PRESETS["screenshot+social"] == [*screenshot, ("resize-long", 1080), ("jpeg", 80)]
    for name in GROUPS["social"] + GROUPS["screenshot"]:
        steps = dict(PRESETS[name])
        assert 70 <= steps.get("jpeg", 80) <= 85 and steps.get("resize-long", 1080) in (1080, 2048)
        for step, value in PRESETS[name]:
            assert REGISTRY[step].check(value) == value


def test_preset_chain(kodak_rgb):
    chain = preset_chain("jpeg50")
    chain.append(("blur", 1.0))
    assert PRESETS["jpeg50"] == [("jpeg", 50)], "preset_chain must return a copy"
    with pytest.raises(UsageError, match="unknown preset"):
        preset_chain("jpeg51")
    assert np.array_equal(apply_chain(kodak_rgb, "jpeg50"), run("jpeg", kodak_rgb, 50))


def test_importing_the_registry_is_light():
    code = ("import sys, wmark.attacks as a; a.REGISTRY; a.PRESETS; "
            "print(' '.join(m for m in ('numpy', 'PIL', 'cv2', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == []


# --------------------------------------------------------------------------- every attack


@pytest.mark.parametrize("name", sorted(TYPICAL))
def test_every_attack_shape_dtype_and_determinism(kodak_rgb, name):
    value = TYPICAL[name]
    first = run(name, kodak_rgb, value, seed=3)
    again = run(name, kodak_rgb, value, seed=3)
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert first.flags.c_contiguous and first.flags.writeable
    assert not np.shares_memory(first, kodak_rgb)
    assert np.array_equal(first, again)
    if name not in RESIZING:
        assert first.shape == kodak_rgb.shape
    if name != "strip-metadata":  # pixels unchanged by design (test_strip_metadata)
        assert first.shape != kodak_rgb.shape or not np.array_equal(first, kodak_rgb), f"{name} did nothing"


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_attacks_depend_on_the_seed(kodak_rgb, name):
    a, b = run(name, kodak_rgb, TYPICAL[name], seed=1), run(name, kodak_rgb, TYPICAL[name], seed=2)
    assert a.shape != b.shape or not np.array_equal(a, b)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_out_of_range_values_are_usage_errors(kodak_rgb, name):
    entry = REGISTRY[name]
    if entry.type is str:
        bad = ["", "x" * (int(entry.high) + 1)]
    else:
        span = entry.high - entry.low
        bad = [entry.high + span, entry.low - span, "abc", float("nan"), None]
        if entry.type is int:
            bad.append(entry.low + 0.5)
    for value in bad:
        with pytest.raises(UsageError) as caught:
            run(name, kodak_rgb, value)
        message = str(caught.value)
        assert f"--{name}" in message and "\n" not in message


def test_range_ends_are_accepted(kodak_rgb):
    small = np.ascontiguousarray(kodak_rgb[:40, :56])
    for name, entry in REGISTRY.items():
        if entry.type is str:
            continue
        for value in (entry.low, entry.high):
            if name == "median" and value % 2 == 0:
                continue
            assert run(name, small, value).dtype == np.uint8


def test_unknown_attack_and_bad_pixels(kodak_rgb):
    with pytest.raises(UsageError, match="unknown attack"):
        run("jpeg2000", kodak_rgb, 50)
    assert np.array_equal(run("salt_pepper", kodak_rgb, 0.1), run("salt-pepper", kodak_rgb, 0.1))
    with pytest.raises(ValueError):
        run("jpeg", kodak_rgb.astype(np.float32), 50)
    with pytest.raises(ValueError):
        run("jpeg", kodak_rgb[..., 0], 50)


# --------------------------------------------------------------------------- what each one does


@pytest.mark.parametrize("fmt,name", [("JPEG", "jpeg"), ("WEBP", "webp")])
def test_codecs_lose_more_at_lower_quality(kodak_rgb, fmt, name):
    sizes = [len(encode(kodak_rgb, fmt, q)) for q in (90, 50, 10)]
    assert sizes[0] > sizes[1] > sizes[2]
    quality = [psnr(kodak_rgb, run(name, kodak_rgb, q)) for q in (90, 50, 10)]
    assert quality[0] > quality[1] > quality[2] > 18
    assert not np.array_equal(run(name, kodak_rgb, 100), kodak_rgb)


def test_resize_comes_back_to_size_and_loses_detail(kodak_rgb):
    half, most = run("resize", kodak_rgb, 0.5), run("resize", kodak_rgb, 0.9)
    assert half.shape == most.shape == kodak_rgb.shape
    assert high_frequency(half) < high_frequency(kodak_rgb)
    assert psnr(kodak_rgb, half) < psnr(kodak_rgb, most)
    assert np.array_equal(run("resize", kodak_rgb, 1.0), kodak_rgb)


def test_scale_keeps_the_new_size(kodak_rgb):
    assert run("scale", kodak_rgb, 0.5).shape == (86, 128, 3)
    assert run("scale", kodak_rgb, 2.0).shape == (342, 512, 3)
    assert run("scale", kodak_rgb, 0.1).shape == (17, 26, 3)


def test_crop_is_a_centre_crop_resized_back(kodak_rgb):
    from wmark.attacks.pixels import resized

    out = run("crop", kodak_rgb, 0.8)
    assert out.shape == kodak_rgb.shape
    h, w = round(171 * 0.8 ** 0.5), round(256 * 0.8 ** 0.5)  # 80 % of the area
    top, left = (171 - h) // 2, (256 - w) // 2
    assert np.array_equal(out, resized(kodak_rgb[top:top + h, left:left + w], 256, 171))
    assert np.array_equal(run("crop", kodak_rgb, 1.0), kodak_rgb)


def test_crop_edge_cuts_each_border(kodak_rgb):
    out = run("crop-edge", kodak_rgb, 0.1)
    dy, dx = round(171 * 0.1), round(256 * 0.1)
    assert out.shape == (171 - 2 * dy, 256 - 2 * dx, 3)
    assert np.array_equal(out, kodak_rgb[dy:171 - dy, dx:256 - dx])
    assert np.array_equal(run("crop-edge", kodak_rgb, 0.0), kodak_rgb)
    assert run("crop-edge", kodak_rgb, 0.45).shape[:2] == (171 - 2 * 77, 256 - 2 * 115)


def test_random_crop_is_a_window_of_the_original(kodak_rgb):
    out = run("random-crop", kodak_rgb, 0.5, seed=4)
    h, w = out.shape[:2]
    assert (h, w) == (round(171 * 0.5 ** 0.5), round(256 * 0.5 ** 0.5))
    windows = [(top, left) for top in range(171 - h + 1) for left in range(256 - w + 1)
               if np.array_equal(kodak_rgb[top:top + h, left:left + w], out)]
    assert len(windows) == 1


def test_rotate_keeps_the_size_with_black_corners(kodak_rgb):
    out = run("rotate", kodak_rgb, 2.0)
    assert out.shape == kodak_rgb.shape
    for y, x in ((0, 0), (0, 255), (170, 0), (170, 255)):
        assert (out[y, x] == 0).all()
    assert psnr(kodak_rgb[40:-40, 60:-60], out[40:-40, 60:-60]) > 15
    square = np.ascontiguousarray(kodak_rgb[:100, :100])
    assert np.array_equal(run("rotate", square, 90.0), np.rot90(square))  # counter-clockwise
    assert np.array_equal(run("rotate", kodak_rgb, 0.0), kodak_rgb)


def test_resize_long_sets_the_long_side(kodak_rgbs):
    from wmark.attacks.pixels import resized

    landscape, portrait = kodak_rgbs[0], kodak_rgbs[1]  # 171x256 and 256x171
    assert run("resize-long", landscape, 1080).shape == (721, 1080, 3)
    assert run("resize-long", portrait, 1080).shape == (1080, 721, 3)
    small = run("resize-long", landscape, 128)
    assert small.shape == (86, 128, 3) and np.array_equal(small, resized(landscape, 128, 86))
    assert np.array_equal(run("resize-long", landscape, 256), landscape)
    back = resized(run("resize-long", landscape, 2048), 256, 171)  # enlarged, the same picture
    assert psnr(landscape, back) > 30


def test_crop_px_cuts_pixels_from_each_edge(kodak_rgb):
    assert np.array_equal(run("crop-px", kodak_rgb, 4), kodak_rgb[4:-4, 4:-4])
    assert np.array_equal(run("crop-px", kodak_rgb, 0), kodak_rgb)
    assert run("crop-px", kodak_rgb, 1000).shape == (1, 2, 3)  # at least a row and a column are left


def test_jpeg_subsamples_the_chroma_420(kodak_rgb):
    import io

    from PIL import Image, JpegImagePlugin

    for quality in (50, 80, 100):
        with Image.open(io.BytesIO(encode(kodak_rgb, "JPEG", quality))) as image:
            assert JpegImagePlugin.get_sampling(image) == 2  # 4:2:0


def test_strip_metadata(kodak_rgb):
    image = LoadedImage(rgb=kodak_rgb, format="JPEG", exif=b"Exif\x00\x00", icc=b"icc", dpi=(300.0, 300.0),
                        xmp=b"<x:xmpmeta/>", jpeg_quality=90)
    bare = apply_chain(image, [("strip-metadata", 1)])
    assert (bare.exif, bare.icc, bare.dpi, bare.xmp) == (None, None, None, None)
    assert np.array_equal(bare.rgb, kodak_rgb) and not np.shares_memory(bare.rgb, kodak_rgb)
    kept = apply_chain(image, [("strip-metadata", 0), ("jpeg", 80)])
    assert (kept.exif, kept.icc, kept.xmp) == (b"Exif\x00\x00", b"icc", b"<x:xmpmeta/>")
    assert image.exif == b"Exif\x00\x00"  # the input is left as it is
    social = apply_chain(image, "social")
    assert social.exif is None and social.icc is None and social.rgb.shape == (721, 1080, 3)
    assert np.array_equal(apply_chain(kodak_rgb, [("strip-metadata", 1)]), kodak_rgb)  # plain arrays: pixels only


# The long side 1080 or 2048, x1.25 or x0.8 and 4 px per edge, on kodim01 (171x256).
SHAPES = {"social1080q80": (721, 1080), "social1080q70": (721, 1080), "social2048q85": (1368, 2048),
          "flip": (171, 256), "flip+social": (721, 1080), "screenshot1.25": (214 - 8, 320 - 8),
          "screenshot0.8": (137 - 8, 205 - 8), "social+screenshot": (577 - 8, 864 - 8),
          "screenshot+social": (713, 1080)}


@pytest.mark.parametrize("preset", [*GROUPS["social"], *GROUPS["screenshot"]])
def test_social_and_screenshot_columns_on_a_photo(kodak_rgb, preset):
    from wmark.attacks.pixels import resized

    out = apply_chain(kodak_rgb, preset, seed=0)
    assert out.dtype == np.uint8 and out.shape == (*SHAPES[preset], 3)
    assert np.array_equal(out, apply_chain(kodak_rgb, preset, seed=1))  # deterministic: no randomness
    if preset.startswith("flip"):
        out = np.ascontiguousarray(out[:, ::-1])
    if preset == "flip":
        assert np.array_equal(out, kodak_rgb)
    elif preset in ("screenshot1.25", "screenshot0.8"):  # the photo less 4 px / factor per edge
        cut = round(4 / dict(PRESETS[preset])["scale"])
        inner = np.ascontiguousarray(kodak_rgb[cut:-cut, cut:-cut])
        assert 24 < psnr(inner, resized(out, inner.shape[1], inner.shape[0])) < 60
    elif "screenshot" not in preset:  # the whole picture, re-encoded: close to the photo at its size
        assert 26 < psnr(kodak_rgb, resized(out, 256, 171)) < 60


def test_social_quality_orders_the_damage(kodak_rgb):
    from wmark.attacks.pixels import resized

    def loss(name: str) -> float:
        return psnr(kodak_rgb, resized(apply_chain(kodak_rgb, name), 256, 171))

    assert loss("social1080q70") < loss("social1080q80")
    assert np.array_equal(apply_chain(kodak_rgb, "flip+social"),
                          apply_chain(np.ascontiguousarray(kodak_rgb[:, ::-1]), "social"))


def test_flip(kodak_rgb):
    assert np.array_equal(run("flip", kodak_rgb, 1), kodak_rgb[:, ::-1])
    assert np.array_equal(run("flip", kodak_rgb, 0), kodak_rgb)


def test_grid_crop_keeps_or_blanks_whole_cells(kodak_rgb):
    cell = grid_cell(171, 256)
    assert cell == 8
    out = run("grid-crop", kodak_rgb, 0.5, seed=9)
    kept = blank = 0
    for top in range(0, 171, cell):
        for left in range(0, 256, cell):
            block, original = out[top:top + cell, left:left + cell], kodak_rgb[top:top + cell, left:left + cell]
            if np.array_equal(block, original) and original.any():
                kept += 1
            else:
                assert not block.any()
                blank += 1
    assert 0.4 < kept / (kept + blank) < 0.6
    assert np.array_equal(run("grid-crop", kodak_rgb, 1.0), kodak_rgb)
    assert not run("grid-crop", kodak_rgb, 0.0).any()
    assert grid_cell(512, 512) == 16 and grid_cell(3000, 4000) == 8 * 12


def test_blur_removes_high_frequencies(kodak_rgb):
    energy = [high_frequency(run("blur", kodak_rgb, sigma)) for sigma in (0.5, 1.0, 3.0)]
    assert high_frequency(kodak_rgb) > energy[0] > energy[1] > energy[2]
    assert np.array_equal(run("blur", kodak_rgb, 0.0), kodak_rgb)
    assert abs(float(run("blur", kodak_rgb, 3.0).mean()) - float(kodak_rgb.mean())) < 1.0


def test_median_removes_salt_and_pepper(kodak_rgb):
    spotted = run("salt-pepper", kodak_rgb, 0.05)
    cleaned = run("median", spotted, 3)
    assert psnr(kodak_rgb, cleaned) > psnr(kodak_rgb, spotted) + 5
    assert np.array_equal(run("median", kodak_rgb, 1), kodak_rgb)
    with pytest.raises(UsageError, match="odd"):
        run("median", kodak_rgb, 4)


def test_noise_has_the_requested_sigma(kodak_rgb):
    mid = np.full((200, 200, 3), 128, np.uint8)
    diff = run("noise", mid, 0.02).astype(np.float64) - 128
    assert abs(diff.std() - 0.02 * 255) < 0.2 and abs(diff.mean()) < 0.1
    assert np.array_equal(run("noise", kodak_rgb, 0.0), kodak_rgb)


def test_salt_and_pepper_hits_the_fraction_with_black_and_white(kodak_rgb):
    out = run("salt-pepper", kodak_rgb, 0.02)
    changed = (out != kodak_rgb).any(axis=2)
    assert 0.012 < changed.mean() < 0.025
    hit = out[changed]
    assert ((hit == 0).all(axis=1) | (hit == 255).all(axis=1)).all()
    assert 0.3 < (hit == 255).all(axis=1).mean() < 0.7


def test_brightness(kodak_rgb):
    assert run("brightness", kodak_rgb, 1.3).mean() > kodak_rgb.mean() * 1.2
    assert run("brightness", kodak_rgb, 0.7).mean() < kodak_rgb.mean()
    assert np.array_equal(run("brightness", kodak_rgb, 1.0), kodak_rgb)
    assert not run("brightness", kodak_rgb, 0.0).any()


def test_contrast_is_about_the_mean(kodak_rgb):
    from wmark.attacks.pixels import luma

    out = run("contrast", kodak_rgb, 1.3)
    assert luma(out).std() > luma(kodak_rgb).std() * 1.2
    assert abs(float(luma(out).mean()) - float(luma(kodak_rgb).mean())) < 3
    flat = run("contrast", kodak_rgb, 0.0)
    assert np.ptp(flat) <= 1
    assert np.array_equal(run("contrast", kodak_rgb, 1.0), kodak_rgb)


def test_saturation_zero_is_grey(kodak_rgb):
    grey = run("saturation", kodak_rgb, 0.0)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    from wmark.attacks.pixels import luma

    assert np.abs(grey[..., 0] - luma(kodak_rgb)).max() <= 0.5  # the pixel's own luminance
    assert np.array_equal(run("saturation", kodak_rgb, 1.0), kodak_rgb)
    spread = lambda x: float((x.max(axis=2).astype(int) - x.min(axis=2)).mean())  # noqa: E731
    assert spread(run("saturation", kodak_rgb, 1.5)) > spread(kodak_rgb) > spread(run("saturation", kodak_rgb, 0.5))


def test_hue_rotates_colours():
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert (run("hue", red, 120.0) == [0, 255, 0]).all()
    assert (run("hue", red, -120.0) == [0, 0, 255]).all()
    assert np.array_equal(run("hue", red, 0.0), red)


def test_hue_keeps_grey(kodak_rgb):
    grey = run("saturation", kodak_rgb, 0.0)
    assert np.abs(run("hue", grey, 90.0).astype(int) - grey).max() <= 1


def test_dropout_blacks_out_the_fraction(kodak_rgb):
    out = run("dropout", kodak_rgb, 0.3)
    black = ~out.any(axis=2)
    assert 0.27 < black.mean() < 0.33
    assert np.array_equal(out[~black], kodak_rgb[~black])


def test_cropout_keeps_one_rectangle(kodak_rgb):
    out = run("cropout", kodak_rgb, 0.5, seed=2)
    rows, cols = np.nonzero(out.any(axis=2))
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    assert np.array_equal(out[top:bottom, left:right], kodak_rgb[top:bottom, left:right])
    assert abs((bottom - top) * (right - left) / (171 * 256) - 0.5) < 0.02


def test_text_overlays_a_line(kodak_rgb):
    out = run("text", kodak_rgb, "wmark © 2024")
    changed = (out != kodak_rgb).any(axis=2)
    assert 0.005 < changed.mean() < 0.25
    assert (out[changed] == 255).all(axis=1).any() and (out[changed] == 0).all(axis=1).any()
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.max() - rows.min() < 171 // 4  # one line
    long = run("text", kodak_rgb, "a very long line of text " * 8)  # wider than the image: still drawn
    assert long.shape == kodak_rgb.shape and not np.array_equal(long, kodak_rgb)


# --------------------------------------------------------------------------- chains


def test_chain_order_matters_and_seed_repeats(kodak_rgb):
    one = apply_chain(kodak_rgb, [("crop-edge", 0.1), ("resize", 0.5)], seed=0)
    two = apply_chain(kodak_rgb, [("resize", 0.5), ("crop-edge", 0.1)], seed=0)
    assert one.shape == two.shape and not np.array_equal(one, two)
    chain = [("noise", 0.02), ("jpeg", 75), ("dropout", 0.1)]
    assert np.array_equal(apply_chain(kodak_rgb, chain, seed=5), apply_chain(kodak_rgb, chain, seed=5))
    assert not np.array_equal(apply_chain(kodak_rgb, chain, seed=5), apply_chain(kodak_rgb, chain, seed=6))


def test_empty_chain_is_a_copy(kodak_rgb):
    out = apply_chain(kodak_rgb, [])
    assert np.array_equal(out, kodak_rgb) and not np.shares_memory(out, kodak_rgb)


def test_chain_checks_every_step_first(kodak_rgb, monkeypatch):
    calls = []
    monkeypatch.setitem(REGISTRY, "jpeg", replace(REGISTRY["jpeg"], real=lambda *a: calls.append(a)))
    with pytest.raises(UsageError, match="--blur"):
        apply_chain(kodak_rgb, [("jpeg", 50), ("blur", 99.0)])
    with pytest.raises(UsageError):
        apply_chain(kodak_rgb, [("jpeg",)])
    assert calls == []


@pytest.mark.parametrize("preset", REFERENCE)
def test_every_preset_runs(kodak_rgb, preset):
    out = apply_chain(kodak_rgb, PRESETS[preset], seed=0)
    assert out.dtype == np.uint8
    if preset == "crop10edge":
        assert out.shape == (171 - 34, 256 - 52, 3)
    else:
        assert out.shape == kodak_rgb.shape
    assert np.array_equal(out, kodak_rgb) == (preset == "none")


def test_chain_on_a_loaded_image_keeps_its_metadata(kodak_rgb):
    alpha = np.full(kodak_rgb.shape[:2], 200, np.uint8)
    image = LoadedImage(rgb=kodak_rgb, alpha=alpha, format="JPEG", exif=b"Exif\x00\x00", icc=b"icc", jpeg_quality=90)
    same = apply_chain(image, [("jpeg", 50)], seed=0)
    assert isinstance(same, LoadedImage) and same.exif == b"Exif\x00\x00" and same.icc == b"icc"
    assert same.alpha is alpha and same.rgb.shape == kodak_rgb.shape
    smaller = apply_chain(image, [("crop-edge", 0.1)], seed=0)
    assert smaller.alpha is None and smaller.rgb.shape == (137, 204, 3)
    assert image.rgb is kodak_rgb


def test_attack_keyword_form(kodak_rgb):
    expected = apply_chain(kodak_rgb, [("resize", 0.5), ("salt-pepper", 0.02)], seed=3)
    assert np.array_equal(attack(kodak_rgb, resize=0.5, salt_pepper=0.02, seed=3), expected)
    assert np.array_equal(attack(kodak_rgb, "jpeg50"), apply_chain(kodak_rgb, [("jpeg", 50)]))
    with pytest.raises(UsageError):
        attack(kodak_rgb, jpeg=500)


@pytest.mark.parametrize("rgb", [np.zeros((1, 1, 3), np.uint8), np.full((3, 200, 3), 90, np.uint8)])
def test_tiny_and_thin_images_do_not_crash(rgb):
    for name, value in TYPICAL.items():
        out = run(name, rgb, value)
        assert out.dtype == np.uint8 and out.ndim == 3 and min(out.shape[:2]) >= 1, name
