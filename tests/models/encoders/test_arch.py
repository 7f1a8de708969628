"""Encoder architectures: released key layout, shapes, e4e stages, size refusals, eval batching."""

from __future__ import annotations

import pytest
import torch

from datasetgan.models.encoders import (
    EncoderConfig,
    EncoderConfigError,
    EncoderInputError,
    build_encoder,
    fit_input,
)
from datasetgan.models.encoders.blocks import GradualStyleBlock

TINY = {
    "n_styles": 8,
    "style_dim": 32,
    "input_size": 32,
    "units": (1, 2, 1, 1),
    "widths": (8, 12, 16, 24),
    "se_reduction": 4,
}


def _images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("kind", ["psp", "e4e"])
def test_released_layout_keys_and_shapes(kind: str) -> None:
    enc = build_encoder(EncoderConfig.released(kind, 18))
    state = enc.state_dict()
    assert len(state) == 621  # IR-SE-50 body + 18 heads + 2 laterals, as in the released files
    assert "latent_avg" not in state
    expect = {
        "input_layer.0.weight": (64, 3, 3, 3),
        "input_layer.2.weight": (64,),
        "body.0.res_layer.5.fc1.weight": (4, 64, 1, 1),
        "body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
        "body.23.res_layer.5.fc2.weight": (512, 32, 1, 1),
        "styles.0.convs.6.weight": (512, 512, 3, 3),
        "styles.17.convs.10.weight": (512, 512, 3, 3),
        "styles.17.linear.weight": (512, 512),
        "latlayer1.weight": (512, 256, 1, 1),
        "latlayer2.weight": (512, 128, 1, 1),
    }
    for key, shape in expect.items():
        assert tuple(state[key].shape) == shape, key
    assert "styles.0.convs.8.weight" not in state  # 16 px map: 4 convs
    assert "body.24.res_layer.1.weight" not in state


def test_narrow_style_heads() -> None:
    """``head_width`` narrows the map-to-style convolutions only; W+ keeps its shape."""
    wide = build_encoder(EncoderConfig(kind="e4e", **TINY))  # type: ignore[arg-type]
    narrow = build_encoder(EncoderConfig(kind="e4e", head_width=8, **TINY))  # type: ignore[arg-type]
    state = narrow.state_dict()
    assert tuple(state["styles.0.convs.0.weight"].shape) == (8, 24, 3, 3)  # FPN width 24 in
    assert tuple(state["styles.7.convs.2.weight"].shape) == (8, 8, 3, 3)
    assert tuple(state["styles.7.linear.weight"].shape) == (32, 8)  # to style_dim
    assert set(state) == set(wide.state_dict())  # same keys: only the widths change
    n_params = sum(p.numel() for p in narrow.parameters())
    assert n_params < sum(p.numel() for p in wide.parameters())
    with torch.no_grad():
        assert narrow.eval()(_images(2)).shape == (2, 8, 32)
    with pytest.raises(EncoderConfigError, match="head_width"):
        EncoderConfig(kind="e4e", head_width=0, **TINY)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["psp", "e4e"])
def test_tiny_shapes_and_offset(kind: str) -> None:
    enc = build_encoder(EncoderConfig(kind=kind, **TINY)).eval()  # type: ignore[arg-type]
    x = _images(3)
    with torch.no_grad():
        plain = enc(x)
        enc.set_latent_avg(torch.arange(32.0))
        shifted = enc(x)
    assert plain.shape == (3, 8, 32)
    assert torch.allclose(shifted - plain, torch.arange(32.0).expand(3, 8, 32), atol=1e-5)
    with pytest.raises(EncoderConfigError, match="latent_avg"):
        enc.set_latent_avg(torch.zeros(7, 32))


def test_e4e_stages() -> None:
    enc = build_encoder(EncoderConfig(kind="e4e", **TINY)).eval()  # type: ignore[arg-type]
    x = _images(2)
    with torch.no_grad():
        full = enc(x)
        enc.set_stage(0)
        w_only = enc(x)
        enc.set_stage(3)
        three = enc(x)
    assert torch.equal(w_only, w_only[:, :1].expand_as(w_only))
    assert torch.equal(three[:, 4:], three[:, :1].expand(2, 4, 32))
    assert torch.allclose(three[:, :4], full[:, :4])
    assert not torch.allclose(full[:, 5], full[:, 0])
    with pytest.raises(EncoderConfigError, match="stage"):
        enc.set_stage(8)


def test_wrong_size_refused_and_fit_input() -> None:
    enc = build_encoder(EncoderConfig(**TINY)).eval()  # type: ignore[arg-type]
    with pytest.raises(EncoderInputError, match=r"expected \[N, 3, 32, 32\].*fit_input"):
        enc(_images(2, 64))
    with pytest.raises(EncoderInputError, match="expected"):
        enc(_images(2)[:, :1])
    big = _images(2, 64)
    assert fit_input(big, 32).shape == (2, 3, 32, 32)
    with pytest.raises(EncoderInputError, match="refuse"):
        fit_input(big, 32, mode="refuse")
    wide = torch.zeros(1, 3, 32, 96)
    wide[..., 32:64] = 1.0  # the centred square is all ones
    assert torch.allclose(fit_input(wide, 32), torch.ones(1, 3, 32, 32))
    with pytest.raises(EncoderInputError, match="expected"):
        GradualStyleBlock(8, 8, 4)(torch.zeros(2, 8, 8, 8))  # not silently 4 rows per image


def test_eval_mode_rows_are_independent() -> None:
    enc = build_encoder(EncoderConfig(**TINY))  # type: ignore[arg-type]
    x = _images(4)
    enc.train()
    enc(x)  # move the BN running stats away from init
    enc.eval()
    with torch.no_grad():
        batch = enc(x)
        single = torch.cat([enc(x[i : i + 1]) for i in range(4)])
    assert torch.allclose(batch, single, atol=1e-5)


def test_build_is_seeded_and_leaves_global_rng() -> None:
    cfg = EncoderConfig(**TINY)  # type: ignore[arg-type]
    before = torch.random.get_rng_state()
    a, b = build_encoder(cfg, seed=1), build_encoder(cfg, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


@pytest.mark.parametrize(
    "bad",
    [
        {"input_size": 48},
        {"input_size": 16},
        {"kind": "restyle"},
        {"units": (1, 1, 1)},
        {"coarse_ind": 5, "middle_ind": 3},
        {"offset": "mean"},
    ],
)
def test_config_refusals(bad: dict[str, object]) -> None:
    with pytest.raises(EncoderConfigError):
        EncoderConfig(**{**TINY, **bad})  # type: ignore[arg-type]


def test_config_json_round_trip() -> None:
    cfg = EncoderConfig(kind="e4e", **TINY)  # type: ignore[arg-type]
    import json

    assert EncoderConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(EncoderConfigError, match="unknown"):
        EncoderConfig.from_dict({**cfg.to_dict(), "depth": 50})
