"""Losses of encoder training and refinement, each per image (``[N]``) so batching never mixes images.

Shapes: images [N, 3, H, W] in [-1, 1]; codes [N, L, D].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, autograd, nn

from datasetgan.models.lpips import LPIPS


def to_loss_size(x: Tensor, size: int) -> Tensor:
    """Area-downsample a square batch to ``size`` when it is larger (pSp compares at 256 px)."""
    if x.shape[-1] <= size:
        return x
    return F.adaptive_avg_pool2d(x, (size, size))


def mse_per_image(a: Tensor, b: Tensor) -> Tensor:
    """Mean squared error of each image pair: ``[N, ...] x [N, ...] -> [N]``."""
    return (a - b).pow(2).flatten(1).mean(dim=1)


def lpips_per_image(lpips: LPIPS | None, a: Tensor, b: Tensor) -> Tensor:
    """LPIPS distance ``[N]``; zeros when no LPIPS model is given (its weight is then 0).

    The value-range scan is skipped: reconstructions of an untrained encoder may leave [-1, 1].
    """
    if lpips is None:
        return a.new_zeros(a.shape[0])
    return lpips(a, b, check="none")


def w_norm_per_image(ws: Tensor, latent_avg: Tensor) -> Tensor:
    """pSp's W-norm: L2 norm of the code's offset from the mean W, ``[N, L, D] -> [N]``."""
    return (ws - latent_avg.unsqueeze(0)).flatten(1).norm(dim=1)


def delta_per_image(ws: Tensor, stage: int, *, p: int = 2) -> Tensor:
    """e4e delta regularisation: sum over active entries i = 1..stage of ``||w_i - w_0||_p``. [N]."""
    if stage < 1:
        return ws.new_zeros(ws.shape[0])
    deltas = ws[:, 1 : stage + 1] - ws[:, :1]
    return deltas.norm(p=p, dim=2).sum(dim=1)


def noise_autocorrelation(noises: list[Tensor]) -> Tensor:
    """rosinality's noise regulariser per image: squared autocorrelation at shifts of 1 px,
    over a pyramid of 2x2 averages down to 8 px. noises: one ``[N, 1, R, R]`` per layer -> [N]."""
    total: Tensor | None = None
    for noise in noises:
        level = noise
        while True:
            for dim in (2, 3):
                term = (level * torch.roll(level, shifts=1, dims=dim)).flatten(1).mean(dim=1).pow(2)
                total = term if total is None else total + term
            size = level.shape[-1]
            if size <= 8:
                break
            level = F.avg_pool2d(level, 2)
    assert total is not None
    return total


class LatentDiscriminator(nn.Module):
    """e4e's latent-code discriminator: an MLP on single w vectors ``[N, D] -> [N, 1]``.

    Keys ``mlp.{0,2,..}.weight/bias`` as e4e's ``discriminator_state_dict``.
    """

    def __init__(self, style_dim: int, n_layers: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(n_layers - 1):
            layers += [nn.Linear(style_dim, style_dim), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(style_dim, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, w: Tensor) -> Tensor:
        return self.mlp(w)


def discriminator_loss(real_pred: Tensor, fake_pred: Tensor) -> Tensor:
    """Non-saturating logistic loss of the discriminator (scalar)."""
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def r1_penalty(discriminator: nn.Module, real_w: Tensor) -> Tensor:
    """R1: mean over the batch of ``||d D(w) / d w||^2`` at real codes (scalar)."""
    real_w = real_w.detach().requires_grad_(True)
    pred = discriminator(real_w)
    (grad,) = autograd.grad(pred.sum(), real_w, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def adversarial_per_image(discriminator: nn.Module, ws: Tensor, dims: int) -> Tensor:
    """Encoder's adversarial loss: softplus(-D(w_i)) averaged over the first ``dims`` entries. [N]."""
    preds = discriminator(ws[:, :dims].reshape(-1, ws.shape[-1])).view(ws.shape[0], dims)
    return F.softplus(-preds).mean(dim=1)
