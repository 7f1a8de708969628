"""The fused low-memory labeller: labels without materialising the [N, C, H, W] feature buffer.

The first layer of every member is linear over channels and the resampling is linear over space, so

    W1 . concat_t(up(f_t)) + b1  ==  sum_t up(W1_t . f_t) + b1.

Taps that share a resolution are projected together at their native resolution with their slice of
all M members' first layers stacked (MH = M*H1 outputs). Per tile of T output rows, the projections
are resampled along rows (the buffer's two-row weights, as a small dense product), laid side by side,
and resampled along columns by ONE sparse matrix product that adds them into the accumulator, which
already holds the projection of the taps at output resolution (no resampling needed there) plus the
bias. The rest of every member then runs on the tile (BatchNorm folded). Every buffer of the loop is
allocated once per call and reused by all tiles.

Shapes: N images, C_t/R_t channels/resolution of tap t, H/W output, M members, H1 first width,
MH = M*H1, T rows per tile, K classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interpreter.ensemble import FoldedEnsemble
from interpreter.predict import LabelResult, ResultWriter
from interpreter.resample import AxisMap, TapGrid

DEFAULT_TILE_PIXELS = 8192
DEFAULT_CACHE_BYTES = 32 << 20


@dataclass(frozen=True)
class _Group:
    """Taps sharing one pair of axis maps (in practice: one resolution)."""

    taps: tuple[int, ...]
    slices: tuple[slice, ...]  # channel slice of each tap inside the group
    rows: AxisMap
    cols: AxisMap
    row_weights: torch.Tensor  # [H, R_rows] dense, two non-zeros per row
    w1t: torch.Tensor  # [C_g, MH]
    offset: int  # first column of this group in the side-by-side tile

    @property
    def channels(self) -> int:
        return int(self.w1t.shape[0])


class FusedLabeller:
    """Labels from native-resolution taps with folded ensemble weights; see the module docstring.

    tile_pixels bounds one tile (extra memory ~ 2 * tile_pixels * MH * 4 bytes); the projections of
    the smallest groups are computed once per image while they fit in ``cache_bytes`` together, the
    others per tile from the source rows the tile reads.
    """

    def __init__(
        self,
        folded: FoldedEnsemble,
        grid: TapGrid,
        *,
        tile_pixels: int = DEFAULT_TILE_PIXELS,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if folded.w1.shape[1] != grid.channels:
            raise ValueError(
                f"ensemble: got C={folded.w1.shape[1]}, expected {grid.channels} (the taps')"
            )
        self.folded, self.grid = folded, grid
        self.tile_pixels, self.cache_bytes = max(1, tile_pixels), cache_bytes
        w1t = folded.w1.t()  # [C, MH] view
        direct, grouped = _split_taps(grid)
        self.direct = tuple(direct)
        self.direct_slices = _local_slices(grid, self.direct)
        self.direct_w1t = _rows_of(w1t, grid, self.direct)
        self.groups: list[_Group] = []
        offset = 0
        for taps in grouped:
            rows, cols = grid.rows[taps[0]], grid.cols[taps[0]]
            dense = _dense_weights(rows).to(w1t)
            self.groups.append(
                _Group(
                    taps,
                    _local_slices(grid, taps),
                    rows,
                    cols,
                    dense,
                    _rows_of(w1t, grid, taps),
                    offset,
                )
            )
            offset += cols.in_size
        self.side_width = offset
        self.col_matrix = _column_matrix(self.groups, grid.width, offset).to(w1t)

    @property
    def mh(self) -> int:
        return int(self.folded.w1.shape[0])

    @torch.no_grad()
    def label(
        self,
        features: Sequence[torch.Tensor],
        *,
        maps: Sequence[str] = (),
        tile_pixels: int | None = None,
    ) -> LabelResult:
        """features: one [N, C_t, R_t, R_t] map per tap -> :class:`LabelResult` with [N, H, W] labels."""
        n = self.grid.check_features(features)
        g = self.grid
        writer = ResultWriter(
            n, g.height, g.width, self.folded.n_classes, maps, self.folded.w1.device
        )
        rows_per_tile = max(1, min(g.height, (tile_pixels or self.tile_pixels) // g.width))
        ws = _Workspace(self, rows_per_tile)
        for i in range(n):
            cache = self._cached_projections(features, i)
            for y0 in range(0, g.height, rows_per_tile):
                y1 = min(g.height, y0 + rows_per_tile)
                pre1 = self._first_layer(features, i, y0, y1, cache, ws)
                writer.write(self.folded.head(pre1), i, y0, y1, order="xy")
        return writer.result()

    def _cached_projections(
        self, features: Sequence[torch.Tensor], i: int
    ) -> list[torch.Tensor | None]:
        """Whole-map projections [R_cols, R_rows, MH] of the smallest groups within the cache budget."""
        cache: list[torch.Tensor | None] = [None] * len(self.groups)
        budget = self.cache_bytes
        sizes = [grp.rows.in_size * grp.cols.in_size for grp in self.groups]
        for k in sorted(range(len(self.groups)), key=lambda k: sizes[k]):
            nbytes = sizes[k] * self.mh * self.folded.w1.element_size()
            if nbytes > budget:
                break
            budget -= nbytes
            grp = self.groups[k]
            cache[k] = self._project(features, i, grp, 0, grp.rows.in_size)
        return cache

    def _project(
        self,
        features: Sequence[torch.Tensor],
        i: int,
        grp: _Group,
        lo: int,
        hi: int,
        ws: _Workspace | None = None,
    ) -> torch.Tensor:
        """Projection of source rows lo..hi-1 of a group's taps: [R_cols, hi - lo, MH] (no bias)."""
        n_rows = grp.cols.in_size * (hi - lo)
        if ws is None:
            x = torch.empty(
                n_rows, grp.channels, dtype=self.folded.w1.dtype, device=self.folded.w1.device
            )
            out = None
        else:
            x, out = ws.proj_in[: n_rows * grp.channels].view(n_rows, -1), ws.proj[:n_rows]
        xv = x.view(grp.cols.in_size, hi - lo, grp.channels)
        for t, sl in zip(grp.taps, grp.slices, strict=True):
            xv[:, :, sl] = features[t][i, :, lo:hi, :].permute(2, 1, 0)
        return torch.mm(x, grp.w1t, out=out).view(grp.cols.in_size, hi - lo, self.mh)

    def _first_layer(
        self,
        features: Sequence[torch.Tensor],
        i: int,
        y0: int,
        y1: int,
        cache: list[torch.Tensor | None],
        ws: _Workspace,
    ) -> torch.Tensor:
        """First-layer pre-activations of rows y0..y1-1, all members: [W*T, MH], column-major pixels."""
        t, width, mh = y1 - y0, self.grid.width, self.mh
        acc = ws.acc[: width * t]
        if self.direct:
            x = ws.direct[: width * t]
            xv = x.view(width, t, -1)
            for tap, sl in zip(self.direct, self.direct_slices, strict=True):
                xv[:, :, sl] = features[tap][i, :, y0:y1, :].permute(2, 1, 0)
            torch.addmm(self.folded.b1, x, self.direct_w1t, out=acc)
        else:
            acc.copy_(self.folded.b1.expand(width * t, mh))
        if not self.groups:
            return acc
        side = ws.side[: self.side_width * t * mh].view(self.side_width, t, mh)
        for grp, cached in zip(self.groups, cache, strict=True):
            lo, hi = grp.rows.source_window(y0, y1)
            proj = (
                cached[:, lo:hi]
                if cached is not None
                else self._project(features, i, grp, lo, hi, ws)
            )
            dst = side[grp.offset : grp.offset + grp.cols.in_size]
            weights = grp.row_weights[y0:y1, lo:hi].expand(grp.cols.in_size, t, hi - lo)
            torch.bmm(weights, proj, out=dst)
        acc.view(width, t * mh).addmm_(self.col_matrix, side.view(self.side_width, t * mh))
        return acc


