"""The fused low-memory labeller: labels without materialising the [N, C, H, W] feature buffer.

The first layer of every member is linear over channels and the resampling is linear over space, so

    W1 . concat_t(up(f_t)) + b1  ==  sum_t up(W1_t . f_t) + b1.

Taps that share a resolution ("a group") are projected together at their native resolution with
their slice of all M members' first layers stacked (MH = M*H1 outputs), each source row exactly once
per image (a small rolling window of projected rows follows the tiles down the image). Per tile of T
output rows, each group's projected rows are resampled along rows (the buffer's two-row weights, as
one small dense product), the groups are laid side by side, and one sparse product per output row
resamples them along columns and adds them into the accumulator - which already holds the bias and
the projection of the taps at output resolution (no resampling needed there). The rest of every
member then runs on the tile (BatchNorm folded). Buffers are allocated once per call.

Shapes: N images, C_t/R_t channels/resolution of tap t, H/W output, M members, H1 first width,
MH = M*H1, T rows per tile, K classes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from datasetgan.interpreter.ensemble import FoldedEnsemble
from datasetgan.interpreter.predict import LabelResult, ResultWriter
from datasetgan.interpreter.resample import AxisMap, TapGrid

DEFAULT_TILE_PIXELS = 4096  # CPUs: a tile's first-layer block stays in cache
# GPUs: every tile costs kernel launches and a host sync; one 512 px image per tile labels 21x
# faster than 4096-pixel tiles on an H200; render + label of a 512 px sample then peaks at 3.75 GB
# instead of 0.37 (benchmarks/results/gpu_check-tiles.json, gpu_check-default-tile.json).
CUDA_TILE_PIXELS = 512 * 512


def default_tile_pixels(device: torch.device | str) -> int:
    """The tile size the fused labeller uses on ``device`` when none is given."""
    return CUDA_TILE_PIXELS if torch.device(device).type == "cuda" else DEFAULT_TILE_PIXELS


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

    tile_pixels bounds one tile: the extra memory is about 2 * tile_pixels * MH * 4 bytes plus a few
    projected source rows per group (default: :func:`default_tile_pixels` of the weights' device).
    """

    def __init__(
        self, folded: FoldedEnsemble, grid: TapGrid, *, tile_pixels: int | None = None
    ) -> None:
        if folded.w1.shape[1] != grid.channels:
            raise ValueError(
                f"ensemble: got C={folded.w1.shape[1]}, expected {grid.channels} (the taps')"
            )
        self.folded, self.grid = folded, grid
        if tile_pixels is None:
            tile_pixels = default_tile_pixels(folded.w1.device)
        self.tile_pixels = max(1, tile_pixels)
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
            sl = _local_slices(grid, taps)
            self.groups.append(
                _Group(taps, sl, rows, cols, dense, _rows_of(w1t, grid, taps), offset)
            )
            offset += cols.in_size
        self.side_width = offset
        self.col_blocks = _column_blocks(self.groups, grid.width, w1t.device)
        self._w1t_as: dict[tuple[int, torch.dtype], torch.Tensor] = {}  # first layers in bf16

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
        # bf16 taps (precision="bf16") get a bf16 first layer: much faster products on AMX CPUs
        low = features[0].dtype == torch.bfloat16 and self.folded.w1.dtype == torch.float32
        ws = _Workspace(self, rows_per_tile, torch.bfloat16 if low else self.folded.w1.dtype)
        for i in range(n):
            windows = [_RowWindow(buf) for buf in ws.projected]
            for y0 in range(0, g.height, rows_per_tile):
                y1 = min(g.height, y0 + rows_per_tile)
                pre1 = self._first_layer(features, i, y0, y1, windows, ws)
                writer.write(self.folded.head(pre1), i, y0, y1, order="yx")
        return writer.result()

    def _first_layer(
        self,
        features: Sequence[torch.Tensor],
        i: int,
        y0: int,
        y1: int,
        windows: list[_RowWindow],
        ws: _Workspace,
    ) -> torch.Tensor:
        """First-layer pre-activations of rows y0..y1-1, all members: [T*W, MH], row-major pixels."""
        t, width, mh = y1 - y0, self.grid.width, self.mh
        acc = ws.acc[: t * width]
        if self.direct:
            _project_into(
                acc,
                [features[k][i, :, y0:y1, :] for k in self.direct],
                ws.weights(self.direct_w1t),
                self.direct_slices,
                bias=self.folded.b1,
                stack=ws.stack,
            )
        else:
            acc.copy_(self.folded.b1.expand(t * width, mh))
        if not self.groups:
            return acc
        side = ws.side[: t * self.side_width * mh].view(t, self.side_width * mh)
        for grp, win in zip(self.groups, windows, strict=True):
            lo, hi = grp.rows.source_window(y0, y1)
            proj = win.rows(lo, hi, functools.partial(self._project, features, i, grp, ws))
            block = side[:, grp.offset * mh : (grp.offset + grp.cols.in_size) * mh]
            torch.mm(grp.row_weights[y0:y1, lo:hi], proj.view(hi - lo, -1), out=block)
        side3 = side.view(t, self.side_width, mh)
        acc3 = acc.view(t, width, mh)
        for x0, x1, sources, weights in self.col_blocks:
            # output columns x0..x1-1 read only a few source columns of each group
            block = torch.matmul(weights.to(side.dtype), side3.index_select(1, sources))
            acc3[:, x0:x1].add_(block)
        return acc

    def _project(
        self,
        features: Sequence[torch.Tensor],
        i: int,
        grp: _Group,
        ws: _Workspace,
        lo: int,
        hi: int,
        out: torch.Tensor,
    ) -> None:
        """Project source rows lo..hi-1 of a group's taps into ``out`` [hi - lo, R_cols, MH] (no bias)."""
        maps = [features[t][i, :, lo:hi, :] for t in grp.taps]
        _project_into(out.view(-1, self.mh), maps, ws.weights(grp.w1t), grp.slices, stack=ws.stack)


