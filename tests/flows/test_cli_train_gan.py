from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from datasetgan.flows.cli import app


def test_train_gan_on_a_folder_skips_bad_files(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (80, 70, 3), dtype=np.uint8)).save(images / f"{i}.png")
    (images / "notes.txt").write_text("not an image")
    out = tmp_path / "gan"
    result = CliRunner().invoke(
        app, ["train-gan", "--out", str(out), "--iterations", "1", "--images", str(images)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "generator" / "model.safetensors").is_file() and (out / "checkpoint.pt").is_file()
    assert (out / "samples" / "step-000001.png").is_file()


def test_train_gan_refuses_an_empty_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train-gan", "--out", str(tmp_path / "g"), "--images", str(tmp_path)]
    )
    assert result.exit_code == 2 and "readable images; expected at least 2" in " ".join(
        result.output.split()
    )


def test_train_gan_refuses_an_absent_device(tmp_path: Path) -> None:
    import torch

    device = "cuda:7" if torch.cuda.is_available() else "cuda"
    if torch.cuda.is_available() and torch.cuda.device_count() > 7:
        return
    result = CliRunner().invoke(
        app, ["train-gan", "--out", str(tmp_path / "g"), "--device", device, "--iterations", "1"]
    )
    assert result.exit_code == 2 and f"--device {device}" in result.output
    assert not (tmp_path / "g").exists(), "refused before any work"
