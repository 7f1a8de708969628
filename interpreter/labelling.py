"""Labelling from the materialised feature buffer (the exact reference path of the fused labeller)
and the DatasetGAN-style reference used by tests and the benchmark.

Shapes: N images, C channels, H/W output, M members, MH = M*H1, K classes, T rows per tile.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from datasetgan.interpreter.config import FeatureConfig
from datasetgan.interpreter.ensemble import FoldedEnsemble, PixelEnsemble
from datasetgan.interpreter.predict import LabelResult, ResultWriter


@torch.no_grad()
def label_buffer(
    buffer: torch.Tensor,
    folded: FoldedEnsemble,
    *,
    maps: Sequence[str] = (),
    tile_pixels: int = 8192,
) -> LabelResult:
    """Every member on every pixel of a feature buffer [N, C, H, W] (any float dtype), in row tiles."""
    if buffer.ndim != 4 or buffer.shape[1] != folded.w1.shape[1]:
        raise ValueError(
            f"buffer: got shape {tuple(buffer.shape)}, expected [N, {folded.w1.shape[1]}, H, W]"
        )
    n, c, h, w = buffer.shape
    writer = ResultWriter(n, h, w, folded.n_classes, maps, folded.w1.device)
    rows = max(1, min(h, tile_pixels // w))
    w1t = folded.w1.t()
    for i in range(n):
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            x = buffer[i, :, y0:y1, :].reshape(c, -1).to(folded.w1.dtype)
            pre1 = torch.addmm(folded.b1, x.t(), w1t)
            writer.write(folded.head(pre1), i, y0, y1, order="yx")
    return writer.result()


@torch.no_grad()
def reference_label(
    features: Sequence[torch.Tensor],
    ensemble: PixelEnsemble,
    *,
    resolution: int,
    config: FeatureConfig = FeatureConfig(),
    maps: Sequence[str] = (),
) -> LabelResult:
    """DatasetGAN/EditGAN-style labelling: ``F.interpolate`` every tap into a list, ``torch.cat`` them
    into [N, C, H, W], then run each member (an ``nn.Sequential``, BatchNorm in eval mode) on every
    pixel. Memory-hungry on purpose: it is what the buffer and the fused labeller are checked against.
    """
    size = config.frame_size(resolution)
    kw = {"align_corners": False} if config.mode == "bilinear" else {}
    ups = [F.interpolate(f, size=(size, size), mode=config.mode, **kw) for f in features]
    buffer = torch.cat(ups, dim=1)
    del ups
    if config.crop is not None:
        top, left, h, w = config.crop
        buffer = buffer[:, :, top : top + h, left : left + w]
    n, c, h, w = buffer.shape
    writer = ResultWriter(n, h, w, ensemble.n_classes, maps, buffer.device)
    members = [ensemble.member(m) for m in range(ensemble.n_members)]
    for i in range(n):
        pixels = buffer[i].reshape(c, h * w).t()  # [H*W, C] view, as DatasetGAN's reshape+transpose
        logp = torch.stack([torch.log_softmax(member(pixels), dim=-1) for member in members])
        writer.write(logp.transpose(1, 2), i, 0, h, order="yx")
    return writer.result()
