"""Embedding files: good ones embedded, bad ones reported; refinement never worse; batch-independent."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasetgan.models.embedding import (
    EmbedConfig,
    embed_files,
    embed_images,
    load_embedding_models,
)
from datasetgan.models.encoders import (
    EncoderConfig,
    EncoderConfigError,
    build_encoder,
    save_encoder,
    save_psp_checkpoint,
)
from datasetgan.models.imaging import ImageReadConfig, read_images, to_signed_float
from datasetgan.models.lpips import load_lpips
from datasetgan.models.projector import RefineConfig
from datasetgan.models.stylegan2.checkpoint import save_generator
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import Generator

ENC = EncoderConfig(
    n_styles=8,
    style_dim=32,
    input_size=32,
    units=(1, 1, 1, 1),
    widths=(8, 12, 16, 24),
    se_reduction=4,
)


@pytest.fixture(scope="module")
def models() -> tuple[torch.nn.Module, Generator]:
    g = Generator(
        GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16), seed=3
    ).eval()
    g.estimate_w_avg(256, seed=0)
    enc = build_encoder(ENC, seed=2)
    enc.set_latent_avg(g.w_avg)
    enc.train()
    enc(torch.rand(4, 3, 32, 32) * 2 - 1)  # BN stats away from init: train vs eval mode differ
    return enc, g


def _folder(root: Path) -> list[str]:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(root / "b_grey.png")
    Image.fromarray(rng.integers(0, 255, (20, 20, 4), dtype=np.uint8), mode="RGBA").save(
        root / "c.png"
    )
    (root / "d.txt").write_text("no image")
    (root / "e.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    Image.fromarray(rng.integers(0, 255, (64, 40, 3), dtype=np.uint8)).save(root / "f.jpg")
    return sorted(str(p) for p in root.iterdir())


def test_folder_with_broken_files(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    enc, gen = models
    paths = _folder(tmp_path)
    cfg = EmbedConfig(batch_size=2, keep_images="reconstructions")
    done: list[tuple[int, int]] = []
    out = embed_files(paths, enc, gen, config=cfg, progress=lambda d, t: done.append((d, t)))
    assert [Path(p).name for p in out.paths] == ["a.png", "b_grey.png", "c.png", "f.jpg"]
    assert sorted(Path(f.path).name for f in out.failures) == ["d.txt", "e.jpg"]
    assert all(f.reason for f in out.failures)
    assert sorted(out.indices + out.failure_indices) == list(range(6))
    assert out.ws.shape == (4, 8, 32) and out.ws.dtype == np.float32
    assert np.isnan(out.lpips_before).all()  # no LPIPS model given
    np.testing.assert_array_equal(out.ws, out.ws_encoder)  # refine="none"
    assert out.inputs is not None and out.inputs.shape == (4, 32, 32, 3)
    assert out.reconstructions is not None and out.reconstructions.shape == (4, 32, 32, 3)
    assert done[-1] == (6, 6)
    assert not enc.training  # inference ran in eval mode


def test_batch_size_does_not_change_codes(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    enc, gen = models
    paths = _folder(tmp_path)
    one = embed_files(paths, enc, gen, config=EmbedConfig(batch_size=1))
    four = embed_files(paths, enc, gen, config=EmbedConfig(batch_size=4))
    np.testing.assert_allclose(one.ws, four.ws, atol=1e-5)
    np.testing.assert_allclose(one.mse_before, four.mse_before, atol=1e-6)


def test_refinement_improves_metrics(models) -> None:  # type: ignore[no-untyped-def]
    enc, gen = models
    with torch.no_grad():
        w = gen.mapping(torch.randn(2, 32, generator=torch.Generator().manual_seed(4)))
        images = gen.synthesize(w, noise_mode="const", taps="none").image
    big = torch.nn.functional.interpolate(
        images, size=(48, 64), mode="bilinear"
    )  # non-square input
    lpips = load_lpips(trunk="random")
    refine = RefineConfig(steps=10, lr=0.1, lr_rampup=0.2)
    emb = embed_images(
        big, enc, gen, config=EmbedConfig(refine="optimize", refine_config=refine), lpips=lpips
    )
    before = emb.mse_before + emb.lpips_before
    after = emb.mse_after + emb.lpips_after
    assert (after < before).all()
    assert not torch.equal(emb.ws, emb.ws_encoder)


def test_load_models_from_files(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    enc, gen = models
    enc.eval()
    save_encoder(enc, tmp_path / "enc")
    save_generator(gen, tmp_path / "gen")
    save_psp_checkpoint(tmp_path / "psp.pt", enc, gen)
    a = load_embedding_models(tmp_path / "enc", tmp_path / "gen", lpips_trunk="none")
    b = load_embedding_models(tmp_path / "psp.pt", lpips_trunk="random")
    assert a.lpips is None and b.lpips is not None
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    cfg = EmbedConfig()
    ea = embed_images(x, a.encoder, a.generator, config=cfg)
    eb = embed_images(x, b.encoder, b.generator, config=cfg, lpips=b.lpips)
    assert torch.allclose(ea.ws, eb.ws) and math.isclose(
        float(ea.mse_before), float(eb.mse_before), rel_tol=1e-5
    )
    with pytest.raises(EncoderConfigError, match="generator_path"):
        load_embedding_models(tmp_path / "enc")
    with pytest.raises(EncoderConfigError, match="refine"):
        EmbedConfig(refine="yes")


def test_noise_optimisation_metrics_use_the_optimised_noise(tmp_path: Path, models) -> None:  # type: ignore[no-untyped-def]
    enc, gen = models
    paths = _folder(tmp_path)[:3]
    refine = RefineConfig(steps=4, lr=0.1, lr_rampup=0.3, lpips_lambda=0.0, noise="optimize")
    cfg = EmbedConfig(refine="optimize", refine_config=refine, batch_size=2)
    out = embed_files(paths, enc, gen, config=cfg)
    assert out.noise is not None and len(out.noise) == len(gen.noise_buffers())
    assert out.noise[-1].shape == (len(out.paths), 1, 32, 32)
    targets = torch.from_numpy(
        to_signed_float(read_images(out.paths, ImageReadConfig(size=32)).images)
    )
    noise = [torch.from_numpy(n) for n in out.noise]
    with torch.no_grad():
        recon = gen.synthesize(
            torch.from_numpy(out.ws), noise_mode="const", noise=noise, taps="none"
        ).image
    mse = (recon - targets).pow(2).flatten(1).mean(1).numpy()
    np.testing.assert_allclose(mse, out.mse_after, rtol=1e-5)  # "after" is measured with that noise
    assert (out.mse_after <= out.mse_before + 1e-7).all()
