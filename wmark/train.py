"""Resumable training of the model family on a folder of photos.

Recipe (DESIGN.md, the anchors): message loss only, with the residual held at a fixed
energy (PSNR) that starts loud and is lowered towards the model's target (a late
strength cut, learned instead of applied). With ``psnr_control`` the energy follows the
decoder: ``psnr_step`` dB (up to 4x that, in proportion to the margin) quieter after a window of
steps whose bit accuracy under noise was at or above the upper bound, ``psnr_step`` dB
louder below the lower one, so the run never gets
quieter than its robustness allows; otherwise a fixed ramp. No noise for the first steps, then
every noise's strength ramped in (StegaStamp) and sampled by a curriculum that favours
the weakest attack; real and simulated JPEG mixed per mini-batch (MBRS).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .geometry import masked_mark_torch
from .models.network import ModelConfig, WatermarkModel
from .noise import layers
from .noise.mixer import NoiseMixer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved in every checkpoint."""

    # MBRS message processor + diffusion head at 128x128 (4x4 blocks, 96 channels): learns
    # 100 bits in ~300 steps from a loud start, where the position-free spread code stalled.
    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        bits=100, size=128, patch=4, channels=96, message="processor", diffusion=True))
    batch_size: int = 16
    lr: float = 1e-3
    start_psnr: float = 8.0
    psnr_ramp: tuple[int, int] = (300, 10000)
    psnr_control: tuple[float, float] | None = (0.82, 0.90)  # accuracy bounds; None: the ramp
    psnr_step: float = 0.5
    noise_free_steps: int = 300
    noise_ramp: tuple[int, int] = (300, 4000)
    val_every: int = 500
    val_images: int = 32
    checkpoint_seconds: float = 300.0
    weakest_weight: float = 0.0  # share of the loss weighted by each sample's noise error rate
    # The inference path in the loop (wmark.geometry): covers of ``photo_size`` px, the
    # residual made at the working size, upsampled, masked by their JND, added, attacked
    # there and read back at the working size. ``psnr`` then sets the strength:
    # 10^((model.psnr - psnr) / 20), 1 at the model's psnr. 0: the unmasked path at the working size.
    photo_size: int = 0
    coarse_weight: float = 0.0  # weight of the mark's coarse (blob) energy share in the loss
    init_from: str = ""  # weights file whose matching layers start the run (warm start)
    exclude: str = ""  # file of photo names (one per line) never trained or validated on: the held-out split
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        values = dict(values)
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
        model = ModelConfig.from_dict(values.pop("model", {}))
        for key in ("psnr_ramp", "noise_ramp", "psnr_control"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(model=model, **values)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    # wmark-v4: wmark-v3 (100 bits) made invariant to colour edits by construction: a luma
    # residual and a decoder standardising its input, every layer warm-started from v3's
    # (colour planes folded); the weakest noise weighted up; benchmarks/heldout.txt's
    # photos never trained or validated on.
    "v4": TrainConfig(
        model=ModelConfig(bits=100, size=128, patch=4, channels=96, message="processor", diffusion=True,
                          luma=True, standardise=True),
        start_psnr=32.0, psnr_ramp=(0, 1), noise_free_steps=0, noise_ramp=(0, 1),
        weakest_weight=0.5, init_from="models/wmark-v3.pt", exclude="benchmarks/heldout.txt"),
    # wmark-v4-wide: the same design with 256 bits (16 user bytes); v3's message layers
    # and the decoder's last layer start fresh, so it starts loud and learns the message.
    "v4-wide": TrainConfig(
        model=ModelConfig(bits=256, size=128, patch=4, channels=96, message="processor", diffusion=True,
                          luma=True, standardise=True),
        start_psnr=20.0, psnr_ramp=(100, 3000), noise_free_steps=100, noise_ramp=(100, 1500),
        weakest_weight=0.5, init_from="models/wmark-v3.pt", exclude="benchmarks/heldout.txt"),
    # wmark-v5: run v4 (luma, standardising decoder) trained on through the masked
    # inference path (covers at 256 px, residual at 128 px), starting at strength 2 and
    # lowered to 1 as its robustness allows, with the mark's blobs penalised.
    "v5": TrainConfig(
        model=ModelConfig(bits=100, size=128, patch=4, channels=96, message="processor", diffusion=True,
                          luma=True, standardise=True),
        start_psnr=36.0, psnr_ramp=(0, 1), noise_free_steps=0, noise_ramp=(0, 1), photo_size=256,
        coarse_weight=0.1, weakest_weight=0.5, init_from="training/v4/checkpoint.pt",
        exclude="benchmarks/heldout.txt"),
    # A few-second smoke run for tests and for checking a set-up.
    "tiny": TrainConfig(
        model=ModelConfig(bits=16, size=64, patch=8, channels=8, encoder_blocks=1, decoder_blocks=1, psnr=30),
        batch_size=4, start_psnr=25.0, psnr_ramp=(5, 20), noise_free_steps=5, noise_ramp=(5, 20),
        val_every=10, val_images=2, checkpoint_seconds=3600.0,
    ),
}


