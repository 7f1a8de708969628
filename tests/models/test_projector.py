"""W+ refinement: lowers the loss, never returns worse, batch-independent, noise optimisation."""

from __future__ import annotations

import math

import pytest
import torch

from datasetgan.models.encoders import EncoderConfigError, EncoderInputError
from datasetgan.models.lpips import load_lpips
from datasetgan.models.projector import RefineConfig, refine_latents
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import Generator


@pytest.fixture(scope="module")
def generator() -> Generator:
    cfg = GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)
    g = Generator(cfg, seed=3).eval()
    g.estimate_w_avg(256, seed=0)
    return g


def _problem(generator: Generator, n: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets rendered from known codes, and a perturbed start (what an encoder would give)."""
    rng = torch.Generator().manual_seed(11)
    w = generator.mapping(torch.randn(n, 32, generator=rng))
    ws_true = w.unsqueeze(1).expand(-1, generator.n_latent, -1).contiguous()
    with torch.no_grad():
        targets = generator.synthesize(ws_true, noise_mode="const", taps="none").image
    start = ws_true + 0.5 * torch.randn(ws_true.shape, generator=rng)
    return targets, start.detach(), ws_true.detach()


def test_refinement_lowers_loss(generator: Generator) -> None:
    targets, start, _ = _problem(generator)
    cfg = RefineConfig(steps=25, lr=0.1, lpips_lambda=0.0)
    result = refine_latents(generator, targets, start, config=cfg)
    assert result.ws.shape == start.shape and result.noise is None
    assert (result.loss_best < 0.5 * result.loss_start).all(), (result.loss_start, result.loss_best)
    assert (result.best_step > 0).all()
    assert result.history.shape == (26, 3)
    assert torch.equal(result.history.min(0).values, result.loss_best)
    # (the W+ error itself need not fall: image-space optimisation in W+ is underdetermined)


def test_with_lpips_and_noise_optimisation(generator: Generator) -> None:
    targets, start, _ = _problem(generator, n=2)
    lpips = load_lpips(trunk="random")
    cfg = RefineConfig(steps=8, lr=0.1, lr_rampup=0.2, noise="optimize", noise_regularize=1e3)
    result = refine_latents(generator, targets, start, config=cfg, lpips=lpips)
    assert (result.loss_best < result.loss_start).all()
    assert result.noise is not None and len(result.noise) == len(generator.noise_buffers())
    for noise, buf in zip(result.noise, generator.noise_buffers(), strict=True):
        assert noise.shape == (2, 1, *buf.shape[-2:])
        assert not noise.requires_grad
    assert all(p.requires_grad for p in generator.parameters())  # frozen only while refining


def test_never_worse_than_start(generator: Generator) -> None:
    targets, _, ws_true = _problem(generator, n=2)
    cfg = RefineConfig(steps=5, lr=50.0, lpips_lambda=0.0)  # absurd lr: every step is worse
    result = refine_latents(generator, targets, ws_true, config=cfg)
    assert torch.equal(result.ws, ws_true)
    assert (result.best_step == 0).all() and torch.equal(result.loss_best, result.loss_start)


def test_batched_equals_one_at_a_time(generator: Generator) -> None:
    targets, start, _ = _problem(generator, n=3)
    cfg = RefineConfig(steps=8, lr=0.1, lpips_lambda=0.0)
    batched = refine_latents(generator, targets, start, config=cfg).ws
    single = torch.cat(
        [
            refine_latents(generator, targets[i : i + 1], start[i : i + 1], config=cfg).ws
            for i in range(3)
        ]
    )
    assert torch.allclose(batched, single, atol=1e-4)


def test_lr_schedule() -> None:
    cfg = RefineConfig(lr=0.1, lr_rampup=0.05, lr_rampdown=0.25)
    assert cfg.lr_at(0.0) == 0.0
    assert math.isclose(cfg.lr_at(0.025), 0.05)
    assert cfg.lr_at(0.5) == pytest.approx(0.1)
    assert cfg.lr_at(0.875) == pytest.approx(0.05)
    assert cfg.lr_at(1.0) == pytest.approx(0.0)


def test_refusals(generator: Generator) -> None:
    targets, start, _ = _problem(generator, n=2)
    with pytest.raises(EncoderInputError, match=r"expected \[N, 3, 32, 32\]"):
        refine_latents(
            generator, targets[..., :16, :16], start, config=RefineConfig(lpips_lambda=0)
        )
    with pytest.raises(EncoderInputError, match="ws_init"):
        refine_latents(generator, targets, start[:, :4], config=RefineConfig(lpips_lambda=0))
    with pytest.raises(EncoderConfigError, match="LPIPS"):
        refine_latents(generator, targets, start, config=RefineConfig())
    with pytest.raises(EncoderConfigError, match="rng"):
        refine_latents(generator, targets, start, config=RefineConfig(lpips_lambda=0, w_noise=0.05))
    with pytest.raises(EncoderConfigError, match="noise"):
        RefineConfig(noise="random")
