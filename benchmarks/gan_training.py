"""Seconds per training step of the default generator (demo.gan: TOY_GENERATOR, TOY_TRAINING), on
one device, with the real loop (D step, lazy R1, G step, lazy path length, EMA).

    python -u benchmarks/gan_training.py --device cpu --threads 2 --steps 64
    python -u benchmarks/gan_training.py --device cuda --steps 1024

The same seed and draws on every device, so the first steps' losses are printed for a side by side
look (float results differ across devices; the draws do not). Checkpoints and sample grids are
pushed past the timed steps; rendering the training images is not timed. The first ``--warmup``
steps are not timed either (allocator and kernel caches), and the timed steps are a multiple of
16 so every lazy regulariser runs in proportion.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from typing import Any

import torch


def time_training(
    device: str, steps: int, *, warmup: int = 16, n_images: int = 512, threads: int = 0
) -> dict[str, Any]:
    """Train from scratch for warmup + steps on ``device``; returns s/step over the timed steps."""
    from datasetgan import toyfaces
    from datasetgan.demo.gan import TOY_GENERATOR, TOY_TRAINING
    from datasetgan.models.stylegan2.training import GanTrainer

    if threads:
        torch.set_num_threads(threads)
    if steps % 16:
        raise SystemExit(f"--steps {steps}: expected a multiple of 16 (R1 runs every 16 steps)")
    rendered, _ = toyfaces.render_batch(range(1_000_000, 1_000_000 + n_images))
    images = torch.from_numpy(rendered).permute(0, 3, 1, 2).contiguous()
    total = warmup + steps
    config = replace(
        TOY_TRAINING, iterations=total + 1, checkpoint_every=10**9, sample_every=10**9
    )  # the final step saves a checkpoint; it is step total + 1, after the timer stops
    stamps: dict[int, float] = {}
    losses: list[dict[str, float]] = []

    def progress(step: int, _total: int, logs: dict[str, float]) -> None:
        stamps[step] = time.perf_counter()  # each step ends with .item(): the device is synced
        if step <= 5:
            losses.append({k: round(v, 4) for k, v in logs.items() if k != "img_per_s"})

    with tempfile.TemporaryDirectory() as tmp:
        GanTrainer(TOY_GENERATOR, config, images, tmp, device=device).run(progress)
    seconds = (stamps[total] - stamps[warmup]) / steps
    return {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "threads": torch.get_num_threads(),
        "timed_steps": steps,
        "s_per_step": seconds,
        "img_per_s": TOY_TRAINING.batch / seconds,
        "hours_for_29000_steps": 29_000 * seconds / 3600,
        "first_losses": losses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=64, help="timed steps (a multiple of 16)")
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    result = time_training(args.device, args.steps, warmup=args.warmup, threads=args.threads)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
