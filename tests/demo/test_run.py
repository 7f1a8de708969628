"""`datasetgan demo` end to end on a tiny generator and encoder made here (small N, few steps)."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

if "PREFECT_HOME" not in os.environ:  # never touch the user's ~/.prefect
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-home-")
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
import prefect.main  # noqa: F401

logging.raiseExceptions = False  # the temporary server logs at exit, after capture closed

from datasetgan.demo.assets import train_default_encoder  # noqa: E402
from datasetgan.demo.config import DemoConfig, Threads, resolve_precision  # noqa: E402
from datasetgan.demo.errors import DemoError  # noqa: E402
from datasetgan.demo.run import run_demo  # noqa: E402
from datasetgan.models.precision import bf16_supported  # noqa: E402
from datasetgan.models.stylegan2 import Generator, GeneratorConfig, save_generator  # noqa: E402


def tiny_models(root: Path) -> tuple[Path, Path]:
    """A 64 px generator (random, narrow) and an e4e encoder trained 2 steps by the shipped recipe."""
    torch.set_num_threads(1)
    g = Generator(
        GeneratorConfig(resolution=64, w_dim=32, n_mlp=2, channels=(16, 16, 16, 8, 8)), seed=0
    )
    g.estimate_w_avg(200)
    gen = save_generator(g, root / "generator")
    enc = train_default_encoder(
        generator=gen, work=root / "enc-work", dest=root / "encoder", steps=2,
        image_seeds=range(5_100, 5_108), widths=(16, 16, 16, 16), batch_size=2,
    )  # fmt: skip
    return gen, enc


def tiny_config(root: Path, gen: Path, enc: Path) -> DemoConfig:
    return DemoConfig(
        out=root / "demo", generator=gen, encoder=enc, n_candidates=8, annotation_counts=(2, 4),
        n_annotate=4, n_generate=16, n_eval_generated=8, n_embed=8, n_real_test=8, seeds=(0, 1),
        shard_size=8, interpreter_members=2, interpreter_steps=4, refine_steps=2,
        handsoff_refine_steps=2, segnet_steps=3, embed_first_seed=5_200, real_train_first_seed=5_500,
        test_first_seed=5_300, edit_steps=2, threads=Threads(),
    )  # fmt: skip


MEAN_STD = re.compile(r"\*\*(\d+\.\d+)\*\* ± (\d+\.\d+)")


@pytest.mark.slow
def test_demo_end_to_end_and_resume(tmp_path: Path) -> None:
    gen, enc = tiny_models(tmp_path)
    assert (enc / "config.json").is_file() and (enc / "model.safetensors").is_file()
    cfg = tiny_config(tmp_path, gen, enc)
    said: list[str] = []
    report = run_demo(cfg, say=said.append)
    text = report.read_text(encoding="utf-8")
    # (a)-(d): every row holds a measured mean ± std in [0, 1], and a verdict that follows them
    table = text.split("## The fair comparison")[1].split("By the number")[0]
    values = [(float(m), float(s)) for m, s in MEAN_STD.findall(table)]
    assert len(values) == 5, table
    assert all(0.0 <= m <= 1.0 and s >= 0.0 for m, s in values)
    seg = json.loads((cfg.out / "steps" / "segnet.json").read_text())
    rows = seg["rows"]
    a, b = rows["real-4"], rows["generated-4"]
    assert f"**{a['mean']:.3f}** ± {a['std']:.3f}" in table
    assert f"**{b['mean']:.3f}** ± {b['std']:.3f}" in table
    beaten = "does **not** beat" if b["mean"] <= a["mean"] else "generated dataset"
    assert beaten in table
    assert a["n_train"] == 4 and b["n_train"] == 16 and rows["generated_drop-4"]["n_train"] == 15
    assert set(rows) == {
        "real-2",
        "generated-2",
        "real-4",
        "generated-4",
        "generated_drop-4",
        "handsoff-4",
    }
    assert all(len(r["per_seed"]) == 2 for r in rows.values())
    assert len(seg["runs"]) == 12  # 2 counts x 2 kinds x 2 seeds + (c) and HandsOff x 2 seeds
    assert (cfg.out / "handsoff" / "interpreter" / "real_codes.npy").is_file()
    # HandsOff leaves out the mask pixels its inversion misses (DemoConfig.handsoff_max_pixel_error)
    handsoff = json.loads((cfg.out / "steps" / "handsoff.json").read_text())
    assert 0.0 <= handsoff["left_out"] <= 1.0
    assert (
        f"more than {cfg.handsoff_max_pixel_error} off left out: {100 * handsoff['left_out']:.0f} %"
        in table
    )
    measured = json.loads((cfg.out / "steps" / "interpreter_quality.json").read_text())
    assert f"**{measured['mean']:.3f}** ± {measured['std']:.3f}" in table
    # the curve: a table row per count and its picture; the dataset stays at DIR/dataset
    curve = text.split("By the number")[1].split("Per class")[0]
    assert "| 2 |" in curve and "| 4 |" in curve and "figures/curve.png" in curve
    assert (cfg.out / "dataset" / "data.h5").is_file()
    assert (cfg.out / "curve" / "dataset-2" / "data.h5").is_file()
    for name in ("samples", "annotations", "dataset", "uncertainty", "reconstructions", "curve"):
        assert (cfg.out / "figures" / f"{name}.png").is_file()
        assert f"figures/{name}.png" in text
    assert "none held out" in text  # interpreter_val_fraction 0: trained on every annotation
    # "auto" precision is resolved, recorded, used by every interpreter and segnet, and reported
    recorded = json.loads((cfg.out / "demo_run.json").read_text())["config"]["precision"]
    assert recorded == ("bf16" if bf16_supported("cpu") else "fp32")
    for interp in ("interpreter", "curve/interpreter-2", "handsoff/interpreter"):
        trained = json.loads((cfg.out / interp / "report.json").read_text())
        assert trained["config"]["precision"] == recorded, interp
    words = "bfloat16 matmuls and convolutions" if recorded == "bf16" else "float32"
    assert f"training steps of every interpreter and segnet: {words}" in text
    assert json.loads((cfg.out / "interpreter" / "report.json").read_text())["val_ids"] == []
    assert "LPIPS was **not used**" in text or "LPIPS (VGG16 ImageNet)" in text
    # editing: a row per kind, edited (scored by the oracle, in the figure) or found on no sample
    edits = json.loads((cfg.out / "steps" / "edit.json").read_text())
    section = text.split("## Editing through labels")[1].split("## Timings")[0]
    assert set(edits["kinds"]) == {"mouth", "hat", "hair"} and edits["steps"] == 2
    for kind in edits["kinds"].values():
        if kind["seed"] is None:
            assert f"| {kind['title']} | none of 64 samples |" in section
        else:
            assert f"| {kind['title']} | {kind['seed']} |" in section
            assert 0.0 <= kind["change_outside"] <= 1.0 and kind["seconds"] > 0
    edited = any(k["seed"] is not None for k in edits["kinds"].values())
    assert (cfg.out / "figures" / "editing.png").is_file() == edited
    # a second run reuses every step and rewrites the same report
    said.clear()
    again = run_demo(cfg, say=said.append)
    assert again == report
    assert sum("skipped" in s for s in said) == 11
    assert "(this run reused it)" in again.read_text(encoding="utf-8")
    # other settings (or other model files) are refused before any work, naming what changed
    with pytest.raises(DemoError, match="segnet_steps"):
        run_demo(replace(cfg, segnet_steps=4), say=said.append)


def test_a_setting_added_since_does_not_refuse_a_folder(tmp_path: Path) -> None:
    """A folder made before a new setting existed resumes (the new setting's step runs); a changed
    recorded setting is still refused."""
    from datasetgan.demo.config import RUN_FILE
    from datasetgan.demo.run import check_previous, run_identity

    cfg = DemoConfig(out=tmp_path)
    identity = run_identity(cfg)
    del identity["config"]["edit_steps"]
    (tmp_path / RUN_FILE).write_text(json.dumps(identity))
    check_previous(cfg, fresh=False)
    with pytest.raises(DemoError, match="segnet_steps"):
        check_previous(replace(cfg, segnet_steps=7), fresh=False)


@pytest.mark.parametrize(
    ("setting", "older"),
    [
        ("interpreter_val_fraction", 0.2),
        ("interpreter_batch_size", 64),
        ("handsoff_max_pixel_error", None),
        ("handsoff_refine_steps", 30),
        ("precision", "fp32"),
    ],
)
def test_a_setting_that_changes_old_steps_refuses_an_older_folder(
    tmp_path: Path, setting: str, older: object
) -> None:
    """These came after the steps they change: a folder without them held 20 % of the annotations
    out / trained on 64 pixels per step / trained HandsOff on every mask pixel, through 30
    refinement steps, so resuming it with today's values would mix two kinds of interpreter. With
    the older value it resumes."""
    from datasetgan.demo.config import RUN_FILE
    from datasetgan.demo.run import check_previous, run_identity

    cfg = DemoConfig(out=tmp_path)
    assert getattr(cfg, setting) != older
    identity = run_identity(cfg)
    del identity["config"][setting]
    (tmp_path / RUN_FILE).write_text(json.dumps(identity))
    with pytest.raises(DemoError, match=setting):
        check_previous(cfg, fresh=False)
    check_previous(replace(cfg, **{setting: older}), fresh=False)


def test_auto_precision_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from datasetgan.models import precision as precision_module

    monkeypatch.setattr(precision_module, "_mkldnn_bf16", lambda: False)
    assert resolve_precision(DemoConfig()).precision == "fp32"
    monkeypatch.setattr(precision_module, "_mkldnn_bf16", lambda: True)
    assert resolve_precision(DemoConfig()).precision == "bf16"
    assert resolve_precision(DemoConfig(precision="fp32")).precision == "fp32"
    with pytest.raises(DemoError, match="precision"):
        DemoConfig(precision="fp16")


def test_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    from datasetgan.demo.run import check_previous

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DemoError, match="not a demo folder"):
        check_previous(DemoConfig(out=tmp_path), fresh=False)
    assert (tmp_path / "notes.txt").is_file()  # nothing removed without --fresh


def test_demo_cli_names_a_missing_model(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from datasetgan.flows.cli import app

    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path / "d"), "--generator", str(tmp_path / "none")]
    )
    assert result.exit_code == 2
    assert "generator" in result.output and "not found" in result.output
    assert not (tmp_path / "d").exists()
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--precision", "fp16"])
    assert result.exit_code == 2 and "--precision: got 'fp16'" in result.output
    assert not (tmp_path / "d").exists()
