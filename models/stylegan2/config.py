"""Frozen configuration of a StyleGAN2 generator; derived numbers are computed, never typed."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from datasetgan.models.errors import ConfigError

MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a StyleGAN2 generator (rosinality layout).

    The channel count at resolution ``r`` is ``min(channel_max, channel_base * channel_multiplier // r)``
    (rosinality's table for the defaults: 512 up to 32 px, then 256*cm, 128*cm, ...), unless
    ``channels`` lists one width per resolution 4, 8, ..., ``resolution`` explicitly.
    """

    resolution: int = 256
    w_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2
    channel_base: int = 16384
    channel_max: int = 512
    channels: tuple[int, ...] | None = None
    lr_mlp: float = 0.01
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)

    def __post_init__(self) -> None:
        res = self.resolution
        if not (MIN_RESOLUTION <= res <= MAX_RESOLUTION) or res & (res - 1):
            raise ConfigError(
                f"unsupported resolution: got {res}, expected a power of two from "
                f"{MIN_RESOLUTION} to {MAX_RESOLUTION}"
            )
        if self.w_dim < 1 or self.n_mlp < 1:
            raise ConfigError(f"got w_dim={self.w_dim}, n_mlp={self.n_mlp}, expected both >= 1")
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
            if len(self.channels) != self.log_size - 1:
                raise ConfigError(
                    f"channels has {len(self.channels)} entries, expected {self.log_size - 1} "
                    f"(one per resolution 4..{res})"
                )
        object.__setattr__(self, "blur_kernel", tuple(int(k) for k in self.blur_kernel))
        if min(self.channels_at(4 * 2**i) for i in range(self.log_size - 1)) < 1:
            raise ConfigError(f"channel table {self.channel_table} has a width below 1")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def n_latent(self) -> int:
        """L: number of w vectors a W+ code holds."""
        return self.log_size * 2 - 2

    @property
    def num_layers(self) -> int:
        """Number of styled convolutions (= feature taps = noise buffers)."""
        return (self.log_size - 2) * 2 + 1

    def channels_at(self, resolution: int) -> int:
        if self.channels is not None:
            return self.channels[int(math.log2(resolution)) - 2]
        return min(self.channel_max, self.channel_base * self.channel_multiplier // resolution)

    @property
    def channel_table(self) -> dict[int, int]:
        return {4 * 2**i: self.channels_at(4 * 2**i) for i in range(self.log_size - 1)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown generator config keys {unknown}, expected a subset of {sorted(known)}"
            )
        values = dict(data)
        for key in ("channels", "blur_kernel"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)
