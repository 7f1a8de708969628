"""Pictures people look at: image tensors -> uint8, grids, label overlays, heat maps, PNG files.

No plotting library needed. Shapes: N images, H/W size; pictures are uint8 [N, H, W, 3].
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in about [-1, 1] -> uint8 [N, H, W, 3] (clamped, rounded)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return x.to("cpu").permute(0, 2, 3, 1).numpy().astype(np.uint8)


def grid_image(tiles: np.ndarray, *, cols: int | None = None, pad: int = 2) -> Image.Image:
    """Tile uint8 [N, H, W, 3] images row-major into one picture with ``pad`` px white gaps."""
    if tiles.ndim != 4 or tiles.shape[-1] != 3 or tiles.dtype != np.uint8:
        raise ValueError(f"tiles: got {tiles.dtype} {tiles.shape}, expected uint8 [N, H, W, 3]")
    n, h, w, _ = tiles.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = tiles[i]
    return Image.fromarray(canvas)


def save_png(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write a PNG atomically (temp name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def overlay(
    image: np.ndarray, label: np.ndarray, palette: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """uint8 [H, W, 3] image blended with the palette colour of each pixel's class (label [H, W])."""
    colours = palette[np.clip(label, 0, len(palette) - 1)].astype(np.float32)
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha).round().astype(np.uint8)


def heat(values: np.ndarray, vmax: float) -> np.ndarray:
    """[H, W] values in [0, vmax] -> uint8 [H, W, 3], black -> red -> yellow -> white."""
    t = np.clip(values.astype(np.float32) / max(vmax, 1e-12), 0.0, 1.0) * 3.0
    rgb = np.stack([np.clip(t, 0, 1), np.clip(t - 1, 0, 1), np.clip(t - 2, 0, 1)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def write_preview(
    path: Path,
    images: np.ndarray,
    labels: np.ndarray | None,
    uncertainty: np.ndarray | None,
    palette: Sequence[Sequence[int]],
) -> Path:
    """One row per sample: image | label overlay | uncertainty (heat map scaled to the largest
    value shown), as a PNG; images alone make a square grid."""
    if labels is None and uncertainty is None:
        return save_png(grid_image(images), path)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    columns = [images]
    if labels is not None:
        columns.append(
            np.stack([overlay(im, lab, pal) for im, lab in zip(images, labels, strict=True)])
        )
    if uncertainty is not None:
        vmax = float(np.max(uncertainty)) if uncertainty.size else 1.0
        columns.append(np.stack([heat(u, vmax) for u in uncertainty]))
    return write_columns(path, columns)


def write_columns(path: Path, columns: Sequence[np.ndarray]) -> Path:
    """One row per item, one column per array of uint8 [N, H, W, 3] (equal N, H, W), as a PNG."""
    tiles = np.stack([c[i] for i in range(len(columns[0])) for c in columns])
    return save_png(grid_image(tiles, cols=len(columns)), path)
