"""The shipped default models (``assets/default/``): the exact recipe that trains the default encoder.

    .venv/bin/python -m datasetgan.demo.assets encoder [--steps 1500] [--threads 1]

trains a narrow 64 px e4e encoder for ``assets/default/generator`` through the ``train_encoder`` flow
(Prefect's ephemeral mode, as the CLI runs it) in ``runs/encoder-default/`` (resumable) and copies the
result to ``assets/default/encoder/`` (JSON config + safetensors, 7.9 MB). Training mixes
generator samples (known W+: latent + pixel loss) with real renders of the toy domain drawn from the
GAN's own training seeds (from 1,000,000), so no evaluation seed is ever seen. LPIPS is off
(``lpips_lambda=0``): its VGG16 ImageNet trunk cannot be downloaded here.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from datasetgan.demo.config import ENCODER_DIR, GENERATOR_DIR

ENCODER_UNITS = (1, 1, 1, 1)
ENCODER_WIDTHS = (16, 32, 64, 128)
ENCODER_HEAD_WIDTH = 64  # map-to-style channels: W-dim-wide (256) heads made the file 63 MB
ENCODER_INPUT = 64
ENCODER_IMAGE_SEEDS = range(1_000_000, 1_002_000)  # the GAN's training seeds (disjoint from eval)


def write_training_images(folder: Path, seeds: Sequence[int]) -> Path:
    """Real renders for the encoder's ``images`` source (written once)."""
    from datasetgan import toyfaces

    if not (folder / "images").is_dir() or len(list((folder / "images").glob("*.png"))) != len(
        seeds
    ):
        toyfaces.write_png_folder(folder, seeds)
    return folder / "images"


def train_default_encoder(
    *,
    generator: Path = GENERATOR_DIR,
    work: Path = Path("runs/encoder-default"),
    dest: Path = ENCODER_DIR,
    steps: int = 1500,
    threads: int = 1,
    image_seeds: Sequence[int] = ENCODER_IMAGE_SEEDS,
    units: Sequence[int] = ENCODER_UNITS,
    widths: Sequence[int] = ENCODER_WIDTHS,
    head_width: int = ENCODER_HEAD_WIDTH,
    batch_size: int = 8,
) -> Path:
    """Train (or resume) the default encoder in ``work`` and copy it to ``dest``; returns ``dest``."""
    from datasetgan.flows.embedding import train_encoder
    from datasetgan.pipeline.params import TrainEncoderParams

    work = work.resolve()  # the flow's report links its preview by file URI (absolute paths only)
    images = write_training_images(work / "real", list(image_seeds))
    params = TrainEncoderParams.model_validate(
        {
            "generator": generator.resolve(),
            "out": work / "train",
            "images": images,
            "source": "mixed",
            "encoder": {
                "kind": "e4e",
                "input_size": ENCODER_INPUT,
                "units": list(units),
                "widths": list(widths),
                "head_width": head_width,
            },
            "steps": steps,
            "batch_size": batch_size,
            "learning_rate": 1e-3,
            "lpips_lambda": 0.0,
            "lpips_trunk": "random",  # unused: lpips_lambda is 0
            "checkpoint_every": 250,
            "threads": threads,
        }
    )
    result = train_encoder(params)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(result["encoder"], dest)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasetgan.demo.assets")
    sub = parser.add_subparsers(dest="what", required=True)
    enc = sub.add_parser("encoder", help="train the default encoder into assets/default/encoder")
    enc.add_argument("--generator", type=Path, default=GENERATOR_DIR)
    enc.add_argument("--work", type=Path, default=Path("runs/encoder-default"))
    enc.add_argument("--dest", type=Path, default=ENCODER_DIR)
    enc.add_argument("--steps", type=int, default=1500)
    enc.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from rich.console import Console

    from datasetgan.flows.cli_support import bar

    with bar(True):
        dest = train_default_encoder(
            generator=args.generator,
            work=args.work,
            dest=args.dest,
            steps=args.steps,
            threads=args.threads,
        )
    Console().print(f"encoder in {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
