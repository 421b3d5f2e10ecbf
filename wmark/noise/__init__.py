"""Differentiable noise layers for training (torch). Import only where torch is wanted."""

from .mixer import TRAINING_NOISES, NoiseMixer, NoiseSpec

__all__ = ["TRAINING_NOISES", "NoiseMixer", "NoiseSpec"]
