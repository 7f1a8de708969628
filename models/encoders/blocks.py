"""Building blocks of the FPN encoders, with the released pSp / e4e parameter names.

IR bottleneck (``res_layer`` = BN, conv3x3, PReLU, conv3x3(stride), BN [, SE]; ``shortcut_layer`` =
strided identity or conv1x1 + BN), the squeeze-excitation module, the map-to-style block, and the
FPN upsample-add. Shapes: N batch, C channels, H/W spatial, D style dimension.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from datasetgan.models.encoders.errors import EncoderInputError
from datasetgan.models.stylegan2.layers import EqualLinear


class SEModule(nn.Module):
    """Squeeze-excitation: ``x * sigmoid(fc2(relu(fc1(avgpool(x)))))`` with bias-free 1x1 convs."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * gate


class BottleneckIR(nn.Module):
    """IR / IR-SE residual unit: ``[N, C_in, H, W] -> [N, depth, H/stride, W/stride]``."""

    def __init__(
        self, in_channel: int, depth: int, stride: int, *, se_reduction: int | None
    ) -> None:
        super().__init__()
        self.shortcut_layer: nn.Module
        if in_channel == depth:
            self.shortcut_layer = nn.MaxPool2d(kernel_size=1, stride=stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, kernel_size=3, stride=1, padding=1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se_reduction is not None:
            layers.append(SEModule(depth, se_reduction))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    """Map-to-style: log2(spatial) stride-2 conv + LeakyReLU, then an equalised linear.

    ``[N, in_c, spatial, spatial] -> [N, out_c]``; the convolutions have ``width`` channels
    (default ``out_c``, the released layout) and the linear maps ``width -> out_c``. Unlike the
    released code (``view(-1, out_c)``), a map that is not reduced to 1x1 raises instead of
    silently turning into extra batch rows.
    """

    def __init__(self, in_c: int, out_c: int, spatial: int, width: int | None = None) -> None:
        super().__init__()
        width = out_c if width is None else width
        self.out_c = out_c
        self.spatial = spatial
        n_convs = max(1, int(math.log2(spatial)))
        layers: list[nn.Module] = []
        for i in range(n_convs):
            layers += [
                nn.Conv2d(in_c if i == 0 else width, width, kernel_size=3, stride=2, padding=1),
                nn.LeakyReLU(),
            ]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(width, out_c, lr_mul=1.0)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.spatial, self.spatial):
            raise EncoderInputError(
                f"GradualStyleBlock: got a {tuple(x.shape[-2:])} map, expected "
                f"{(self.spatial, self.spatial)} (the encoder's input size does not match its config)"
            )
        y = self.convs(x)
        return self.linear(y.flatten(1))


def upsample_add(top: Tensor, lateral: Tensor) -> Tensor:
    """FPN merge: bilinearly resize ``top`` to ``lateral``'s size (align_corners=True) and add."""
    return (
        F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral
    )
