"""Image tensors <-> uint8 pictures and PNG grids (no plotting library needed)."""

from __future__ import annotations

import math
import os
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
