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
from datasetgan.demo.config import DemoConfig, Threads  # noqa: E402
from datasetgan.demo.errors import DemoError  # noqa: E402
from datasetgan.demo.run import run_demo  # noqa: E402
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
        out=root / "demo", generator=gen, encoder=enc, n_candidates=8, n_annotate=4,
        n_generate=16, n_eval_generated=16, n_embed=8, n_real_test=8, shard_size=8,
        interpreter_members=2, interpreter_steps=4, refine_steps=2, segnet_steps=3,
        embed_first_seed=5_200, test_first_seed=5_300, threads=Threads(),
    )  # fmt: skip


NUMBER = re.compile(r"\*\*(\d+\.\d+)\*\*")


@pytest.mark.slow
def test_demo_end_to_end_and_resume(tmp_path: Path) -> None:
    gen, enc = tiny_models(tmp_path)
    assert (enc / "config.json").is_file() and (enc / "model.safetensors").is_file()
    cfg = tiny_config(tmp_path, gen, enc)
    said: list[str] = []
    report = run_demo(cfg, say=said.append)
    text = report.read_text(encoding="utf-8")
    # the figures table: every row holds a measured number in [0, 1]
    table = text.split("## Figures")[1].split("Per class")[0]
    values = [float(v) for v in NUMBER.findall(table)]
    assert len(values) == 7, table
    assert all(0.0 <= v <= 1.0 for v in values)
    for name in ("samples", "annotations", "dataset", "uncertainty", "reconstructions"):
        assert (cfg.out / "figures" / f"{name}.png").is_file()
        assert f"figures/{name}.png" in text
    assert "LPIPS was **not used**" in text or "LPIPS (VGG16 ImageNet)" in text
    # the numbers in the report are the ones the steps measured
    measured = json.loads((cfg.out / "steps" / "interpreter_quality.json").read_text())
    assert f"**{measured['all']['miou']:.3f}**" in table
    seg = json.loads((cfg.out / "steps" / "segnet.json").read_text())
    assert seg["annotated"]["n_train"] == 4 and seg["generated"]["n_train"] == 16
    assert seg["generated_drop"]["n_train"] == 15  # floor(0.1 * 16) = 1 dropped
    # a second run reuses every step and rewrites the same report
    said.clear()
    again = run_demo(cfg, say=said.append)
    assert again == report
    assert sum("skipped" in s for s in said) == 8
    assert "(this run reused it)" in again.read_text(encoding="utf-8")
    # other settings (or other model files) are refused before any work, naming what changed
    with pytest.raises(DemoError, match="segnet_steps"):
        run_demo(replace(cfg, segnet_steps=4), say=said.append)


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
