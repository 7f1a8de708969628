"""Training the default generator on the procedural toy domain (glue: data + library + progress).

The training images are renders of seeds from 1,000,000 (disjoint from every evaluation range),
kept as ``toyfaces-v<domain version>-<first seed>-<n>.npy`` in the run folder so a resumed run does
not render them again. Every checkpoint keeps its G_ema in ``snapshots/``; :func:`score_snapshots`
gives each one its fidelity (KID against real renders, in the oracle net's features, see
:func:`toy_fidelity`), written to ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from datasetgan.demo.errors import DemoError
from datasetgan.models.stylegan2 import Generator, GeneratorConfig, load_generator
from datasetgan.models.stylegan2.training import METRICS_FILE, GanTrainConfig, train_gan

log = logging.getLogger(__name__)

# The shipped default model's architecture: 64 px, channels a CPU can train in hours.
TOY_GENERATOR = GeneratorConfig(resolution=64, w_dim=256, n_mlp=4, channels=(128, 128, 128, 64, 64))
TOY_TRAINING = GanTrainConfig(
    iterations=40_000,
    batch=8,
    lr=0.0025,
    r1_gamma=0.1,
    ema_half_life_kimg=2.5,
    checkpoint_every=500,
    sample_every=500,
)
TRAIN_FIRST_SEED = 1_000_000
FIDELITY_FIRST_SEED = 4_000_000  # real renders KID compares against (disjoint from training)


def toy_training_images(n_images: int, *, cache_dir: Path | None = None) -> torch.Tensor:
    """uint8 [N, 3, 64, 64] renders of seeds from TRAIN_FIRST_SEED, on every core (cached in
    ``cache_dir``)."""
    from datasetgan import toyfaces

    cache = None
    if cache_dir is not None:
        cache = cache_dir / f"toyfaces-v{toyfaces.VERSION}-{TRAIN_FIRST_SEED}-{n_images}.npy"
        if cache.is_file():
            return torch.from_numpy(np.load(cache)).permute(0, 3, 1, 2).contiguous()
    seeds = range(TRAIN_FIRST_SEED, TRAIN_FIRST_SEED + n_images)
    images, _ = toyfaces.render_parallel(seeds, workers=os.cpu_count() or 1)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache.with_suffix(".tmp.npy"), images)
        cache.with_suffix(".tmp.npy").replace(cache)
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


def toy_fidelity(n_images: int = 500, *, seed: int = 0) -> Callable[[Generator], dict[str, float]]:
    """A scorer of generators: KID (x 1000) between ``n_images`` samples (truncation 1) and as many
    real renders, both embedded by the oracle net's pooled encoder features."""
    from datasetgan import toyfaces
    from datasetgan.models.kid import kernel_inception_distance
    from datasetgan.models.stylegan2 import w_plus_from_seeds
    from datasetgan.toyfaces.oracle import load_oracle

    oracle = load_oracle()
    real, _ = toyfaces.render_batch(range(FIDELITY_FIRST_SEED, FIDELITY_FIRST_SEED + n_images))
    with torch.no_grad():
        real_features = oracle.features(toyfaces.to_tensor(real, image_range="unit"))

    def score(generator: Generator) -> dict[str, float]:
        fakes = []
        with torch.no_grad():
            for first in range(0, n_images, 100):
                ws = w_plus_from_seeds(
                    generator, range(first, min(first + 100, n_images)), truncation=1.0
                )
                image = generator.synthesize(ws, noise_mode="const", taps="none").image
                fakes.append(oracle.features((image.clamp(-1, 1) + 1) / 2))
        kid = kernel_inception_distance(
            real_features, torch.cat(fakes), subset_size=max(2, n_images // 2),
            rng=torch.Generator().manual_seed(seed),
        )  # fmt: skip
        return {"kid_x1000": 1000 * kid.mean, "kid_std_x1000": 1000 * kid.std}

    return score


def score_snapshots(out: Path, *, n_images: int = 500) -> list[dict[str, float]]:
    """Score every ``out/snapshots/step-*`` that ``out/metrics.jsonl`` has no row for; returns all
    rows, by step."""
    path = out / METRICS_FILE
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    done = {int(r["step"]) for r in rows}
    pending = sorted(p for p in (out / "snapshots").glob("step-*") if int(p.name[5:]) not in done)
    if pending:
        score = toy_fidelity(n_images)
        for folder in pending:
            row = {"step": float(int(folder.name[5:])), **score(load_generator(folder))}
            log.info("%s: %s", folder.name, row)
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
    return sorted(rows, key=lambda r: r["step"])


def train_toy_gan(
    out: Path,
    *,
    iterations: int,
    n_images: int = 30_000,
    images_dir: Path | None = None,
    log_every: int = 25,
    fidelity: bool = False,
    threads: int = 0,
    device: str = "cpu",
) -> Path:
    """Train (or resume) the default architecture in ``out`` on the toy domain (``n_images``
    renders) or on the images under ``images_dir``; returns the G_ema folder. With ``fidelity``,
    every checkpoint is scored on the toy domain (see :func:`toy_fidelity`); ``threads``: torch
    threads (0 = torch's default); ``device``: where G and D train (DemoError if it is absent)."""
    from dataclasses import replace

    _check_device(device)
    if threads:
        torch.set_num_threads(threads)
    config = replace(TOY_TRAINING, iterations=iterations)
    if images_dir is not None:
        images = folder_training_images(images_dir, TOY_GENERATOR.resolution)
    else:
        log.info(
            "%d training images of the toy domain (rendered once, cached in %s)", n_images, out
        )
        images = toy_training_images(n_images, cache_dir=out)
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

    evaluate = toy_fidelity() if fidelity and images_dir is None else None
    return train_gan(
        TOY_GENERATOR, config, images, out, progress=progress, evaluate=evaluate, device=device
    )


def _check_device(device: str) -> None:
    where = f"--device {device}"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DemoError(where, "not a torch device", "cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DemoError(where, "torch sees no CUDA device on this machine", "--device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DemoError(where, f"only {torch.cuda.device_count()} CUDA device(s)", "a present one")
