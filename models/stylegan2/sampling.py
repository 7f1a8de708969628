"""Reproducible latents: sample i of anything is a pure function of its seed."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from datasetgan.models.stylegan2.generator import Generator

_MASK64 = (1 << 64) - 1


def derive_seed(base_seed: int, index: int) -> int:
    """Seed of item ``index`` of a collection drawn with ``base_seed`` (splitmix64, in [0, 2**63))."""
    x = (base_seed * 0x9E3779B97F4A7C15 + index + 1) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) >> 1


def z_from_seeds(
    seeds: Sequence[int], dim: int, *, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """One standard-normal z per seed, drawn on the CPU so it is identical on every device. [N, dim]."""
    rows = [torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    if not rows:
        return torch.zeros(0, dim, device=device)
    return torch.stack(rows).to(device)


def mix_styles(
    w_a: torch.Tensor, w_b: torch.Tensor, crossover: torch.Tensor, n_latent: int
) -> torch.Tensor:
    """W+ codes using ``w_a`` for layers < crossover and ``w_b`` from there on.

    w_a, w_b: [N, D]; crossover: [N] ints in [0, n_latent]. Returns [N, L, D].
    """
    if w_a.shape != w_b.shape or w_a.ndim != 2:
        raise ValueError(
            f"w_a, w_b: got {tuple(w_a.shape)} and {tuple(w_b.shape)}, expected equal [N, D]"
        )
    layer = torch.arange(n_latent, device=w_a.device)[None, :, None]
    use_b = layer >= crossover.to(w_a.device)[:, None, None]
    return torch.where(use_b, w_b[:, None, :], w_a[:, None, :])


@torch.no_grad()
def w_plus_from_seeds(
    generator: Generator,
    seeds: Sequence[int],
    *,
    truncation: float = 1.0,
    mixing_prob: float = 0.0,
) -> torch.Tensor:
    """W+ codes [N, L, D] for ``seeds``; with probability ``mixing_prob`` a sample mixes in a second
    latent from a random crossover layer (style mixing). Everything random comes from the seed, and
    each code is bit-identical whatever other seeds share the call."""
    dim, n_latent = generator.w_dim, generator.n_latent
    device = generator.w_avg.device
    z_a = z_from_seeds(seeds, dim, device=device)
    z_b = torch.zeros_like(z_a)
    crossover = torch.full((len(seeds),), n_latent, dtype=torch.long)
    for row, seed in enumerate(seeds):
        rng = torch.Generator().manual_seed(derive_seed(int(seed), 1))
        if mixing_prob > 0 and torch.rand((), generator=rng).item() < mixing_prob:
            crossover[row] = int(torch.randint(1, n_latent, (), generator=rng))
            z_b[row] = torch.randn(dim, generator=rng).to(z_b)
    w_a = _map_rows(generator, z_a, truncation)
    w_b = _map_rows(generator, z_b, truncation) if bool((crossover < n_latent).any()) else w_a
    return mix_styles(w_a, w_b, crossover, n_latent)


def _map_rows(generator: Generator, z: torch.Tensor, truncation: float) -> torch.Tensor:
    """Map one row at a time: CPU matmul results depend on the batch size in the last bits, and a
    sample's code must not depend on which other samples shared its batch. Cheap (N x n_mlp GEMVs)."""
    if z.shape[0] == 0:
        return z.clone()
    return torch.cat([generator.mapping(row[None], truncation) for row in z])
