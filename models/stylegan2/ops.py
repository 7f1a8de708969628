"""StyleGAN2's two special ops in plain PyTorch: upfirdn2d and fused bias + leaky ReLU.

The native versions here are the default everywhere. On CUDA, inference calls may use the optional
compiled kernels from ``models.stylegan2.kernels`` (built lazily on first use, falling back to these
functions if the build fails); nothing compiles at import.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from datasetgan.models.stylegan2 import kernels

SQRT2 = math.sqrt(2.0)


def make_blur_kernel(taps: tuple[int, ...], *, gain: float = 1.0) -> torch.Tensor:
    """Outer product of a 1-D FIR filter, normalised to sum ``gain``. Returns [K, K] float32."""
    k = torch.tensor(taps, dtype=torch.float32)
    k2 = k[None, :] * k[:, None]
    return k2 / k2.sum() * gain


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    *,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with a 2-D FIR kernel, downsample.

    x: [N, C, H, W]; kernel: [Kh, Kw]; ``pad`` = (before, after) on both axes (negative crops).
    Returns [N, C, (H*up + p0 + p1 - Kh) // down + 1, ...]. A true convolution (the kernel is flipped),
    as in the StyleGAN2 papers' reference op.
    """
    if x.is_cuda and not torch.is_grad_enabled() and x.dtype != torch.bfloat16:
        ext = kernels.load()  # float, double and half kernels; bf16 takes the native ops
        if ext is not None:
            return ext.upfirdn2d(x.contiguous(), kernel.to(x), up, down, pad[0], pad[1])
    return upfirdn2d_native(x, kernel, up=up, down=down, pad=pad)


def upfirdn2d_native(
    x: torch.Tensor,
    kernel: torch.Tensor,
    *,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Reference implementation of :func:`upfirdn2d` with ordinary PyTorch ops."""
    n, c, h, w = x.shape
    p0, p1 = pad
    kh, kw = kernel.shape
    if up == 1 and down == 1 and p0 == p1 >= 0:
        # a symmetric zero pad is the convolution's own padding: no padded copy, layout kept
        weight = kernel.flip(0, 1).to(x)[None, None].expand(c, 1, kh, kw)
        return F.conv2d(x, weight, padding=p0, groups=c)
    if up > 1:
        spread = x.new_zeros(n, c, h, up, w, up)
        spread[:, :, :, 0, :, 0] = x
        x = spread.reshape(n, c, h * up, w * up)
    if p0 or p1:
        x = F.pad(x, [p0, p1, p0, p1])
    weight = kernel.flip(0, 1).to(x)[None, None].expand(c, 1, kh, kw)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor,
    *,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
    inplace: bool = False,
) -> torch.Tensor:
    """leaky_relu(x + bias) * scale, bias broadcast over dim 1. x: [N, C, ...]; bias: [C].

    ``inplace=True`` may overwrite ``x`` (only valid without autograd).
    """
    if x.is_cuda and not torch.is_grad_enabled() and x.dtype != torch.bfloat16:
        ext = kernels.load()
        if ext is not None:
            return ext.bias_leaky_relu(x.contiguous(), bias.to(x), negative_slope, scale)
    return fused_leaky_relu_native(
        x, bias, negative_slope=negative_slope, scale=scale, inplace=inplace
    )


def fused_leaky_relu_native(
    x: torch.Tensor,
    bias: torch.Tensor,
    *,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
    inplace: bool = False,
) -> torch.Tensor:
    """Reference implementation of :func:`fused_leaky_relu`."""
    shape = [1, bias.shape[0]] + [1] * (x.ndim - 2)
    if inplace:
        # leaky_relu is positively homogeneous: leaky(x + b) * s == leaky(x * s + b * s)
        return F.leaky_relu_(x.mul_(scale).add_(bias.view(shape) * scale), negative_slope)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


def demodulate_noise_bias_leaky_relu_(
    out: torch.Tensor,
    demod: torch.Tensor,
    noise: torch.Tensor | None,
    noise_weight: torch.Tensor,
    bias: torch.Tensor,
    *,
    negative_slope: float = 0.2,
    scale: float = SQRT2,
) -> torch.Tensor:
    """In place, two passes over ``out``: leaky_relu(out * demod + noise * noise_weight + bias) * scale.

    The epilogue of a styled convolution without autograd (the sqrt 2 gain is folded into the other
    terms: leaky ReLU is positively homogeneous). out: [N, C, H, W] (any memory format, overwritten);
    demod: [N, C]; noise: [N or 1, 1, H, W] or None; noise_weight: [1]; bias: [C].
    """
    _, c, h, w = out.shape
    addend = (bias * scale).view(1, c, 1, 1)
    if noise is not None:
        # [N or 1, C, H, W] in ``out``'s layout: one batch's worth for the stored constant noise
        fmt = (
            torch.channels_last
            if out.is_contiguous(memory_format=torch.channels_last) and c > 1
            else torch.contiguous_format
        )
        base = torch.empty(
            (noise.shape[0], c, h, w), dtype=out.dtype, device=out.device, memory_format=fmt
        )
        addend = torch.add(addend, noise.to(out), alpha=float(noise_weight) * scale, out=base)
    torch.addcmul(
        addend.to(out.dtype), out, (demod * scale).to(out.dtype)[:, :, None, None], out=out
    )
    return F.leaky_relu_(out, negative_slope)
