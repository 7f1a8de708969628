"""Sample i depends only on (recipe, i): stores are identical whatever the shard size, the number of
workers, the runner or Prefect itself; resumes and appends change nothing that was there."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from datasetgan.flows.generation import build_dataset, generate_dataset
from datasetgan.pipeline import runs
from datasetgan.pipeline.errors import RecipeError
from datasetgan.pipeline.generate import generate_shard
from datasetgan.pipeline.params import BuildParams, GenerateParams
from datasetgan.pipeline.plans import plan_dataset
from tests.flows.helpers import assert_same_store, random_interpreter, store_arrays, tiny_generator


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("assets")
    g = tiny_generator(root / "g", resolution=32)
    return g, random_interpreter(g, root / "interp")


def params(assets: tuple[Path, Path], out: Path, **kw: object) -> GenerateParams:
    g, interp = assets
    values = {"generator": g, "interpreter": interp, "out": out, "n": 24, "shard_size": 8}
    return GenerateParams.model_validate(values | {"render": {"batch_size": 4}} | kw)


def test_same_store_whatever_shard_size_workers_or_prefect(
    assets: tuple[Path, Path], tmp_path: Path
) -> None:
    generate_dataset(params(assets, tmp_path / "a", shard_size=4))
    generate_dataset(params(assets, tmp_path / "b", runner={"workers": 2}))
    plain = plan_dataset(params(assets, tmp_path / "c", shard_size=12))  # no Prefect at all
    for slot in plain.slots:
        generate_shard(plain.store, slot, plain.recipe)
    runs.generate(params(assets, tmp_path / "d", runner={"workers": 2}))  # threads, no Prefect
    assert_same_store(tmp_path / "a", tmp_path / "b")
    assert_same_store(tmp_path / "a", tmp_path / "c")
    assert_same_store(tmp_path / "a", tmp_path / "d")
    assert store_arrays(tmp_path / "a")["sample"].tolist() == list(range(24))


def test_partial_last_batch_is_padded(assets: tuple[Path, Path], tmp_path: Path) -> None:
    """A build of 10 computes batch 2 in full (samples 8..11), as a build of 12 does."""
    generate_dataset(params(assets, tmp_path / "ten", n=10))
    generate_dataset(params(assets, tmp_path / "twelve", n=12))
    ten, twelve = store_arrays(tmp_path / "ten"), store_arrays(tmp_path / "twelve")
    for name in ten:
        assert np.array_equal(ten[name], twelve[name][:10], equal_nan=True), name


def test_resume_and_append(assets: tuple[Path, Path], tmp_path: Path) -> None:
    generate_dataset(params(assets, tmp_path / "full", n=32))
    generate_dataset(params(assets, tmp_path / "part", n=24))
    (tmp_path / "part" / "shards" / "shard-00001.h5").unlink()  # as if it never landed
    result = generate_dataset(params(assets, tmp_path / "part", n=24))
    assert result["samples_written"] == 8 and result["shards_skipped"] == 2
    result = build_dataset(BuildParams(store=tmp_path / "part", n=8))
    assert result["samples_before"] == 24 and result["samples_written"] == 8
    assert_same_store(tmp_path / "full", tmp_path / "part")


def test_resume_with_another_recipe_is_refused(assets: tuple[Path, Path], tmp_path: Path) -> None:
    generate_dataset(params(assets, tmp_path / "s", n=8))
    with pytest.raises(RecipeError, match=r"render.seed: 0 vs 5"):
        generate_dataset(params(assets, tmp_path / "s", n=8, render={"batch_size": 4, "seed": 5}))
    copy = tmp_path / "interp2"
    shutil.copytree(assets[1], copy)
    with pytest.raises(RecipeError, match="another recipe"):
        generate_dataset(params(assets, tmp_path / "s", n=8, interpreter=copy))


def test_shard_task_fixes_torch_threads(assets: tuple[Path, Path], tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        plan = plan_dataset(
            params(assets, tmp_path / "t", n=8, render={"batch_size": 4, "threads": 1})
        )
        torch.set_num_threads(2)
        generate_shard(plan.store, plan.slots[0], plan.recipe)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bf16_store_is_close_to_fp32(assets: tuple[Path, Path], tmp_path: Path) -> None:
    """precision="bf16" is recorded, its labels agree with fp32's on nearly every pixel."""
    from datasetgan.models.precision import bf16_supported

    if not bf16_supported("cpu"):
        pytest.skip("this CPU has no BF16")
    generate_dataset(params(assets, tmp_path / "fp32", n=8))
    bf16 = {"batch_size": 4, "precision": "bf16"}
    generate_dataset(params(assets, tmp_path / "bf16", n=8, render=bf16))
    a, b = store_arrays(tmp_path / "fp32"), store_arrays(tmp_path / "bf16")
    assert np.array_equal(a["w_plus"], b["w_plus"])
    assert (a["label"] == b["label"]).mean() >= 0.98
    diff = np.abs(a["image"].astype(int) - b["image"].astype(int))
    assert diff.mean() <= 2.0
    with pytest.raises(RecipeError):  # a store keeps the precision it was made with
        generate_dataset(params(assets, tmp_path / "fp32", n=16, render=bf16))
    from typer.testing import CliRunner

    from datasetgan.flows.cli import app

    shown = CliRunner().invoke(app, ["inspect", str(tmp_path / "bf16")], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "precision bf16" in shown.output, shown.output


def test_plain_runs_stop_at_a_failing_shard(
    assets: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pipeline.runs with 2 workers: a shard that fails raises, shards not started yet are not
    started, the ones running finish, and a rerun completes the same store."""
    import threading
    import time

    started: list[int] = []
    lock = threading.Lock()

    def fake_shard(store: str, slot, recipe, png_dir=None):  # type: ignore[no-untyped-def]
        with lock:
            started.append(slot.index)
        if slot.index == 0:
            raise OSError("disk full")
        time.sleep(0.3)  # slots 1 and 2 keep both workers busy while slot 0's error lands
        return generate_shard(store, slot, recipe, png_dir)

    monkeypatch.setattr(runs, "generate_shard", fake_shard)
    with pytest.raises(OSError, match="disk full"):
        runs.generate(params(assets, tmp_path / "s", n=32, runner={"workers": 2}))
    # slot 3 was cancelled before it started (slot 2 may have started before the cancel)
    assert 3 not in started and {0, 1} <= set(started)
    monkeypatch.undo()  # a rerun renders what is missing and keeps what landed
    runs.generate(params(assets, tmp_path / "s", n=32, runner={"workers": 2}))
    runs.generate(params(assets, tmp_path / "whole", n=32))
    assert_same_store(tmp_path / "s", tmp_path / "whole")