# Probe (issue 32): v5's recipe without the blob penalty, to measure what that perceptual
# term buys at the same steps, seed and energy control.
PRESETS["v5-noblob"] = replace(PRESETS["v5"], coarse_weight=0.0)


def _ramp(step: int, span: tuple[int, int]) -> float:
    start, end = span
    return float(np.clip((step - start) / max(end - start, 1), 0.0, 1.0))


def masked_strength(cfg: TrainConfig, psnr: float) -> float:
    """Strength of a masked run at its ``psnr`` knob: 1 at the model's psnr, 2 six dB under."""
    return 10 ** ((cfg.model.psnr - psnr) / 20)


def coarse_share(mark: torch.Tensor) -> torch.Tensor:
    """Per sample, the share of a mark's luma energy left after 2, 4 and 8 px box means
    (averaged): 0 for fine grain, 1 for flat blobs; the blobs are what a viewer sees."""
    plane = mark.mean(dim=1, keepdim=True)
    total = plane.pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-12)
    coarse = [F.avg_pool2d(plane, k).pow(2).mean(dim=(1, 2, 3)) for k in (2, 4, 8)]
    return torch.stack(coarse).mean(dim=0) / total


def training_psnr(cfg: TrainConfig, step: int) -> float:
    """Residual energy (as PSNR) used at ``step``: from ``start_psnr`` to the model's."""
    return cfg.start_psnr + (cfg.model.psnr - cfg.start_psnr) * _ramp(step, cfg.psnr_ramp)


