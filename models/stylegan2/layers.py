"""StyleGAN2 building blocks with rosinality-compatible parameter names and shapes.

Shapes: N batch, C channels, H/W spatial, D style (w) dimension.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from datasetgan.models.stylegan2.ops import (
    demodulate_noise_bias_leaky_relu_,
    fused_leaky_relu,
    make_blur_kernel,
    upfirdn2d,
)

ModconvImpl = Literal["auto", "batched", "grouped"]
MODCONV_IMPLS = ("auto", "batched", "grouped")


class PixelNorm(nn.Module):
    """Normalise each vector to unit second moment over dim 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (runtime weight scaling) and lr multiplier.

    Parameters ``weight`` [out, in] and ``bias`` [out] as in rosinality; ``activation="lrelu"`` applies
    the fused bias + leaky ReLU (x sqrt 2).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: Literal["linear", "lrelu"] = "linear",
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = 1.0 / math.sqrt(in_dim) * lr_mul
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation == "lrelu":
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    """FIR low-pass filter (buffer ``kernel``) applied with fixed padding."""

    kernel: torch.Tensor

    def __init__(self, taps: tuple[int, ...], *, pad: tuple[int, int], gain: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("kernel", make_blur_kernel(taps, gain=gain))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling (buffer ``kernel``), used on the RGB skip path."""

    kernel: torch.Tensor

    def __init__(self, taps: tuple[int, ...], factor: int = 2) -> None:
        super().__init__()
        self.register_buffer("kernel", make_blur_kernel(taps, gain=factor**2))
        p = len(taps) - factor
        self.factor = factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution with optional demodulation and 2x upsampling.

    Two equivalent implementations (equal within float32 rounding):

    * ``"batched"``: scale the input by the style, run ONE ordinary convolution whose weight is shared
      by the whole batch, then scale the output by the demodulation coefficients. Fast on CPUs.
    * ``"grouped"``: build one modulated weight per sample and run a grouped convolution (the
      reference formulation of the paper and rosinality's ``fused=True``).

    ``"auto"`` picks ``"batched"`` except for CUDA inference, where ``"grouped"`` is used (the choice
    NVIDIA's stylegan2-ada makes there).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        *,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = (
            in_channels,
            out_channels,
            kernel_size,
        )
        self.demodulate, self.upsample = demodulate, upsample
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(
                blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), gain=factor**2
            )

    def forward(self, x: torch.Tensor, w: torch.Tensor, impl: ModconvImpl = "auto") -> torch.Tensor:
        """x: [N, C_in, H, W], w: [N, D] -> [N, C_out, H', W'] (H' = 2H when upsampling)."""
        style = self.style(w)  # [N, C_in]
        impl = resolve_modconv(impl, x)
        if impl == "batched":
            return self._forward_batched(x, style)
        return self._forward_grouped(x, style)

    def _forward_batched(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out, demod = self.batched_undemodulated(x, style)
        if demod is not None:
            demod = demod[:, :, None, None]
            out = out.mul_(demod) if not torch.is_grad_enabled() else out * demod
        return out

    def batched_undemodulated(
        self, x: torch.Tensor, style: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batched path up to demodulation: (out [N, C_out, H', W'] in ``x``'s memory format,
        demod [N, C_out] or None). ``out * demod`` is the layer's output."""
        weight = self.weight[0] * self.scale  # [C_out, C_in, k, k]
        x = x * style.to(x.dtype)[:, :, None, None]
        if self.upsample and x.dtype == torch.bfloat16:
            out = self.blur(_transposed_conv_by_phases(x, weight))
        elif self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            out = self.blur(out)
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if not self.demodulate:
            return out, None
        with torch.autocast(x.device.type, enabled=False):  # demodulation stays fp32 under bf16
            # sum over (C_in, k, k) of (weight * style)^2 as one [N, C_in] x [C_in, C_out] product
            energy = (style * style) @ weight.square().sum(dim=(2, 3)).t()
        return out, torch.rsqrt(energy + 1e-8)

    def style(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, D] -> style [N, C_in], in fp32 even under a bf16 autocast."""
        with torch.autocast(w.device.type, enabled=False):
            return self.modulation(w.float())

    def _forward_grouped(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        n, c_in, h, w = x.shape
        k, c_out = self.kernel_size, self.out_channels
        weight = self.scale * self.weight * style.view(n, 1, c_in, 1, 1)  # [N, C_out, C_in, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4)) + 1e-8).view(
                n, c_out, 1, 1, 1
            )
        x = x.reshape(1, n * c_in, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(n * c_in, c_out, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=n)
            out = self.blur(out.view(n, c_out, out.shape[2], out.shape[3]))
            return out
        out = F.conv2d(x, weight.reshape(n * c_out, c_in, k, k), padding=self.padding, groups=n)
        return out.view(n, c_out, out.shape[2], out.shape[3])


def _transposed_conv_by_phases(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)`` for a 3x3 ``weight`` [C_out, C_in,
    3, 3] as four ordinary convolutions, one per output phase (even/odd row x even/odd column: 2x2,
    2x1, 1x2 and 1x1 taps, nine in all as in the transposed one), interleaved into [N, C_out, 2H+1,
    2W+1]. oneDNN's bf16 transposed convolution is slow on CPU; its ordinary ones use AMX."""
    n, _, h, w = x.shape
    outer, mid = [2, 0], slice(1, 2)  # kernel taps of even (two source rows) and odd positions
    padded = F.pad(x, (1, 1, 1, 1))
    out = torch.empty(
        (n, weight.shape[0], 2 * h + 1, 2 * w + 1),
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last,
    )
    out[:, :, 0::2, 0::2] = F.conv2d(padded, weight[:, :, outer][:, :, :, outer])
    out[:, :, 0::2, 1::2] = F.conv2d(padded[:, :, :, 1:-1], weight[:, :, outer][:, :, :, mid])
    out[:, :, 1::2, 0::2] = F.conv2d(padded[:, :, 1:-1, :], weight[:, :, mid][:, :, :, outer])
    out[:, :, 1::2, 1::2] = F.conv2d(x, weight[:, :, mid, mid])
    return out


def resolve_modconv(impl: ModconvImpl, x: torch.Tensor) -> Literal["batched", "grouped"]:
    """``"auto"`` -> ``"grouped"`` for CUDA inference, else ``"batched"``; checks the name."""
    if impl == "auto":
        return "grouped" if x.is_cuda and not torch.is_grad_enabled() else "batched"
    if impl not in ("batched", "grouped"):
        raise ValueError(f"modconv impl: got {impl!r}, expected one of {MODCONV_IMPLS}")
    return impl


class NoiseInjection(nn.Module):
    """Adds ``weight * noise``; ``noise`` [N or 1, 1, H, W] or None for no noise."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        if not torch.is_grad_enabled():  # inference: x is a fresh conv output, update it in place
            return x.add_(noise * self.weight)
        return x + self.weight * noise


class BiasLeakyReLU(nn.Module):
    """Per-channel bias then leaky ReLU (x sqrt 2); parameter ``bias`` [C] (rosinality's FusedLeakyReLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W], a fresh tensor: without autograd it is updated in place."""
        return fused_leaky_relu(x, self.bias, inplace=not torch.is_grad_enabled())


class ConstantInput(nn.Module):
    """The learned 4x4 constant the synthesis starts from; parameter ``input`` [1, C, 4, 4]."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias + leaky ReLU. Its output is one DatasetGAN feature tap."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        *,
        upsample: bool = False,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channels, out_channels, 3, w_dim, upsample=upsample, blur_kernel=blur_kernel
        )
        self.noise = NoiseInjection()
        self.activate = BiasLeakyReLU(out_channels)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise: torch.Tensor | None,
        impl: ModconvImpl = "auto",
    ) -> torch.Tensor:
        if not torch.is_grad_enabled() and resolve_modconv(impl, x) == "batched":
            # inference: the conv's epilogue (demodulation, noise, bias, activation) in two passes
            out, demod = self.conv.batched_undemodulated(x, self.conv.style(w))
            assert demod is not None
            return demodulate_noise_bias_leaky_relu_(
                out, demod, noise, self.noise.weight, self.activate.bias
            )
        return self.activate(self.noise(self.conv(x, w, impl), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB plus bias, added to the upsampled skip image."""

    def __init__(
        self,
        in_channels: int,
        w_dim: int,
        *,
        upsample: bool = True,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(
            in_channels, 3, 1, w_dim, demodulate=False, blur_kernel=blur_kernel
        )
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        skip: torch.Tensor | None,
        impl: ModconvImpl = "auto",
    ) -> torch.Tensor:
        if resolve_modconv(impl, x) == "batched":
            out = self._project(x, self.conv.style(w)) + self.bias
        else:
            out = self.conv(x, w, impl) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out

    def _project(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The modulated 1x1 conv as one batched matmul with the style folded into per-sample
        weights [N, C, 3] (no modulated copy of ``x``). x: [N, C, H, W] -> [N, 3, H, W]."""
        n, c, h, w = x.shape
        weight = (self.conv.weight[0, :, :, 0, 0] * self.conv.scale)[None] * style[:, None, :]
        weight = weight.to(x.dtype)
        if x.is_contiguous(memory_format=torch.channels_last) and c > 1:
            pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view of the NHWC storage
            return torch.bmm(pixels, weight.transpose(1, 2)).view(n, h, w, 3).permute(0, 3, 1, 2)
        return torch.bmm(weight, x.reshape(n, c, h * w)).view(n, 3, h, w)