class _Workspace:
    """Buffers of one labelling call, reused by every tile."""

    def __init__(self, lab: FusedLabeller, rows_per_tile: int) -> None:
        w = lab.folded.w1
        pixels = rows_per_tile * lab.grid.width
        self.acc = w.new_empty(pixels, lab.mh)
        self.direct = w.new_empty(pixels, lab.direct_w1t.shape[0])
        self.side = w.new_empty(lab.side_width * rows_per_tile * lab.mh)
        rows_in, chans_in = 0, 0
        height = lab.grid.height
        for grp in lab.groups:
            windows = [
                grp.rows.source_window(y0, min(height, y0 + rows_per_tile))
                for y0 in range(0, height, rows_per_tile)
            ]
            most = max(hi - lo for lo, hi in windows)
            rows_in = max(rows_in, grp.cols.in_size * most)
            chans_in = max(chans_in, grp.cols.in_size * most * grp.channels)
        self.proj = w.new_empty(rows_in, lab.mh)
        self.proj_in = w.new_empty(chans_in)


def _split_taps(grid: TapGrid) -> tuple[list[int], list[tuple[int, ...]]]:
    """Taps needing no resampling, and the others grouped by identical axis maps."""
    direct: list[int] = []
    groups: dict[tuple[object, ...], list[int]] = {}
    for k, (rows, cols) in enumerate(zip(grid.rows, grid.cols, strict=True)):
        if rows.is_identity and cols.is_identity:
            direct.append(k)
        else:
            groups.setdefault((rows.key(), cols.key()), []).append(k)
    return direct, [tuple(v) for v in groups.values()]


