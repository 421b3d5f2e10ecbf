"""ISMark decoder enhancing (paper 002, Algorithm 2): the decoder alone, fine-tuned on
marked photos passed through *real* distortions.

Each of ``iterations`` rounds draws a batch of photo crops and random bits and marks them
as :func:`wmark.api.embed` does: the encoder's mark through the perceptual mask
(:func:`wmark.api.encoder_mark`) at a strength drawn from ``strengths`` (``auto``'s
ladder), or, in a share ``opt_share`` of the rounds, by OPT embedding
(:func:`wmark.ismark.mark`, ``auto``'s fallback). It then updates the decoder for
``sub_iterations`` steps, each on the batch after one real attack (PIL/OpenCV,
:mod:`wmark.attacks`) drawn from :data:`FAMILIES` with a random setting, more often the
family the decoder reads worst (``weakest_weight``: the share of draws in proportion to
each family's recent error rate), minimising MSE(M, σ(D(NO_j(I)))) (Eq. 10), plus, with
``abstain``, that weight times MSE(0.5, σ(D(NO_j(C)))) on the unmarked photos C under
the same attack: a decoder that has no opinion on unmarked content makes its confidence
a signal. A cropped or turned photo is read, as ``extract`` reads it, at the alignment
of the :mod:`wmark.sync` grid that decodes it (the best-matching one), so the decoder
learns what is left between grid points. As in :mod:`wmark.api`, the photos are
``photo_scale`` times the working size: the mark is made for them, the attack hits the
photo, and the decoder reads it shrunk back to the working size. The encoder is frozen,
so marks already made stay readable. The paper runs K = 10,000 rounds of l = 80 steps
with 200-step OPT (15 GPU-days); the defaults here fit a CPU session and are recorded
in the output weights' folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .attacks import apply_chain
from .geometry import working
from .models.network import WatermarkModel

Chain = list[tuple[str, float | int]]


def _uniform(low: float, high: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(rng.uniform(low, high))


def _either_sign(low: float, high: float) -> Callable[[np.random.Generator], float]:
    return lambda rng: float(rng.choice((-1, 1)) * rng.uniform(low, high))


# Attack families and their settings' ranges, around the reference table's columns and
# beyond them (a decoder taught the bench's exact settings learns the bench, not the world).
FAMILIES: dict[str, tuple[str, Callable[[np.random.Generator], float | int]]] = {
    "none": ("", lambda rng: 0.0),
    "jpeg": ("jpeg", lambda rng: int(rng.integers(40, 96))),
    "webp": ("webp", lambda rng: int(rng.integers(50, 96))),
    "resize": ("resize", _uniform(0.4, 0.9)),
    "crop": ("crop", _uniform(0.55, 0.95)),
    "crop-edge": ("crop-edge", _uniform(0.02, 0.15)),
    "rotate": ("rotate", _either_sign(0.5, 3.0)),
    "blur": ("blur", _uniform(0.5, 1.5)),
    "noise": ("noise", _uniform(0.01, 0.03)),
    "brightness": ("brightness", _uniform(0.7, 1.4)),
    "contrast": ("contrast", _uniform(0.7, 1.4)),
    "saturation": ("saturation", _uniform(0.0, 1.5)),
    "salt-pepper": ("salt-pepper", _uniform(0.005, 0.03)),
}
GEOMETRIC = ("crop", "crop-edge", "rotate", "resize")
THEN_JPEG = 0.3  # share of geometric draws followed by JPEG 50..90 (a crop of a shared photo)


@dataclass(frozen=True)
class EnhanceConfig:
    iterations: int = 200
    sub_iterations: int = 8
    batch_size: int = 8
    lr: float = 1e-4
    opt_iterations: int = 20
    opt_share: float = 0.0  # wmark-v2: the encoder's marks only (the paper: 1, OPT-embedded only)
    strengths: tuple[float, ...] = (0.5, 0.71, 1.0)  # ``auto``'s ladder (wmark.api.LADDER)
    weakest_weight: float = 0.5
    photo_scale: int = 4
    abstain: float = 0.0  # weight of the unmarked photos' term (read as 0.5: no opinion); 0 in v2/v3
    seed: int = 0


def draw_attack(errors: dict[str, float], weakest_weight: float, rng: np.random.Generator) -> tuple[str, Chain]:
    """A family (uniformly, or with ``weakest_weight`` in proportion to ``errors``, each
    family's recent error rate) and a chain of real attacks with a random setting."""
    names = list(FAMILIES)
    uniform = np.full(len(names), 1 / len(names))
    error = np.array([errors[name] for name in names]) + 1e-3
    family = names[int(rng.choice(len(names), p=(1 - weakest_weight) * uniform + weakest_weight * error / error.sum()))]
    attack, setting = FAMILIES[family]
    chain: Chain = [(attack, setting(rng))] if attack else []
    if family in GEOMETRIC and rng.random() < THEN_JPEG:
        chain.append(("jpeg", int(rng.integers(50, 91))))
    return family, chain


def _mark(model: WatermarkModel, pixels: list[np.ndarray], bits: torch.Tensor, cfg: EnhanceConfig,
          opt: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """Each photo of ``pixels`` (uint8 P×P×3) marked as :func:`wmark.api.embed` marks it
    (by OPT embedding when ``opt``) at a strength of ``cfg.strengths``, as uint8 P×P×3."""
    import cv2

    from .api import encoder_mark
    from .ismark import IsmarkOptions, mark

    device = next(model.parameters()).device.type
    options = IsmarkOptions(iterations=cfg.opt_iterations, target_psnr=None)  # auto's fallback, shorter
    marked = []
    for photo, row in zip(pixels, bits.cpu().numpy()):
        strength = float(rng.choice(cfg.strengths))
        if opt:
            marked.append(mark(model, photo, row, strength, device, options))
        else:
            marked.append(cv2.add(encoder_mark(model, photo, row, strength, device), photo, dtype=cv2.CV_8U))
    return marked


def _pixels(photos: torch.Tensor) -> list[np.ndarray]:
    """B×3×P×P in [0, 1] -> uint8 P×P×3 arrays."""
    array = (photos * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(photo) for photo in array]


def _aligned(model: WatermarkModel, images: list[np.ndarray], bits: torch.Tensor, good: float = 0.9) -> torch.Tensor:
    """The attacked photos (uint8 H×W×3) at the working size, each as it is when the decoder
    reads ``good`` of its bits there, else at the view of the sync search where it reads the
    most (what ``extract`` would find: :func:`wmark.sync.search_views`)."""
    from .sync import search_views

    size = model.cfg.size
    out = torch.cat([working(image, size) for image in images])
    with torch.no_grad():
        accuracy = ((model.decoder(out) > 0) == bits.bool()).float().mean(dim=1)
        for i in torch.nonzero(accuracy < good).flatten().tolist():
            views = search_views(images[i], size)
            scores = ((model.decoder(views) > 0) == bits[i].bool()).float().mean(dim=1)
            out[i] = views[int(scores.argmax())]
    return out


def enhance(model: WatermarkModel, sample: Callable[[int, np.random.Generator], torch.Tensor],
            cfg: EnhanceConfig = EnhanceConfig(), log: Callable[[str], None] = print) -> list[float]:
    """Fine-tune ``model.decoder`` in place; ``sample(count, rng)`` gives photos
    (B×3×P×P, P = ``photo_scale`` × the working size). Returns the mean loss of every round."""
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    optimiser = torch.optim.Adam(model.decoder.parameters(), lr=cfg.lr)
    errors = dict.fromkeys(FAMILIES, 0.1)  # each family's recent error rate (moving average)
    history = []
    for round_ in range(cfg.iterations):
        photos = sample(cfg.batch_size, rng)
        bits = torch.randint(0, 2, (cfg.batch_size, model.cfg.bits)).float()
        covers = _pixels(photos)
        marked = _mark(model, covers, bits, cfg, opt=rng.random() < cfg.opt_share, rng=rng)
        model.eval()  # batch-norm statistics stay those of training
        losses = []
        for _ in range(cfg.sub_iterations):
            family, chain = draw_attack(errors, cfg.weakest_weight, rng)
            seed = int(rng.integers(1 << 31))
            attacked = _aligned(model, [apply_chain(image, chain, seed=seed) for image in marked], bits)
            logits = model.decoder(attacked)
            loss = F.mse_loss(torch.sigmoid(logits), bits)
            if cfg.abstain:
                unmarked = torch.cat([working(apply_chain(image, chain, seed=seed), model.cfg.size)
                                      for image in covers])
                loss = loss + cfg.abstain * (torch.sigmoid(model.decoder(unmarked)) - 0.5).square().mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            wrong = ((logits.detach() > 0) != bits.bool()).float().mean().item()
            errors[family] = 0.9 * errors[family] + 0.1 * wrong
        history.append(float(np.mean(losses)))
        if (round_ + 1) % 10 == 0:
            worst = sorted(errors, key=errors.get, reverse=True)[:3]
            log(f"enhance round {round_ + 1}/{cfg.iterations} loss {np.mean(history[-10:]):.4f} "
                f"worst {', '.join(f'{name} {errors[name]:.3f}' for name in worst)}")
    return history


def enhance_weights(weights: Path, data: Path, out: Path, cfg: EnhanceConfig = EnhanceConfig(),
                    log: Callable[[str], None] = print, exclude: Path | None = None) -> Path:
    """Enhance the decoder of a weights file on a folder of photos (less those named in
    ``exclude``, a name list such as benchmarks/heldout.txt); writes ``out`` (weights)
    and ``out`` + ``.json`` (the settings, the exclusion and the loss history)."""
    from .train import PhotoCrops, export_weights, read_name_list
    from .zoo import load_weights

    model = load_weights(weights)
    photos = PhotoCrops(data, exclude=read_name_list(exclude))
    side = model.cfg.size * cfg.photo_scale
    history = enhance(model, lambda count, rng: photos.random_batch(count, side, rng), cfg, log)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_weights({"config": {"model": model.cfg.to_dict()}, "model": model.state_dict()}, out)
    out.with_suffix(out.suffix + ".json").write_text(json.dumps({"enhance": asdict(cfg), "from": str(weights),
                                                                  "exclude": str(exclude or ""),
                                                                  "loss": history}, indent=1))
    return out
