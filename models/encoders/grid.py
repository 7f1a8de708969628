"""PNG grids of image batches (e.g. input | reconstruction), no plotting library needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from datasetgan.models.imaging import to_uint8


def save_image_grid(
    columns: Sequence[Tensor], path: str | os.PathLike[str], *, pad: int = 2
) -> Path:
    """One row per image, one column per tensor in ``columns`` (each ``[N, 3, H_c, W_c]``, [-1, 1]).

    Columns of other sizes are resized (bilinear) to the first column's height. Written atomically.
    """
    if not columns:
        raise ValueError(
            "save_image_grid: got no columns, expected at least one [N, 3, H, W] tensor"
        )
    n, size = columns[0].shape[0], columns[0].shape[-1]
    tiles = []
    for col in columns:
        if col.ndim != 4 or col.shape[0] != n or col.shape[1] != 3:
            raise ValueError(
                f"save_image_grid: got column {tuple(col.shape)}, expected [{n}, 3, H, W]"
            )
        if col.shape[-1] != size or col.shape[-2] != size:
            col = F.interpolate(
                col.float(), size=(size, size), mode="bilinear", align_corners=False
            )
        tiles.append(to_uint8(col))
    cell = size + pad
    canvas = np.full((n * cell + pad, len(tiles) * cell + pad, 3), 255, np.uint8)
    for c, tile in enumerate(tiles):
        for r in range(n):
            top, left = pad + r * cell, pad + c * cell
            canvas[top : top + size, left : left + size] = tile[r]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.png")
    Image.fromarray(canvas).save(tmp)
    os.replace(tmp, out)
    return out
