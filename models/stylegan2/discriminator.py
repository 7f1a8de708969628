"""StyleGAN2 residual discriminator (rosinality layout), used to train generators.

Shapes: N batch, C channels, H = W = resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.layers import BiasLeakyReLU, Blur, EqualLinear


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate; ``weight`` [out, in, k, k], optional ``bias`` [out]."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel**2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding
        )


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d (stride 2 when downsampling) -> [bias + leaky ReLU]."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        *,
        downsample: bool = False,
        activate: bool = True,
        bias: bool = True,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel // 2
        layers.append(
            EqualConv2d(
                in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias and not activate
            )
        )
        if activate:
            layers.append(BiasLeakyReLU(out_ch))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 convs (the second downsamples) plus a 1x1 downsampling skip, scaled by 1/sqrt(2)."""

    def __init__(
        self, in_ch: int, out_ch: int, blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    ) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(
            in_ch, out_ch, 1, downsample=True, activate=False, bias=False, blur_kernel=blur_kernel
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """Residual discriminator with minibatch standard deviation; images [N, 3, H, W] -> logits [N, 1].

    Uses the same channel table as the generator config it is built from.
    """

    def __init__(self, config: GeneratorConfig, *, seed: int = 0, stddev_group: int = 4) -> None:
        super().__init__()
        self.config = config
        ch = config.channels_at
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            blocks: list[nn.Module] = [ConvLayer(3, ch(config.resolution), 1)]
            in_ch = ch(config.resolution)
            for log_res in range(config.log_size, 2, -1):
                out_ch = ch(2 ** (log_res - 1))
                blocks.append(ResBlock(in_ch, out_ch, config.blur_kernel))
                in_ch = out_ch
            self.convs = nn.Sequential(*blocks)
            self.final_conv = ConvLayer(in_ch + 1, ch(4), 3)
            self.final_linear = nn.Sequential(
                EqualLinear(ch(4) * 4 * 4, ch(4), activation="lrelu"), EqualLinear(ch(4), 1)
            )
        self.stddev_group = stddev_group

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        res = self.config.resolution
        if images.ndim != 4 or images.shape[1:] != (3, res, res):
            raise ValueError(f"images: got {tuple(images.shape)}, expected [N, 3, {res}, {res}]")
        x = self.convs(images)
        x = torch.cat([x, self._stddev(x)], dim=1)
        x = self.final_conv(x)
        return self.final_linear(x.flatten(1))

    def _stddev(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over channels and pixels of the per-group standard deviation, as one extra map."""
        n, c, h, w = x.shape
        group = min(n, self.stddev_group)
        while n % group:
            group -= 1
        y = x.view(group, -1, c, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # [N / group]
        return y.repeat(group).view(n, 1, 1, 1).expand(n, 1, h, w)
