"""A second, independent segmentation architecture: a dilated residual network (DRN-style).

Where the U-Net (:mod:`toyfaces.segnet`) gathers context by pooling three times and decoding back,
this one halves the resolution once and widens its view with dilated 3x3 convolutions (dilations
1, 2, 4, 8, 4, 2, 1 at 1/2 resolution), then upsamples and fuses with a full-resolution stem. A
claim that holds for both nets is not an artefact of one architecture.

Shapes: image [N, 3, H, W] in [0, 1] (H, W even) -> logits [N, K, H, W].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from datasetgan.toyfaces.domain import K


@dataclass(frozen=True)
class DilatedNetConfig:
    """``width`` channels at full resolution, 2 x width in the dilated trunk."""

    n_classes: int = K
    in_channels: int = 3
    width: int = 24
    dilations: tuple[int, ...] = (1, 2, 4, 8, 4, 2, 1)

    def __post_init__(self) -> None:
        if self.width < 1 or not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"got width {self.width}, dilations {self.dilations}; expected >= 1")
        if self.n_classes < 2:
            raise ValueError(f"got n_classes {self.n_classes}, expected at least 2")


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DilatedNet(nn.Module):
    """Stem (full resolution) -> stride-2 conv -> dilated residual trunk -> upsample + fuse -> head."""

    def __init__(self, config: DilatedNetConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        w = config.width
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG
            self.stem = _conv(config.in_channels, w)
            self.down = _conv(w, 2 * w, stride=2)
            self.trunk = nn.Sequential(*[_Residual(2 * w, d) for d in config.dilations])
            self.fuse = _conv(3 * w, w)
            self.head = nn.Conv2d(w, config.n_classes, 1)
        rng = torch.Generator().manual_seed(seed)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu", generator=rng)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, image: Tensor) -> Tensor:
        if image.ndim != 4 or image.shape[1] != self.config.in_channels or image.shape[-1] % 2:
            raise ValueError(
                f"got image {tuple(image.shape)}, expected [N, {self.config.in_channels}, H, W], H, W even"
            )
        stem = self.stem(image * 2.0 - 1.0)  # [N, w, H, W]
        x = self.trunk(self.down(stem))  # [N, 2w, H/2, W/2]
        x = F.interpolate(x, size=stem.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat([x, stem], 1)))
