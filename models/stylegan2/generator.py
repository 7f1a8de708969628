"""The StyleGAN2 generator (rosinality layout): mapping network, synthesis network, feature taps.

Shapes: N batch, D w dimension, L number of w vectors (``n_latent``), H/W image size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import nn

from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.layers import (
    ConstantInput,
    EqualLinear,
    ModconvImpl,
    PixelNorm,
    StyledConv,
    ToRGB,
)

NoiseMode = Literal["const", "random", "none"]
NOISE_MODES = ("const", "random", "none")
TapsMode = Literal["all", "none"]


class TapSpec(NamedTuple):
    """One feature tap: the output of a styled convolution after its activation."""

    name: str  # module name inside the generator, e.g. "convs.3"
    resolution: int
    channels: int


class SynthesisOutput(NamedTuple):
    image: torch.Tensor  # [N, 3, H, W], about [-1, 1]
    features: list[torch.Tensor]  # one [N, C_t, R_t, R_t] per tap (empty when taps="none")


class Generator(nn.Module):
    """StyleGAN2 generator whose state dict matches rosinality's ``Generator`` (plus ``w_avg``).

    Build with a :class:`GeneratorConfig`; ``seed`` makes the initial weights reproducible without
    touching the global RNG. ``w_avg`` [D] is the mean W used for truncation.
    """

    w_avg: torch.Tensor
    style: nn.Sequential

    def __init__(self, config: GeneratorConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._build(config)

    def _build(self, cfg: GeneratorConfig) -> None:
        d, blur = cfg.w_dim, cfg.blur_kernel
        layers: list[nn.Module] = [PixelNorm()]
        layers += [
            EqualLinear(d, d, lr_mul=cfg.lr_mlp, activation="lrelu") for _ in range(cfg.n_mlp)
        ]
        self.style = nn.Sequential(*layers)
        ch = cfg.channels_at
        self.input = ConstantInput(ch(4))
        self.conv1 = StyledConv(ch(4), ch(4), d, blur_kernel=blur)
        self.to_rgb1 = ToRGB(ch(4), d, upsample=False, blur_kernel=blur)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = ch(4)
        for log_res in range(3, cfg.log_size + 1):
            out_ch = ch(2**log_res)
            self.convs.append(StyledConv(in_ch, out_ch, d, upsample=True, blur_kernel=blur))
            self.convs.append(StyledConv(out_ch, out_ch, d, blur_kernel=blur))
            self.to_rgbs.append(ToRGB(out_ch, d, blur_kernel=blur))
            in_ch = out_ch
        self.noises = nn.Module()
        for i in range(cfg.num_layers):
            size = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, size, size))
        self.register_buffer("w_avg", torch.zeros(d))

    # -- description -------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self.config.resolution

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def n_latent(self) -> int:
        return self.config.n_latent

    @property
    def tap_layout(self) -> tuple[TapSpec, ...]:
        """Every feature tap in synthesis order, computed from the config (nothing runs)."""
        ch = self.config.channels_at
        taps = [TapSpec("conv1", 4, ch(4))]
        for k, log_res in enumerate(range(3, self.config.log_size + 1)):
            res = 2**log_res
            taps += [
                TapSpec(f"convs.{2 * k}", res, ch(res)),
                TapSpec(f"convs.{2 * k + 1}", res, ch(res)),
            ]
        return tuple(taps)

    @property
    def feature_channels(self) -> int:
        """C: total channels of all taps (the width of DatasetGAN's pixel features)."""
        return sum(t.channels for t in self.tap_layout)

    def noise_buffers(self) -> list[torch.Tensor]:
        """The constant noise maps, [1, 1, R, R] each, in layer order."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.config.num_layers)]

    # -- mapping -------------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """z [N, D] -> w [N, D], truncated towards ``w_avg`` by ``truncation`` (1 = none)."""
        if z.ndim != 2 or z.shape[1] != self.w_dim:
            raise ValueError(f"z: got shape {tuple(z.shape)}, expected [N, {self.w_dim}]")
        w = self.style(z)
        if truncation != 1.0:
            w = torch.lerp(self.w_avg.to(w), w, truncation)
        return w

    @torch.no_grad()
    def estimate_w_avg(
        self, n_samples: int = 10_000, *, seed: int = 0, batch: int = 2_000
    ) -> torch.Tensor:
        """Set ``w_avg`` to the mean of ``mapping(z)`` over ``n_samples`` z drawn with ``seed``."""
        rng = torch.Generator(device="cpu").manual_seed(seed)
        total = torch.zeros(self.w_dim, dtype=torch.float64)
        done = 0
        while done < n_samples:
            n = min(batch, n_samples - done)
            z = torch.randn(n, self.w_dim, generator=rng).to(self.w_avg)
            total += self.style(z).double().sum(0).cpu()
            done += n
        self.w_avg.copy_((total / n_samples).to(self.w_avg))
        return self.w_avg

    # -- synthesis -----------------------------------------------------------------------------
    def synthesize(
        self,
        ws: torch.Tensor,
        *,
        noise_mode: NoiseMode = "const",
        rng: torch.Generator | None = None,
        noise: Sequence[torch.Tensor] | None = None,
        taps: TapsMode = "all",
        modconv: ModconvImpl = "auto",
    ) -> SynthesisOutput:
        """Render W+ codes. ws: [N, L, D] (or [N, D], broadcast to all L layers).

        noise_mode: "const" uses the stored noise buffers (deterministic), "random" draws fresh noise
        from ``rng`` (required), "none" adds no noise. ``noise`` (one [N or 1, 1, R, R] per layer)
        overrides the mode, e.g. for noise optimisation. Returns the image [N, 3, H, W] and, with
        ``taps="all"``, every styled convolution's activated output (see :attr:`tap_layout`); on CPU
        the taps are channels-last tensors (same shapes and values).
        """
        ws = self._check_ws(ws)
        layer_noise = self._layer_noise(ws, noise_mode, rng, noise)
        keep = taps == "all"
        if taps not in ("all", "none"):
            raise ValueError(f"taps: got {taps!r}, expected 'all' or 'none'")
        features: list[torch.Tensor] = []
        x = self.input(ws.shape[0])
        if not ws.is_cuda:
            # the CPU runs channels-last (NHWC): oneDNN's convolutions, the transposed ones and the
            # depthwise blur are all faster there, forward and backward; the taps keep that layout
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(x, ws[:, 0], layer_noise[0], modconv)
        if keep:
            features.append(x)
        skip = self.to_rgb1(x, ws[:, 1], None, modconv)
        for k, to_rgb in enumerate(self.to_rgbs):
            i = 2 * k + 1
            x = self.convs[2 * k](x, ws[:, i], layer_noise[i], modconv)
            if keep:
                features.append(x)
            x = self.convs[2 * k + 1](x, ws[:, i + 1], layer_noise[i + 1], modconv)
            if keep:
                features.append(x)
            skip = to_rgb(x, ws[:, i + 2], skip, modconv)
        return SynthesisOutput(skip.contiguous(), features)

    def forward(self, ws: torch.Tensor, **kwargs: object) -> SynthesisOutput:
        return self.synthesize(ws, **kwargs)  # type: ignore[arg-type]

    def _check_ws(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim == 2 and ws.shape[1] == self.w_dim:
            return ws.unsqueeze(1).expand(-1, self.n_latent, -1)
        if ws.ndim != 3 or ws.shape[1:] != (self.n_latent, self.w_dim):
            raise ValueError(
                f"ws: got shape {tuple(ws.shape)}, expected [N, {self.n_latent}, {self.w_dim}] "
                f"(or [N, {self.w_dim}])"
            )
        return ws

    def _layer_noise(
        self,
        ws: torch.Tensor,
        mode: str,
        rng: torch.Generator | None,
        given: Sequence[torch.Tensor] | None,
    ) -> list[torch.Tensor | None]:
        n_layers = self.config.num_layers
        if given is not None:
            if len(given) != n_layers:
                raise ValueError(f"noise: got {len(given)} maps, expected {n_layers}")
            return list(given)
        if mode == "const":
            return list(self.noise_buffers())
        if mode == "none":
            return [None] * n_layers
        if mode == "random":
            if rng is None:
                raise ValueError(
                    "noise_mode='random' needs rng=torch.Generator(...) (no global RNG)"
                )
            n = ws.shape[0]
            return [
                torch.randn(n, 1, b.shape[2], b.shape[3], generator=rng, device=rng.device).to(ws)
                for b in self.noise_buffers()
            ]
        raise ValueError(f"noise_mode: got {mode!r}, expected one of {NOISE_MODES}")
