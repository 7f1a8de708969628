"""StyleGAN2 training: non-saturating logistic loss, lazy R1 and path-length regularisation,
EMA generator, style mixing, resumable checkpoints, sample grids.

Data: uint8 images [N, 3, H, W] held in memory (small domains). Every random draw comes from one
CPU ``torch.Generator`` that is saved in the checkpoint, so a resumed run continues the same stream,
and the draws are the same on every device (``device="cuda"`` trains on a GPU; batches move there).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from datasetgan.models.errors import CheckpointError
from datasetgan.models.imaging import grid_image, save_png, to_uint8
from datasetgan.models.stylegan2.checkpoint import save_generator, torch_load_safe
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.discriminator import Discriminator
from datasetgan.models.stylegan2.generator import Generator
from datasetgan.models.stylegan2.sampling import mix_styles, w_plus_from_seeds

Progress = Callable[[int, int, dict[str, float]], None]
# Scores a G_ema at each checkpoint (e.g. {"kid": ...}); the scores go to metrics.jsonl.
Evaluate = Callable[[Generator], dict[str, float]]
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class GanTrainConfig:
    iterations: int = 10_000
    batch: int = 16
    lr: float = 0.002
    r1_gamma: float = 0.5
    r1_every: int = 16
    pl_every: int = 4
    pl_weight: float = 2.0
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    ema_half_life_kimg: float = 10.0
    mixing_prob: float = 0.9
    w_avg_beta: float = 0.995
    augment: str = "xflip"  # "xflip" | "none"
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 500
    sample_seeds: int = 16

    def __post_init__(self) -> None:
        if self.batch < 2 or self.iterations < 1:
            raise ValueError(
                f"got batch={self.batch}, iterations={self.iterations}, expected batch >= 2, iterations >= 1"
            )
        if self.augment not in ("xflip", "none"):
            raise ValueError(f"augment: got {self.augment!r}, expected 'xflip' or 'none'")


class GanTrainer:
    """Owns G, D, G_ema, their optimisers and the RNG; ``run()`` trains to ``iterations`` and can be
    called again after a crash: it resumes from ``out_dir/checkpoint.pt``."""

    def __init__(
        self,
        gen_config: GeneratorConfig,
        config: GanTrainConfig,
        images: torch.Tensor,
        out_dir: str | Path,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        res = gen_config.resolution
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1:] != (3, res, res):
            raise ValueError(
                f"images: got {images.dtype} {tuple(images.shape)}, expected uint8 [N, 3, {res}, {res}]"
            )
        self.gen_config, self.config, self.images = gen_config, config, images
        self.out_dir = Path(out_dir)
        self.device = torch.device(device)
        self.g = Generator(gen_config, seed=config.seed).to(self.device)
        self.d = Discriminator(gen_config, seed=config.seed + 1).to(self.device)
        self.g_ema = Generator(gen_config, seed=config.seed).eval().requires_grad_(False)
        self.g_ema.load_state_dict(self.g.state_dict())
        self.g_ema.to(self.device)
        self.opt_g = self._adam(self.g, config.pl_every)
        self.opt_d = self._adam(self.d, config.r1_every)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.train_seconds = 0.0  # summed over every session of this run
        self.mean_path_length = torch.zeros((), device=self.device)

    def _adam(self, module: torch.nn.Module, reg_every: int) -> torch.optim.Adam:
        ratio = reg_every / (reg_every + 1)  # lazy regularisation (StyleGAN2 paper, appendix B)
        return torch.optim.Adam(
            module.parameters(), lr=self.config.lr * ratio, betas=(0.0, 0.99**ratio)
        )

    # -- checkpoints -----------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_FILE

    def save_checkpoint(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "g": self.g.state_dict(),
            "d": self.d.state_dict(),
            "g_ema": self.g_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "train_seconds": self.train_seconds,
            "mean_path_length": self.mean_path_length,
            "rng": self.rng.get_state(),
            "gen_config": self.gen_config.to_dict(),
            "train_config": dataclasses.asdict(self.config),
        }
        tmp = self.checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)
        save_generator(self.g_ema, self.out_dir / "generator")
        return self.checkpoint_path

    def try_resume(self) -> bool:
        """Load ``checkpoint.pt`` if present; refuses one from a different architecture."""
        if not self.checkpoint_path.exists():
            return False
        state = torch_load_safe(self.checkpoint_path)
        if state.get("gen_config") != self.gen_config.to_dict():
            raise CheckpointError(
                f"{self.checkpoint_path}: generator config {state.get('gen_config')} differs from {self.gen_config.to_dict()}"
            )
        for name in ("g", "d", "g_ema", "opt_g", "opt_d"):
            getattr(self, name).load_state_dict(state[name])
        self.step = int(state["step"])
        self.mean_path_length = state["mean_path_length"].to(self.device)
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.rng.set_state(state["rng"])
        return True

    # -- one iteration -----------------------------------------------------------------------------
    def _real_batch(self, n: int) -> torch.Tensor:
        idx = torch.randint(0, self.images.shape[0], (n,), generator=self.rng)
        x = self.images[idx].float().div(127.5).sub(1.0)
        if self.config.augment == "xflip":
            flip = torch.rand(n, generator=self.rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x.to(self.device)

    def _fake_ws(self, n: int) -> torch.Tensor:
        g, dim, n_latent = self.g, self.g.w_dim, self.g.n_latent
        z = torch.randn(2, n, dim, generator=self.rng).to(self.device)
        mix = torch.rand(n, generator=self.rng) < self.config.mixing_prob
        cross = torch.where(
            mix, torch.randint(1, n_latent, (n,), generator=self.rng), torch.full((n,), n_latent)
        )
        w_a, w_b = g.mapping(z[0]), g.mapping(z[1])
        with torch.no_grad():
            g.w_avg.lerp_(w_a.detach().mean(0), 1.0 - self.config.w_avg_beta)
        return mix_styles(w_a, w_b, cross.to(self.device), n_latent)

    def _generate(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self._fake_ws(n)
        return self.g.synthesize(ws, noise_mode="random", rng=self.rng, taps="none").image, ws

    def _d_step(self, logs: dict[str, float]) -> None:
        n = self.config.batch
        with torch.no_grad():
            fake, _ = self._generate(n)
        real = self._real_batch(n)
        real_pred, fake_pred = self.d(real), self.d(fake)
        loss = F.softplus(fake_pred).mean() + F.softplus(-real_pred).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        logs.update(
            d_loss=loss.item(),
            real_score=real_pred.mean().item(),
            fake_score=fake_pred.mean().item(),
        )
        if self.step % self.config.r1_every == 0:
            real = self._real_batch(n).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.d(real).sum(), real, create_graph=True)
            penalty = grad.square().sum(dim=(1, 2, 3)).mean()
            self.opt_d.zero_grad(set_to_none=True)
            (self.config.r1_gamma / 2 * penalty * self.config.r1_every).backward()
            self.opt_d.step()
            logs["r1"] = penalty.item()

    def _g_step(self, logs: dict[str, float]) -> None:
        self.d.requires_grad_(False)
        fake, _ = self._generate(self.config.batch)
        loss = F.softplus(-self.d(fake)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        logs["g_loss"] = loss.item()
        if self.step % self.config.pl_every == 0:
            self._path_length_step(logs)
        self.d.requires_grad_(True)

    def _path_length_step(self, logs: dict[str, float]) -> None:
        n = max(1, self.config.batch // self.config.pl_batch_shrink)
        fake, ws = self._generate(n)
        h, w = fake.shape[2:]
        noise = torch.randn(fake.shape, generator=self.rng).to(fake) / math.sqrt(h * w)
        (grad,) = torch.autograd.grad((fake * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        self.mean_path_length = self.mean_path_length.lerp(
            lengths.mean().detach(), self.config.pl_decay
        )
        penalty = (lengths - self.mean_path_length).square().mean()
        self.opt_g.zero_grad(set_to_none=True)
        (self.config.pl_weight * self.config.pl_every * penalty + 0 * fake[0, 0, 0, 0]).backward()
        self.opt_g.step()
        logs["pl"] = penalty.item()

    @torch.no_grad()
    def _update_ema(self) -> None:
        beta = 0.5 ** (self.config.batch / (self.config.ema_half_life_kimg * 1000))
        for p_ema, p in zip(self.g_ema.parameters(), self.g.parameters(), strict=True):
            p_ema.lerp_(p, 1.0 - beta)
        for b_ema, b in zip(self.g_ema.buffers(), self.g.buffers(), strict=True):
            b_ema.copy_(b)

    def write_samples(self) -> Path:
        seeds = list(range(self.config.sample_seeds))
        with torch.no_grad():
            images = self.g_ema.synthesize(w_plus_from_seeds(self.g_ema, seeds), taps="none").image
        images = images.cpu()
        return save_png(
            grid_image(to_uint8(images)), self.out_dir / "samples" / f"step-{self.step:06d}.png"
        )

    # -- the loop ------------------------------------------------------------------------------------
    def snapshot_path(self, step: int) -> Path:
        """Where the G_ema of checkpoint ``step`` is kept (every checkpoint keeps one)."""
        return self.out_dir / "snapshots" / f"step-{step:06d}"

    def _g_ema_on_cpu(self) -> Generator:
        """G_ema itself on the CPU, else a CPU copy (evaluations run where the data is)."""
        return self.g_ema if self.device.type == "cpu" else copy.deepcopy(self.g_ema).cpu()

    def evaluate_checkpoint(self, evaluate: Evaluate) -> dict[str, float]:
        """Score G_ema and append the scores (with step and training hours) to metrics.jsonl."""
        scores = {"step": float(self.step), "train_hours": self.train_seconds / 3600,
                  **evaluate(self._g_ema_on_cpu())}  # fmt: skip
        with open(self.out_dir / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(scores) + "\n")
        return scores

    def run(self, progress: Progress | None = None, evaluate: Evaluate | None = None) -> Path:
        """Train until ``config.iterations`` (resuming if a checkpoint exists); returns the G_ema
        folder. With ``evaluate``, every checkpoint's G_ema is scored (see evaluate_checkpoint)."""
        self.try_resume()
        self.g.train()
        self.d.train()
        t0, start = time.perf_counter(), self.step
        while self.step < self.config.iterations:
            tick = time.perf_counter()
            logs: dict[str, float] = {}
            self._d_step(logs)
            self._g_step(logs)
            self._update_ema()
            self.step += 1
            self.train_seconds += time.perf_counter() - tick
            logs["img_per_s"] = (self.step - start) * self.config.batch / (time.perf_counter() - t0)
            if self.step % self.config.sample_every == 0 or self.step == self.config.iterations:
                self.write_samples()
            if self.step % self.config.checkpoint_every == 0 or self.step == self.config.iterations:
                self.save_checkpoint()
                save_generator(self.g_ema, self.snapshot_path(self.step))
                if evaluate is not None:
                    logs.update(self.evaluate_checkpoint(evaluate))
            if progress is not None:
                progress(self.step, self.config.iterations, logs)
        return self.out_dir / "generator"


def train_gan(
    gen_config: GeneratorConfig,
    config: GanTrainConfig,
    images: torch.Tensor,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    evaluate: Evaluate | None = None,
    device: torch.device | str = "cpu",
) -> Path:
    """Train (or resume) a StyleGAN2 on uint8 images [N, 3, H, W] on ``device``; returns the saved
    G_ema folder. A checkpoint resumes on any device."""
    trainer = GanTrainer(gen_config, config, images, out_dir, device=device)
    return trainer.run(progress, evaluate)


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """Step and configs stored in a training checkpoint (for status displays)."""
    state = torch_load_safe(Path(path))
    return {
        "step": int(state["step"]),
        "gen_config": state["gen_config"],
        "train_config": state["train_config"],
    }
