"""W+ refinement by optimisation (rosinality's projector, EditGAN's per-image refinement), batched.

Starting from a code (typically the encoder's), Adam optimises W+ — and with ``noise="optimize"`` the
per-layer noise maps — to minimise, per image,

    mse_lambda * MSE(G(w), x) + lpips_lambda * LPIPS(G(w), x) [+ noise_regularize * autocorr(noise)]

with images compared at ``<= loss_size`` px. The learning rate warms up linearly over the first
``lr_rampup`` of the steps and follows a cosine ramp-down over the last ``lr_rampdown``. Each image
keeps its best code seen (the lowest reconstruction loss, evaluated at every step including the
start and the end), so refinement never returns a worse code than it was given. Losses are summed
over images and Adam is element-wise, so an image's result does not depend on its batch.

Shapes: targets [N, 3, H, W] in [-1, 1]; codes [N, L, D]; noise maps [N, 1, R, R].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from datasetgan.models.encoders.errors import EncoderConfigError, EncoderInputError
from datasetgan.models.encoders.generator_access import w_avg_of
from datasetgan.models.encoders.losses import (
    mse_per_image,
    noise_autocorrelation,
    to_loss_size,
)
from datasetgan.models.lpips import LPIPS
from datasetgan.models.stylegan2.generator import Generator

NOISE_MODES = ("const", "optimize")


@dataclass(frozen=True)
class RefineConfig:
    """Refinement schedule and loss weights (rosinality's defaults for the ramps and noise terms)."""

    steps: int = 100
    lr: float = 0.05
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    mse_lambda: float = 1.0
    lpips_lambda: float = 1.0
    noise: str = "const"
    noise_regularize: float = 1e5
    w_noise: float = 0.0
    w_noise_ramp: float = 0.75
    loss_size: int = 256
    pull_lambda: float = (
        0.0  # weight of mean (w - w_start)^2: keeps the code near the encoder's (HandsOff)
    )

    def __post_init__(self) -> None:
        if self.noise not in NOISE_MODES:
            raise EncoderConfigError(
                f"RefineConfig.noise: got {self.noise!r}, expected one of {NOISE_MODES}"
            )
        if self.steps < 0 or self.lr <= 0:
            raise EncoderConfigError(
                f"RefineConfig: got steps={self.steps}, lr={self.lr}, expected >= 0, > 0"
            )
        if not (
            0 < self.lr_rampup <= 1 and 0 < self.lr_rampdown <= 1 and 0 < self.w_noise_ramp <= 1
        ):
            raise EncoderConfigError(
                "RefineConfig: lr_rampup, lr_rampdown, w_noise_ramp must be in (0, 1]"
            )
        if (
            min(
                self.mse_lambda,
                self.lpips_lambda,
                self.noise_regularize,
                self.w_noise,
                self.pull_lambda,
            )
            < 0
        ):
            raise EncoderConfigError("RefineConfig: loss weights and w_noise must be >= 0")

    def lr_at(self, t: float) -> float:
        """Learning rate at progress ``t`` in [0, 1]: linear warm-up, cosine ramp-down."""
        down = min(1.0, (1.0 - t) / self.lr_rampdown)
        ramp = (0.5 - 0.5 * math.cos(down * math.pi)) * min(1.0, t / self.lr_rampup)
        return self.lr * ramp


class RefineResult(NamedTuple):
    ws: Tensor  # [N, L, D] best code per image
    noise: list[Tensor] | None  # best noise maps [N, 1, R, R] per layer ("optimize"), else None
    loss_start: Tensor  # [N] reconstruction loss of the starting code
    loss_best: Tensor  # [N] reconstruction loss of the returned code
    best_step: Tensor  # [N] step at which the returned code was seen (0 = the start)
    history: Tensor  # [steps + 1, N] reconstruction loss at every evaluated step


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Temporarily stop gradients to ``module``'s parameters (restored afterwards)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def _check(generator: Generator, targets: Tensor, ws_init: Tensor) -> None:
    n, res = targets.shape[0], generator.resolution
    if targets.ndim != 4 or tuple(targets.shape[1:]) != (3, res, res):
        raise EncoderInputError(
            f"refine: targets {tuple(targets.shape)}, expected [N, 3, {res}, {res}]"
        )
    want = (n, generator.n_latent, generator.w_dim)
    if tuple(ws_init.shape) != want:
        raise EncoderInputError(f"refine: ws_init {tuple(ws_init.shape)}, expected {list(want)}")


def _w_std(generator: Generator, rng: torch.Generator, n: int = 2000) -> float:
    with torch.no_grad():
        z = torch.randn(n, generator.w_dim, generator=rng).to(w_avg_of(generator))
        w = generator.mapping(z)
        return float((w - w.mean(0)).pow(2).sum(1).mean().sqrt())


class _Objective:
    """Per-image reconstruction loss of a code (and noise) against fixed targets."""

    def __init__(
        self, generator: Generator, targets: Tensor, cfg: RefineConfig, lpips: LPIPS | None
    ) -> None:
        self.generator, self.cfg, self.lpips = generator, cfg, lpips
        self.targets = to_loss_size(targets, cfg.loss_size)
        self.target_features: list[Tensor] | None = None
        if lpips is not None and cfg.lpips_lambda > 0:
            with torch.no_grad():  # computed once, reused every step
                self.target_features = lpips.features(self.targets)

    def __call__(self, ws: Tensor, noise: list[Tensor] | None) -> Tensor:
        image = self.generator.synthesize(ws, noise_mode="const", noise=noise, taps="none").image
        recon = to_loss_size(image, self.cfg.loss_size)
        loss = self.cfg.mse_lambda * mse_per_image(recon, self.targets)
        if self.lpips is not None and self.target_features is not None:
            perceptual = self.lpips.distance(self.lpips.features(recon), self.target_features)
            loss = loss + self.cfg.lpips_lambda * perceptual
        return loss


def refine_latents(
    generator: Generator,
    targets: Tensor,
    ws_init: Tensor,
    *,
    config: RefineConfig,
    lpips: LPIPS | None = None,
    rng: torch.Generator | None = None,
    progress: Callable[[int, Tensor], None] | None = None,
) -> RefineResult:
    """Refine ``ws_init [N, L, D]`` towards ``targets [N, 3, R, R]``; returns the best code per image.

    ``lpips`` is required when ``config.lpips_lambda > 0``; ``rng`` when ``config.w_noise > 0``.
    ``progress(step, per_image_loss)`` is called after every evaluated step.
    """
    _check(generator, targets, ws_init)
    if config.lpips_lambda > 0 and lpips is None:
        raise EncoderConfigError("refine: lpips_lambda > 0 needs an LPIPS model (or set it to 0)")
    if config.lpips_lambda > 0 and min(generator.resolution, config.loss_size) < 16:
        raise EncoderConfigError(
            f"refine: LPIPS needs images >= 16 px, got {min(generator.resolution, config.loss_size)}; "
            "set lpips_lambda=0"
        )
    if config.w_noise > 0 and rng is None:
        raise EncoderConfigError("refine: w_noise > 0 needs rng=torch.Generator(...)")
    with frozen(generator):
        return _optimise(generator, targets, ws_init, config, lpips, rng, progress)


def _init_noise(generator: Generator, n: int, mode: str) -> list[Tensor] | None:
    if mode != "optimize":
        return None
    return [
        b.detach().expand(n, -1, -1, -1).clone().requires_grad_(True)
        for b in generator.noise_buffers()
    ]


def _normalise_noise_(noises: list[Tensor]) -> None:
    """Keep each image's noise map at zero mean, unit variance (rosinality's noise_normalize_)."""
    with torch.no_grad():
        for noise in noises:
            mean = noise.mean(dim=(1, 2, 3), keepdim=True)
            std = noise.std(dim=(1, 2, 3), keepdim=True)
            noise.sub_(mean).div_(std)


def _optimise(
    generator: Generator,
    targets: Tensor,
    ws_init: Tensor,
    cfg: RefineConfig,
    lpips: LPIPS | None,
    rng: torch.Generator | None,
    progress: Callable[[int, Tensor], None] | None,
) -> RefineResult:
    objective = _Objective(generator, targets, cfg, lpips)
    n = targets.shape[0]
    ws = ws_init.detach().clone().requires_grad_(True)
    noises = _init_noise(generator, n, cfg.noise)
    optimizer = torch.optim.Adam([ws, *(noises or [])], lr=cfg.lr)
    w_std = _w_std(generator, rng) if cfg.w_noise > 0 and rng is not None else 0.0
    best = _Best(ws, noises)
    history = []
    for step in range(cfg.steps + 1):
        t = step / max(cfg.steps, 1)
        jitter = cfg.w_noise * w_std * max(0.0, 1 - t / cfg.w_noise_ramp) ** 2
        ws_in = (
            ws
            if jitter == 0 or rng is None
            else ws + jitter * torch.randn(ws.shape, generator=rng).to(ws)
        )
        per_image = objective(ws_in, noises)
        if cfg.pull_lambda > 0:  # stay near the starting (encoder's) code
            per_image = per_image + cfg.pull_lambda * (ws - ws_init).square().mean((1, 2))
        best.update(step, per_image.detach(), ws, noises)
        history.append(per_image.detach())
        if progress is not None:
            progress(step, per_image.detach())
        if step == cfg.steps:
            break
        loss = per_image.sum()
        if noises is not None and cfg.noise_regularize > 0:
            loss = loss + cfg.noise_regularize * noise_autocorrelation(noises).sum()
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if noises is not None:
            _normalise_noise_(noises)
    hist = torch.stack(history)
    return RefineResult(best.ws, best.noise, hist[0], best.loss, best.step, hist)


class _Best:
    """Per-image best code (and noise) seen so far."""

    def __init__(self, ws: Tensor, noises: list[Tensor] | None) -> None:
        n = ws.shape[0]
        self.ws = ws.detach().clone()
        self.noise = [x.detach().clone() for x in noises] if noises is not None else None
        self.loss = torch.full((n,), math.inf, device=ws.device)
        self.step = torch.zeros(n, dtype=torch.long, device=ws.device)

    def update(self, step: int, loss: Tensor, ws: Tensor, noises: list[Tensor] | None) -> None:
        better = loss < self.loss
        if not bool(better.any()):
            return
        self.loss = torch.where(better, loss, self.loss)
        self.step = torch.where(better, torch.full_like(self.step, step), self.step)
        self.ws[better] = ws.detach()[better]
        if self.noise is not None and noises is not None:
            for kept, cur in zip(self.noise, noises, strict=True):
                kept[better] = cur.detach()[better]
