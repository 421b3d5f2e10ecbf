"""ISMark OPT embedding (paper 002, Algorithm 1): optimise the marked image itself.

The marked image ``I`` (at the model's working size) is the optimisation variable.
Each iteration decodes it as it is and through the noise layer of every chosen attack
and minimises ``L = λE·MSE(I_co, I) + λD·mean_j MSE(M, σ(D(NO_j(I))))`` (Eq. 5-7) with
Adam (lr 1e-3, at most k = 200 iterations, λE = 1, λD = 2, the paper's values). ``I``
starts from the encoder's output (the paper allows the cover or the encoder's output).

What makes it a product step (:class:`IsmarkOptions`):

- the reader's view: every view is decoded as ``extract`` will see it, after the
  residual has been resized to the photo and the photo back to the working size
  (:func:`_round_trip`; without it greyscale marks that read at the working size failed
  on the photo);
- a budget: on a photo (:func:`mark`) the per-pixel budget of the perceptual mask at
  the chosen strength (:mod:`wmark.mask`, the same as the encoder's): after every step
  the residual ``I - I_co`` is clipped into it pixel by pixel (a projected gradient
  step), and the photo's mark is made through the one path (:func:`wmark.geometry.masked_mark`),
  so it never exceeds the budget; it is then scaled down where 8-bit rounding would
  leave the photo under ``target_psnr``. Without a per-pixel budget (decoder enhancing)
  the residual is held in the energy of the strength instead;
- early stop: an image is done once every noise layer reads every bit on the right side
  of 1/2 by ``margin`` for ``patience`` iterations in a row (a batch stops when all are);
- a ``progress(iteration, loss, bit_accuracy, psnr)`` callback.

Adam is written out (:class:`_Adam`, torch's update) to spare every CLI run the import
of ``torch._dynamo`` that ``torch.optim`` does on first use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from .errors import UsageError
from . import mask
from .geometry import PEAK, masked_mark, within_psnr, working
from .noise import layers

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .models.network import WatermarkModel

ITERATIONS = 200
LEARNING_RATE = 1e-3
LAMBDA_E = 1.0
LAMBDA_D = 2.0
TARGET_PSNR = 40.0
PSNR_RANGE = (20.0, 55.0)  # above ~55 dB 8-bit rounding alone leaves no room for a mark
MARGIN = 0.2  # early stop: every P(bit) at least this far from 1/2, on the right side
PATIENCE = 3  # ... for this many iterations in a row
ROUNDING_MSE = 1 / (12 * 255 ** 2)  # what rounding the marked photo to 8 bits adds ([0, 1] units)
ROUND_TRIP_SCALE = 4  # the photo-size round trip is simulated up to this factor (the filter converges)

Noise = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Progress = Callable[[int, float, float, float], None]

# Differentiable stand-ins of the attack registry's attacks (wmark.attacks.REGISTRY names),
# each at one typical strength; the clean image is always decoded too.
LAYERS: dict[str, tuple[str, Noise]] = {
    "jpeg": ("JPEG-Mask (MBRS; 5x5 luma, 3x3 chroma DCT coefficients: about quality 50)",
             lambda x, g: layers.jpeg_mask(x, 50.0)),  # 10x cheaper than kornia's differentiable JPEG
    "webp": ("real WebP 75, straight-through", lambda x, g: layers.webp(x, 75.0)),
    "resize": ("resize x0.5 and back", lambda x, g: layers.resize(x, 0.5)),
    "crop": ("crop 80 % + resize, once re-aligned: the outer 11 % flat", lambda x, g: layers.border(x, 0.894)),
    "crop-edge": ("10 % cut from each edge, once re-aligned: the outer 20 % flat", lambda x, g: layers.border(x, 0.8)),
    "rotate": ("rotate 2 degrees, black corners", lambda x, g: layers.rotate(x, 2.0)),
    "blur": ("Gaussian blur, sigma 0.8 px", lambda x, g: layers.blur(x, 0.8)),
    "median": ("median 3x3, straight-through", lambda x, g: layers.median(x, 3)),
    "noise": ("Gaussian noise, sigma 0.02", lambda x, g: layers.gaussian_noise(x, 0.02, g)),
    "salt-pepper": ("salt and pepper on 2 % of the pixels", lambda x, g: layers.salt_pepper(x, 0.02, g)),
    "brightness": ("brightness x1.3, clipped", lambda x, g: layers.brightness(x, 1.3).clamp(0, 1)),
    "contrast": ("contrast x1.3, clipped", lambda x, g: layers.contrast(x, 1.3).clamp(0, 1)),
    "saturation": ("greyscale (saturation 0)", lambda x, g: layers.saturation(x, 0.0)),
    "hue": ("hue rotated 20 degrees", lambda x, g: layers.hue(x, 20.0)),
}
# The encoder's weakest reference columns (bench, wmark-v2/v3): on 9 such photos adding
# brightness, contrast and crop-edge to jpeg,resize,blur,saturation took every column
# but one photo's to >= 99 % (benchmarks/results/ismark-attacks-2026-11-26.txt).
DEFAULT_ATTACKS = ("jpeg", "resize", "blur", "saturation", "brightness", "contrast", "crop-edge")


def check_attacks(names: str | Iterable[str]) -> tuple[str, ...]:
    """Attack names (a list or ``"jpeg,blur"``) checked against :data:`LAYERS`, each once;
    UsageError for an unknown one or none."""
    if isinstance(names, str):
        names = names.split(",")
    chosen: list[str] = []
    for name in names:
        key = str(name).strip().lower().replace("_", "-")
        if key and key not in LAYERS:
            raise UsageError(f"ISMark has no noise layer for attack {str(name).strip()!r} "
                             f"(choose from {', '.join(LAYERS)})")
        if key and key not in chosen:
            chosen.append(key)
    if not chosen:
        raise UsageError(f"give at least one ISMark attack (choose from {', '.join(LAYERS)})")
    return tuple(chosen)


@dataclass(frozen=True)
class IsmarkOptions:
    """Settings of OPT embedding (``wmark.embed(..., method="ismark", ismark=...)``).

    ``iterations``: at most this many Adam steps (fewer on early stop). ``target_psnr``:
    the marked photo's least PSNR in dB; the energy is the strength's or less, never
    more (None: the strength's, what ``auto``'s fallback uses unless it is given one). ``attacks``: the :data:`LAYERS` to harden against (the clean image is always
    included). ``margin``, ``patience``: the early stop. ``progress``: called every
    iteration with (iteration, loss, mean bit accuracy over the layers, PSNR at the
    working size).
    """

    iterations: int = ITERATIONS
    target_psnr: float | None = TARGET_PSNR
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    margin: float = MARGIN
    patience: int = PATIENCE
    progress: Progress | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attacks", check_attacks(self.attacks))
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 0:
            raise UsageError(f"ISMark iterations must be a whole number >= 0 (got {self.iterations!r})")
        low, high = PSNR_RANGE
        if self.target_psnr is not None and not (isinstance(self.target_psnr, (int, float))
                                                 and low <= self.target_psnr <= high):
            raise UsageError(f"target PSNR must be between {low:g} and {high:g} dB (got {self.target_psnr!r})")
        if not 0 <= self.margin < 0.5:
            raise UsageError(f"ISMark margin must be in [0, 0.5) (got {self.margin!r})")
        if self.patience < 1:
            raise UsageError(f"ISMark patience must be at least 1 (got {self.patience!r})")


def budget(model: WatermarkModel, strength: float, target_psnr: float | None) -> float:
    """RMS of the residual ([0, 1] units): the strength's ``strength × amplitude``, lowered
    (never raised) so that the photo keeps ``target_psnr`` once rounded to 8 bits."""
    if target_psnr is None:
        return strength * model.amplitude
    room = 10 ** (-target_psnr / 10) - ROUNDING_MSE
    return min(strength * model.amplitude, math.sqrt(max(room, 0.0)))


def _project(image: torch.Tensor, cover: torch.Tensor, limit: float | torch.Tensor) -> torch.Tensor:
    """``image`` with its residual brought into the budget: clipped pixel by pixel into
    ±``limit`` (a tensor: the per-pixel budget), or scaled down, image by image, to RMS
    ``limit`` at most (a number: an energy)."""
    residual = image - cover
    if torch.is_tensor(limit):
        return cover + torch.maximum(torch.minimum(residual, limit), -limit)
    rms = residual.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return cover + residual * (limit / rms.clamp_min(1e-12)).clamp(max=1.0)


@lru_cache(maxsize=None)
def _round_trip_taps(scale: int) -> torch.Tensor:
    """The 1-D filter that resizing up ``scale`` times (bicubic) and down again (area) is on
    the working grid: for a whole factor the pair is shift-invariant, and separable."""
    impulse = torch.zeros(1, 1, 17, 17)
    impulse[..., 8, 8] = 1.0
    up = F.interpolate(impulse, scale_factor=scale, mode="bicubic", align_corners=False)
    row = F.interpolate(up, size=(17, 17), mode="area")[0, 0, 8]  # the 2-D response's middle row:
    row = row / row.sum()  # a(8)·a(j), and the taps a(j) add up to 1
    return row[row.abs() > 1e-7]  # 1 tap at scale 1, 5 above


def _round_trip(photo_size: tuple[int, int] | None, size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """What becomes of a working-size residual (B×3×S×S) on its way to a photo of
    ``photo_size`` (height, width) and back to the reader: resized up (bicubic, as
    :func:`wmark.geometry.masked_mark` does) and down again (area, as the reader does).
    A whole factor is a small filter (exact; 3 ms an iteration, not 35), as is any
    factor above :data:`ROUND_TRIP_SCALE` (the pair tends to it: 4 % off at 12 MP);
    other sizes are resized as such."""
    if photo_size is None or max(photo_size) <= size:
        return lambda residual: residual
    if any(side % size and side < ROUND_TRIP_SCALE * size for side in photo_size):
        return lambda residual: F.interpolate(F.interpolate(residual, size=photo_size, mode="bicubic",
                                                            align_corners=False), size=(size, size), mode="area")
    height, width = (_round_trip_taps(min(ROUND_TRIP_SCALE, max(1, round(side / size)))) for side in photo_size)

    def filtered(residual: torch.Tensor) -> torch.Tensor:
        channels = residual.shape[1]
        for taps, shape, padding in ((height, (-1, 1), (0, 0, len(height) // 2, len(height) // 2)),
                                     (width, (1, -1), (len(width) // 2, len(width) // 2, 0, 0))):
            if len(taps) > 1:
                kernel = taps.to(residual).reshape(1, 1, *shape).expand(channels, 1, -1, -1)
                residual = F.conv2d(F.pad(residual, padding, mode="replicate"), kernel, groups=channels)
        return residual

    return filtered


class _Adam:
    """torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8) for the one tensor optimised
    here: torch.optim imports torch._dynamo on first use, 1-3 s of every CLI run."""

    def __init__(self, like: torch.Tensor, lr: float = LEARNING_RATE, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = torch.zeros_like(like, requires_grad=False)
        self.v = torch.zeros_like(like, requires_grad=False)

    def step(self, gradient: torch.Tensor) -> torch.Tensor:
        """The change to subtract from the parameter."""
        (b1, b2), self.t = self.betas, self.t + 1
        self.m.mul_(b1).add_(gradient, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(gradient, gradient, value=1 - b2)
        denominator = (self.v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
        return self.lr / (1 - b1 ** self.t) * self.m / denominator


def optimise(model: WatermarkModel, cover: torch.Tensor, bits: torch.Tensor, strength: float = 1.0,
             iterations: int | None = None, *, options: IsmarkOptions | None = None,
             photo_size: tuple[int, int] | None = None, limit: torch.Tensor | None = None) -> torch.Tensor:
    """Residual (same shape as ``cover``, B×3×S×S in [0, 1]) found by OPT embedding;
    ``iterations`` overrides ``options.iterations``. With ``photo_size`` (height, width)
    every view is decoded as the reader will see it once the residual has been resized
    to the photo and the photo back to the working size. ``limit``: a per-pixel budget
    (B×1×S×S, [0, 1] units) the residual stays within, starting from the encoder's mark
    masked by it; without one, the energy of ``strength`` (and ``target_psnr``). The
    model is left as it was."""
    options = options or IsmarkOptions()
    steps = options.iterations if iterations is None else iterations
    noises = [LAYERS[name][1] for name in options.attacks]
    seen = _round_trip(photo_size, cover.shape[-1])
    if limit is None:
        limit = budget(model, strength, options.target_psnr)
    generator = torch.Generator().manual_seed(0)  # noise and salt-and-pepper draws
    model.eval()
    trainable = [parameter.requires_grad for parameter in model.parameters()]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    target = bits.float()
    sign = 2 * target - 1
    with torch.no_grad():
        if torch.is_tensor(limit):
            image = cover + limit * torch.clamp(model.unit_residual(cover, target) / PEAK, -1.0, 1.0)
        else:
            image = _project(cover + strength * model.residual(cover, target), cover, limit)
    image.requires_grad_(True)
    adam = _Adam(image)
    streak = torch.zeros(cover.shape[0], dtype=torch.long, device=cover.device)
    done = torch.zeros(cover.shape[0], dtype=torch.bool, device=cover.device)
    try:
        for iteration in range(1, steps + 1):
            shown = cover + seen(image - cover)
            views = torch.cat([shown, *(noise(shown, generator) for noise in noises)])  # one decoder pass
            views = views.contiguous(memory_format=torch.channels_last)  # ~15 % faster on a CPU
            probabilities = torch.sigmoid(model.decoder(views)).view(len(noises) + 1, *target.shape)
            loss_d = (probabilities - target).pow(2).mean(dim=(0, 2))
            mse = (image - cover).pow(2).mean(dim=(1, 2, 3))
            loss = LAMBDA_E * mse + LAMBDA_D * loss_d  # per image
            with torch.no_grad():
                sure = ((probabilities - 0.5) * sign >= options.margin).all(dim=2).all(dim=0)
                streak = (streak + 1) * sure
                done |= streak >= options.patience
                if options.progress is not None:
                    accuracy = float(((probabilities > 0.5) == target.bool()).float().mean())
                    psnr = float(-10 * torch.log10(mse.max().clamp_min(1e-12)))
                    options.progress(iteration, float(loss.mean()), accuracy, psnr)
            if bool(done.all()):
                break
            # The images' losses are independent: a batch is B single runs.
            (gradient,) = torch.autograd.grad(loss.sum(), image)
            with torch.no_grad():
                stepped = _project(image - adam.step(gradient), cover, limit)
                image.copy_(torch.where(done[:, None, None, None], image, stepped))
    finally:
        for parameter, flag in zip(model.parameters(), trainable):
            parameter.requires_grad_(flag)
    return (image - cover).detach()


def mark(model: WatermarkModel, rgb: np.ndarray, bits: np.ndarray, strength: float, device: str,
         options: IsmarkOptions | None = None, heat: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` (H×W×3 uint8) marked by OPT embedding at the working size under the
    per-pixel budget of ``strength`` (``heat``: the photo's :func:`wmark.mask.heatmap`,
    when known), made a photo mark through :func:`wmark.geometry.masked_mark`, then
    scaled down where 8-bit rounding leaves the photo under ``target_psnr``."""
    import cv2
    import numpy as np

    options = options or IsmarkOptions()
    heat = mask.heatmap(rgb) if heat is None else heat
    size = model.cfg.size
    cover = working(rgb, size).to(device)
    small = cv2.resize(mask.budget(rgb, strength, heat=heat), (size, size),
                       interpolation=cv2.INTER_AREA if min(heat.shape) >= size else cv2.INTER_LINEAR)
    limit = torch.from_numpy(np.ascontiguousarray(small))[None, None].to(cover) / 255.0
    height, width = rgb.shape[:2]
    residual = optimise(model, cover, torch.from_numpy(bits)[None].float().to(device), strength, options=options,
                        photo_size=(height, width), limit=limit)
    unit = (residual / limit * PEAK)[0, :1 if model.cfg.luma else 3]  # back to the encoder's units
    full = masked_mark(unit.permute(1, 2, 0).cpu().numpy(), rgb, strength, heat=heat)
    return within_psnr(rgb, full, options.target_psnr)
