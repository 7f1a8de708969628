from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from datasetgan.models.errors import CheckpointError
from datasetgan.models.stylegan2 import GeneratorConfig, load_generator
from datasetgan.models.stylegan2.discriminator import Discriminator
from datasetgan.models.stylegan2.training import GanTrainConfig, GanTrainer

CFG = GeneratorConfig(resolution=16, w_dim=16, n_mlp=2, channel_base=64, channel_max=8)
TRAIN = GanTrainConfig(
    iterations=4,
    batch=4,
    r1_every=2,
    pl_every=2,
    checkpoint_every=2,
    sample_every=2,
    sample_seeds=4,
)


def _images(n: int = 16) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )


def test_discriminator_shapes_and_refusal() -> None:
    d = Discriminator(CFG)
    assert d(torch.randn(6, 3, 16, 16)).shape == (6, 1)
    with pytest.raises(ValueError, match=r"expected \[N, 3, 16, 16\]"):
        d(torch.randn(2, 3, 8, 8))


def test_training_runs_writes_and_resumes_identically(tmp_path: Path) -> None:
    straight = GanTrainer(CFG, TRAIN, _images(), tmp_path / "a")
    straight.run()
    first = GanTrainer(CFG, replace(TRAIN, iterations=2), _images(), tmp_path / "b")
    first.run()
    resumed = GanTrainer(CFG, TRAIN, _images(), tmp_path / "b")
    logs: list[int] = []
    resumed.run(lambda step, total, _: logs.append(step))
    assert logs == [3, 4], "resume must continue from the checkpoint, not restart"
    for (name, a), b in zip(
        straight.g_ema.state_dict().items(), resumed.g_ema.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == [
        "step-000002.png",
        "step-000004.png",
    ]
    g = load_generator(tmp_path / "a" / "generator")
    assert torch.equal(g.w_avg, straight.g_ema.w_avg)


def test_training_moves_the_generator(tmp_path: Path) -> None:
    trainer = GanTrainer(CFG, TRAIN, _images(), tmp_path)
    before = {k: v.clone() for k, v in trainer.g.state_dict().items()}
    seen: dict[str, float] = {}
    trainer.run(lambda step, total, logs: seen.update(logs))
    changed = [k for k, v in trainer.g.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("style.") for k in changed) and any(
        k.startswith("convs.") for k in changed
    )
    assert {"d_loss", "g_loss", "r1", "pl"} <= set(seen) or {"d_loss", "g_loss"} <= set(seen)


def test_every_checkpoint_keeps_its_g_ema_and_its_scores(tmp_path: Path) -> None:
    calls: list[int] = []

    def evaluate(g: object) -> dict[str, float]:
        calls.append(1)
        return {"score": float(len(calls))}

    GanTrainer(CFG, replace(TRAIN, iterations=2), _images(), tmp_path).run(evaluate=evaluate)
    trainer = GanTrainer(CFG, TRAIN, _images(), tmp_path)
    trainer.run(evaluate=evaluate)
    snapshots = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert snapshots == ["step-000002", "step-000004"]
    assert torch.equal(
        load_generator(tmp_path / "snapshots" / "step-000004").w_avg, trainer.g_ema.w_avg
    )
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["score"]) for r in rows] == [(2.0, 1.0), (4.0, 2.0)]
    assert 0 < rows[0]["train_hours"] < rows[1]["train_hours"]  # summed across the two sessions


def test_resume_refuses_other_architecture(tmp_path: Path) -> None:
    GanTrainer(CFG, replace(TRAIN, iterations=2), _images(), tmp_path).run()
    other = replace(CFG, w_dim=8)
    with pytest.raises(CheckpointError, match="generator config"):
        GanTrainer(other, TRAIN, _images(), tmp_path).run()


def test_bad_training_input() -> None:
    with pytest.raises(ValueError, match="expected uint8"):
        GanTrainer(CFG, TRAIN, torch.zeros(4, 3, 16, 16), "unused")
    with pytest.raises(ValueError, match="augment"):
        GanTrainConfig(augment="rotate")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_resumes_from_a_cpu_checkpoint(tmp_path: Path) -> None:
    """Two steps on the CPU, two more on the GPU from that checkpoint: the run ends at step 4 with
    finite CPU-saved weights (float results differ across devices; the draws do not)."""
    GanTrainer(CFG, replace(TRAIN, iterations=2), _images(), tmp_path / "g").run()
    gpu = GanTrainer(CFG, TRAIN, _images(), tmp_path / "g", device="cuda")
    logs: list[int] = []
    gpu.run(
        lambda step, total, _: logs.append(step), evaluate=lambda g: {"on": float(g.w_avg.is_cuda)}
    )
    assert logs == [3, 4] and next(gpu.g.parameters()).is_cuda
    g = load_generator(tmp_path / "g" / "generator")
    assert all(torch.isfinite(t).all() for t in g.state_dict().values())
    scores = [
        json.loads(line) for line in (tmp_path / "g" / "metrics.jsonl").read_text().splitlines()
    ]
    assert scores[-1]["on"] == 0.0, "evaluations get a CPU copy of G_ema"
