"""Compute precision of rendering and labelling: ``"fp32"`` (default, exact) or ``"bf16"``.

bf16 runs the generator's convolutions and activations in bfloat16 (oneDNN's BF16/AMX kernels on
CPUs that have them, tensor cores on CUDA); styles, demodulation and the image's to-RGB sum stay
float32. The fused labeller projects bf16 taps onto its first layer in bf16 and accumulates in
float32; the rest of the ensemble runs in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from datasetgan.models.errors import PrecisionError

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


def bf16_supported(device: torch.device | str) -> bool:
    """True when ``device`` runs bf16 convolutions natively (CPU: AVX-512 BF16 or AMX via oneDNN)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and _mkldnn_bf16())
    return False


def _mkldnn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_precision(precision: str, device: torch.device | str) -> Precision:
    """``precision`` checked against the names and against ``device``'s hardware."""
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision: got {precision!r}, expected one of {PRECISIONS}")
    if precision == "bf16" and not bf16_supported(device):
        where = (
            "this CPU has no AVX-512 BF16/AMX"
            if torch.device(device).type == "cpu"
            else (f"{device} does not support bfloat16")
        )
        raise PrecisionError(
            f"precision 'bf16': {where}; expected hardware with native bf16, or precision 'fp32'"
        )
    return precision  # type: ignore[return-value]


@contextlib.contextmanager
def compute_precision(precision: str, device: torch.device | str) -> Iterator[None]:
    """Run the block at ``precision`` on ``device`` (checked first; fp32 changes nothing)."""
    check_precision(precision, device)
    if precision == "fp32":
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
        yield
