"""The fair comparison: one segnet trained on n real renders with exact masks (a), on the pairs
generated after n candidates were annotated (b), and on (b) without its most uncertain share (c),
over several seeds, all tested on the same real renders with exact masks.

Every training run is a :class:`SegJob` (small and picklable); :func:`run_jobs` runs them in worker
processes, ``workers`` at a time with one torch thread each (on 2 cores, twice as fast as one
process), and :func:`summarize` turns the per-seed scores into mean +- std per row.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("real", "generated", "generated_drop", "handsoff")


@dataclass(frozen=True)
class SegJob:
    """One segnet run: train on (kind, n annotations, seed), test on the shared real renders."""

    kind: (
        str  # "real" (a), "generated" (b), "generated_drop" (c) or "handsoff" (HandsOff's dataset)
    )
    n_annotated: int
    seed: int
    steps: int
    store: str = ""  # (b), (c): the generated store
    drop: float = 0.0  # (c): the most uncertain share left out
    real_first_seed: int = 0  # (a): renders real_first_seed .. + n_annotated - 1
    cache: str = ""  # folder of cached renders (toyfaces.data.render_cached)
    precision: str = "fp32"  # of the training steps (SegTrainConfig.precision)

    @property
    def row(self) -> str:
        return f"{self.kind}-{self.n_annotated}"


def run_job(job: SegJob, test_first_seed: int, n_test: int) -> dict[str, Any]:
    """Train and score one job (in a worker process); returns its row, seed, score and seconds."""
    import torch

    from datasetgan.demo.evaluation import generated_dataset, segnet_quality, tensors_dataset
    from datasetgan.toyfaces.data import render_cached
    from datasetgan.toyfaces.segnet import SegTrainConfig

    torch.set_num_threads(1)
    cache = Path(job.cache) if job.cache else None
    test = tensors_dataset(*render_cached(test_first_seed, n_test, cache))
    if job.kind == "real":
        images, masks = render_cached(job.real_first_seed, job.n_annotated, cache)
        train = tensors_dataset(images, masks)
    else:
        train = generated_dataset(Path(job.store), drop_uncertain=job.drop)
    config = SegTrainConfig(steps=job.steps, seed=job.seed, precision=job.precision)  # type: ignore[arg-type]
    result = segnet_quality(job.row, train, test, config=config)
    return {"row": job.row, "seed": job.seed, **result.to_dict()}


def run_jobs(
    jobs: Sequence[SegJob],
    *,
    test_first_seed: int,
    n_test: int,
    workers: int,
    done: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every job's result, in the order of ``jobs``; ``done(k, total)`` after each one lands."""
    results: dict[int, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
        futures = {
            pool.submit(run_job, job, test_first_seed, n_test): i for i, job in enumerate(jobs)
        }
        for k, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if done is not None:
                done(k, len(jobs))
    return [results[i] for i in range(len(jobs))]


def nanmean_columns(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Column means over the finite values of ``rows`` (NaN where a column has none)."""
    a = np.asarray(rows, dtype=np.float64)
    finite = np.isfinite(a)
    counts = finite.sum(0)
    sums = np.where(finite, a, 0.0).sum(0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per row ("real-16", ...): mIoU mean and std over seeds, per-seed mIoU, per-class mean IoU,
    training-set size, and the seconds of all its runs."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        rows.setdefault(r["row"], []).append(r)
    out = {}
    for row, runs in rows.items():
        mious = np.array([r["test"]["miou"] for r in runs], dtype=np.float64)
        per_class = np.nanmean(
            np.array([r["test"]["per_class"] for r in runs], dtype=np.float64), 0
        )
        out[row] = {
            "mean": float(mious.mean()),
            "std": float(mious.std(ddof=1)) if len(mious) > 1 else 0.0,
            "per_seed": [float(v) for v in mious],
            "per_class": [float(v) for v in per_class],
            "n_train": int(runs[0]["n_train"]),
            "n_test": int(runs[0]["test"]["n_images"]),
            "seconds": float(sum(r["train_seconds"] for r in runs)),
        }
    return out
