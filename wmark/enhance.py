"""ISMark decoder enhancing (paper 002, Algorithm 2): the decoder alone, fine-tuned on
OPT-embedded images passed through *real* distortions.

Each of ``iterations`` rounds draws a batch of photo crops and random bits, embeds
them by OPT embedding (:func:`wmark.ismark.optimise`, from the encoder's output) in a
share ``opt_share`` of the rounds and by the encoder alone (the mark ``wmark embed``
makes by default) in the others, so that the decoder reads both, then updates
the decoder for ``sub_iterations`` steps, each on the batch after one real attack of
the reference table (PIL/OpenCV, :mod:`wmark.attacks`, "none" included) picked at
random, minimising MSE(M, σ(D(NO_j(I)))) (Eq. 10), plus, with ``abstain``, that weight
times MSE(0.5, σ(D(NO_j(C)))) on the unmarked photos C under the same attack: a decoder
that has no opinion on unmarked content makes its confidence a signal (extract ranks
alignments by it, verify's p-values assume fair coins). A cropped, turned or mirrored photo
is read, as ``extract`` reads it, at the alignment of the :mod:`wmark.sync` grid that
decodes it (the best-matching one). As in :mod:`wmark.api`, the photos
are ``photo_scale`` times the working size: the residual is upsampled to them, the
attack hits the photo, and the decoder reads it shrunk back to the working size. The
encoder is frozen, so marks already made stay readable. The paper runs K = 10,000 rounds of l = 80 steps with
200-step OPT (15 GPU-days); the defaults here fit a CPU session and are recorded in
the output weights' folder.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .attacks import REFERENCE, apply_chain
from .ismark import optimise
from .models.network import WatermarkModel


@dataclass(frozen=True)
class EnhanceConfig:
    iterations: int = 200
    sub_iterations: int = 8
    batch_size: int = 8
    lr: float = 1e-4
    opt_iterations: int = 20
    opt_share: float = 0.0  # wmark-v2: the encoder's marks only (the paper: 1, OPT-embedded only)
    strength: float = 1.0
    photo_scale: int = 4
    abstain: float = 0.0  # weight of the unmarked photos' term (read as 0.5: no opinion); 0 in v2/v3
    seed: int = 0


def _mark(model: WatermarkModel, photos: torch.Tensor, pixels: list[np.ndarray], bits: torch.Tensor,
          cfg: EnhanceConfig, opt: bool) -> list[np.ndarray]:
    """``photos`` (B×3×P×P; ``pixels``: the same as uint8 P×P×3) marked as
    :func:`wmark.api.embed` marks them (by OPT embedding when ``opt``), as uint8 P×P×3."""
    import cv2

    from .geometry import photo_residual

    covers = F.interpolate(photos, size=model.cfg.size, mode="area")
    if opt and cfg.opt_iterations:
        residual = optimise(model, covers, bits, cfg.strength, cfg.opt_iterations)
    else:
        with torch.no_grad():
            residual = cfg.strength * model.residual(covers, bits)
    side = photos.shape[-1]
    return [cv2.add(photo_residual(r.permute(1, 2, 0).cpu().numpy(), side, side, cfg.strength * model.amplitude),
                    photo, dtype=cv2.CV_8U) for r, photo in zip(residual, pixels)]


def _pixels(photos: torch.Tensor) -> list[np.ndarray]:
    """B×3×P×P in [0, 1] -> uint8 P×P×3 arrays."""
    array = (photos * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(photo) for photo in array]


def _to_tensor(images: list[np.ndarray], size: int) -> torch.Tensor:
    import cv2

    same = [image if image.shape[:2] == (size, size) else cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            for image in images]
    return torch.from_numpy(np.stack(same)).permute(0, 3, 1, 2).float() / 255


def _aligned(model: WatermarkModel, attacked: torch.Tensor, bits: torch.Tensor, good: float = 0.9) -> torch.Tensor:
    """Each image as it is when the decoder reads ``good`` of its bits there, else at the
    alignment of the sync grid where it reads the most (what ``extract`` would find)."""
    from .sync import candidates

    out = attacked.clone()
    with torch.no_grad():
        accuracy = ((model.decoder(attacked) > 0) == bits.bool()).float().mean(dim=1)
        for i in torch.nonzero(accuracy < good).flatten().tolist():
            views = candidates(attacked[i:i + 1])
            scores = ((model.decoder(views) > 0) == bits[i].bool()).float().mean(dim=1)
            out[i] = views[int(scores.argmax())]
    return out


def enhance(model: WatermarkModel, sample: Callable[[int, np.random.Generator], torch.Tensor],
            cfg: EnhanceConfig = EnhanceConfig(), log: Callable[[str], None] = print) -> list[float]:
    """Fine-tune ``model.decoder`` in place; ``sample(count, rng)`` gives photos
    (B×3×P×P, P = ``photo_scale`` × the working size). Returns the mean loss of every round."""
    rng = np.random.default_rng(cfg.seed)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    attacks = list(REFERENCE)
    optimiser = torch.optim.Adam(model.decoder.parameters(), lr=cfg.lr)
    history = []
    for round_ in range(cfg.iterations):
        photos = sample(cfg.batch_size, rng)
        bits = torch.randint(0, 2, (cfg.batch_size, model.cfg.bits)).float()
        covers = _pixels(photos)
        marked = _mark(model, photos, covers, bits, cfg, opt=rng.random() < cfg.opt_share)
        model.eval()  # batch-norm statistics stay those of training
        losses = []
        for _ in range(cfg.sub_iterations):
            name = random.choice(attacks)
            seed = int(rng.integers(1 << 31))
            attacked = _to_tensor([apply_chain(image, name, seed=seed) for image in marked], model.cfg.size)
            attacked = _aligned(model, attacked, bits)
            loss = F.mse_loss(torch.sigmoid(model.decoder(attacked)), bits)
            if cfg.abstain:
                unmarked = _to_tensor([apply_chain(image, name, seed=seed) for image in covers], model.cfg.size)
                loss = loss + cfg.abstain * (torch.sigmoid(model.decoder(unmarked)) - 0.5).square().mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        if (round_ + 1) % 10 == 0:
            log(f"enhance round {round_ + 1}/{cfg.iterations} loss {np.mean(history[-10:]):.4f}")
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