def _project_into(
    out: torch.Tensor,
    maps: Sequence[torch.Tensor],
    w1t: torch.Tensor,
    slices: Sequence[slice],
    *,
    bias: torch.Tensor | None = None,
    stack: torch.Tensor | None = None,
) -> None:
    """out [rows*R, MH] = (bias +) sum over taps of map^T . w1t[slice]; each map is [C_t, rows, R].

    With several maps and ``stack`` (a flat scratch buffer), the maps' pixels are first laid side
    by side ([rows*R, C_g], a small copy) so ONE product over all their channels writes ``out``,
    instead of one product per tap each reading and writing the large [rows*R, MH] output."""
    if stack is not None and len(maps) > 1:
        pixels = out.shape[0]
        channels = sum(int(f.shape[0]) for f in maps)
        side = stack[: pixels * channels].view(pixels, channels)
        for f, sl in zip(maps, slices, strict=True):
            side[:, sl].copy_(f.reshape(f.shape[0], -1).t())
        maps, slices = [side.t()], [slice(0, channels)]
    for k, (f, sl) in enumerate(zip(maps, slices, strict=True)):
        x = f.reshape(f.shape[0], -1).t()  # [rows*R, C_t], a view for full-width row ranges
        x = x.to(w1t.dtype)
        if w1t.dtype != out.dtype:  # a bf16 product, accumulated in ``out``'s fp32
            product = torch.mm(x, w1t[sl])
            if k == 0:
                out.copy_(product)
                if bias is not None:
                    out.add_(bias)
            else:
                out.add_(product)
        elif k == 0 and bias is not None:
            torch.addmm(bias, x, w1t[sl], out=out)
        elif k == 0:
            torch.mm(x, w1t[sl], out=out)
        else:
            out.addmm_(x, w1t[sl])


