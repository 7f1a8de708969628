"""ReStyle: config rules, the passes from the mean code, training (loss falls, resume exact), and
embedding through it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datasetgan.models.embedding import EmbedConfig, embed_images
from datasetgan.models.encoders import (
    EncoderConfig,
    EncoderConfigError,
    build_encoder,
    load_encoder,
    restyle,
)
from datasetgan.models.encoders.data import sample_batch
from datasetgan.models.encoders.train_run import train_encoder
from datasetgan.models.encoders.training import EncoderTrainer, TrainConfig
from tests.models.encoders.test_training import ENC, _generator

RESTYLE = EncoderConfig.restyle(ENC, iterations=3)


def test_config_rules() -> None:
    assert (RESTYLE.input_nc, RESTYLE.offset, RESTYLE.iterations) == (6, "none", 3)
    with pytest.raises(EncoderConfigError, match="input_nc=6 and offset='none'"):
        EncoderConfig(**{**ENC.to_dict(), "iterations": 3})
    with pytest.raises(EncoderConfigError, match="without the latent discriminator"):
        EncoderTrainer(
            build_encoder(RESTYLE), _generator(), TrainConfig(lpips_lambda=0, disc_lambda=0.1)
        )


def test_passes_start_from_the_mean_code() -> None:
    gen = _generator()
    enc = build_encoder(RESTYLE).eval()
    enc.set_latent_avg(gen.w_avg)
    images = sample_batch(gen, 2, rng=torch.Generator().manual_seed(1)).images
    codes = restyle.encode(enc, gen, images)
    assert len(codes) == 3 and codes[0].shape == (2, 8, 32)
    w0, y0 = restyle.start(enc, gen, 2)
    with torch.no_grad():
        first = restyle.step(enc, images, w0, y0)
    assert torch.allclose(codes[0], first) and not torch.equal(codes[1], codes[0])
    assert torch.equal(restyle.encode_images(enc, gen, images), codes[-1])


def test_training_lowers_the_last_pass_loss() -> None:
    gen = _generator()
    enc = build_encoder(RESTYLE)
    enc.set_latent_avg(gen.w_avg)
    config = TrainConfig(steps=60, batch_size=4, lr=1e-3, lpips_lambda=0.0, seed=1)
    trainer = EncoderTrainer(enc, gen, config)
    losses = [trainer.step()["loss"] for _ in range(60)]  # the last pass's, per batch
    assert sum(losses[-15:]) < 0.8 * sum(losses[:15]), losses


def test_resume_is_exact_and_embedding_uses_the_passes(tmp_path: Path) -> None:
    cfg = TrainConfig(
        steps=4, batch_size=2, lr=1e-3, lpips_lambda=0.0, checkpoint_every=2, grid_every=2
    )
    train_encoder(_generator(), tmp_path / "a", encoder=RESTYLE, config=cfg)
    short = TrainConfig(**{**cfg.to_dict(), "steps": 2})
    train_encoder(_generator(), tmp_path / "b", encoder=RESTYLE, config=short)
    train_encoder(_generator(), tmp_path / "b", encoder=RESTYLE, config=cfg)
    a, b = load_encoder(tmp_path / "a" / "encoder"), load_encoder(tmp_path / "b" / "encoder")
    assert a.config.iterations == 3
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    gen = _generator()
    images = sample_batch(gen, 2, rng=torch.Generator().manual_seed(5)).images
    emb = embed_images(images, a, gen, config=EmbedConfig())
    assert torch.allclose(emb.ws, restyle.encode(a.eval(), gen, images)[-1], atol=1e-6)
