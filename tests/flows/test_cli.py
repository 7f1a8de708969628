"""Every flow from the CLI with no server (Prefect's temporary one): sample -> annotate ->
train-interpreter -> generate -> build, on a 16 px generator. Checks outputs and Prefect artifacts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from datasetgan.flows.cli import app
from datasetgan.storage import SegmentationDataset, read_manifest
from tests.flows.helpers import CLASSES, annotate, store_arrays, tiny_generator

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("e2e")
    g = tiny_generator(root / "g")
    ann = root / "ann"
    out: dict[str, Any] = {"root": root, "g": g}
    out["sample"] = invoke(
        "sample", g, "--out", ann, "--n", 12, "--shard-size", 4, "--batch-size", 4,
        "--classes", ",".join(CLASSES),
    )  # fmt: skip
    annotate(ann / "images", ann / "annotations", ids=list(range(8)))
    out["train"] = invoke(
        "train-interpreter", g, "--annotations", ann / "annotations", "--samples", ann / "samples",
        "--out", root / "interp", "--members", 3, "--max-steps", 200, "--eval-every", 50,
        "--pixels-per-image", 256, "--val-fraction", 0.25, "--suggest", 2,
    )  # fmt: skip
    out["generate"] = invoke(
        "generate", g, root / "interp", "--out", root / "ds", "--n", 16, "--shard-size", 8,
        "--batch-size", 4, "--drop-uncertain", 0.25, "--workers", 2, "--uncertainty-maps",
    )  # fmt: skip
    out["build"] = invoke("build", root / "ds", "--n", 8, "--drop-uncertain", 0.25)
    return out


def test_sample_for_annotation(run: dict[str, Any]) -> None:
    ann = run["root"] / "ann"
    assert sorted(p.name for p in (ann / "images").iterdir()) == [f"{i:08d}.png" for i in range(12)]
    assert (ann / "annotations" / "classes.txt").read_text().split() == CLASSES
    images = store_arrays(ann / "samples")["image"]
    assert np.array_equal(np.asarray(Image.open(ann / "images" / "00000005.png")), images[5])
    assert (ann / "samples-preview.png").is_file()


def test_train_interpreter(run: dict[str, Any]) -> None:
    folder = run["root"] / "interp"
    report = json.loads((folder / "report.json").read_text())
    assert report["class_names"] == CLASSES and len(report["val_ids"]) == 2
    assert report["val_miou"] > 0.3, report["val_miou"]
    suggestions = json.loads((folder / "suggestions.json").read_text())
    assert len(suggestions) == 2 and all(s["sample"] >= 8 for s in suggestions)
    assert (run["root"] / "interp-preview.png").is_file()


def test_generate_then_build(run: dict[str, Any]) -> None:
    ds = run["root"] / "ds"
    manifest = read_manifest(ds)
    assert manifest["sample"].tolist() == list(range(24))
    arrays = store_arrays(ds)
    assert arrays["label"].max() < len(CLASSES) and arrays["uncertainty"].dtype == np.float16
    assert len(SegmentationDataset(ds, drop_uncertain=0.25)) == 18
    assert "dropped" in run["generate"] and "samples_written" in run["build"]
    with Image.open(run["root"] / "ds-preview.png") as im:
        assert im.size == (3 * 18 + 2, 4 * 18 + 2)  # 4 rows of image | overlay | uncertainty


def test_artifacts(run: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        keys = {a.key: a for a in client.read_artifacts(limit=200) if a.key}
        history = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["dataset-ds"]))
        )
    for key in (
        "samples-samples",
        "interpreter-interp",
        "dataset-ds",
        "dataset-ds-report",
        "shards-ds",
    ):
        assert key in keys, sorted(keys)
    assert keys["shards-ds"].type == "progress" and keys["shards-ds"].data == 100.0
    assert (
        keys["dataset-ds-report"].type == "markdown"
        and "ds-preview.png" in keys["dataset-ds-report"].data
    )
    assert len(history) == 2  # generate and build each left a table
    metrics = {row["metric"] for row in json.loads(keys["dataset-ds"].data)}
    assert {"score q50", "class pixel share: bright", "writer share of shard task time"} <= metrics
