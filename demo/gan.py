"""Training the default generator on the procedural toy domain (glue: data + library + progress)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from datasetgan.demo.errors import DemoError
from datasetgan.models.stylegan2 import GeneratorConfig
from datasetgan.models.stylegan2.training import GanTrainConfig, train_gan

log = logging.getLogger(__name__)

# The shipped default model's architecture: 64 px, narrow channels so a CPU can train it.
TOY_GENERATOR = GeneratorConfig(resolution=64, w_dim=128, n_mlp=4, channels=(64, 64, 64, 32, 32))
TOY_TRAINING = GanTrainConfig(
    iterations=20_000,
    batch=8,
    lr=0.0025,
    r1_gamma=0.1,
    ema_half_life_kimg=2.5,
    checkpoint_every=250,
    sample_every=250,
)


def toy_training_images(n_images: int, *, first_seed: int = 1_000_000) -> torch.Tensor:
    """uint8 [N, 3, 64, 64] renders of the toy domain (seeds disjoint from evaluation seeds)."""
    from datasetgan import toyfaces

    images, _ = toyfaces.render_batch(range(first_seed, first_seed + n_images))
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def folder_training_images(folder: Path, resolution: int) -> torch.Tensor:
    """uint8 [N, 3, R, R] from every readable image under ``folder`` (centre crop, resize)."""
    from datasetgan.models.imaging import ImageReadConfig, list_files, read_images

    files = list_files(folder) if folder.is_dir() else []
    batch = read_images(files, ImageReadConfig(size=resolution))
    for failure in batch.failures[:5]:
        log.warning("skipped %s: %s", failure.path, failure.reason)
    if len(batch.images) < 2:
        raise DemoError(folder, f"{len(batch.images)} readable images", "at least 2")
    return torch.from_numpy(batch.images).permute(0, 3, 1, 2).contiguous()


def train_toy_gan(
    out: Path,
    *,
    iterations: int,
    n_images: int = 10_000,
    images_dir: Path | None = None,
    log_every: int = 25,
) -> Path:
    """Train (or resume) the default architecture in ``out`` on the toy domain (``n_images`` renders)
    or on the images under ``images_dir``; returns the G_ema folder."""
    from dataclasses import replace

    config = replace(TOY_TRAINING, iterations=iterations)
    if images_dir is not None:
        images = folder_training_images(images_dir, TOY_GENERATOR.resolution)
    else:
        log.info("rendering %d training images of the toy domain", n_images)
        images = toy_training_images(n_images)
    log.info(
        "training on %d images to step %d (resumes from %s if present)",
        len(images),
        iterations,
        out,
    )
    t0 = time.perf_counter()

    def progress(step: int, total: int, logs: dict[str, float]) -> None:
        if step % log_every == 0 or step == total:
            parts = " ".join(f"{k}={v:.3f}" for k, v in sorted(logs.items()))
            log.info("step %d/%d (%.0f s) %s", step, total, time.perf_counter() - t0, parts)

    return train_gan(TOY_GENERATOR, config, images, out, progress=progress)
