"""The preallocated feature buffer: every tap resampled straight into its channel slice.

This is the exact reference path (and the way to get raw per-pixel features); the fused labeller
(:mod:`interpreter.fused`) produces the same labels without ever materialising it.

Shapes: N batch, C total channels (sum over taps), H/W the labelled frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from datasetgan.interpreter.config import FeatureConfig
from datasetgan.interpreter.resample import TapGrid, resample_cols_into, resample_rows

DEFAULT_TILE_ROWS = 32


class FeatureBuffer:
    """A [N_max, C, H, W] buffer allocated once and refilled by :meth:`fill` (no torch.cat).

    taps: the generator's ``tap_layout``; resolution: the generator's output size. The buffer's dtype
    (e.g. ``torch.float16`` for storage) and device come from the caller. Temporaries of one fill are
    bounded by ``tile_rows`` output rows of one tap.
    """

    def __init__(
        self,
        taps: Sequence[Sequence[object]],
        *,
        resolution: int,
        batch_size: int,
        config: FeatureConfig = FeatureConfig(),
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        tile_rows: int = DEFAULT_TILE_ROWS,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: got {batch_size}, expected >= 1")
        self.grid = TapGrid.build(taps, resolution, config).to(device)
        self.config = config
        self.tile_rows = max(1, tile_rows)
        g = self.grid
        self.buffer = torch.empty(
            batch_size, g.channels, g.height, g.width, dtype=dtype, device=device
        )

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """[N_max, C, H, W]."""
        return tuple(self.buffer.shape)  # type: ignore[return-value]

    def fill(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Resample one [N, C_t, R_t, R_t] map per tap into the buffer; returns the view [N, C, H, W].

        N may be anything up to the buffer's batch size. The returned view is overwritten by the next
        call (copy it to keep it).
        """
        n = self.grid.check_features(features)
        if n > self.buffer.shape[0]:
            raise ValueError(
                f"features: got batch {n}, expected at most {self.buffer.shape[0]} (the buffer's)"
            )
        view = self.buffer[:n]
        g = self.grid
        with torch.no_grad():
            for f, rows, cols, sl in zip(features, g.rows, g.cols, g.channel_slices, strict=True):
                f = f.to(self.buffer.device)
                for y0 in range(0, g.height, self.tile_rows):
                    y1 = min(g.height, y0 + self.tile_rows)
                    lo, hi = rows.source_window(y0, y1)
                    r = resample_rows(f[:, :, lo:hi], rows, y0, y1, lo=lo)
                    resample_cols_into(r, cols, view[:, sl, y0:y1])
        return view
