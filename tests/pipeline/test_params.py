"""Parameters are checked before any work, with messages that say what, where and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from datasetgan.flows.cli import app
from datasetgan.pipeline.errors import RecipeError
from datasetgan.pipeline.params import BuildParams, GenerateParams, RunnerSpec, SampleParams
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
