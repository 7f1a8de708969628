"""Shared helpers of the interpreter tests: a tiny generator, rendered taps, synthetic annotations."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from datasetgan.models.stylegan2 import Generator, GeneratorConfig, w_plus_from_seeds

TINY = GeneratorConfig(resolution=32, w_dim=64, n_mlp=2, channel_base=256, channel_max=32)


@functools.cache
def tiny_generator(seed: int = 0) -> Generator:
    """Resolution 32, taps 4..32 px, C = 192. Cached: do not modify it."""
    return Generator(TINY, seed=seed).eval()


@torch.no_grad()
def render(g: Generator, seeds: Sequence[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(W+ codes [N, L, D], taps) of ``seeds`` with const noise."""
    ws = w_plus_from_seeds(g, list(seeds))
    return ws, g.synthesize(ws, noise_mode="const").features


@torch.no_grad()
def threshold_masks(
    g: Generator,
    seeds: Sequence[int],
    *,
    threshold_seeds: Sequence[int] | None = None,
    tap: int = 1,
    channel: int = 5,
) -> torch.Tensor:
    """A learnable labelling: 1 where channel ``channel`` of tap ``tap`` (bilinearly resampled to the
    output size) is above its median over ``threshold_seeds`` (default: ``seeds``), else 0. [N, H, W]."""

    def channel_map(ids: Sequence[int]) -> torch.Tensor:
        feats = render(g, ids)[1][tap]
        size = (g.resolution, g.resolution)
        return F.interpolate(feats, size=size, mode="bilinear", align_corners=False)[:, channel]

    reference = channel_map(threshold_seeds if threshold_seeds is not None else seeds)
    return (channel_map(seeds) > reference.median()).long()


def write_annotations(
    folder: Path,
    masks: torch.Tensor | Sequence[torch.Tensor],
    ids: Sequence[int],
    class_names: Sequence[str],
    *,
    mode: str = "L",
) -> Path:
    """PNG masks ``<id:08d>.png`` (grey 'L' or palette 'P') and ``classes.txt`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for sid, m in zip(ids, masks, strict=True):
        img = Image.fromarray(np.asarray(m, dtype=np.uint8))
        if mode == "P":
            img = img.convert("P")
            img.putpalette(
                [v for i in range(256) for v in (i * 7 % 256, i * 13 % 256, i * 29 % 256)]
            )
        img.save(folder / f"{sid:08d}.png")
    (folder / "classes.txt").write_text("\n".join(class_names) + "\n", encoding="utf-8")
    return folder


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads (tiny models are faster single-threaded), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
