"""Measurements of the toy domain: sample grids, oracle accuracy, segnet on real images, speed.

These back the figures in docs/toyfaces.md; `python -m toyfaces --help` runs them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from datasetgan.interpreter.validation import IoU, mean_iou
from datasetgan.toyfaces.data import colour_mask
from datasetgan.toyfaces.domain import CLASS_NAMES, K
from datasetgan.toyfaces.oracle import oracle_annotate_batch
from datasetgan.toyfaces.perturb import degrade
from datasetgan.toyfaces.renderer import render_batch

# (name, blur sigma px, noise std /255, colour cast fraction)
PERTURBATIONS: tuple[tuple[str, float, float, float], ...] = (
    ("clean", 0.0, 0.0, 0.0),
    ("blur 0.5 + noise 3", 0.5, 3.0, 0.0),
    ("blur 0.5 + noise 3 + cast 5%", 0.5, 3.0, 0.05),
    ("blur 0.7 + noise 4 + cast 5%", 0.7, 4.0, 0.05),
    ("blur 1.0 + noise 5 + cast 5%", 1.0, 5.0, 0.05),
)
ORACLE_SEEDS = 0  # first seed of the oracle evaluation set


def sample_grid(seeds: Sequence[int], *, columns: int = 8, scale: int = 2) -> np.ndarray:
    """RGB grid [rows * 2 * 64 * scale, columns * 64 * scale, 3]: each face above its mask."""
    images, masks = render_batch(seeds)
    tiles = np.concatenate([images, colour_mask(masks)], axis=1)  # [N, 128, 64, 3]
    rows = []
    for r in range(0, len(seeds), columns):
        row = list(tiles[r : r + columns])
        row += [np.zeros_like(tiles[0])] * (columns - len(row))
        rows.append(np.concatenate(row, axis=1))
    grid = np.concatenate(rows, axis=0)
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)


def save_grid(path: str | Path, seeds: Sequence[int], *, columns: int = 8, scale: int = 2) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sample_grid(seeds, columns=columns, scale=scale)).save(path, optimize=True)
    return path


@dataclass(frozen=True)
class OracleRow:
    name: str
    iou: IoU
    ms_per_image: float


def oracle_benchmark(n: int = 500, *, seed: int = 0) -> list[OracleRow]:
    """Oracle mIoU against exact masks on renders of seeds ORACLE_SEEDS.., clean and degraded."""
    images, masks = render_batch(range(ORACLE_SEEDS, ORACLE_SEEDS + n))
    rows = []
    for name, blur, noise, cast in PERTURBATIONS:
        rng = np.random.default_rng(seed)
        bad = degrade(images, blur=blur, noise=noise, shift=cast, rng=rng)
        start = time.perf_counter()
        pred = oracle_annotate_batch(bad)
        ms = (time.perf_counter() - start) / n * 1000
        rows.append(OracleRow(name, mean_iou(pred, masks, K), ms))
    return rows


def render_speed(n: int = 200) -> float:
    """Rendered images per second on this process's core."""
    start = time.perf_counter()
    render_batch(range(n))
    return n / (time.perf_counter() - start)


def iou_table(rows: Sequence[tuple[str, IoU]]) -> str:
    """Markdown table: one row per result, mIoU then per-class IoU."""
    short = [c[:7] for c in CLASS_NAMES]
    lines = ["| | mIoU | " + " | ".join(short) + " |", "|---|---|" + "---|" * K]
    for name, r in rows:
        cells = " | ".join("-" if np.isnan(v) else f"{v:.3f}" for v in r.per_class)
        lines.append(f"| {name} | **{r.miou:.3f}** | {cells} |")
    return "\n".join(lines)


def class_table(n: int = 500) -> str:
    """Markdown rows: each class's share of all pixels and the share of images that show it, over
    the renders of seeds 0..n-1."""
    import numpy as np

    from datasetgan.toyfaces.domain import CLASS_NAMES
    from datasetgan.toyfaces.renderer import render_batch

    _, masks = render_batch(range(n))
    k = len(CLASS_NAMES)
    pixels = np.bincount(masks.ravel(), minlength=k) / masks.size
    present = np.stack([(masks == c).any(axis=(1, 2)) for c in range(k)], axis=1).mean(axis=0)
    return "\n".join(
        f"| {c} | {name} | {pixels[c]:.1%} | {present[c]:.0%} |"
        for c, name in enumerate(CLASS_NAMES)
    )


def few_real_errors(
    path: str | Path,
    *,
    n_train: int = 16,
    n_show: int = 8,
    train_first_seed: int = 700_000,
    test_first_seed: int = 200_000,
    steps: int = 400,
) -> tuple[Path, float]:
    """Train the demo's segnet (its default config, ``steps`` steps) on ``n_train`` real renders
    with exact masks, label ``n_show`` test renders, and save a picture with four rows: the
    images, the net's labels, the exact masks, and the wrong pixels in red over the image. Returns
    the path and the mIoU on the shown images."""
    import torch

    from datasetgan.toyfaces.data import ToyFaces
    from datasetgan.toyfaces.segnet import SegTrainConfig, predict, train_segnet

    train = ToyFaces(
        *render_batch(range(train_first_seed, train_first_seed + n_train)), image_range="unit"
    )
    model = train_segnet(train, config=SegTrainConfig(steps=steps, seed=0))
    images, masks = render_batch(range(test_first_seed, test_first_seed + n_show))
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        labels = predict(model, x).numpy().astype(np.uint8)
    wrong = labels != masks
    errors = np.where(wrong[..., None], np.array([230, 30, 30], np.uint8), images // 2 + 64)
    rows = [images, colour_mask(labels), colour_mask(masks), errors.astype(np.uint8)]
    grid = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid.repeat(2, axis=0).repeat(2, axis=1)).save(path, optimize=True)
    return path, mean_iou(labels, masks, K).miou
