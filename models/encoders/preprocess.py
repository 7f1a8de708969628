"""Bring image tensors to an encoder's input size under a stated policy (never a silent reshape).

Policy of ``mode="resize"``: a non-square batch is centre-cropped to its largest centred square, then
resized to ``size x size`` with bilinear interpolation (antialiased when shrinking,
``align_corners=False``). ``mode="refuse"`` raises unless the batch is already ``size x size``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from datasetgan.models.encoders.errors import EncoderInputError

FIT_MODES = ("resize", "refuse")


def center_square(x: Tensor) -> Tensor:
    """``[N, C, H, W] -> [N, C, s, s]`` with s = min(H, W), the centred square."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top : top + s, left : left + s]


def resize_square(x: Tensor, size: int) -> Tensor:
    """Resize a square batch ``[N, C, s, s] -> [N, C, size, size]`` (bilinear, antialiased down)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    shrink = x.shape[-1] > size
    return F.interpolate(
        x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
    )


def fit_input(x: Tensor, size: int, *, mode: str = "resize") -> Tensor:
    """Return ``x [N, C, H, W]`` as ``[N, C, size, size]`` following the module's policy."""
    if mode not in FIT_MODES:
        raise EncoderInputError(f"fit_input: mode={mode!r}, expected one of {FIT_MODES}")
    if x.ndim != 4:
        raise EncoderInputError(f"fit_input: got shape {tuple(x.shape)}, expected [N, C, H, W]")
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if mode == "refuse":
        raise EncoderInputError(
            f"fit_input: got images of {h}x{w}, expected {size}x{size} (mode='refuse'; "
            "use mode='resize' to centre-crop and resize)"
        )
    return resize_square(center_square(x), size)
