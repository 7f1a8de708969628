"""Training the domain's fixed nets: the oracle annotator, and the segnets of the headroom figure.

Both train on real renders with exact masks (cached as .npz in a work folder, so a rerun does not
render them again) and checkpoint as they go: a rerun of an interrupted run continues it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasetgan.interpreter.validation import IoU
from datasetgan.toyfaces.data import ToyFaces, render_cached
from datasetgan.toyfaces.oracle import ORACLE_DIR, ORACLE_FIRST_SEED, ORACLE_NET, ORACLE_TRAINING
from datasetgan.toyfaces.segnet import (
    SegNet,
    SegNetConfig,
    SegProgress,
    SegTrainConfig,
    evaluate_segnet,
    save_segnet,
    train_segnet,
)

HEADROOM_TRAIN_SEEDS = 100_000  # 100,000 - 101,999
HEADROOM_TEST_SEEDS = 200_000  # 200,000 - 200,299
# 6,000 steps on 2,000 real renders: widths 32-256 0.918, 16-128 0.877 (docs/toyfaces.md)
HEADROOM_NET = SegNetConfig(widths=(32, 64, 128, 256))
HEADROOM_TRAINING = SegTrainConfig(steps=6000, batch_size=16, log_every=250)

Progress = Callable[[SegProgress], None]


def train_oracle(
    out: Path = ORACLE_DIR,
    *,
    n_images: int = 20_000,
    work: Path = Path("runs/oracle"),
    config: SegTrainConfig = ORACLE_TRAINING,
    progress: Progress | None = None,
) -> Path:
    """Train the oracle's net on ``n_images`` renders from ORACLE_FIRST_SEED and save it to ``out``
    (the shipped folder by default). ``work`` keeps the renders and the checkpoint."""
    images, masks = render_cached(ORACLE_FIRST_SEED, n_images, work)
    model = train_segnet(
        ToyFaces(images, masks, image_range="unit"),
        config=config,
        model_config=ORACLE_NET,
        progress=progress,
        checkpoint=work / f"checkpoint-{n_images}.pt",
    )
    if not isinstance(model, SegNet):
        raise TypeError(f"got a {type(model).__name__}, expected the oracle's U-Net")
    return save_segnet(model, out)


@dataclass(frozen=True)
class HeadroomRow:
    n_train: int
    iou: IoU
    seconds: float


def headroom(
    train_sizes: Sequence[int] = (16, 2000),
    *,
    n_test: int = 300,
    work: Path = Path("runs/headroom"),
    config: SegTrainConfig = HEADROOM_TRAINING,
    model_config: SegNetConfig = HEADROOM_NET,
    progress: Progress | None = None,
) -> list[HeadroomRow]:
    """The same segnet, for the same steps, trained on the first ``n`` of 2,000 real renders with
    exact masks for each ``n``, scored on ``n_test`` other renders."""
    import time

    test = ToyFaces(*render_cached(HEADROOM_TEST_SEEDS, n_test, work), image_range="unit")
    images, masks = render_cached(HEADROOM_TRAIN_SEEDS, max(train_sizes), work)
    rows = []
    for n in train_sizes:
        start = time.perf_counter()
        model = train_segnet(
            ToyFaces(images[:n], masks[:n], image_range="unit"),
            config=config,
            model_config=model_config,
            progress=progress,
            checkpoint=work / _checkpoint_name(n, config, model_config),
        )
        rows.append(HeadroomRow(n, evaluate_segnet(model, test), time.perf_counter() - start))
    return rows


def _checkpoint_name(n: int, config: SegTrainConfig, model_config: SegNetConfig) -> str:
    """One checkpoint per training set size, step count and net width: a rerun with another
    width starts afresh instead of loading weights of the wrong shape."""
    widths = "-".join(str(w) for w in model_config.widths)
    return f"checkpoint-{n}-{config.steps}-w{widths}.pt"
