"""train_encoder and embed_dataset from the CLI on a 16 px generator and a tiny e4e encoder: training
resumes, every file gets a row (an unreadable one with its error), labels from the interpreter,
and the store does not depend on the number of workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from datasetgan.flows.cli import app
from datasetgan.models.imaging import to_uint8
from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds
from datasetgan.storage import EmbeddingStatus, read_manifest
from tests.flows.helpers import random_interpreter, tiny_generator

runner = CliRunner()
TINY = [
    "--kind",
    "e4e",
    "--input-size",
    "32",
    "--units",
    "1,1,1,1",
    "--widths",
    "8,8,16,16",
    "--se-reduction",
    "4",
]


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("embed")
    g = tiny_generator(root / "g")
    interp = random_interpreter(g, root / "interp")
    images = root / "images"
    images.mkdir()
    gen = load_generator(g)
    with torch.no_grad():
        pics = to_uint8(gen.synthesize(w_plus_from_seeds(gen, range(100, 106)), taps="none").image)
    for i, pic in enumerate(pics):
        Image.fromarray(pic).save(images / f"real{i}.png")
    (images / "notes.txt").write_text("not an image")
    common = [
        "--steps",
        20,
        "--batch-size",
        4,
        "--lpips-lambda",
        0,
        "--checkpoint-every",
        10,
        *TINY,
    ]
    first = invoke("train-encoder", g, "--out", root / "enc", *common[:1], 10, *common[2:])
    resumed = invoke("train-encoder", g, "--out", root / "enc", *common)
    embed = ["embed", root / "enc" / "encoder", images, "--generator", g, "--interpreter", interp]
    embed += ["--batch-size", 2, "--shard-size", 4, "--lpips-trunk", "none"]
    one = invoke(*embed, "--out", root / "e1")
    two = invoke(*embed, "--out", root / "e2", "--workers", 2)
    return {"root": root, "first": first, "resumed": resumed, "one": one, "two": two}


def test_train_encoder_resumes(run: dict[str, Any]) -> None:
    enc = run["root"] / "enc"
    assert (enc / "encoder" / "config.json").is_file() and (enc / "train_state.pt").is_file()
    assert "resumed_from" in run["resumed"] and "10" in run["resumed"].split("resumed_from")[1][:20]


def test_embed_dataset_rows_labels_and_failures(run: dict[str, Any]) -> None:
    m = read_manifest(run["root"] / "e1")
    assert len(m) == 7 and m["source"].str.endswith("notes.txt").sum() == 1
    bad = m[m["status"] != int(EmbeddingStatus.OK)]
    assert bad["source"].tolist()[0].endswith("notes.txt") and bad["error"].tolist()[0]
    ok = m[m["status"] == int(EmbeddingStatus.OK)]
    assert (
        len(ok) == 6 and np.isfinite(ok["mse_before"]).all() and np.isnan(ok["lpips_before"]).all()
    )
    assert (run["root"] / "e1-preview.png").is_file()


def test_embed_same_store_whatever_workers(run: dict[str, Any]) -> None:
    import h5py
    import hdf5plugin  # noqa: F401

    with (
        h5py.File(run["root"] / "e1" / "data.h5") as a,
        h5py.File(run["root"] / "e2" / "data.h5") as b,
    ):
        for name in ("w_plus", "label", "status", "mse_before", "mse_after"):
            assert np.array_equal(a[name][...], b[name][...], equal_nan=True), name


def test_user_error_inside_a_task_is_one_line_and_exit_2(run: dict[str, Any]) -> None:
    bad = run["root"] / "corrupt.pt"
    bad.write_bytes(bytes(range(256)) * 4)  # passes the parameter checks, fails in the task
    args = ["embed", bad, run["root"] / "images", "--generator", run["root"] / "g"]
    args += ["--lpips-trunk", "none", "--out", run["root"] / "e-bad"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert "corrupt.pt: not a PyTorch checkpoint or corrupt" in result.output
    assert "Traceback" not in result.output and result.output.count("corrupt.pt:") == 1
    verbose = runner.invoke(app, ["-v", *[str(a) for a in args]])
    assert verbose.exit_code == 2 and "Traceback" in verbose.output


def test_missing_lpips_file_fails_in_seconds_before_prefect(
    run: dict[str, Any], tmp_path: Path
) -> None:
    """The README's example: --refine optimize where the VGG16 file is absent."""
    args = [
        "embed",
        run["root"] / "enc" / "encoder",
        run["root"] / "images",
        "--out",
        tmp_path / "e",
    ]
    args += ["--generator", run["root"] / "g", "--refine", "optimize"]
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "no-torch-home")}
    env.pop("PREFECT_API_URL", None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "datasetgan.flows.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2, lines
    assert len(lines) <= 6 and "Traceback" not in done.stderr, lines
    text = " ".join(lines)
    assert "vgg16-397923af.pth" in text and "'none'" in text and "--lpips-trunk" in text
    assert "temporary server" not in text and not (tmp_path / "e").exists()
    assert seconds < 20, f"took {seconds:.1f} s: checks must run before Prefect starts"
