"""Training noise: a roulette of the differentiable layers, chains of one or two per
sample, strengths ramped in (StegaStamp), and a curriculum that favours the attacks the
decoder currently fails most (InvisMark's "weakest transform" emphasis)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import torch

from . import layers

Apply = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class NoiseSpec:
    """One training noise: parameter range at full strength and its mildest value."""

    name: str
    low: float
    high: float
    mild: float
    apply: Apply

    def sample(self, count: int, ramp: float, generator: torch.Generator) -> torch.Tensor:
        low = self.mild + (self.low - self.mild) * ramp
        high = self.mild + (self.high - self.mild) * ramp
        return low + (high - low) * torch.rand(count, generator=generator)


def _jpeg(x, cover, q, g):
    mode = random.choices(["real", "simulated", "mask"], weights=[0.5, 0.25, 0.25])[0]
    return layers.jpeg(x, q, mode)


TRAINING_NOISES: tuple[NoiseSpec, ...] = (
    NoiseSpec("identity", 0, 0, 0, lambda x, c, p, g: x),
    NoiseSpec("jpeg", 40, 90, 98, _jpeg),
    NoiseSpec("webp", 50, 90, 98, lambda x, c, p, g: layers.webp(x, p)),
    NoiseSpec("resize", 0.35, 0.9, 1.0, lambda x, c, p, g: layers.resize(x, float(p.mean()))),
    # Geometry: extract searches zoom and rotation (wmark.sync), so training covers what
    # is left after that search, plus the constant border a re-aligned crop brings.
    NoiseSpec("jitter", 0.5, 1.0, 0.0, lambda x, c, p, g: layers.jitter(x, p, g)),
    NoiseSpec("border", 0.7, 0.95, 1.0, lambda x, c, p, g: layers.border(x, p)),
    NoiseSpec("blur", 0.3, 1.6, 0.05, lambda x, c, p, g: layers.blur(x, p)),
    NoiseSpec("median", 3, 5.99, 3, lambda x, c, p, g: layers.median(x, int(p.mean()))),
    NoiseSpec("noise", 0.0, 0.04, 0.0, lambda x, c, p, g: layers.gaussian_noise(x, p, g)),
    NoiseSpec("salt-pepper", 0.0, 0.04, 0.0, lambda x, c, p, g: layers.salt_pepper(x, p, g)),
    NoiseSpec("brightness", 0.7, 1.4, 1.0, lambda x, c, p, g: layers.brightness(x, p)),
    NoiseSpec("contrast", 0.6, 1.5, 1.0, lambda x, c, p, g: layers.contrast(x, p)),
    NoiseSpec("saturation", 0.0, 1.5, 1.0, lambda x, c, p, g: layers.saturation(x, p)),
    # Greyscale is a reference column of its own, so the curriculum tracks it apart.
    NoiseSpec("grey", 0, 0, 1, lambda x, c, p, g: layers.saturation(x, p)),
    NoiseSpec("hue", -20, 20, 0, lambda x, c, p, g: layers.hue(x, p)),
    NoiseSpec("dropout", 0.5, 0.9, 1.0, lambda x, c, p, g: layers.dropout(x, c, p, g)),
)


class NoiseMixer:
    """Applies a random chain of one or two noises to each sample of a batch."""

    def __init__(self, noises: tuple[NoiseSpec, ...] = TRAINING_NOISES, chain_probability: float = 0.4,
                 curriculum: float = 0.5, seed: int = 0):
        self.noises = {n.name: n for n in noises}
        self.chain_probability = chain_probability
        self.curriculum = curriculum
        self.accuracy = {name: 0.5 for name in self.noises}
        self.generator = torch.Generator().manual_seed(seed)

    def weights(self) -> list[float]:
        """Sampling weights: half uniform, half proportional to each noise's error rate."""
        errors = [max(1 - self.accuracy[name], 0.002) for name in self.noises]
        total = sum(errors)
        n = len(errors)
        return [(1 - self.curriculum) / n + self.curriculum * e / total for e in errors]

    def sample_chains(self, batch: int) -> list[list[str]]:
        names = list(self.noises)
        weights = self.weights()
        chains = []
        for _ in range(batch):
            length = 2 if random.random() < self.chain_probability else 1
            chains.append(random.choices(names, weights=weights, k=length))
        return chains

    def __call__(self, x: torch.Tensor, cover: torch.Tensor, ramp: float,
                 chains: list[list[str]]) -> torch.Tensor:
        """Noised batch; ``chains[i]`` lists the noises for sample ``i``, in order."""
        for slot in range(max(len(c) for c in chains)):
            groups: dict[str, list[int]] = {}
            for i, chain in enumerate(chains):
                if slot < len(chain):
                    groups.setdefault(chain[slot], []).append(i)
            out = x.clone()
            for name, members in groups.items():
                if name == "identity":
                    continue
                idx = torch.tensor(members)
                spec = self.noises[name]
                params = spec.sample(len(members), ramp, self.generator)
                out[idx] = spec.apply(x[idx], cover[idx], params, self.generator).to(x.dtype)
            x = layers.quantize(out)
        return x

    def update(self, chains: list[list[str]], accuracy: torch.Tensor, momentum: float = 0.98) -> None:
        """Track each noise's running bit accuracy from per-sample accuracies."""
        for chain, acc in zip(chains, accuracy.tolist()):
            for name in set(chain):
                self.accuracy[name] = momentum * self.accuracy[name] + (1 - momentum) * acc

    def state_dict(self) -> dict:
        return {"accuracy": dict(self.accuracy), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.accuracy.update(state["accuracy"])
        self.generator.set_state(state["generator"])
