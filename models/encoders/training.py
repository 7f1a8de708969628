"""Encoder training steps (pSp / e4e / EditGAN losses) with every random draw from one torch.Generator.

Per step, on a batch of generator samples (known W+) and/or real images:

    loss = l2 * MSE(G(E(x)), x) + lpips * LPIPS(G(E(x)), x)        images compared at <= loss_size px
         + latent * MSE(E(x), w)                                     samples only (EditGAN)
         + w_norm * ||E(x) - latent_avg||                            (pSp W-norm)
         + delta * sum_i ||E(x)_i - E(x)_0||                         e4e delta regularisation
         + disc * softplus(-D(E(x)_i))                               e4e latent discriminator

The discriminator (when ``disc_lambda > 0``) is trained first each step on mapped w (real) vs the
encoder's base code (fake), with R1 every ``d_reg_every`` steps. e4e's progressive schedule
(``progressive="linear"``) starts with W only and adds one delta every ``progressive_every`` steps from
``progressive_start``. The generator is frozen (eval, no grad); the encoder is optimised with Adam.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from datasetgan.models.encoders import restyle
from datasetgan.models.encoders.data import ImageFolderSource, TrainBatch, sample_batch
from datasetgan.models.encoders.errors import EncoderConfigError
from datasetgan.models.encoders.generator_access import device_of
from datasetgan.models.encoders.losses import (
    LatentDiscriminator,
    adversarial_per_image,
    delta_per_image,
    discriminator_loss,
    lpips_per_image,
    mse_per_image,
    r1_penalty,
    to_loss_size,
    w_norm_per_image,
)
from datasetgan.models.encoders.networks import Encoder, Encoder4Editing
from datasetgan.models.encoders.preprocess import fit_input
from datasetgan.models.lpips import LPIPS
from datasetgan.models.stylegan2.generator import Generator

SOURCES = ("samples", "images", "mixed")
PROGRESSIVE = ("none", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """Encoder training: schedule, loss weights, e4e extras, and how often to checkpoint / preview.

    ``source``: "samples" (generator samples), "images" (real files), "mixed" (alternating steps).
    e4e's released values: ``delta_lambda=2e-4, disc_lambda=0.1, progressive="linear",
    progressive_start=20000, progressive_every=2000``.
    """

    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-4
    source: str = "samples"
    truncation: float = 1.0
    latent_lambda: float = 1.0
    l2_lambda: float = 1.0
    lpips_lambda: float = 0.8
    w_norm_lambda: float = 0.0
    delta_lambda: float = 0.0
    delta_norm: int = 2
    progressive: str = "none"
    progressive_start: int = 0
    progressive_every: int = 100
    disc_lambda: float = 0.0
    disc_lr: float = 2e-5
    disc_layers: int = 4
    r1_gamma: float = 10.0
    d_reg_every: int = 16
    loss_size: int = 256
    seed: int = 0
    checkpoint_every: int = 500
    grid_every: int = 500
    grid_images: int = 4
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise EncoderConfigError(
                f"TrainConfig.source: got {self.source!r}, expected one of {SOURCES}"
            )
        if self.progressive not in PROGRESSIVE:
            raise EncoderConfigError(
                f"TrainConfig.progressive: got {self.progressive!r}, expected one of {PROGRESSIVE}"
            )
        if self.batch_size < 2:
            raise EncoderConfigError(
                f"TrainConfig.batch_size: got {self.batch_size}, expected >= 2 (BatchNorm in train mode)"
            )
        positive = (
            "steps",
            "progressive_every",
            "d_reg_every",
            "checkpoint_every",
            "grid_every",
            "log_every",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise EncoderConfigError(
                    f"TrainConfig.{name}: got {getattr(self, name)}, expected >= 1"
                )
        weights = (
            "latent_lambda",
            "l2_lambda",
            "lpips_lambda",
            "w_norm_lambda",
            "delta_lambda",
            "disc_lambda",
        )
        if any(getattr(self, w) < 0 for w in weights):
            raise EncoderConfigError(f"TrainConfig: loss weights {weights} must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EncoderConfigError(f"unknown TrainConfig keys {unknown}")
        return cls(**data)

    def stage_at(self, step: int, n_styles: int) -> int:
        """Active e4e deltas at ``step`` (all ``n_styles - 1`` unless progressive)."""
        if self.progressive == "none":
            return n_styles - 1
        if step < self.progressive_start:
            return 0
        return min(n_styles - 1, 1 + (step - self.progressive_start) // self.progressive_every)


class EncoderTrainer:
    """Holds the encoder, frozen generator, optimisers and RNG; :meth:`step` runs one training step.

    ``state_dict`` / ``load_state_dict`` capture everything needed to resume bit-identically.
    """

    def __init__(
        self,
        encoder: Encoder,
        generator: Generator,
        config: TrainConfig,
        *,
        lpips: LPIPS | None = None,
        images: ImageFolderSource | None = None,
    ) -> None:
        if config.source != "samples" and images is None:
            raise EncoderConfigError(f"TrainConfig.source={config.source!r} needs image paths")
        if config.lpips_lambda > 0 and lpips is None:
            raise EncoderConfigError(
                "TrainConfig.lpips_lambda > 0 needs an LPIPS model (or set it to 0)"
            )
        if config.lpips_lambda > 0 and min(generator.resolution, config.loss_size) < 16:
            raise EncoderConfigError(
                "TrainConfig.lpips_lambda > 0 needs images >= 16 px; set it to 0"
            )
        if encoder.config.iterations > 1 and config.disc_lambda > 0:
            raise EncoderConfigError(
                "a ReStyle encoder (iterations > 1) is trained without the latent discriminator; "
                "set disc_lambda to 0"
            )
        if (encoder.n_styles, encoder.config.style_dim) != (generator.n_latent, generator.w_dim):
            raise EncoderConfigError(
                f"encoder gives [{encoder.n_styles}, {encoder.config.style_dim}] codes, generator "
                f"expects [{generator.n_latent}, {generator.w_dim}]"
            )
        self.encoder, self.generator, self.config = encoder, generator, config
        self.lpips, self.images = lpips, images
        generator.eval().requires_grad_(False)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.step_done = 0
        self.optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
        self.discriminator: LatentDiscriminator | None = None
        self.disc_optimizer: torch.optim.Optimizer | None = None
        if config.disc_lambda > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed + 1)
                disc = LatentDiscriminator(generator.w_dim, config.disc_layers)
            self.discriminator = disc.to(device_of(generator))
            self.disc_optimizer = torch.optim.Adam(disc.parameters(), lr=config.disc_lr)

    # -- one step --------------------------------------------------------------------------------
    def next_batch(self, step: int) -> TrainBatch:
        cfg = self.config
        use_images = cfg.source == "images" or (cfg.source == "mixed" and step % 2 == 1)
        if use_images:
            assert self.images is not None
            return self.images.batch(cfg.batch_size, rng=self.rng)
        return sample_batch(self.generator, cfg.batch_size, rng=self.rng, truncation=cfg.truncation)

    def _stage(self) -> int:
        stage = self.config.stage_at(self.step_done, self.encoder.n_styles)
        if isinstance(self.encoder, Encoder4Editing):
            self.encoder.set_stage(stage)
        return stage

    def encode(self, images: Tensor) -> Tensor:
        """``[N, 3, R, R] -> [N, L, D]`` through the encoder (resized to its input size; ReStyle
        encoders make all their passes)."""
        if self.encoder.config.iterations > 1:
            return restyle.encode(self.encoder, self.generator, images)[-1]
        return self.encoder(fit_input(images, self.encoder.config.input_size))

    def step(self) -> dict[str, float]:
        """Run one step; returns the loss terms (floats) logged for it."""
        self.encoder.train()
        stage = self._stage()
        batch = self.next_batch(self.step_done)
        logs: dict[str, float] = {}
        if self.discriminator is not None:
            logs |= self._discriminator_step(batch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.encoder.config.iterations > 1:
            loss, terms = self._restyle_passes(batch, stage)
        else:
            loss, terms = self.losses(batch, stage)
            loss.backward()
        self.optimizer.step()
        self.step_done += 1
        logs |= {k: float(v.detach()) for k, v in terms.items()}
        logs |= {"loss": float(loss.detach()), "stage": float(stage)}
        return logs

    def _restyle_passes(self, batch: TrainBatch, stage: int) -> tuple[Tensor, dict[str, Tensor]]:
        """ReStyle: the encoder's passes from the mean code, a loss and backward pass after each
        (the code and image between passes detached); returns the last pass's loss and terms."""
        w, y = restyle.start(self.encoder, self.generator, batch.images.shape[0])
        for _ in range(self.encoder.config.iterations):
            w = restyle.step(self.encoder, batch.images, w.detach(), y.detach())
            loss, terms, y = self._losses_of(w, batch, stage)
            loss.backward()
        return loss, terms

    def losses(self, batch: TrainBatch, stage: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted total and the unweighted terms (batch means) for ``batch``."""
        loss, terms, _ = self._losses_of(self.encode(batch.images), batch, stage)
        return loss, terms

    def _losses_of(
        self, ws: Tensor, batch: TrainBatch, stage: int
    ) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        cfg = self.config
        recon = self.generator.synthesize(ws, noise_mode="const", taps="none").image
        a, b = to_loss_size(recon, cfg.loss_size), to_loss_size(batch.images, cfg.loss_size)
        terms: dict[str, Tensor] = {"l2": mse_per_image(a, b).mean()}
        weights = {"l2": cfg.l2_lambda}
        if cfg.lpips_lambda > 0:
            terms["lpips"], weights["lpips"] = (
                lpips_per_image(self.lpips, a, b).mean(),
                cfg.lpips_lambda,
            )
        if batch.ws is not None and cfg.latent_lambda > 0:
            terms["latent"], weights["latent"] = (
                mse_per_image(ws, batch.ws).mean(),
                cfg.latent_lambda,
            )
        if cfg.w_norm_lambda > 0:
            terms["w_norm"] = w_norm_per_image(ws, self.encoder.latent_avg).mean()
            weights["w_norm"] = cfg.w_norm_lambda
        if cfg.delta_lambda > 0 and isinstance(self.encoder, Encoder4Editing):
            terms["delta"] = delta_per_image(ws, stage, p=cfg.delta_norm).mean()
            weights["delta"] = cfg.delta_lambda
        if self.discriminator is not None:
            dims = self._disc_dims(stage)
            self.discriminator.requires_grad_(False)
            terms["adv"] = adversarial_per_image(self.discriminator, ws, dims).mean()
            weights["adv"] = cfg.disc_lambda
        total = sum((weights[k] * v for k, v in terms.items()), ws.new_zeros(()))
        return total, terms, recon

    def _disc_dims(self, stage: int) -> int:
        return stage + 1 if self.config.progressive != "none" else self.encoder.n_styles

    def _discriminator_step(self, batch: TrainBatch) -> dict[str, float]:
        assert self.discriminator is not None and self.disc_optimizer is not None
        cfg, disc = self.config, self.discriminator
        with torch.no_grad():
            z = torch.randn(batch.images.shape[0], self.generator.w_dim, generator=self.rng)
            real_w = self.generator.mapping(z.to(batch.images.device), cfg.truncation)
            fake_w = self.encode(batch.images)[:, 0]
        disc.requires_grad_(True)
        loss = discriminator_loss(disc(real_w), disc(fake_w))
        self.disc_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.disc_optimizer.step()
        logs = {"disc": float(loss.detach())}
        if self.step_done % cfg.d_reg_every == 0:
            r1 = r1_penalty(disc, real_w)
            self.disc_optimizer.zero_grad(set_to_none=True)
            (cfg.r1_gamma / 2 * r1 * cfg.d_reg_every).backward()
            self.disc_optimizer.step()
            logs["r1"] = float(r1.detach())
        disc.requires_grad_(False)
        return logs

    # -- resumable state -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain tensors / numbers / containers only, so ``torch.load(weights_only=True)`` reads it."""
        state: dict[str, Any] = {
            "step": self.step_done,
            "encoder": {k: v.detach().cpu() for k, v in self.encoder.state_dict().items()},
            "latent_avg": self.encoder.latent_avg.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.get_state(),
            "train_config": self.config.to_dict(),
            "encoder_config": self.encoder.config.to_dict(),
        }
        if self.discriminator is not None and self.disc_optimizer is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["disc_optimizer"] = self.disc_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.encoder.set_latent_avg(state["latent_avg"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        self.step_done = int(state["step"])
        if self.discriminator is not None and self.disc_optimizer is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])
