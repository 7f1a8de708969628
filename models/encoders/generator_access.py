"""Typed access to generator buffers (``register_buffer`` attributes type as ``Tensor | Module``)."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from datasetgan.models.stylegan2.generator import Generator


def w_avg_of(generator: Generator) -> Tensor:
    """The generator's mean W ``[D]``."""
    return cast(Tensor, generator.w_avg)


def device_of(generator: Generator) -> torch.device:
    """The device the generator's weights live on."""
    return w_avg_of(generator).device
