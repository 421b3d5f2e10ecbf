"""The image quality metrics (wmark.metrics): PSNR, SSIM, SSIMULACRA 2 and FLIP."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from wmark.errors import EXIT_USAGE, DependencyError
from wmark.metrics import flip, psnr, ssim, ssimulacra2


def test_psnr(kodak_rgb):
    assert psnr(kodak_rgb, kodak_rgb) == float("inf")
    assert psnr(kodak_rgb, np.clip(kodak_rgb.astype(int) + 1, 0, 255).astype(np.uint8)) > 48.0
    assert abs(psnr(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)) - 48.1308) < 1e-3
    with pytest.raises(ValueError):
        psnr(kodak_rgb, kodak_rgb[:10])


def test_ssim(kodak_rgb):
    rng = np.random.default_rng(0)
    assert ssim(kodak_rgb, kodak_rgb) == pytest.approx(1.0)

    def noisy(sigma: float) -> np.ndarray:
        return np.clip(kodak_rgb + rng.normal(0, sigma, kodak_rgb.shape), 0, 255).astype(np.uint8)

    light, heavy = noisy(2), noisy(20)
    assert 1 > ssim(kodak_rgb, light) > 0.95 > ssim(kodak_rgb, heavy) > 0.3
    assert ssim(kodak_rgb, heavy) == pytest.approx(ssim(heavy, kodak_rgb))
    flat = np.full_like(kodak_rgb, 128)
    assert ssim(flat, flat) == pytest.approx(1.0) and ssim(flat, kodak_rgb) < 0.3
    # A brightness shift keeps the structure: SSIM stays high where PSNR drops.
    brighter = np.clip(kodak_rgb.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    assert ssim(kodak_rgb, brighter) > 0.95
    with pytest.raises(ValueError):
        ssim(kodak_rgb, kodak_rgb[1:])


def test_ssim_is_wang_et_al_on_every_whole_window(kodak_rgb):
    """The mean over the 11x11 windows inside the image, each weighted by a Gaussian of
    σ 1.5, of the SSIM formula - Wang et al.'s reference (MATLAB ``ssim_index``), here by brute force."""
    from wmark.attacks.pixels import luma

    a = np.ascontiguousarray(kodak_rgb[40:64, 60:90])
    b = np.clip(a + np.random.default_rng(1).normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    x, y = luma(a).astype(np.float64), luma(b).astype(np.float64)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            p, q = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mp, mq = (w * p).sum(), (w * q).sum()
            vp, vq, cov = (w * p * p).sum() - mp ** 2, (w * q * q).sum() - mq ** 2, (w * p * q).sum() - mp * mq
            values.append((2 * mp * mq + c1) * (2 * cov + c2) / ((mp ** 2 + mq ** 2 + c1) * (vp + vq + c2)))
    assert ssim(a, b) == pytest.approx(np.mean(values), abs=1e-4)


def test_ssimulacra2_and_flip(kodak_rgb):
    """100 and 0 for a copy; light noise scores high, heavy noise and a blur low (SSIMULACRA 2:
    90 visually lossless, 50 medium, 30 low; FLIP: mean error, 0 identical)."""
    import cv2

    rng = np.random.default_rng(0)
    light, heavy = (np.clip(kodak_rgb + rng.normal(0, sigma, kodak_rgb.shape), 0, 255).astype(np.uint8)
                    for sigma in (2, 20))
    blurred = cv2.GaussianBlur(kodak_rgb, (0, 0), 2)
    assert ssimulacra2(kodak_rgb, kodak_rgb) == pytest.approx(100.0) and flip(kodak_rgb, kodak_rgb) == 0.0
    assert 100 > ssimulacra2(kodak_rgb, light) > 70 > 30 > max(ssimulacra2(kodak_rgb, heavy),
                                                               ssimulacra2(kodak_rgb, blurred))
    assert 0 < flip(kodak_rgb, light) < 0.05 < min(flip(kodak_rgb, heavy), flip(kodak_rgb, blurred)) < 1
    assert isinstance(ssimulacra2(kodak_rgb, light), float) and isinstance(flip(kodak_rgb, light), float)
    flipped = np.ascontiguousarray(kodak_rgb[:, ::-1])  # strided views are fine too
    assert ssimulacra2(kodak_rgb, kodak_rgb[:, ::-1]) == ssimulacra2(kodak_rgb, flipped)


@pytest.mark.parametrize("metric", [ssimulacra2, flip])
def test_perceptual_metrics_check_their_inputs(kodak_rgb, metric):
    for other in (kodak_rgb[1:], kodak_rgb[..., :2], kodak_rgb.astype(np.float32), kodak_rgb[..., 0]):
        with pytest.raises(ValueError):
            metric(kodak_rgb, other)
    with pytest.raises(ValueError):
        metric(kodak_rgb[..., 0], kodak_rgb[..., 0])
    if metric is ssimulacra2:  # its smallest scale needs 8 px
        with pytest.raises(ValueError, match="8 px"):
            metric(kodak_rgb[:7, :40], kodak_rgb[:7, :40])


@pytest.mark.parametrize("metric, module, package", [(ssimulacra2, "ssimulacra2", "ssimulacra2"),
                                                     (flip, "flip_evaluator", "flip-evaluator")])
def test_a_missing_package_is_a_dependency_error(kodak_rgb, monkeypatch, metric, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    with pytest.raises(DependencyError, match=f"pip install {package}") as caught:
        metric(kodak_rgb, kodak_rgb)
    assert caught.value.exit_code == EXIT_USAGE
