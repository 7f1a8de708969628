"""Pixel pools for training: features gathered at sampled pixels from the native-resolution taps.

The annotated latents are re-rendered one at a time; the features of the sampled pixels are gathered
from the tapped maps with the buffer's bilinear weights (:func:`~interpreter.resample.gather_pixels`),
so the full [C, H, W] buffer is never built. Training images contribute class-balanced samples,
validation images a uniform sample of their annotated pixels.

Shapes: P pixels in a pool, C channels, K classes, H/W mask size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from datasetgan.interpreter.resample import TapGrid, gather_pixels
from datasetgan.models.stylegan2 import Generator
from datasetgan.models.stylegan2.generator import NoiseMode

SampleMode = Literal["balanced", "uniform"]


@dataclass
class PixelPool:
    """features [P, C] (pool dtype), labels [P] int64, image [P] int64 (index of the source image)."""

    features: torch.Tensor
    labels: torch.Tensor
    image: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.numel())


def sample_pixels(
    mask: torch.Tensor, count: int, rng: torch.Generator, *, mode: SampleMode
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ys, xs) [P] of up to ``count`` annotated pixels of ``mask`` [H, W] (values < 0 are skipped).

    "balanced": an equal share of ``count`` from every class present (all of a class's pixels when
    it has fewer); "uniform": a uniform sample of annotated pixels.
    """
    flat = mask.reshape(-1)
    valid = torch.nonzero(flat >= 0).squeeze(1)
    if mode == "uniform":
        chosen = valid[torch.randperm(valid.numel(), generator=rng)[:count]]
    else:
        classes = torch.unique(flat[valid]).tolist()
        parts = []
        for k, c in enumerate(classes):  # quotas sum to ``count``
            quota = count // len(classes) + (1 if k < count % len(classes) else 0)
            where = torch.nonzero(flat == c).squeeze(1)
            parts.append(where[torch.randperm(where.numel(), generator=rng)[:quota]])
        chosen = torch.cat(parts) if parts else valid[:0]
    chosen = chosen.sort().values
    width = mask.shape[1]
    return chosen // width, chosen % width


@torch.no_grad()
def build_pool(
    generator: Generator,
    ws: torch.Tensor,
    masks: Sequence[torch.Tensor],
    grid: TapGrid,
    *,
    per_image: int,
    mode: SampleMode,
    rngs: Sequence[torch.Generator],
    dtype: torch.dtype,
    noise_mode: NoiseMode = "const",
    on_image: Callable[[int], None] | None = None,
) -> PixelPool:
    """Render each W+ code ws[i] [L, D], sample pixels of masks[i], gather their features.

    One image is rendered at a time; the pool is allocated once for the largest possible size and
    trimmed to what was sampled.
    """
    device = generator.w_avg.device
    grid = grid.to(device)
    capacity = per_image * len(masks)
    feats = torch.empty(capacity, grid.channels, dtype=dtype, device=device)
    labels = torch.empty(capacity, dtype=torch.int64, device=device)
    image = torch.empty(capacity, dtype=torch.int64, device=device)
    filled = 0
    for i, mask in enumerate(masks):
        ys, xs = sample_pixels(mask, per_image, rngs[i], mode=mode)
        out = generator.synthesize(ws[i : i + 1].to(device), noise_mode=noise_mode, taps="all")
        p = ys.numel()
        gather_pixels(
            out.features, grid, 0, ys.to(device), xs.to(device), feats[filled : filled + p]
        )
        labels[filled : filled + p] = mask[ys, xs].to(device)
        image[filled : filled + p] = i
        filled += p
        del out
        if on_image is not None:
            on_image(i)
    return PixelPool(feats[:filled], labels[:filled], image[:filled])


class BalancedSampler:
    """Class-balanced minibatches from a pool, one independent stream per member.

    Each draw picks a class uniformly among those present, then a pixel of that class uniformly,
    with the member's own ``torch.Generator``.
    """

    def __init__(self, labels: torch.Tensor, rngs: Sequence[torch.Generator]) -> None:
        order = torch.argsort(labels, stable=True)
        classes, counts = torch.unique_consecutive(labels[order], return_counts=True)
        if classes.numel() == 0:
            raise ValueError("labels: got an empty pool, expected annotated pixels")
        self.order, self.classes, self.counts = order, classes, counts
        self.starts = torch.cumsum(counts, 0) - counts
        self.rngs = list(rngs)

    def draw(self, batch: int) -> torch.Tensor:
        """Pool indices [M, batch]."""
        rows = []
        for g in self.rngs:
            c = torch.randint(self.classes.numel(), (batch,), generator=g)
            pos = (
                (torch.rand(batch, generator=g) * self.counts[c])
                .long()
                .clamp_(max=self.counts[c] - 1)
            )
            rows.append(self.order[self.starts[c] + pos])
        return torch.stack(rows)
