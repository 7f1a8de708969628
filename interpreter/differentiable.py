"""Differentiable labelling: the ensemble's mean class probabilities with gradients back to the
tapped features (and so to W+), without the [N, C, H, W] feature buffer.

EditGAN upsamples every tap to image size, concatenates them and runs the members with autograd
on, which keeps the whole buffer (C ~ 5-6k channels at image size) and its gradient alive. Here the
image is cut into tiles of rows. For one tile, each tap's rows are resampled from its native map
(two source rows per output row, then two columns per output column: the weights of
``F.interpolate(..., align_corners=False)``, so the values are the buffer's), multiplied into the
members' first layers and summed, then the rest of every member runs. With ``checkpoint=True``
(default) a tile keeps nothing for the backward pass: it is recomputed from the native maps then,
so the extra memory is one tile's features instead of the whole buffer.

Shapes: N images, C_t/R_t channels/resolution of tap t, H/W output, M members, H1/H2 hidden widths,
K classes, T rows per tile.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint as recompute

from datasetgan.interpreter.ensemble import FoldedEnsemble
from datasetgan.interpreter.resample import AxisMap, TapGrid

DEFAULT_TILE_PIXELS = 4096


def _resample_tile(
    f: torch.Tensor, rows: AxisMap, cols: AxisMap, y0: int, y1: int, x0: int, x1: int
) -> torch.Tensor:
    """Rows y0..y1-1, columns x0..x1-1 of tap ``f`` [N, C_t, R_t, R_t] resampled to the frame:
    [N, C_t, T, X] (X = x1 - x0)."""
    a, b = f.index_select(2, rows.i0[y0:y1]), f.index_select(2, rows.i1[y0:y1])
    r = torch.lerp(a, b, rows.w1[y0:y1, None].to(f.dtype))  # [N, C_t, T, R_t]
    c0, c1 = r.index_select(3, cols.i0[x0:x1]), r.index_select(3, cols.i1[x0:x1])
    return torch.lerp(c0, c1, cols.w1[x0:x1].to(f.dtype))  # [N, C_t, T, X]


def _tile_probs(
    folded: FoldedEnsemble, grid: TapGrid, y0: int, y1: int, x0: int, x1: int,
    *features: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """Mean member probabilities [N, K, T, X] of output rows y0..y1-1, columns x0..x1-1."""
    pre1 = None
    for f, rows, cols, sl in zip(features, grid.rows, grid.cols, grid.channel_slices, strict=True):
        tile = _resample_tile(f, rows, cols, y0, y1, x0, x1)  # [N, C_t, T, X]
        part = torch.einsum("oc,nctw->notw", folded.w1[:, sl].to(f.dtype), tile)  # [N, MH, T, W]
        pre1 = part if pre1 is None else pre1 + part
    assert pre1 is not None
    n, _, t, w = pre1.shape
    m, h1 = folded.n_members, folded.hidden1
    h = F.relu(pre1 + folded.b1[None, :, None, None].to(pre1.dtype))
    h = h.reshape(n, m, h1, t * w).permute(1, 0, 3, 2).reshape(m, n * t * w, h1)  # [M, P, H1]
    h = F.relu(torch.baddbmm(folded.b2, h, folded.w2t))  # [M, P, H2]
    logits = torch.baddbmm(folded.b3, h, folded.w3t)  # [M, P, K]
    probs = torch.softmax(logits, dim=-1).mean(0)  # [P, K]
    return probs.reshape(n, t, w, -1).permute(0, 3, 1, 2)  # [N, K, T, W]


Box = tuple[int, int, int, int]  # (y0, y1, x0, x1): rows y0..y1-1, columns x0..x1-1


def soft_labels(
    features: Sequence[torch.Tensor],
    folded: FoldedEnsemble,
    grid: TapGrid,
    *,
    tile_pixels: int = DEFAULT_TILE_PIXELS,
    checkpoint: bool = True,
    box: Box | None = None,
) -> torch.Tensor:
    """Mean member probabilities [N, K, H, W] of the taps ``features`` (one [N, C_t, R_t, R_t] per
    tap), differentiable with respect to them; see the module docstring. With ``box`` only that
    window of the output is labelled: [N, K, y1 - y0, x1 - x0], the same values as the full map's
    window (an edit's loss needs its region only)."""
    grid.check_features(features)
    y_lo, y_hi, x0, x1 = (0, grid.height, 0, grid.width) if box is None else box
    if not (0 <= y_lo < y_hi <= grid.height and 0 <= x0 < x1 <= grid.width):
        raise ValueError(
            f"box: got {box}, expected 0 <= y0 < y1 <= {grid.height}, 0 <= x0 < x1 <= {grid.width}"
        )
    rows = max(1, min(y_hi - y_lo, tile_pixels // max(x1 - x0, 1)))
    tiles = []
    for y0 in range(y_lo, y_hi, rows):
        y1 = min(y_hi, y0 + rows)
        if checkpoint and any(f.requires_grad for f in features):
            tile = recompute(
                _tile_probs, folded, grid, y0, y1, x0, x1, *features, use_reentrant=False
            )
        else:
            tile = _tile_probs(folded, grid, y0, y1, x0, x1, *features)
        tiles.append(tile)
    return torch.cat(tiles, dim=2)
