"""ISMark OPT embedding (paper 002, Algorithm 1): optimise the marked image itself.

The marked image ``I`` (at the model's working size) is the optimisation variable.
Each iteration decodes it through every noise layer of :data:`NOISES` and minimises
``L = λE·MSE(I_co, I) + λD·mean_j MSE(M, σ(D(NO_j(I))))`` (Eq. 5-7) with Adam
(lr 1e-3, k = 200 iterations, λE = 1, λD = 2, the paper's values). ``I`` starts
from the encoder's output (the paper allows the cover or the encoder's output).

One addition keeps the product's invisibility contract: after every step the
residual ``I - I_co`` is scaled back into the energy budget of the chosen strength
(a projected gradient step), so the PSNR is the encoder's at the same strength.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from .models.network import WatermarkModel
from .noise import layers

ITERATIONS = 200
LEARNING_RATE = 1e-3
LAMBDA_E = 1.0
LAMBDA_D = 2.0

# Differentiable distortions the mark is optimised against (the reference attacks' families).
NOISES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda x: x,
    "jpeg50": lambda x: layers.jpeg_mask(x, 50.0),  # MBRS JPEG-Mask: 10x cheaper than kornia's
    "resize0.5": lambda x: layers.resize(x, 0.5),
    "blur": lambda x: layers.blur(x, 0.8),
    "grey": lambda x: layers.saturation(x, 0.0),
}


def optimise(model: WatermarkModel, cover: torch.Tensor, bits: torch.Tensor, strength: float = 1.0,
             iterations: int = ITERATIONS) -> torch.Tensor:
    """Residual (same shape as ``cover``, B×3×S×S in [0, 1]) found by OPT embedding."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    budget = strength * model.amplitude  # RMS of the residual at this strength
    with torch.no_grad():
        start = cover + strength * model.residual(cover, bits)
    image = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=LEARNING_RATE)
    target = bits.float()
    try:
        for _ in range(iterations):
            decoded = [torch.sigmoid(model.decoder(noise(image))) for noise in NOISES.values()]
            loss_d = torch.stack([F.mse_loss(d, target) for d in decoded]).mean()
            loss = LAMBDA_E * F.mse_loss(image, cover) + LAMBDA_D * loss_d
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():  # back into the energy budget, image by image
                residual = image - cover
                rms = residual.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
                image.copy_(cover + residual * (budget / rms).clamp(max=1.0))
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    return (image - cover).detach()
