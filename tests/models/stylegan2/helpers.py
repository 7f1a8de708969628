"""Tiny generators for the model tests (a plain module: `conftest` is not importable by name once
several test folders have one)."""

from __future__ import annotations

import torch

from datasetgan.models.stylegan2 import Generator, GeneratorConfig

TINY = GeneratorConfig(resolution=16, w_dim=32, n_mlp=2, channel_base=128, channel_max=16)


def perturbed(config: GeneratorConfig = TINY, seed: int = 0) -> Generator:
    """A tiny generator whose noise strengths and biases are non-zero (fresh ones start at zero)."""
    g = Generator(config, seed=seed).eval()
    rng = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn(p.shape, generator=rng) * 0.1)
        g.estimate_w_avg(500)
    return g
