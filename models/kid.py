"""Kernel Inception Distance (Binkowski et al. 2018) between two sets of image features.

KID is the squared MMD between the feature distributions of real and generated images under the
cubic polynomial kernel ``k(x, y) = (x . y / F + 1) ** 3``, estimated without bias on random
subsets and averaged. Unlike FID it is unbiased for small sample counts, so figures from a few
hundred images are comparable across checkpoints. The feature extractor is the caller's (the
paper's is Inception; a domain-specific fixed net works the same way): lower is closer, 0 is equal
distributions, and the estimate can be slightly negative.

Shapes: real [N, F], fake [M, F] float features; both sets need at least 2 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class KID:
    """Mean and standard deviation of the per-subset estimates."""

    mean: float
    std: float


def _mmd2(x: Tensor, y: Tensor) -> Tensor:
    f = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / f + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = x.shape[0], y.shape[0]
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return within_x + within_y - 2.0 * kxy.mean()


def kernel_inception_distance(
    real: Tensor,
    fake: Tensor,
    *,
    subsets: int = 20,
    subset_size: int = 500,
    rng: torch.Generator,
) -> KID:
    """KID of ``fake`` [M, F] against ``real`` [N, F] (subsets of min(N, M, subset_size) rows)."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"got features {tuple(real.shape)} and {tuple(fake.shape)}, expected [N, F], [M, F]"
        )
    size = min(real.shape[0], fake.shape[0], subset_size)
    if size < 2:
        raise ValueError(
            f"got {real.shape[0]} real and {fake.shape[0]} fake rows, expected >= 2 each"
        )
    real, fake = real.double(), fake.double()
    values = torch.stack([
        _mmd2(real[torch.randperm(real.shape[0], generator=rng)[:size]],
              fake[torch.randperm(fake.shape[0], generator=rng)[:size]])
        for _ in range(subsets)
    ])  # fmt: skip
    return KID(float(values.mean()), float(values.std()) if subsets > 1 else 0.0)
