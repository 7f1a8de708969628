"""Training on a tiny generator: learnability, determinism, reports, save/load, active learning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from datasetgan.interpreter import (
    EnsembleConfig,
    GeneratorMismatchError,
    Interpreter,
    InterpreterFormatError,
    TrainConfig,
    TrainProgress,
    TrainReport,
    load_annotations,
    load_interpreter,
    rank_candidates,
    train_interpreter,
)
from datasetgan.interpreter.training import split_images
from datasetgan.models import precision as precision_module
from datasetgan.models.errors import PrecisionError
from datasetgan.models.precision import bf16_supported
from datasetgan.models.stylegan2 import Generator
from tests.interpreter.helpers import (
    render,
    threads,
    threshold_masks,
    tiny_generator,
    write_annotations,
)

SEEDS = list(range(100, 140))
NAMES = ("low", "high")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threads(1):
        yield


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Interpreter, TrainReport, list[TrainProgress]]:
    """40 annotated samples whose label is a threshold of one tapped channel; 4 members."""
    g = tiny_generator()
    folder = write_annotations(
        tmp_path_factory.mktemp("ann"), threshold_masks(g, SEEDS), SEEDS, NAMES
    )
    ws, _ = render(g, SEEDS)
    events: list[TrainProgress] = []
    cfg = TrainConfig(
        ensemble=EnsembleConfig(n_members=4), max_steps=1000, eval_every=100, val_fraction=0.25
    )
    with threads(1):
        interp, report = train_interpreter(
            g, folder, dict(zip(SEEDS, ws, strict=True)), cfg, progress=events.append
        )
    return interp, report, events


def test_learns_a_learnable_labelling(
    trained: tuple[Interpreter, TrainReport, list[TrainProgress]],
) -> None:
    interp, report, _ = trained
    assert len(report.val_ids) == 10 and len(report.train_ids) == 30
    assert not set(report.val_ids) & set(report.train_ids)
    assert report.val_pixel_accuracy is not None and report.val_pixel_accuracy >= 0.93
    assert report.val_miou is not None and report.val_miou >= 0.85
    assert set(report.val_iou) == set(NAMES) and all(
        v is not None and v > 0.8 for v in report.val_iou.values()
    )
    # labels of an unseen sample agree with its synthetic mask
    g = tiny_generator()
    _, feats = render(g, [999, 998])
    result = interp.label(feats, maps=("probs", "uncertainty"))
    accuracy = (
        (result.labels == threshold_masks(g, [999, 998], threshold_seeds=SEEDS)).float().mean()
    )
    assert accuracy >= 0.9
    assert result.probs is not None and result.probs.shape == (2, 2, 32, 32)
    json.dumps(report.to_dict())  # JSON-able for flows


def test_progress_and_history(
    trained: tuple[Interpreter, TrainReport, list[TrainProgress]],
) -> None:
    _, report, events = trained
    phases = [e.phase for e in events]
    assert phases.count("render") == 40 and phases[-1] == "done"
    assert [e.images_done for e in events if e.phase == "render"] == list(range(1, 41))
    train = [e for e in events if e.phase == "train"]
    assert train and all(e.val_loss is not None and e.train_loss is not None for e in train)
    assert [h["step"] for h in report.history] == [e.step for e in train]
    assert report.pool_pixels == 30 * 32 * 32 and report.val_pixels == 10 * 1024
    assert len(report.best_steps) == 4 and all(0 < s <= report.steps for s in report.best_steps)


def test_training_is_deterministic(tmp_path: Path) -> None:
    g = tiny_generator()
    seeds = SEEDS[:6]
    folder = write_annotations(tmp_path, threshold_masks(g, seeds), seeds, NAMES)
    ws, _ = render(g, seeds)
    cfg = TrainConfig(
        ensemble=EnsembleConfig(n_members=3),
        max_steps=30,
        eval_every=10,
        pixels_per_image=200,
        seed=7,
    )
    runs = [train_interpreter(g, folder, dict(zip(seeds, ws, strict=True)), cfg) for _ in range(2)]
    (a, ra), (b, rb) = runs
    assert a.fingerprint == b.fingerprint and ra.history == rb.history
    other, _ = train_interpreter(
        g, folder, dict(zip(seeds, ws, strict=True)), TrainConfig(**{**cfg.__dict__, "seed": 8})
    )
    assert other.fingerprint != a.fingerprint


def test_split_images() -> None:
    assert split_images(1, 0.2, 0) == ([0], [])
    train, val = split_images(16, 0.2, 0)
    assert len(val) == 3 and sorted(train + val) == list(range(16))
    assert split_images(16, 0.2, 0) == (train, val) and split_images(16, 0.2, 1) != (train, val)
    assert split_images(2, 0.0, 0) == ([0, 1], [])


def test_save_load_round_trip(
    trained: tuple[Interpreter, TrainReport, list[TrainProgress]], tmp_path: Path
) -> None:
    interp = trained[0]
    g = tiny_generator()
    folder = interp.save(tmp_path / "interp")
    meta = json.loads((folder / "interpreter.json").read_text())
    assert (
        meta["class_names"] == list(NAMES) and meta["interpreter_fingerprint"] == interp.fingerprint
    )
    loaded = load_interpreter(folder, generator=g)
    assert loaded.fingerprint == interp.fingerprint and loaded.class_names == NAMES
    _, feats = render(g, [5, 6])
    a, b = interp.label(feats, maps=("probs",)), loaded.label(feats, maps=("probs",))
    assert torch.equal(a.labels, b.labels) and torch.equal(a.score, b.score)
    assert a.probs is not None and b.probs is not None and torch.equal(a.probs, b.probs)
    buffered = loaded.label(feats, method="buffer", maps=("probs",))
    assert torch.equal(buffered.labels, a.labels)
    assert buffered.probs is not None and (buffered.probs - a.probs).abs().max() <= 1e-4


def test_other_generator_refused(
    trained: tuple[Interpreter, TrainReport, list[TrainProgress]], tmp_path: Path
) -> None:
    interp = trained[0]
    folder = interp.save(tmp_path / "interp")
    other = Generator(tiny_generator().config, seed=1).eval()
    with pytest.raises(GeneratorMismatchError, match=r"fingerprint .* differs"):
        load_interpreter(folder, generator=other)
    with pytest.raises(GeneratorMismatchError, match="fingerprint"):
        interp.render_and_label(other, torch.zeros(1, other.n_latent, other.w_dim))
    image, result = interp.render_and_label(tiny_generator(), render(tiny_generator(), [1])[0])
    assert image.shape == (1, 3, 32, 32) and result.labels.shape == (1, 32, 32)


def test_corrupt_saves_refused(
    trained: tuple[Interpreter, TrainReport, list[TrainProgress]], tmp_path: Path
) -> None:
    folder = trained[0].save(tmp_path / "interp")
    with pytest.raises(InterpreterFormatError, match="missing"):
        load_interpreter(tmp_path / "nowhere")
    meta = json.loads((folder / "interpreter.json").read_text())
    (folder / "interpreter.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(InterpreterFormatError, match="version 99"):
        load_interpreter(folder)
    (folder / "interpreter.json").write_text(json.dumps({**meta, "n_channels": 7}))
    with pytest.raises(InterpreterFormatError, match="do not form an interpreter"):
        load_interpreter(folder)
    (folder / "interpreter.json").write_text(json.dumps(meta))
    (folder / "interpreter.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InterpreterFormatError, match="unreadable safetensors"):
        load_interpreter(folder)


def test_rank_candidates(trained: tuple[Interpreter, TrainReport, list[TrainProgress]]) -> None:
    interp = trained[0]
    g = tiny_generator()
    ids = [500, 501, 502, 503, 504]
    ws, feats = render(g, ids)
    ranked = rank_candidates(
        interp, g, dict(zip(ids, ws, strict=True)), exclude=[502], batch_size=2
    )
    assert sorted(c.sample_id for c in ranked) == [500, 501, 503, 504]
    scores = [c.score for c in ranked]
    assert scores == sorted(scores, reverse=True)
    direct = dict(zip(ids, interp.label(feats).score.tolist(), strict=True))
    assert all(abs(direct[c.sample_id] - c.score) < 1e-5 for c in ranked)
    top = rank_candidates(interp, g, dict(zip(ids, ws, strict=True)), exclude=[502], top=2)
    assert [c.sample_id for c in top] == [c.sample_id for c in ranked[:2]]


def test_train_from_annotation_set_with_one_image(tmp_path: Path) -> None:
    g = tiny_generator()
    folder = write_annotations(tmp_path, threshold_masks(g, [1]), [1], NAMES)
    ws, _ = render(g, [1])
    interp, report = train_interpreter(
        g,
        load_annotations(folder),
        {1: ws[0]},
        TrainConfig(ensemble=EnsembleConfig(n_members=2), max_steps=5, eval_every=5),
    )
    assert (
        report.val_ids == ()
        and report.val_miou is None
        and report.steps == 5
        and interp.n_members == 2
    )


def test_pixel_sampling_quotas() -> None:
    from datasetgan.interpreter.pools import sample_pixels

    mask = torch.zeros(32, 32, dtype=torch.int64)
    mask[:4] = 1  # 128 pixels
    mask[4:5, :3] = 2  # 3 pixels
    mask[30:] = -1  # not annotated
    rng = torch.Generator().manual_seed(0)
    ys, xs = sample_pixels(mask, 100, rng, mode="balanced")
    counts = torch.bincount(mask[ys, xs], minlength=3).tolist()
    assert counts == [34, 33, 3] and len(set(zip(ys.tolist(), xs.tolist(), strict=True))) == 70
    ys, xs = sample_pixels(mask, 7 * 3 * 100, rng, mode="balanced")
    assert len(ys) <= 2100 and int((mask[ys, xs] < 0).sum()) == 0
    ys, xs = sample_pixels(mask, 50, rng, mode="uniform")
    assert len(ys) == 50 and int((mask[ys, xs] < 0).sum()) == 0


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16")
def test_bf16_training_learns_like_fp32(tmp_path: Path) -> None:
    """precision="bf16": bf16 pool and matmuls, float32 weights; it learns the same labelling."""
    g = tiny_generator()
    seeds = SEEDS[:30]
    folder = write_annotations(tmp_path, threshold_masks(g, seeds), seeds, NAMES)
    ws, _ = render(g, seeds)
    latents = dict(zip(seeds, ws, strict=True))
    cfg = TrainConfig(ensemble=EnsembleConfig(n_members=2), max_steps=1000, val_fraction=0.0)
    _, feats = render(g, [999, 998])
    truth = threshold_masks(g, [999, 998], threshold_seeds=seeds)
    labels = {}
    for precision in ("fp32", "bf16"):
        interp, _ = train_interpreter(g, folder, latents, replace(cfg, precision=precision))
        assert interp.ensemble.w1.dtype == torch.float32
        labels[precision] = interp.label(feats).labels
        assert (labels[precision] == truth).float().mean() >= 0.9, precision
    assert (labels["bf16"] == labels["fp32"]).float().mean() >= 0.95


def test_bf16_training_refused_without_hardware(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = tiny_generator()
    folder = write_annotations(tmp_path, threshold_masks(g, [1]), [1], NAMES)
    ws, _ = render(g, [1])
    monkeypatch.setattr(precision_module, "_mkldnn_bf16", lambda: False)
    with pytest.raises(PrecisionError, match=r"'bf16': this CPU has no AVX-512 BF16/AMX"):
        train_interpreter(g, folder, {1: ws[0]}, TrainConfig(precision="bf16"))
