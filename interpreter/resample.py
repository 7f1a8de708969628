"""Separable resampling of tapped feature maps, shared by the buffer, the fused labeller and training.

Every output row (and column) of the labelled frame reads at most two source rows (columns) of a
tapped map: ``out[i] = lerp(src[i0[i]], src[i1[i]], w1[i])``. The source indices and weights are those
of ``torch.nn.functional.interpolate(..., align_corners=False)`` (bilinear) or its ``"nearest"`` mode,
so one set of numbers serves the feature buffer, the fused labeller (which resamples projections
instead of features) and the training gather (which resamples single pixels).

Shapes: N batch, C_t channels of tap t, R_t its resolution, H/W the labelled frame (after the crop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from datasetgan.interpreter.config import FeatureConfig, ResampleMode


class Tap(NamedTuple):
    """One tapped feature map (same fields as ``models.stylegan2.TapSpec``)."""

    name: str
    resolution: int
    channels: int


@dataclass(frozen=True)
class AxisMap:
    """Source positions of each output position along one axis.

    i0, i1: [S] int64 source indices; w1: [S] float32 weight of ``i1`` (``i0`` gets ``1 - w1``).
    """

    i0: torch.Tensor
    i1: torch.Tensor
    w1: torch.Tensor
    in_size: int

    @property
    def size(self) -> int:
        return int(self.i0.numel())

    @property
    def is_identity(self) -> bool:
        """True when output position i is exactly source position i (no resampling at all)."""
        if self.size != self.in_size:
            return False
        ar = torch.arange(self.size, device=self.i0.device)
        return bool(torch.equal(self.i0, ar) and not self.w1.any())

    def source_window(self, start: int, stop: int) -> tuple[int, int]:
        """Source range [lo, hi) read by output positions [start, stop)."""
        return int(self.i0[start:stop].min()), int(self.i1[start:stop].max()) + 1  # sync on GPUs

    def to(self, device: torch.device | str) -> AxisMap:
        return AxisMap(self.i0.to(device), self.i1.to(device), self.w1.to(device), self.in_size)

    def key(self) -> tuple[int, bytes, bytes, bytes]:
        return (
            self.in_size,
            self.i0.cpu().numpy().tobytes(),
            self.i1.cpu().numpy().tobytes(),
            self.w1.cpu().numpy().tobytes(),
        )


def axis_map(
    in_size: int, frame: int, *, mode: ResampleMode, start: int = 0, length: int | None = None
) -> AxisMap:
    """Map output positions ``start .. start+length-1`` of a ``frame``-long axis to ``in_size`` sources."""
    length = frame - start if length is None else length
    dst = torch.arange(start, start + length, dtype=torch.float32)
    scale = torch.tensor(in_size / frame, dtype=torch.float32)
    if mode == "nearest":
        if frame == in_size:
            i0 = dst.long()
        else:
            i0 = torch.floor(dst * scale).long().clamp_(max=in_size - 1)
        return AxisMap(i0, i0.clone(), torch.zeros(length), in_size)
    src = (scale * (dst + 0.5) - 0.5).clamp_(min=0.0)
    i0 = src.long()
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    return AxisMap(i0, i1, (src - i0.to(torch.float32)).contiguous(), in_size)


@dataclass(frozen=True)
class TapGrid:
    """Row and column maps of every tap for one generator geometry and one :class:`FeatureConfig`."""

    taps: tuple[Tap, ...]
    rows: tuple[AxisMap, ...]
    cols: tuple[AxisMap, ...]
    height: int
    width: int

    @classmethod
    def build(
        cls, taps: Sequence[Sequence[object]], resolution: int, config: FeatureConfig
    ) -> TapGrid:
        """``taps``: the generator's ``tap_layout`` (name, resolution, channels), synthesis order."""
        layout = tuple(Tap(str(t[0]), int(t[1]), int(t[2])) for t in taps)  # type: ignore[call-overload]
        height, width = config.output_shape(resolution)
        frame = config.frame_size(resolution)
        top, left = (config.crop[0], config.crop[1]) if config.crop is not None else (0, 0)
        rows, cols = [], []
        for tap in layout:
            rows.append(axis_map(tap.resolution, frame, mode=config.mode, start=top, length=height))
            cols.append(axis_map(tap.resolution, frame, mode=config.mode, start=left, length=width))
        return cls(layout, tuple(rows), tuple(cols), height, width)

    def to(self, device: torch.device | str) -> TapGrid:
        """The same grid with its index and weight tensors on ``device``."""
        rows = tuple(m.to(device) for m in self.rows)
        cols = tuple(m.to(device) for m in self.cols)
        return TapGrid(self.taps, rows, cols, self.height, self.width)

    @property
    def channels(self) -> int:
        """C: total channels of all taps."""
        return sum(t.channels for t in self.taps)

    @property
    def channel_slices(self) -> tuple[slice, ...]:
        """Channel slice of each tap inside the [C] feature vector."""
        out, c = [], 0
        for t in self.taps:
            out.append(slice(c, c + t.channels))
            c += t.channels
        return tuple(out)

    def check_features(self, features: Sequence[torch.Tensor]) -> int:
        """Check one [N, C_t, R_t, R_t] map per tap; return N."""
        if len(features) != len(self.taps):
            raise ValueError(
                f"features: got {len(features)} maps, expected {len(self.taps)} (one per tap)"
            )
        n = features[0].shape[0] if len(features) else 0
        for f, t in zip(features, self.taps, strict=True):
            expected = (n, t.channels, t.resolution, t.resolution)
            if tuple(f.shape) != expected:
                raise ValueError(
                    f"features of tap {t.name}: got shape {tuple(f.shape)}, expected {list(expected)}"
                )
        return int(n)


