"""Parameters are checked before any work, with messages that say what, where and what is expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from typer.testing import CliRunner

from datasetgan.flows.cli import app
from datasetgan.pipeline import runs
from datasetgan.pipeline.errors import RecipeError
from datasetgan.pipeline.params import (
    BuildParams,
    GenerateParams,
    RunnerSpec,
    SampleParams,
    TrainInterpreterParams,
)
from datasetgan.pipeline.recipes import Recipe
from datasetgan.storage import ShardedStore, samples_spec
from tests.flows.helpers import random_interpreter, tiny_generator

runner = CliRunner()


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("assets")
    g = tiny_generator(root / "g")
    return g, random_interpreter(g, root / "interp")


def _error(**values: object) -> str:
    with pytest.raises(ValidationError) as info:
        GenerateParams.model_validate(values)
    return str(info.value)


def test_generate_refusals(assets: tuple[Path, Path], tmp_path: Path) -> None:
    g, interp = assets
    ok = {"generator": g, "interpreter": interp, "out": tmp_path / "ds", "n": 8, "shard_size": 8}
    GenerateParams.model_validate(ok)
    assert "no such file or folder" in _error(**ok | {"generator": tmp_path / "missing.pt"})
    assert "greater than or equal to 1" in _error(**ok | {"n": 0})
    assert "not a multiple of batch_size 3" in _error(**ok | {"render": {"batch_size": 3}})
    assert "disagree with interpreter" in _error(**ok | {"class_names": ["a", "b", "c"]})
    assert "missing interpreter.json" in _error(**ok | {"interpreter": tmp_path})
    assert "less than 1" in _error(**ok | {"drop_uncertain": 1.0})
    assert "Extra inputs are not permitted" in _error(**ok | {"shardsize": 8})


def test_runner_and_sample_refusals(assets: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="expected kind='dask'"):
        RunnerSpec(kind="local", address="tcp://x:8786")
    with pytest.raises(ValidationError, match="not a multiple"):
        SampleParams(generator=assets[0], out=tmp_path, n=4, shard_size=6, render={"batch_size": 4})


def test_build_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not a store"):
        BuildParams(store=tmp_path, n=8)
    spec = samples_spec(
        height=4, width=4, n_latent=2, w_dim=2, class_names=["a", "b"], shard_size=8
    )
    ShardedStore.create(tmp_path / "s", spec)
    with pytest.raises(ValidationError, match="not a multiple of the store's shard size 8"):
        BuildParams(store=tmp_path / "s", n=12)
    with pytest.raises(RecipeError, match="not a recipe of this kind"):
        Recipe.from_store(ShardedStore.open(tmp_path / "s"))


def test_cli_reports_bad_parameters_before_any_work(
    assets: tuple[Path, Path], tmp_path: Path
) -> None:
    g, interp = assets
    out = tmp_path / "ds"
    args = ["generate", str(g), str(interp), "--out", str(out), "--n", "10", "--shard-size", "10"]
    result = runner.invoke(app, [*args, "--batch-size", "4"])
    assert result.exit_code == 2
    assert "not a multiple of batch_size 4" in result.output
    result = runner.invoke(app, [*args[:-2], "--shard-size", "8", "--classes", "x,y,z"])
    assert result.exit_code == 2 and "disagree with interpreter" in result.output
    assert not out.exists()


@pytest.fixture(scope="module")
def samples(assets: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-sample store drawn for classes bg/a/b, made without Prefect (pipeline.runs)."""
    out = tmp_path_factory.mktemp("ann")
    render = {"batch_size": 4}
    params = SampleParams(
        generator=assets[0], out=out, n=4, shard_size=4, render=render, class_names=["bg", "a", "b"]
    )
    runs.sample(params)
    return out


def test_every_bad_mask_is_refused_at_once_before_any_model(
    assets: tuple[Path, Path], samples: Path, tmp_path: Path
) -> None:
    folder = samples / "annotations"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "00000000.png")  # good
    Image.fromarray(np.full((16, 16), 5, np.uint8)).save(folder / "00000001.png")  # class 5
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "00000002.png")  # wrong size
    (folder / "00000003.png").write_text("not an image")
    args = ["train-interpreter", str(assets[0]), "--annotations", str(folder)]
    args += ["--samples", str(samples / "samples"), "--out", str(tmp_path / "interp")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "3 masks cannot be used" in out and "temporary local server" not in out
    for name in ("00000001.png: class id(s) [5]", "00000002.png: mask is 8x8", "00000003.png"):
        assert name in out, (name, out)
    for bad in ("00000001.png", "00000002.png", "00000003.png"):
        (folder / bad).unlink()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "00000009.png")  # no sample 9
    with pytest.raises(ValidationError, match=r"mask without a latent \(sample ids \[9\]"):
        TrainInterpreterParams(
            generator=assets[0], annotations=folder, samples=samples / "samples", out=tmp_path
        )
    (folder / "00000009.png").unlink()
    (folder / "classes.txt").write_text("bg\nhair\nskin\n")
    with pytest.raises(ValidationError, match="disagree with the classes the samples were drawn"):
        TrainInterpreterParams(
            generator=assets[0], annotations=folder, samples=samples / "samples", out=tmp_path
        )
    (folder / "classes.txt").write_text("bg\na\nb\n")


def test_build_refuses_a_samples_store(samples: Path) -> None:
    with pytest.raises(RecipeError, match=r"holds 'samples' .*expected a labelled store"):
        runs.build(BuildParams(store=samples / "samples", n=4))
