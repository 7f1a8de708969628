"""Encoder training: loss goes down, resume is bit-identical, config changes refused, outputs written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasetgan.models.encoders import (
    EncoderConfig,
    EncoderConfigError,
    build_encoder,
    load_encoder,
)
from datasetgan.models.encoders.data import sample_batch
from datasetgan.models.encoders.errors import EncoderCheckpointError
from datasetgan.models.encoders.train_run import train_encoder
from datasetgan.models.encoders.training import EncoderTrainer, TrainConfig
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import Generator

ENC = EncoderConfig(
    kind="e4e",
    n_styles=8,
    style_dim=32,
    input_size=32,
    units=(1, 1, 1, 1),
    widths=(8, 12, 16, 24),
    se_reduction=4,
)


def _generator() -> Generator:
    cfg = GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)
    g = Generator(cfg, seed=3).eval()
    g.estimate_w_avg(256, seed=0)
    return g


def _image_folder(root: Path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        p = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    (root / "broken.png").write_bytes(b"\x89PNG garbage")
    return [*paths, str(root / "broken.png")]


def test_tiny_training_reduces_loss() -> None:
    gen = _generator()
    enc = build_encoder(EncoderConfig(**{**ENC.to_dict(), "kind": "psp"}))
    enc.set_latent_avg(gen.w_avg)
    trainer = EncoderTrainer(
        enc, gen, TrainConfig(steps=30, batch_size=4, lr=1e-3, lpips_lambda=0.0, seed=1)
    )
    held_out = sample_batch(gen, 8, rng=torch.Generator().manual_seed(99))

    def held_out_loss() -> float:
        enc.eval()
        with torch.no_grad():
            return float(trainer.losses(held_out, stage=7)[0])

    before = held_out_loss()
    for _ in range(30):
        trainer.step()
    assert held_out_loss() < 0.8 * before


def _run(out: Path, steps: int, folder: list[str], **changes: object) -> object:
    cfg = TrainConfig(
        **{
            "steps": steps,
            "batch_size": 2,
            "lr": 1e-3,
            "source": "mixed",
            "lpips_lambda": 0.5,
            "w_norm_lambda": 0.01,
            "delta_lambda": 1e-3,
            "disc_lambda": 0.1,
            "d_reg_every": 2,
            "progressive": "linear",
            "progressive_start": 1,
            "progressive_every": 1,
            "checkpoint_every": 2,
            "grid_every": 2,
            "grid_images": 2,
            "log_every": 1,
            **changes,  # type: ignore[arg-type]
        }
    )
    return train_encoder(
        _generator(), out, encoder=ENC, config=cfg, image_paths=folder, lpips_trunk="random"
    )


def test_resume_is_bit_identical_and_writes_outputs(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    _run(tmp_path / "a", 4, folder)
    first = _run(tmp_path / "b", 2, folder)
    assert first.resumed_from is None  # type: ignore[attr-defined]
    resumed = _run(tmp_path / "b", 4, folder)
    assert resumed.resumed_from == 2 and resumed.steps == 4  # type: ignore[attr-defined]
    a, b = load_encoder(tmp_path / "a" / "encoder"), load_encoder(tmp_path / "b" / "encoder")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    hist_a = json.loads((tmp_path / "a" / "history.json").read_text())
    hist_b = json.loads((tmp_path / "b" / "history.json").read_text())
    assert hist_a == hist_b and [h["stage"] for h in hist_a] == [0.0, 1.0, 2.0, 3.0]
    assert {"disc", "adv", "delta", "lpips", "w_norm", "l2"} <= set(hist_a[-1])
    grid = Image.open(tmp_path / "a" / "grids" / "step_000004.png")
    assert grid.size == (2 * 34 + 2, 2 * 34 + 2)  # 2 columns (input | recon) x 2 rows of 32 px
    meta = json.loads((tmp_path / "a" / "encoder" / "config.json").read_text())["metadata"]
    assert meta["generator_sha256"] == state_dict_sha256(_generator()) and meta["steps"] == 4
    state = torch.load(tmp_path / "a" / "train_state.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 4


def test_resume_refuses_changed_config(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    _run(tmp_path / "c", 2, folder, disc_lambda=0.0, lpips_lambda=0.0, progressive="none")
    with pytest.raises(EncoderConfigError, match=r"changed in \['lr'\]"):
        _run(
            tmp_path / "c",
            4,
            folder,
            disc_lambda=0.0,
            lpips_lambda=0.0,
            progressive="none",
            lr=1e-2,
        )
    cfg = TrainConfig(steps=2, batch_size=2, lpips_lambda=0.0)
    with pytest.raises(EncoderCheckpointError, match="resume='never'"):
        train_encoder(_generator(), tmp_path / "c", encoder=ENC, config=cfg, resume="never")


def test_config_refusals() -> None:
    with pytest.raises(EncoderConfigError, match="batch_size"):
        TrainConfig(batch_size=1)
    with pytest.raises(EncoderConfigError, match="source"):
        TrainConfig(source="web")
    gen = _generator()
    with pytest.raises(EncoderConfigError, match="image paths"):
        EncoderTrainer(build_encoder(ENC), gen, TrainConfig(source="images", lpips_lambda=0.0))
    with pytest.raises(EncoderConfigError, match="LPIPS"):
        EncoderTrainer(build_encoder(ENC), gen, TrainConfig())
    wrong = EncoderConfig(**{**ENC.to_dict(), "n_styles": 6})
    with pytest.raises(EncoderConfigError, match="generator expects"):
        EncoderTrainer(build_encoder(wrong), gen, TrainConfig(lpips_lambda=0.0))


def test_progressive_schedule() -> None:
    cfg = TrainConfig(progressive="linear", progressive_start=10, progressive_every=5)
    assert [cfg.stage_at(s, 8) for s in (0, 9, 10, 14, 15, 100)] == [0, 0, 1, 1, 2, 7]
    assert TrainConfig().stage_at(0, 8) == 7


def test_resume_refuses_another_generator(tmp_path: Path) -> None:
    """A folder trained for one generator is not continued for another (the shipped encoder's
    retraining after a new generator would otherwise silently keep the old encoder)."""
    cfg = TrainConfig(steps=2, batch_size=2, lpips_lambda=0.0, source="samples")
    train_encoder(_generator(), tmp_path / "d", encoder=ENC, config=cfg)
    other = Generator(_generator().config, seed=1)
    other.estimate_w_avg(50)
    more = TrainConfig(steps=4, batch_size=2, lpips_lambda=0.0, source="samples")
    with pytest.raises(EncoderConfigError, match="another generator"):
        train_encoder(other, tmp_path / "d", encoder=ENC, config=more)
    # a state written before the fingerprint was kept in it: the encoder folder's metadata decides
    state_file = tmp_path / "d" / "train_state.pt"
    state = torch.load(state_file, map_location="cpu", weights_only=True)
    del state["generator_sha256"]
    torch.save(state, state_file)
    with pytest.raises(EncoderConfigError, match="another generator"):
        train_encoder(other, tmp_path / "d", encoder=ENC, config=more)
    assert train_encoder(_generator(), tmp_path / "d", encoder=ENC, config=more).steps == 4
