"""Rendering commands' glue: load a generator, draw seeds, write a grid (no algorithms here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress

from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.imaging import grid_image, save_png, to_uint8
from datasetgan.models.stylegan2 import NOISE_MODES, Generator, load_generator, w_plus_from_seeds
from datasetgan.pipeline.errors import InputError
from datasetgan.pipeline.seeds import parse_seeds

__all__ = ["describe_generator", "parse_seeds", "render_grid"]


def describe_generator(checkpoint: Path) -> dict[str, Any]:
    g = load_generator(checkpoint)
    mapping = sum(p.numel() for p in g.style.parameters())
    total = sum(p.numel() for p in g.parameters())
    config = {
        **{k: v for k, v in g.config.to_dict().items() if k not in ("channels",)},
        "channel table": g.config.channel_table,
        "n_latent (L)": g.n_latent,
        "parameters": f"{total:,} ({mapping:,} mapping, {total - mapping:,} synthesis)",
        "fingerprint (sha256)": state_dict_sha256(g),
    }
    return {"config": config, "taps": g.tap_layout, "feature_channels": g.feature_channels}


@torch.no_grad()
def render_images(
    g: Generator,
    seeds: list[int],
    *,
    truncation: float,
    noise_mode: str,
    batch: int,
    console: Console | None = None,
) -> torch.Tensor:
    """Images [N, 3, H, W] for ``seeds``; random noise (if asked) is seeded by each batch's first seed."""
    if noise_mode not in NOISE_MODES:
        raise InputError("noise mode", f"got {noise_mode!r}", f"one of {NOISE_MODES}")
    chunks = []
    with Progress(console=console, transient=True, disable=console is None) as progress:
        task = progress.add_task("rendering", total=len(seeds))
        for start in range(0, len(seeds), batch):
            part = seeds[start : start + batch]
            ws = w_plus_from_seeds(g, part, truncation=truncation)
            rng = torch.Generator().manual_seed(part[0]) if noise_mode == "random" else None
            chunks.append(g.synthesize(ws, noise_mode=noise_mode, rng=rng, taps="none").image)  # type: ignore[arg-type]
            progress.advance(task, len(part))
    return torch.cat(chunks)


def render_grid(
    checkpoint: Path,
    seeds: list[int],
    *,
    out: Path,
    truncation: float = 1.0,
    noise_mode: str = "const",
    batch: int = 8,
    cols: int | None = None,
    console: Console | None = None,
) -> Path:
    g = load_generator(checkpoint)
    images = render_images(
        g, seeds, truncation=truncation, noise_mode=noise_mode, batch=batch, console=console
    )
    return save_png(grid_image(to_uint8(images), cols=cols), out)