def resample_rows(
    f: torch.Tensor, rows: AxisMap, start: int, stop: int, *, lo: int = 0
) -> torch.Tensor:
    """Rows ``start..stop-1`` of the resampled frame from ``f`` [..., R_rows, X] holding source rows
    ``lo..``; returns [..., stop - start, X]."""
    i0 = rows.i0[start:stop] - lo
    if not rows.w1[start:stop].any():
        return f.index_select(-2, i0)
    a, b = f.index_select(-2, i0), f.index_select(-2, rows.i1[start:stop] - lo)
    return torch.lerp(a, b, rows.w1[start:stop, None].to(f.dtype))


def resample_cols_into(r: torch.Tensor, cols: AxisMap, out: torch.Tensor) -> None:
    """Resample the last axis of ``r`` [..., R_cols] to ``out`` [..., W] (written in place)."""
    if not cols.w1.any():
        out.copy_(r.index_select(-1, cols.i0))
        return
    a, b = r.index_select(-1, cols.i0), r.index_select(-1, cols.i1)
    if out.dtype == r.dtype:
        torch.lerp(a, b, cols.w1.to(r.dtype), out=out)
    else:
        out.copy_(torch.lerp(a, b, cols.w1.to(r.dtype)))


def gather_pixels(
    features: Sequence[torch.Tensor],
    grid: TapGrid,
    index: int,
    ys: torch.Tensor,
    xs: torch.Tensor,
    out: torch.Tensor,
) -> torch.Tensor:
    """Features of pixels (ys, xs) of sample ``index`` from the native maps, as the buffer would hold them.

    features: one [N, C_t, R_t, R_t] per tap; ys, xs: [P] int64 output coordinates; out: [P, C]
    (any float dtype), each tap written into its channel slice. Same weights and operation order as
    :class:`~interpreter.features.FeatureBuffer`, so the values equal the buffer's at those pixels.
    """
    for f, rows, cols, sl in zip(features, grid.rows, grid.cols, grid.channel_slices, strict=True):
        src = f[index]
        width = src.shape[-1]
        flat = src.reshape(src.shape[0], -1)
        r0, r1, wr = rows.i0[ys] * width, rows.i1[ys] * width, rows.w1[ys].to(src.dtype)
        c0, c1, wc = cols.i0[xs], cols.i1[xs], cols.w1[xs].to(src.dtype)
        left = torch.lerp(flat[:, r0 + c0], flat[:, r1 + c0], wr)
        right = torch.lerp(flat[:, r0 + c1], flat[:, r1 + c1], wr)
        out[:, sl] = torch.lerp(left, right, wc).t()
    return out
