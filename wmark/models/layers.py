"""Building blocks of the model family, each tagged with the paper it comes from."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation layer by name: ``batch``, ``instance`` (StegaStamp study) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


class ConvNormAct(nn.Sequential):
    """3x3 convolution, normalisation before the activation (StegaStamp study), ReLU.

    ``padding_mode="circular"`` gives ReDMark's circular convolutions, which treat the
    block grid as a torus so that every bit diffuses over the whole image.
    """

    def __init__(self, cin: int, cout: int, norm: str, padding_mode: str = "zeros", kernel: int = 3):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, padding_mode=padding_mode, bias=norm == "none"),
            make_norm(norm, cout),
            nn.ReLU(inplace=True),
        )


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation residual block (MBRS §3.1, after Hu et al.)."""

    def __init__(self, channels: int, norm: str, padding_mode: str = "zeros", reduction: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, norm, padding_mode),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode, bias=False),
            make_norm(norm, channels),
        )
        hidden = max(channels // reduction, 4)
        self.excite = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return F.relu(x + y * self.excite(y))


class ResidualBlock(nn.Module):
    """Plain residual conv block (HiDDeN-style stack with a skip)."""

    def __init__(self, channels: int, norm: str, padding_mode: str = "zeros"):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, norm, padding_mode),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode, bias=False),
            make_norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def dct_matrix(n: int = 8) -> torch.Tensor:
    """Orthonormal DCT-II basis, rows are frequencies."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    basis[0] /= math.sqrt(2)
    return basis.float()


class SpaceToDepth(nn.Module):
    """Image -> (colours*p*p, H/p, W/p) blocks; with ``dct=True`` each p x p block is replaced by
    its 2-D DCT coefficients, ReDMark's "DCT as a fixed 1x1 convolution after
    space-to-depth" (§3.1). Invertible: :meth:`inverse` maps coefficients back to pixels."""

    def __init__(self, patch: int, dct: bool, colours: int = 3):
        super().__init__()
        self.patch = patch
        channels = colours * patch * patch
        if dct:
            d = dct_matrix(patch)
            basis = torch.kron(d, d)  # (p*p, p*p): coefficient (u,v) from pixel (i,j)
            weight = torch.block_diag(*[basis] * colours)
        else:
            weight = torch.eye(channels)
        self.register_buffer("weight", weight[:, :, None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pixel_unshuffle(x, self.patch), self.weight)

    def inverse(self, coefficients: torch.Tensor) -> torch.Tensor:
        pixels = F.conv2d(coefficients, self.weight[:, :, 0, 0].t()[:, :, None, None])
        return F.pixel_shuffle(pixels, self.patch)