class _RowWindow:
    """Projected source rows [lo, hi) of one group, kept across tiles so each row is projected once."""

    def __init__(self, buffer: torch.Tensor) -> None:
        self.buffer = buffer  # [capacity, R_cols, MH]
        self.lo = self.hi = 0

    def rows(
        self, lo: int, hi: int, project: Callable[[int, int, torch.Tensor], None]
    ) -> torch.Tensor:
        """The projections of rows lo..hi-1 ([hi - lo, R_cols, MH]); ``project(a, b, out)`` fills new ones."""
        keep_from = max(lo, self.lo)
        keep = max(0, self.hi - keep_from) if lo >= self.lo else 0
        if keep:
            kept = self.buffer[keep_from - self.lo : self.hi - self.lo].clone()
            self.buffer[:keep] = kept
        start = lo + keep
        if hi > start:
            project(start, hi, self.buffer[keep : hi - lo])
        self.lo, self.hi = lo, hi
        return self.buffer[: hi - lo]


class _Workspace:
    """Buffers of one labelling call, reused by every tile."""

    def __init__(self, lab: FusedLabeller, rows_per_tile: int, product_dtype: torch.dtype) -> None:
        self.product_dtype = product_dtype
        self._converted = lab._w1t_as
        w = lab.folded.w1
        pixels = rows_per_tile * lab.grid.width
        self.acc = w.new_empty(pixels, lab.mh)
        self.side = w.new_empty(rows_per_tile * lab.side_width * lab.mh)
        height = lab.grid.height
        self.projected = []
        stack = pixels * lab.direct_w1t.shape[0] if len(lab.direct) > 1 else 0
        for grp in lab.groups:
            spans = [
                grp.rows.source_window(y, min(height, y + rows_per_tile))
                for y in range(0, height, rows_per_tile)
            ]
            capacity = max(hi - lo for lo, hi in spans)
            self.projected.append(w.new_empty(capacity, grp.cols.in_size, lab.mh))
            if len(grp.taps) > 1:
                stack = max(stack, capacity * grp.cols.in_size * grp.channels)
        # taps' pixels side by side before one product, in the products' dtype
        self.stack = w.new_empty(stack, dtype=product_dtype)

    def weights(self, w1t: torch.Tensor) -> torch.Tensor:
        """``w1t`` (one of the labeller's first-layer blocks) in the products' dtype, converted once
        per labeller."""
        if w1t.dtype == self.product_dtype:
            return w1t
        key = (id(w1t), self.product_dtype)
        if key not in self._converted:
            self._converted[key] = w1t.to(self.product_dtype)
        return self._converted[key]


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
    amap = amap.to("cpu")
    out = torch.zeros(amap.size, amap.in_size, dtype=torch.float64)
    rows = torch.arange(amap.size)
    out.index_put_((rows, amap.i0), 1.0 - amap.w1.double(), accumulate=True)
    out.index_put_((rows, amap.i1), amap.w1.double(), accumulate=True)
    return out


def _column_blocks(
    groups: Sequence[_Group], width: int, device: torch.device, block: int = 32
) -> tuple[tuple[int, int, torch.Tensor, torch.Tensor], ...]:
    """The column resampling of the side-by-side groups, cut into blocks of output columns: block
    (x0, x1, sources, weights) covers columns x0..x1-1 and reads source columns ``sources`` [S_b] (of
    every group) with dense weights [x1 - x0, S_b]. Each output column has two weights per group, so
    a block of 32 columns reads ~40 of the ~250 source columns: small dense products instead of one
    sparse one per row."""
    if not groups:
        return ()
    total = sum(g.cols.in_size for g in groups)
    dense = torch.zeros(width, total, dtype=torch.float64)
    x = torch.arange(width)
    for grp in groups:
        amap = grp.cols.to("cpu")
        dense.index_put_((x, amap.i0 + grp.offset), 1.0 - amap.w1.double(), accumulate=True)
        dense.index_put_((x, amap.i1 + grp.offset), amap.w1.double(), accumulate=True)
    out = []
    for x0 in range(0, width, block):
        x1 = min(width, x0 + block)
        sources = dense[x0:x1].ne(0).any(dim=0).nonzero().flatten()
        weights = dense[x0:x1, sources].float().contiguous()
        out.append((x0, x1, sources.to(device), weights.to(device)))
    return tuple(out)