class PhotoCrops:
    """Photos of a folder held in memory; random square crops resized to the working size."""

    def __init__(self, folder: Path, max_side: int = 512, limit: int | None = None,
                 exclude: frozenset[str] = frozenset()):
        import cv2
        from PIL import Image

        paths = sorted(p for p in Path(folder).rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in exclude)[:limit]
        if not paths:
            raise FileNotFoundError(f"no photos in {folder}")
        self.names = [path.name for path in paths]
        self.images = []
        for path in paths:
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB"))
            scale = max_side / max(rgb.shape[:2])
            if scale < 1:
                rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA)
            self.images.append(rgb)

    def __len__(self) -> int:
        return len(self.images)

    @staticmethod
    def _square(rgb: np.ndarray, side: int, top: int, left: int, size: int) -> np.ndarray:
        import cv2

        patch = rgb[top:top + side, left:left + side]
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        return cv2.resize(patch, (size, size), interpolation=interpolation)

    def random_batch(self, count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
        out = []
        for index in rng.integers(len(self.images), size=count):
            rgb = self.images[index]
            short = min(rgb.shape[:2])
            side = int(rng.uniform(0.6, 1.0) * short)
            top = int(rng.integers(rgb.shape[0] - side + 1))
            left = int(rng.integers(rgb.shape[1] - side + 1))
            patch = self._square(rgb, side, top, left, size)
            out.append(patch[:, ::-1] if rng.random() < 0.5 else patch)
        return to_tensor(np.stack(out))

    def centre_batch(self, count: int, size: int) -> torch.Tensor:
        out = []
        for rgb in self.images[:count]:
            short = min(rgb.shape[:2])
            top, left = (rgb.shape[0] - short) // 2, (rgb.shape[1] - short) // 2
            out.append(self._square(rgb, short, top, left, size))
        return to_tensor(np.stack(out))


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """(B,H,W,3) uint8 -> (B,3,H,W) float in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255


def read_name_list(path: str | Path | None) -> frozenset[str]:
    """Photo names listed one per line (``#`` comments allowed), e.g. the held-out split;
    none for no file (None or "")."""
    if not path:
        return frozenset()
    lines = (line.split("#")[0].strip() for line in Path(path).read_text().splitlines())
    return frozenset(line for line in lines if line)


def warm_start(model: WatermarkModel, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy the layers of ``state`` that fit ``model``; an RGB model's colour planes fold
    into a luma model's (the stem sums them, the head averages them). Returns the names
    left at their random start."""
    own = model.state_dict()
    patch_area = model.cfg.patch ** 2
    fresh = []
    for name, tensor in own.items():
        source = state.get(name)
        if source is not None and source.shape != tensor.shape and source.dim() >= 1:
            if name == "decoder.stem.0.weight" and source.shape[1] == 3 * tensor.shape[1]:
                source = source.unflatten(1, (3, patch_area)).sum(dim=1)
            elif name.startswith("encoder.head.") and source.shape[0] == 3 * tensor.shape[0]:
                source = source.unflatten(0, (3, patch_area)).mean(dim=0)
        if source is not None and source.shape == tensor.shape:
            own[name] = source.to(tensor.dtype)
        else:
            fresh.append(name)
    model.load_state_dict(own)
    return fresh


def _validation_attacks() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Proxies of the 15 reference columns at the working size (the 512 px reference
    photos are downscaled 2x before decoding, so blur sigma and noise halve)."""
    zero = torch.zeros(1)
    return {
        "none": lambda x: x,
        "jpeg90": lambda x: layers.jpeg_real(x, 90),
        "jpeg75": lambda x: layers.jpeg_real(x, 75),
        "jpeg50": lambda x: layers.jpeg_real(x, 50),
        "resize0.5": lambda x: layers.resize(x, 0.5),
        "crop80+resize": lambda x: layers.affine(x, torch.full((x.shape[0],), 0.8 ** 0.5), zero.expand(x.shape[0]),
                                                 torch.zeros(x.shape[0], 2)),
        "crop10edge": lambda x: layers.affine(x, torch.full((x.shape[0],), 0.8), zero.expand(x.shape[0]),
                                              torch.zeros(x.shape[0], 2)),
        "blur1.0": lambda x: layers.blur(x, 0.5),
        "noise0.02": lambda x: layers.gaussian_noise(x, 0.02, torch.Generator().manual_seed(0)),
        "bright1.3": lambda x: layers.brightness(x, 1.3),
        "contrast1.3": lambda x: layers.contrast(x, 1.3),
        "sat0": lambda x: layers.saturation(x, 0.0),
        "s&p0.02": lambda x: layers.salt_pepper(x, 0.02, torch.Generator().manual_seed(0)),
        "rot2": lambda x: layers.rotate(x, 2.0),
        "webp75": lambda x: layers.webp(x, 75),
    }


def _to_working(images: torch.Tensor, size: int) -> torch.Tensor:
    """``images`` at the working size, as ``extract`` reads a photo (area)."""
    return images if images.shape[-1] == size else F.interpolate(images, size=(size, size), mode="area")


@torch.no_grad()
def validate(model: WatermarkModel, covers: torch.Tensor, bits: torch.Tensor, psnr: float,
             masked: bool = False) -> dict[str, float]:
    """Bit accuracy per reference-column proxy: at the given residual energy, or
    (``masked``) through the masked path at strength 1 on covers larger than the working size."""
    model.eval()
    size = model.cfg.size
    if masked:
        mark = masked_mark_torch(model.encoder(_to_working(covers, size), bits), covers, 1.0)
    else:
        mark = 10 ** (-psnr / 20) * model.encoder(covers, bits)
    marked = layers.quantize(covers + mark)
    result = {"psnr": float(-10 * torch.log10(F.mse_loss(marked, covers))),
              "coarse": float(coarse_share(mark).mean())}
    for name, attack in _validation_attacks().items():
        logits = model.decoder(_to_working(layers.quantize(attack(marked)), size))
        result[name] = float(((logits > 0) == bits.bool()).float().mean())
    model.train()
    return result


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export_weights(checkpoint: dict, path: Path) -> None:
    """Write the inference weights (model config + state dict) of a training checkpoint."""
    _save_atomic({"config": checkpoint["config"]["model"], "state_dict": checkpoint["model"]}, path)


class Trainer:
    """One run directory: ``checkpoint.pt`` (resumable), ``model.pt`` (weights), ``log.jsonl``."""

    def __init__(self, cfg: TrainConfig, data: Path, run_dir: Path, val_data: Path | None = None,
                 device: str = "cpu", log: Callable[[str], None] = print):
        self.cfg, self.run_dir, self.device, self.log = cfg, Path(run_dir), torch.device(device), log
        self.run_dir.mkdir(parents=True, exist_ok=True)
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.model = WatermarkModel(cfg.model).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.mixer = NoiseMixer(seed=cfg.seed)
        self.step = 0
        self.psnr = cfg.start_psnr
        if cfg.init_from:
            weights = torch.load(cfg.init_from, map_location="cpu", weights_only=True)
            fresh = warm_start(self.model, weights.get("state_dict", weights.get("model", weights)))
            self.log(f"warm start from {cfg.init_from}; fresh layers: {', '.join(fresh) or 'none'}")
        held_out = read_name_list(cfg.exclude)
        self.train_photos = PhotoCrops(data, exclude=held_out)
        self.log(f"training on {len(self.train_photos)} photos")
        val = PhotoCrops(val_data or data, limit=cfg.val_images, exclude=held_out)
        self.val_covers = val.centre_batch(cfg.val_images, cfg.photo_size or cfg.model.size).to(self.device)
        self.val_bits = torch.randint(0, 2, (len(self.val_covers), cfg.model.bits),
                                      generator=torch.Generator().manual_seed(1234)).float().to(self.device)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def state(self) -> dict:
        return {
            "config": self.cfg.to_dict(), "step": self.step, "psnr": self.psnr, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "mixer": self.mixer.state_dict(),
            "rng": {"python": random.getstate(), "torch": torch.get_rng_state(), "numpy": self.rng.bit_generator.state},
        }

    def save(self) -> None:
        state = self.state()
        _save_atomic(state, self.checkpoint_path)
        export_weights(state, self.run_dir / "model.pt")

    def resume(self) -> None:
        # On the CPU first: the RNG states must stay CPU tensors; the weights and Adam's
        # moments move to the model's device as they load.
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.mixer.load_state_dict(state["mixer"])
        self.step = state["step"]
        self.psnr = state.get("psnr", training_psnr(self.cfg, self.step))  # runs from before psnr_control
        random.setstate(state["rng"]["python"])
        torch.set_rng_state(state["rng"]["torch"])
        self.rng.bit_generator.state = state["rng"]["numpy"]

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        covers = self.train_photos.random_batch(cfg.batch_size, cfg.photo_size or cfg.model.size,
                                                self.rng).to(self.device)
        bits = torch.randint(0, 2, (cfg.batch_size, cfg.model.bits), device=self.device).float()
        psnr = self.current_psnr()
        mark, covers = self._mark(covers, bits, psnr)
        marked = layers.quantize(covers + mark)
        if self.step < cfg.noise_free_steps:
            chains = [["identity"]] * cfg.batch_size
        else:
            chains = self.mixer.sample_chains(cfg.batch_size)
        noised = self.mixer(marked, covers, _ramp(self.step, cfg.noise_ramp), chains)
        logits = self.model.decoder(_to_working(noised, cfg.model.size))
        loss = F.binary_cross_entropy_with_logits(logits, bits, reduction="none").mean(dim=1)
        if cfg.coarse_weight:
            loss = loss + cfg.coarse_weight * coarse_share(mark)
        loss = (loss * self._sample_weights(chains)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        accuracy = ((logits.detach() > 0) == bits.bool()).float().mean(dim=1)
        if self.step >= cfg.noise_free_steps:
            self.mixer.update(chains, accuracy)
        self.step += 1
        return {"loss": loss.item(), "acc": accuracy.mean().item(), "psnr": psnr}

    def _mark(self, covers: torch.Tensor, bits: torch.Tensor, psnr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(the mark, the covers it goes on): the masked inference path on covers of
        ``photo_size`` (which ``covers`` are), else the residual at the working size held at ``psnr``."""
        cfg = self.cfg
        if cfg.photo_size:
            unit = self.model.encoder(_to_working(covers, cfg.model.size), bits)
            return masked_mark_torch(unit, covers, masked_strength(cfg, psnr)), covers
        attention = self.model.attention_mask(covers, bits) if cfg.model.attention else None
        return 10 ** (-psnr / 20) * self.model.encoder(covers, bits, attention), covers

    def _sample_weights(self, chains: list[list[str]]) -> torch.Tensor:
        """Per-sample loss weights: mean 1, the samples of the weakest noises weighted up
        by ``weakest_weight`` of the loss (InvisMark's emphasis on the weakest transform)."""
        share = self.cfg.weakest_weight
        if share <= 0:
            return torch.ones(len(chains), device=self.device)
        errors = torch.tensor([max(max(1 - self.mixer.accuracy.get(n, 0.5) for n in chain), 1e-3)
                               for chain in chains], device=self.device)
        return (1 - share) + share * errors / errors.mean()

    def current_psnr(self) -> float:
        """The residual energy (as PSNR) of the next step."""
        return self.psnr if self.cfg.psnr_control else training_psnr(self.cfg, self.step)

    def adapt_psnr(self, accuracy: float) -> None:
        """Quieter after a good window, louder after a bad one (within start .. target)."""
        if not self.cfg.psnr_control or self.step < self.cfg.psnr_ramp[0]:
            return
        low, high = self.cfg.psnr_control
        if accuracy >= high:  # up to 4 steps at once when the decoder is far above the bound
            boost = 1 + 3 * (accuracy - high) / max(1 - high, 1e-6)
            self.psnr = min(self.psnr + self.cfg.psnr_step * boost, self.cfg.model.psnr)
        elif accuracy < low:
            self.psnr = max(self.psnr - self.cfg.psnr_step, self.cfg.start_psnr)

    def run(self, steps: int) -> None:
        """Train until ``step == steps``; checkpoints on a timer, at the end and on a signal."""
        stop = {"flag": False}

        def request_stop(signum, frame):
            stop["flag"] = True

        old = signal.signal(signal.SIGTERM, request_stop)
        last_save = time.monotonic()
        window: list[dict[str, float]] = []
        started = time.monotonic()
        first = self.step
        try:
            while self.step < steps and not stop["flag"]:
                window.append(self.train_step())
                if self.step % 50 == 0:
                    mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                    rate = (time.monotonic() - started) / max(self.step - first, 1)
                    self.log(f"step {self.step} loss {mean['loss']:.4f} acc {mean['acc']:.4f} "
                             f"psnr {mean['psnr']:.1f} {rate:.2f}s/step")
                    self.adapt_psnr(mean["acc"])
                    window.clear()
                if self.step % self.cfg.val_every == 0:
                    self._validate()
                if time.monotonic() - last_save > self.cfg.checkpoint_seconds:
                    self.save()
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            self.log("interrupted: saving checkpoint")
            self.save()
            raise
        finally:
            signal.signal(signal.SIGTERM, old)
        self.save()

    def _validate(self) -> None:
        psnr = self.current_psnr()
        result = {"step": self.step, **validate(self.model, self.val_covers, self.val_bits, psnr,
                                                masked=bool(self.cfg.photo_size)),
                  "curriculum": {k: round(v, 4) for k, v in self.mixer.accuracy.items()}}
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(result) + "\n")
        cols = " ".join(f"{k}={v:.3f}" for k, v in result.items() if k not in ("step", "curriculum", "psnr"))
        self.log(f"val step {self.step} psnr {result['psnr']:.2f}: {cols}")


def train(cfg: TrainConfig, data: Path, run_dir: Path, steps: int, resume: bool = False,
          val_data: Path | None = None, device: str = "cpu", log: Callable[[str], None] = print) -> Path:
    """Train (or resume) a run; returns the path of the exported ``model.pt``."""
    run_dir = Path(run_dir)
    if resume and (run_dir / "checkpoint.pt").exists():
        saved = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
        cfg = TrainConfig.from_dict(saved["config"])
    trainer = Trainer(cfg, data, run_dir, val_data=val_data, device=device, log=log)
    if resume and trainer.checkpoint_path.exists():
        trainer.resume()
        log(f"resumed at step {trainer.step}")
    trainer.run(steps)
    return run_dir / "model.pt"


if __name__ == "__main__":  # pragma: no cover - a thin entry for background runs
    import argparse

    parser = argparse.ArgumentParser(description="Train a wmark model (see also `wmark train`).")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--val-data", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train(PRESETS[args.preset], args.data, args.out, args.steps, args.resume, args.val_data,
          device=args.device, log=lambda line: print(line, flush=True))
