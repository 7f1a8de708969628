"""The quality metric helpers of the demo and benchmarks/quality.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from datasetgan import toyfaces
from datasetgan.demo.comparison import summarize
from datasetgan.demo.config import DemoConfig
from datasetgan.demo.evaluation import (
    Score,
    interpreter_vs_oracle,
    real_dataset,
    score,
    segnet_quality,
)
from datasetgan.demo.report import verdict
from datasetgan.toyfaces.segnet import SegTrainConfig


def test_score_perfect_and_disjoint() -> None:
    a = np.zeros((2, 4, 4), np.int64)
    a[:, :2] = 1
    s = score(a, a)
    assert s.miou == 1.0 and s.accuracy == 1.0 and s.n_images == 2
    assert math.isnan(s.per_class[5])  # absent from both sides
    worst = score(1 - a, a)
    assert worst.miou == 0.0 and worst.accuracy == 0.0


def test_score_refuses_other_shapes() -> None:
    with pytest.raises(ValueError, match="expected the target's"):
        score(np.zeros((2, 4, 4), np.int64), np.zeros((2, 4, 5), np.int64))


def test_score_round_trips_json() -> None:
    s = score(np.array([[0, 1], [2, 2]]), np.array([[0, 1], [2, 1]]))
    assert Score.from_dict(s.to_dict()).miou == pytest.approx(s.miou)
    assert s.n_images == 1


def test_interpreter_vs_oracle_split_by_uncertainty() -> None:
    images, _ = toyfaces.render_batch(range(5_400, 5_410))
    oracle = toyfaces.oracle_annotate_batch(images)
    labels = oracle.copy()
    labels[9] = 0  # the one most uncertain sample is all wrong
    scores = np.arange(10, dtype=np.float32)  # sample 9 has the highest score
    q = interpreter_vs_oracle(images, labels, scores, drop=0.1)
    assert q.kept.n_images == 9 and q.dropped.n_images == 1 and q.all.n_images == 10
    assert q.kept.miou == 1.0
    assert q.dropped.miou < 0.5
    assert q.kept.miou > q.all.miou > q.dropped.miou
    d = q.to_dict()
    assert d["drop"] == 0.1 and d["all"]["n_images"] == 10


def test_segnet_quality_trains_and_scores_on_real_masks() -> None:
    torch.set_num_threads(1)
    train = real_dataset(range(5_410, 5_414))
    test = real_dataset(range(5_414, 5_418))
    r = segnet_quality("tiny", train, test, config=SegTrainConfig(steps=3, batch_size=2))
    assert r.n_train == 4 and r.test.n_images == 4
    assert 0.0 <= r.test.miou <= 1.0 and r.train_seconds > 0
    assert type(r).from_dict(r.to_dict()).test.miou == pytest.approx(r.test.miou)


def _run(row: str, seed: int, miou: float) -> dict[str, object]:
    per_class = [miou] * 3
    return {"row": row, "seed": seed, "n_train": 4, "train_seconds": 1.0,
            "test": {"miou": miou, "per_class": per_class, "n_images": 5}}  # fmt: skip


def test_summarize_gives_mean_and_sample_std_per_row() -> None:
    rows = summarize([_run("real-4", 0, 0.5), _run("real-4", 1, 0.7), _run("generated-4", 0, 0.6)])
    assert rows["real-4"]["mean"] == pytest.approx(0.6)
    assert rows["real-4"]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert rows["real-4"]["per_seed"] == [0.5, 0.7] and rows["generated-4"]["std"] == 0.0
    assert rows["real-4"]["seconds"] == 2.0 and rows["real-4"]["n_test"] == 5


def _verdict(a: tuple[float, float], b: tuple[float, float]) -> str:
    rows = {"real-16": {"mean": a[0], "std": a[1]}, "generated-16": {"mean": b[0], "std": b[1]}}
    return verdict(DemoConfig(), {"segnet": {"rows": rows}})


def test_verdict_follows_the_numbers() -> None:
    assert "**beats**" in _verdict((0.60, 0.01), (0.70, 0.02))
    assert "not a clear win" in _verdict((0.60, 0.05), (0.62, 0.01))
    assert "does **not** beat" in _verdict((0.70, 0.01), (0.65, 0.01))
