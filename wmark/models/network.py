"""One watermarking model family: the seed papers' ideas are options of one config.

Contract (DESIGN.md): ``encoder(image[B,3,H,W] in [0,1], bits[B,L]) -> residual`` and
``decoder(image) -> logits[B,L]`` at a fixed working resolution. All heavy work happens
on the block grid (H/patch x W/patch) after space-to-depth, so a 256x256 image with
8x8 blocks is a 32x32 grid of 192 channels.

Where each option comes from:
- HiDDeN (Zhu et al.): broadcast message, conv stacks, global-pooling decoder head.
- IGA (``message="coding"``, ``attention=True``): MLP message coding module and the
  inverse gradient attention mask A = 1 - g(grad of message loss w.r.t. the cover).
- MBRS (``block="se"``, ``message="processor"``, ``diffusion=True``): SE blocks, the
  message processor, and the diffusion / inverse-diffusion fully connected blocks.
- ReDMark (``dct=True``, ``padding="circular"``): 8x8 block DCT as a fixed 1x1 conv
  after space-to-depth, circular convolutions, a strength factor on the residual.
- StegaStamp study (``decoder_norm="instance"``): instance norm before activations.
- TrustMark: mean-free residual, scaled by a strength factor on any image size.
- ``luma=True``: the residual is one luma plane added equally to R, G and B (so colour
  edits, greyscale and hue shifts leave it whole) and the decoder reads luma alone;
  ``standardise=True``: the decoder sees each image at zero mean and unit variance, so
  brightness and contrast gains cancel by construction.
- ``spread=True``: a learnable linear block code beside the conv paths, the classic
  spread-spectrum watermark (one p x p x 3 pattern per bit, tiled; read back by a
  projection of the image's mean block). Encoder and decoder start matched, so bits
  are readable from step 0 and the conv paths learn content adaptivity and robustness
  on top of it instead of first having to agree on a code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from .layers import ConvNormAct, ResidualBlock, SpaceToDepth, SqueezeExcite


@dataclass(frozen=True)
class ModelConfig:
    """Architecture options of the family (see module docstring for their sources)."""

    bits: int = 64
    size: int = 256
    patch: int = 8
    dct: bool = False
    channels: int = 64
    encoder_blocks: int = 2
    decoder_blocks: int = 3
    encoder_norm: str = "batch"
    decoder_norm: str = "batch"
    block: str = "residual"  # "residual" | "se"
    padding: str = "zeros"  # "zeros" | "circular"
    message: str = "coding"  # "broadcast" | "coding" | "processor"
    message_channels: int = 32
    diffusion: bool = False
    attention: bool = False
    spread: bool = False
    luma: bool = False
    standardise: bool = False
    psnr: float = 42.0  # residual energy at strength 1, as PSNR at the working size

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model options: {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def grid(self) -> int:
        return self.size // self.patch

    @property
    def residual_channels(self) -> int:
        """Colour planes the encoder writes and the decoder reads: 1 (luma) or 3 (RGB)."""
        return 1 if self.luma else 3


def _blocks(cfg: ModelConfig, count: int, norm: str) -> nn.Sequential:
    block = SqueezeExcite if cfg.block == "se" else ResidualBlock
    return nn.Sequential(*[block(cfg.channels, norm, cfg.padding) for _ in range(count)])


class MessageEmbedding(nn.Module):
    """Bits -> message feature map on the block grid."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.message == "broadcast":  # HiDDeN: the message itself, copied to every cell
            self.out_channels = cfg.bits
        elif cfg.message == "coding":  # IGA message coding: MLP with one hidden layer
            self.mlp = nn.Sequential(
                nn.Linear(cfg.bits, 4 * cfg.bits), nn.ReLU(inplace=True), nn.Linear(4 * cfg.bits, cfg.message_channels)
            )
            self.out_channels = cfg.message_channels
        elif cfg.message == "processor":  # MBRS message processor (+ diffusion FC)
            side = cfg.grid // 2
            self.side = side
            self.diffuse = nn.Linear(cfg.bits, side * side) if cfg.diffusion else None
            if not cfg.diffusion and cfg.bits > side * side:
                raise ValueError("message processor without diffusion needs bits <= (grid/2)^2")
            self.process = nn.Sequential(
                ConvNormAct(1, cfg.message_channels, cfg.encoder_norm),
                nn.ConvTranspose2d(cfg.message_channels, cfg.message_channels, 2, stride=2),
                SqueezeExcite(cfg.message_channels, cfg.encoder_norm),
            )
            self.out_channels = cfg.message_channels
        else:
            raise ValueError(f"unknown message embedding {cfg.message!r}")

    def forward(self, bits: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        signed = bits.float() * 2 - 1
        if self.cfg.message == "broadcast":
            return signed[:, :, None, None].expand(-1, -1, *grid)
        if self.cfg.message == "coding":
            return self.mlp(signed)[:, :, None, None].expand(-1, -1, *grid)
        if self.diffuse is not None:
            plane = self.diffuse(signed)
        else:
            plane = F.pad(signed, (0, self.side * self.side - signed.shape[1]))
        features = self.process(plane.view(-1, 1, self.side, self.side))
        return F.interpolate(features, size=grid, mode="nearest") if features.shape[-2:] != grid else features


class Encoder(nn.Module):
    """Cover + bits -> unit-energy, mean-free residual at the working resolution."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c0 = 3 * cfg.patch * cfg.patch
        c_out = cfg.residual_channels * cfg.patch * cfg.patch
        self.to_blocks = SpaceToDepth(cfg.patch, cfg.dct)
        self.from_blocks = SpaceToDepth(cfg.patch, cfg.dct, cfg.residual_channels)
        self.stem = ConvNormAct(c0, cfg.channels, cfg.encoder_norm, cfg.padding)
        self.features = _blocks(cfg, cfg.encoder_blocks, cfg.encoder_norm)
        self.message = MessageEmbedding(cfg)
        self.fuse = nn.Sequential(
            ConvNormAct(cfg.channels + self.message.out_channels + c0, cfg.channels, cfg.encoder_norm, cfg.padding),
            _blocks(cfg, 1, cfg.encoder_norm),
        )
        self.head = nn.Conv2d(cfg.channels + c0, c_out, 1)  # MBRS: concatenate the cover, 1x1 conv
        self.spread = nn.Linear(cfg.bits, c_out, bias=False) if cfg.spread else None
        if self.spread is not None:
            nn.init.orthogonal_(self.spread.weight)

    def forward(self, cover: torch.Tensor, bits: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        attended = cover if attention is None else cover * attention  # IGA: A (.) I_co
        blocks = self.to_blocks(attended * 2 - 1)
        features = self.features(self.stem(blocks))
        message = self.message(bits, tuple(blocks.shape[-2:]))
        fused = self.fuse(torch.cat([features, message, blocks], dim=1))
        out = self.head(torch.cat([fused, blocks], dim=1))
        if self.spread is not None:
            out = out + self.spread(bits.float() * 2 - 1)[:, :, None, None]
        residual = torch.tanh(self.from_blocks.inverse(out))
        return unit_energy(residual.expand(-1, 3, -1, -1))


def unit_energy(residual: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean-free per channel (TrustMark), then scaled to unit RMS per image."""
    residual = residual - residual.mean(dim=(2, 3), keepdim=True)
    rms = residual.pow(2).mean(dim=(1, 2, 3), keepdim=True).add(eps).sqrt()
    return residual / rms


class Decoder(nn.Module):
    """Image -> bit logits; works on any size whose sides are multiples of ``patch``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c0 = cfg.residual_channels * cfg.patch * cfg.patch
        self.to_blocks = SpaceToDepth(cfg.patch, cfg.dct, cfg.residual_channels)
        self.stem = ConvNormAct(c0, cfg.channels, cfg.decoder_norm, cfg.padding)
        self.features = _blocks(cfg, cfg.decoder_blocks, cfg.decoder_norm)
        if cfg.diffusion:  # MBRS inverse diffusion: one plane, fully connected to the bits
            self.to_plane = nn.Conv2d(cfg.channels, 1, 3, padding=1, padding_mode=cfg.padding)
            self.fc = nn.Linear(cfg.grid * cfg.grid, cfg.bits)
        else:  # HiDDeN: one channel per bit, global average pooling, linear layer
            self.to_bits = nn.Conv2d(cfg.channels, cfg.bits, 1)
            self.fc = nn.Linear(cfg.bits, cfg.bits)
        self.despread = nn.Linear(c0, cfg.bits) if cfg.spread else None

    def prepare(self, image: torch.Tensor) -> torch.Tensor:
        """The planes the decoder reads: luma or RGB, standardised per image or mapped to [-1, 1]."""
        if self.cfg.luma:
            image = luma(image)
        if not self.cfg.standardise:
            return image * 2 - 1
        mean = image.mean(dim=(1, 2, 3), keepdim=True)
        std = image.std(dim=(1, 2, 3), keepdim=True)
        return (image - mean) / (std + 1e-2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        blocks = self.to_blocks(self.prepare(image))
        features = self.features(self.stem(blocks))
        if self.cfg.diffusion:
            plane = self.to_plane(features)
            if plane.shape[-2:] != (self.cfg.grid, self.cfg.grid):
                plane = F.interpolate(plane, size=(self.cfg.grid, self.cfg.grid), mode="bilinear", align_corners=False)
            logits = self.fc(plane.flatten(1))
        else:
            logits = self.fc(self.to_bits(features).mean(dim=(2, 3)))
        if self.despread is not None:
            mean_block = blocks - blocks.mean(dim=1, keepdim=True)  # drop each block's own DC
            logits = logits + self.despread(mean_block.mean(dim=(2, 3)))
        return logits


class WatermarkModel(nn.Module):
    """Encoder + decoder pair with the strength convention of the family."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        if cfg.spread:  # start with a matched code: the decoder projects on the encoder's patterns
            with torch.no_grad():
                self.decoder.despread.weight.copy_(self.encoder.spread.weight.t() * 8.0)
                self.decoder.despread.bias.zero_()

    @property
    def amplitude(self) -> float:
        """RMS of the residual at strength 1 (from the configured PSNR)."""
        return 10 ** (-self.cfg.psnr / 20)

    def attention_mask(self, cover: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """IGA inverse gradient attention: 1 - min-max normalised |d loss / d cover|."""
        with torch.enable_grad():
            probe = cover.detach().requires_grad_(True)
            marked = probe + self.amplitude * self.encoder(probe, bits)
            loss = F.binary_cross_entropy_with_logits(self.decoder(marked), bits.float())
            (grad,) = torch.autograd.grad(loss, probe)
        grad = grad.abs()
        low = grad.amin(dim=(1, 2, 3), keepdim=True)
        high = grad.amax(dim=(1, 2, 3), keepdim=True)
        return 1 - (grad - low) / (high - low + 1e-12)

    def unit_residual(self, cover: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """The encoder's residual (unit RMS) for covers at the working size: what the
        masked path (:func:`wmark.geometry.masked_mark`) shapes into a photo's mark."""
        attention = self.attention_mask(cover, bits) if self.cfg.attention else None
        return self.encoder(cover, bits, attention)

    def residual(self, cover: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """Residual at strength 1 (RMS = ``amplitude``) for covers at the working size."""
        return self.amplitude * self.unit_residual(cover, bits)

    def forward(self, cover: torch.Tensor, bits: torch.Tensor, strength: float | torch.Tensor = 1.0) -> torch.Tensor:
        """Marked image (unclamped) at the working size."""
        return cover + strength * self.residual(cover, bits)


def luma(image: torch.Tensor) -> torch.Tensor:
    """BT.601 luma plane (B,1,H,W) of an RGB batch: what an equal R=G=B residual changes."""
    weights = image.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def psnr_to_amplitude(psnr: float) -> float:
    return 10 ** (-psnr / 20)


def amplitude_to_psnr(amplitude: float) -> float:
    return -20 * math.log10(amplitude)
