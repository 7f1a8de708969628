"""pSp ``GradualStyleEncoder`` and e4e ``Encoder4Editing`` (state dicts match the released ones).

Both map images ``[N, input_nc, S, S]`` (range [-1, 1], S = ``config.input_size``) to W+ codes
``[N, L, D]`` (L = ``n_styles``, D = ``style_dim``). Inputs of another size are refused here; resize
them first with :func:`models.encoders.preprocess.fit_input`. ``latent_avg`` [L, D] is a
non-persistent buffer (so ``state_dict()`` keeps the released key layout); it is added to the
output when ``config.offset == "latent_avg"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from datasetgan.models.encoders.blocks import BottleneckIR, GradualStyleBlock, upsample_add
from datasetgan.models.encoders.config import EncoderConfig
from datasetgan.models.encoders.errors import EncoderConfigError, EncoderInputError


class _FPNEncoder(nn.Module):
    """Shared body, FPN laterals and map-to-style heads of pSp and e4e."""

    latent_avg: Tensor

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        w0 = config.widths[0]
        self.input_layer = nn.Sequential(
            nn.Conv2d(config.input_nc, w0, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(w0),
            nn.PReLU(w0),
        )
        se = config.se_reduction if config.unit == "ir_se" else None
        blocks: list[nn.Module] = []
        in_ch = w0
        for n_units, width in zip(config.units, config.widths, strict=True):
            for i in range(n_units):
                blocks.append(BottleneckIR(in_ch, width, 2 if i == 0 else 1, se_reduction=se))
                in_ch = width
        self.body = nn.Sequential(*blocks)
        size, fpn = config.input_size, config.fpn_width
        spatial = (size // 16, size // 8, size // 4)
        self.styles = nn.ModuleList(
            [
                GradualStyleBlock(
                    fpn, config.style_dim, spatial[config.level_of(i)], config.style_head_width
                )
                for i in range(config.n_styles)
            ]
        )
        self.latlayer1 = nn.Conv2d(config.widths[2], fpn, kernel_size=1)
        self.latlayer2 = nn.Conv2d(config.widths[1], fpn, kernel_size=1)
        self.register_buffer(
            "latent_avg", torch.zeros(config.n_styles, config.style_dim), persistent=False
        )

    @property
    def n_styles(self) -> int:
        return self.config.n_styles

    def set_latent_avg(self, latent_avg: Tensor) -> None:
        """Set the output offset from ``[D]`` (repeated to all L entries) or ``[L, D]``."""
        shape = tuple(self.latent_avg.shape)
        if tuple(latent_avg.shape) == shape[1:]:
            latent_avg = latent_avg.unsqueeze(0).expand(shape)
        if tuple(latent_avg.shape) != shape:
            raise EncoderConfigError(
                f"latent_avg: got shape {tuple(latent_avg.shape)}, expected {shape} or {shape[1:]}"
            )
        with torch.no_grad():
            self.latent_avg.copy_(latent_avg)

    def check_input(self, x: Tensor) -> None:
        cfg = self.config
        want = (cfg.input_nc, cfg.input_size, cfg.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise EncoderInputError(
                f"{type(self).__name__}: got input shape {tuple(x.shape)}, expected [N, {want[0]}, "
                f"{want[1]}, {want[2]}]; resize with models.encoders.fit_input(x, {cfg.input_size})"
            )

    def pyramid(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Body features ``c1 [N, w1, S/4]``, ``c2 [N, w2, S/8]``, ``c3 [N, w3, S/16]``."""
        self.check_input(x)
        x = self.input_layer(x)
        t1, t2, t3 = self.config.tap_blocks
        taps: dict[int, Tensor] = {}
        for i, block in enumerate(self.body):
            x = block(x)
            if i in (t1, t2, t3):
                taps[i] = x
        return taps[t1], taps[t2], taps[t3]

    def fpn_maps(self, x: Tensor) -> Callable[[int], Tensor]:
        """Run the body; returns ``level -> map`` computing the FPN merges lazily (only when used).

        Level 0 is c3 (S/16), 1 is c3 (+) latlayer1(c2) (S/8), 2 is level 1 (+) latlayer2(c1) (S/4).
        """
        c1, c2, c3 = self.pyramid(x)
        cache: dict[int, Tensor] = {0: c3}

        def level(k: int) -> Tensor:
            if k >= 1 and 1 not in cache:
                cache[1] = upsample_add(c3, self.latlayer1(c2))
            if k >= 2 and 2 not in cache:
                cache[2] = upsample_add(cache[1], self.latlayer2(c1))
            return cache[k]

        return level

    def _offset(self, codes: Tensor) -> Tensor:
        if self.config.offset == "latent_avg":
            return codes + self.latent_avg.to(codes.dtype).unsqueeze(0)
        return codes


class GradualStyleEncoder(_FPNEncoder):
    """pSp encoder: one map-to-style head per W+ entry on the coarse / middle / fine FPN level."""

    def forward(self, x: Tensor) -> Tensor:
        """``x [N, C, S, S] -> ws [N, L, D]``."""
        maps = self.fpn_maps(x)
        codes = [head(maps(self.config.level_of(i))) for i, head in enumerate(self.styles)]
        return self._offset(torch.stack(codes, dim=1))


class Encoder4Editing(_FPNEncoder):
    """e4e encoder: one base code (head 0 on the coarse map) plus per-entry deltas.

    ``stage`` is the number of active deltas (0 = plain W, ``n_styles - 1`` = all, the inference
    default); progressive training raises it step by step (:meth:`set_stage`).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config)
        self.stage = config.n_styles - 1

    def set_stage(self, stage: int) -> None:
        if not 0 <= stage <= self.n_styles - 1:
            raise EncoderConfigError(f"e4e stage: got {stage}, expected 0..{self.n_styles - 1}")
        self.stage = int(stage)

    def forward(self, x: Tensor) -> Tensor:
        """``x [N, C, S, S] -> ws [N, L, D]`` (entries past ``stage`` equal the base code)."""
        maps = self.fpn_maps(x)
        base = self.styles[0](maps(0))
        rows = [base]
        for i in range(1, self.n_styles):
            if i > self.stage:
                rows.append(base)
            else:
                rows.append(base + self.styles[i](maps(self.config.level_of(i))))
        return self._offset(torch.stack(rows, dim=1))


Encoder = GradualStyleEncoder | Encoder4Editing


def build_encoder(config: EncoderConfig, *, seed: int = 0) -> Encoder:
    """The encoder class ``config.kind`` names, with PyTorch's default init drawn from ``seed``
    (the global RNG is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GradualStyleEncoder(config) if config.kind == "psp" else Encoder4Editing(config)
