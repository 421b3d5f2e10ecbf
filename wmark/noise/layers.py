"""Differentiable noise layers: torch versions of the attack registry's attacks.

Every function takes a batch ``x`` (B,3,H,W, float in [0,1]) and per-sample parameters
(a tensor of shape (B,), or a float), and returns a batch of the same shape. None keeps
state, writes files or mutates its input. Codecs without a usable gradient (real JPEG,
WebP) use a straight-through estimator: the forward pass is the real codec, the backward
pass is the identity (MBRS's "real JPEG" mini-batches).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from torch.nn import functional as F

from ..models.layers import dct_matrix


def _per_sample(value: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(value):
        value = torch.tensor(float(value))
    return value.to(x).reshape(-1).expand(x.shape[0]).reshape(-1, 1, 1, 1)


def straight_through(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Forward value ``y``, gradient of the identity with respect to ``x``."""
    return x + (y - x).detach()


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0,1] and round to 8-bit levels with a straight-through gradient."""
    x = x.clamp(0, 1)
    return straight_through(x, torch.round(x * 255) / 255)


def _codec_roundtrip(x: torch.Tensor, quality: torch.Tensor, fmt: str, **options) -> torch.Tensor:
    from PIL import Image

    arrays = (x.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    out = []
    for array, q in zip(arrays, quality.reshape(-1).tolist()):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, fmt, quality=int(round(q)), **options)
        buffer.seek(0)
        out.append(np.asarray(Image.open(buffer).convert("RGB")))
    decoded = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x) / 255
    return straight_through(x, decoded)


def jpeg_real(x: torch.Tensor, quality: float | torch.Tensor) -> torch.Tensor:
    """Real libjpeg round trip (4:2:0, like most photos in the wild), straight-through."""
    return _codec_roundtrip(x, _per_sample(quality, x), "JPEG", subsampling=2)


def webp(x: torch.Tensor, quality: float | torch.Tensor) -> torch.Tensor:
    """Real libwebp round trip, straight-through."""
    return _codec_roundtrip(x, _per_sample(quality, x), "WEBP", method=2)


def jpeg_simulated(x: torch.Tensor, quality: float | torch.Tensor) -> torch.Tensor:
    """kornia's differentiable JPEG (quantisation with a smooth rounding)."""
    from kornia.enhance import jpeg_codec_differentiable

    h, w = x.shape[-2:]
    pad = (0, (-w) % 16, 0, (-h) % 16)
    padded = F.pad(x, pad, mode="replicate") if any(pad) else x
    out = jpeg_codec_differentiable(padded.clamp(0, 1), _per_sample(quality, x).reshape(-1))
    return out[..., :h, :w]


_RGB_TO_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def jpeg_mask(x: torch.Tensor, quality: float | torch.Tensor = 50) -> torch.Tensor:
    """MBRS JPEG-Mask: keep the 5x5 low-frequency DCT coefficients of Y and 3x3 of U, V."""
    b, _, h, w = x.shape
    pad = (0, (-w) % 8, 0, (-h) % 8)
    padded = F.pad(x, pad, mode="replicate") if any(pad) else x
    yuv = torch.einsum("ij,bjhw->bihw", _RGB_TO_YUV.to(x), padded)
    d = dct_matrix(8).to(x)
    blocks = yuv.unfold(2, 8, 8).unfold(3, 8, 8)  # b,3,H/8,W/8,8,8
    coeffs = d @ blocks @ d.t()
    mask = torch.zeros(3, 8, 8, device=x.device, dtype=x.dtype)
    mask[0, :5, :5] = 1
    mask[1:, :3, :3] = 1
    blocks = d.t() @ (coeffs * mask[None, :, None, None]) @ d
    yuv = blocks.permute(0, 1, 2, 4, 3, 5).reshape(b, 3, padded.shape[2], padded.shape[3])
    rgb = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YUV).to(x), yuv)
    return rgb[..., :h, :w]


def jpeg(x: torch.Tensor, quality: float | torch.Tensor, mode: str = "real") -> torch.Tensor:
    """JPEG by ``mode``: ``real`` (straight-through), ``simulated`` (kornia) or ``mask``."""
    return {"real": jpeg_real, "simulated": jpeg_simulated, "mask": jpeg_mask}[mode](x, quality)


def resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Downscale by ``factor`` (antialiased) and back to the original size."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(h * factor)), max(1, round(w * factor))), mode="bilinear",
                          antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def affine(x: torch.Tensor, scale: torch.Tensor, angle_deg: torch.Tensor, shift: torch.Tensor,
           padding_mode: str = "zeros") -> torch.Tensor:
    """Per-sample zoom (``scale`` < 1 shows a smaller region), rotation and shift
    (fraction of the half-size), resampled to the same size; outside is black."""
    theta = torch.zeros(x.shape[0], 2, 3, dtype=x.dtype, device=x.device)
    rad = angle_deg.to(x) * math.pi / 180
    s = scale.to(x)
    theta[:, 0, 0] = s * torch.cos(rad)
    theta[:, 0, 1] = -s * torch.sin(rad)
    theta[:, 1, 0] = s * torch.sin(rad)
    theta[:, 1, 1] = s * torch.cos(rad)
    theta[:, :, 2] = shift.to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def jitter(x: torch.Tensor, amount: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Small random misalignment, what is left after extract's synchronisation search:
    up to ``amount`` x (3 % zoom, 1 degree, 2 % shift) per sample."""
    a = _per_sample(amount, x).reshape(-1)
    u = torch.rand(x.shape[0], 4, generator=generator).to(x) * 2 - 1
    return affine(x, 1 + 0.03 * a * u[:, 0], a * u[:, 1], 0.02 * a[:, None] * u[:, 2:], padding_mode="border")


def border(x: torch.Tensor, keep: float | torch.Tensor) -> torch.Tensor:
    """Keep the centred ``keep`` fraction of each side; the rest becomes the image's mean
    colour (a crop after extract has re-aligned it, or a cropout)."""
    k = _per_sample(keep, x).reshape(-1, 1, 1)
    h, w = x.shape[-2:]
    ys = (torch.arange(h, device=x.device) + 0.5) / h - 0.5
    xs = (torch.arange(w, device=x.device) + 0.5) / w - 0.5
    inside = ((ys.abs()[None, :, None] <= k / 2) & (xs.abs()[None, None, :] <= k / 2)).unsqueeze(1)
    return torch.where(inside, x, x.mean(dim=(2, 3), keepdim=True))


def rotate(x: torch.Tensor, degrees: float | torch.Tensor) -> torch.Tensor:
    """Rotate about the centre, same size, black corners."""
    angle = _per_sample(degrees, x).reshape(-1)
    return affine(x, torch.ones_like(angle), angle, torch.zeros(x.shape[0], 2))


def blur(x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """Gaussian blur with a per-sample sigma."""
    from kornia.filters import gaussian_blur2d

    s = _per_sample(sigma, x).reshape(-1, 1).clamp_min(0.05)
    size = int(2 * math.ceil(3 * float(s.max())) + 1)
    return gaussian_blur2d(x, (size, size), torch.cat([s, s], dim=1), border_type="reflect")


def median(x: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """OpenCV median filter, straight-through (kornia's sort-based one is ~50x slower)."""
    import cv2

    k = int(kernel) | 1
    arrays = (x.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    filtered = np.stack([cv2.medianBlur(np.ascontiguousarray(a), k) for a in arrays])
    return straight_through(x, torch.from_numpy(filtered).permute(0, 3, 1, 2).to(x) / 255)


def gaussian_noise(x: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return x + _per_sample(sigma, x) * torch.randn(x.shape, generator=generator).to(x)


def salt_pepper(x: torch.Tensor, amount: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a fraction ``amount`` of pixels to black or white (all channels)."""
    b, _, h, w = x.shape
    u = torch.rand(b, 1, h, w, generator=generator).to(x)
    p = _per_sample(amount, x)
    salt = (u < p / 2).to(x)
    pepper = ((u >= p / 2) & (u < p)).to(x)
    return x * (1 - salt - pepper) + salt


def brightness(x: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    return x * _per_sample(factor, x)


def contrast(x: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Scale about the mean grey level of each image."""
    mean = luma(x).mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_sample(factor, x) + mean


def luma(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114]).to(x).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def saturation(x: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with the greyscale image; 0 gives R=G=B."""
    grey = luma(x)
    return grey + (x - grey) * _per_sample(factor, x)


def hue(x: torch.Tensor, degrees: float | torch.Tensor) -> torch.Tensor:
    from kornia.enhance import adjust_hue

    return adjust_hue(x.clamp(0, 1), _per_sample(degrees, x).reshape(-1) * math.pi / 180)


def dropout(x: torch.Tensor, cover: torch.Tensor, keep: float | torch.Tensor,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """HiDDeN dropout: keep a fraction ``keep`` of marked pixels, the rest from the cover."""
    u = torch.rand(x.shape[0], 1, *x.shape[-2:], generator=generator).to(x)
    mask = (u < _per_sample(keep, x)).to(x)
    return x * mask + cover * (1 - mask)
