"""`inspect`: counts, class shares, the score histogram, provenance and shard states (incomplete,
damaged and foreign files flagged), its picture, the CLI, and the refusal of a folder that is no store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from datasetgan.storage.errors import NotAStoreError
from datasetgan.storage.inspect import inspect_picture, inspect_store
from tests.storage.helpers import CLASSES, build, sample_batch


def test_report_and_shard_states(tmp_path: Path) -> None:
    store = build(tmp_path / "s", 10)
    (store.shard_dir / "shard-00009.1a2b.h5.tmp").write_bytes(b"half")  # a writer's temporary name
    (store.shard_dir / "shard-00008.h5").write_bytes(b"not hdf5")
    (store.shard_dir / "notes.txt").write_text("mine")
    report = inspect_store(store.path)
    assert (
        report["samples"] == 10
        and report["classes"] == list(CLASSES)
        and report["kind"] == "samples"
    )
    labels = sample_batch(0, 10)["label"]
    want = np.bincount(labels.ravel(), minlength=3) / labels.size
    assert np.allclose(report["class_shares"], want)
    assert sum(report["score_histogram"]["counts"]) == 10
    assert report["provenance"]["recipe"] == {"n_samples": 10}
    states = {s["file"]: s["state"] for s in report["shards"]}
    assert (
        states["shard-00000.h5"] == "complete" and states["shard-00009.1a2b.h5.tmp"] == "incomplete"
    )
    assert states["shard-00008.h5"] == "damaged" and states["notes.txt"] == "foreign"
    picture = inspect_picture(report, tmp_path / "p.png", [[0, 0, 0], [200, 0, 0], [0, 200, 0]])
    assert Image.open(picture).size == (900, 360)


def test_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(NotAStoreError):
        inspect_store(tmp_path)


def test_cli_inspect_and_export(tmp_path: Path) -> None:
    from datasetgan.flows.cli import app

    store = build(tmp_path / "s", 6)
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", str(store.path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["samples"] == 6 and Path(report["picture"]).is_file()
    table = runner.invoke(app, ["inspect", str(store.path)])
    assert table.exit_code == 0 and "gzip" in table.output
    missing = runner.invoke(app, ["inspect", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "nothing" in missing.output
    out = tmp_path / "mm"
    done = runner.invoke(app, ["export", str(store.path), "--format", "mmseg", "--out", str(out),
                               "--split", "train=0.5,val=0.5"])  # fmt: skip
    assert done.exit_code == 0 and "6 samples (train 3, val 3" in done.output, done.output
    bad = runner.invoke(
        app, ["export", str(store.path), "--format", "coco", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and "one of png, mmseg, hf, webdataset" in bad.output
