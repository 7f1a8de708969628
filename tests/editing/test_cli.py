"""`datasetgan edit` writes every file the issue names, and refuses bad input before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import tests.flows.helpers  # noqa: F401  (a temporary PREFECT_HOME before Prefect loads)
from datasetgan.editing.edit import render
from datasetgan.flows.cli import app
from datasetgan.interpreter import load_interpreter
from datasetgan.models.stylegan2 import load_generator, save_generator, w_plus_from_seeds
from tests.annotate.helpers import random_interpreter
from tests.editing.test_edit import CONFIG
from tests.models.stylegan2.helpers import perturbed

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("edit")
    g = save_generator(perturbed(CONFIG), root / "g")
    interp = random_interpreter(g, root / "i")
    gen, it = load_generator(g), load_interpreter(interp)
    _, labels = render(gen, it, w_plus_from_seeds(gen, [4], truncation=0.7))
    target = labels[0].numpy().astype(np.uint8)
    target[8:20, 8:20] = 2
    Image.fromarray(target, mode="L").save(root / "target.png")
    np.save(root / "w.npy", w_plus_from_seeds(gen, [4], truncation=0.7)[0].numpy())
    return {"g": g, "i": interp, "target": root / "target.png", "w": root / "w.npy", "root": root}


def test_edit_writes_every_output(files: dict[str, Path]) -> None:
    out = files["root"] / "out"
    args = ["edit", str(files["g"]), str(files["i"]), "--seed", "4", "--target", str(files["target"]),
            "--out", str(out), "--steps", "3"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("source.png", "edited.png", "edited_labels.png", "edit.json", "edit.png"):
        assert (out / name).is_file(), name
    assert (
        Image.open(out / "edited.png").mode == "RGB"
        and Image.open(out / "edited_labels.png").mode == "P"
    )
    report = json.loads((out / "edit.json").read_text())
    assert report["region_pixels"] > 144 and set(report["losses"]) >= {"ce", "l1", "total"}
    assert (out / "vector" / "config.json").is_file() and (
        out / "vector" / "model.safetensors"
    ).is_file()
    by_code = ["edit", str(files["g"]), str(files["i"]), "--w-plus", str(files["w"]),
               "--target", str(files["target"]), "--out", str(out / "w"), "--steps", "2"]  # fmt: skip
    again = runner.invoke(app, by_code)
    assert again.exit_code == 0, again.output


def test_bad_input_is_refused(files: dict[str, Path]) -> None:
    base = ["edit", str(files["g"]), str(files["i"]), "--out", str(files["root"] / "bad")]
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(files["root"] / "small.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(files["root"] / "rgb.png")
    cases = {
        "give exactly one source": ["--target", str(files["target"])],
        "expected 32x32": ["--seed", "1", "--target", str(files["root"] / "small.png")],
        "holds colours": ["--seed", "1", "--target", str(files["root"] / "rgb.png")],
        "not found": ["--seed", "1", "--target", str(files["root"] / "none.png")],
    }
    for expected, extra in cases.items():
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2 and expected in " ".join(result.output.split()), (
            expected,
            result.output,
        )
    torch.manual_seed(0)
    same = files["root"] / "same.png"
    gen, it = load_generator(files["g"]), load_interpreter(files["i"])
    _, labels = render(gen, it, w_plus_from_seeds(gen, [1], truncation=0.7))
    Image.fromarray(labels[0].numpy().astype(np.uint8), mode="L").save(same)
    result = runner.invoke(app, [*base, "--seed", "1", "--target", str(same)])
    assert result.exit_code == 2 and "changes nothing" in result.output


def test_apply_edit_flow_writes_a_resumable_store(files: dict[str, Path]) -> None:
    from datasetgan.storage import SegmentationDataset, read_manifest

    out = files["root"] / "out"
    if not (out / "vector").is_dir():
        test_edit_writes_every_output(files)
    store = files["root"] / "edited"
    args = ["apply-edit", str(out / "vector"), str(files["g"]), str(files["i"]), "--seeds", "10-14",
            "--out", str(store), "--shard-size", "2", "--refine-steps", "2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(store)
    assert manifest["seed"].tolist() == [10, 11, 12, 13, 14]
    image, label = SegmentationDataset(store, drop_uncertain=0.0)[0]
    assert image.shape == (3, 32, 32) and label.shape == (32, 32)
    stamps = {p.name: p.stat().st_mtime_ns for p in (store / "shards").iterdir()}
    again = runner.invoke(app, args)  # everything there: nothing rewritten
    assert again.exit_code == 0, again.output
    assert {p.name: p.stat().st_mtime_ns for p in (store / "shards").iterdir()} == stamps
    other = save_generator(perturbed(CONFIG, seed=3), files["root"] / "g2")
    refused = runner.invoke(app, ["apply-edit", str(out / "vector"), str(other), str(files["i"]),
                                  "--seeds", "1-2", "--out", str(files["root"] / "x")])  # fmt: skip
    assert refused.exit_code == 2 and "made for generator" in refused.output
    renamed = files["root"] / "vector-renamed"
    shutil.copytree(out / "vector", renamed)
    config = json.loads((renamed / "config.json").read_text())
    config["class_names"] = list(reversed(config["class_names"]))
    (renamed / "config.json").write_text(json.dumps(config))
    refused = runner.invoke(app, ["apply-edit", str(renamed), str(files["g"]), str(files["i"]),
                                  "--seeds", "1-2", "--out", str(files["root"] / "y")])  # fmt: skip
    assert refused.exit_code == 2 and "made with classes" in refused.output
    assert not (files["root"] / "y").exists()  # refused before any work
