from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from datasetgan.flows.cli import app
from datasetgan.models.stylegan2 import save_generator
from datasetgan.pipeline.seeds import parse_seeds
from tests.models.stylegan2.helpers import perturbed

runner = CliRunner()


def test_parse_seeds() -> None:
    assert parse_seeds("0-3,10, 12-13") == [0, 1, 2, 3, 10, 12, 13]
    for bad in ("", "a", "5-1", "-3"):
        with pytest.raises(ValueError, match="seeds"):
            parse_seeds(bad)


def test_info_and_render(tmp_path: Path) -> None:
    folder = save_generator(perturbed(), tmp_path / "g")
    result = runner.invoke(app, ["info", str(folder)])
    assert result.exit_code == 0, result.output
    assert "feature taps" in result.output and "fingerprint" in result.output
    out = tmp_path / "grid.png"
    result = runner.invoke(
        app, ["render", str(folder), "--seeds", "0-5", "--cols", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.size == (3 * 18 + 2, 2 * 18 + 2)


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", str(tmp_path / "missing.pt")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    folder = save_generator(perturbed(), tmp_path / "g")
    result = runner.invoke(app, ["render", str(folder), "--noise-mode", "loud"])
    assert result.exit_code == 2 and "expected one of" in result.output