def _local_slices(grid: TapGrid, taps: Sequence[int]) -> tuple[slice, ...]:
    out, c = [], 0
    for t in taps:
        width = grid.taps[t].channels
        out.append(slice(c, c + width))
        c += width
    return tuple(out)


def _rows_of(w1t: torch.Tensor, grid: TapGrid, taps: Sequence[int]) -> torch.Tensor:
    """The rows of w1t [C, MH] belonging to ``taps``, as one contiguous [C_g, MH] tensor."""
    index = [torch.arange(grid.channel_slices[t].start, grid.channel_slices[t].stop) for t in taps]
    if not index:
        return w1t[:0].contiguous()
    return w1t.index_select(0, torch.cat(index).to(w1t.device)).contiguous()


def _dense_weights(amap: AxisMap) -> torch.Tensor:
    """[S, in_size] matrix of an axis map (row s holds 1 - w1 at i0 and w1 at i1)."""
    out = torch.zeros(amap.size, amap.in_size, dtype=torch.float64)
    rows = torch.arange(amap.size)
    out.index_put_((rows, amap.i0), 1.0 - amap.w1.double(), accumulate=True)
    out.index_put_((rows, amap.i1), amap.w1.double(), accumulate=True)
    return out


def _column_matrix(groups: Sequence[_Group], width: int, total: int) -> torch.Tensor:
    """Sparse [W, sum of group source widths]: row x holds the two column weights of every group."""
    if not groups:
        return torch.zeros(width, 0).to_sparse()
    rows, cols, vals = [], [], []
    for grp in groups:
        x = torch.arange(width)
        rows += [x, x]
        cols += [grp.cols.i0 + grp.offset, grp.cols.i1 + grp.offset]
        vals += [1.0 - grp.cols.w1.double(), grp.cols.w1.double()]
    index = torch.stack([torch.cat(rows), torch.cat(cols)])
    mat = torch.sparse_coo_tensor(index, torch.cat(vals), (width, total), check_invariants=False)
    return mat.coalesce()
