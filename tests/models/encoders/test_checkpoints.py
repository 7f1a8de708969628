"""Encoder files: own format and the released pSp / e4e layout round-trip; unsafe files refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from datasetgan.models.encoders import (
    EncoderCheckpointError,
    EncoderConfig,
    build_encoder,
    load_encoder,
    load_psp_checkpoint,
    read_encoder_metadata,
    save_encoder,
    save_psp_checkpoint,
)
from datasetgan.models.encoders.psp_format import OWN_CONFIG_OPT
from datasetgan.models.errors import CheckpointError
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import Generator

TINY = {
    "n_styles": 8,
    "style_dim": 32,
    "input_size": 32,
    "units": (1, 2, 1, 1),
    "widths": (8, 12, 16, 24),
    "se_reduction": 4,
}


@pytest.fixture(scope="module")
def generator() -> Generator:
    cfg = GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)
    g = Generator(cfg, seed=3).eval()
    g.estimate_w_avg(256, seed=0)
    return g


def _encoder(kind: str, head_width: int | None = None) -> torch.nn.Module:
    config = EncoderConfig(kind=kind, head_width=head_width, **TINY)  # type: ignore[arg-type]
    enc = build_encoder(config, seed=5)
    enc.train()
    enc(
        torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    )  # non-trivial BN stats
    enc.set_latent_avg(torch.randn(32, generator=torch.Generator().manual_seed(1)))
    return enc.eval()


def _x() -> torch.Tensor:
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(9)) * 2 - 1


def test_own_format_round_trip(tmp_path: Path) -> None:
    enc = _encoder("e4e")
    save_encoder(enc, tmp_path / "enc", metadata={"generator_sha256": "ab" * 32})
    back = load_encoder(tmp_path / "enc")
    assert not back.training and back.config == enc.config
    with torch.no_grad():
        assert torch.equal(back(_x()), enc(_x()))
    assert read_encoder_metadata(tmp_path / "enc")["generator_sha256"] == "ab" * 32
    (tmp_path / "enc" / "model.safetensors").unlink()
    with pytest.raises(EncoderCheckpointError, match=r"config\.json and model\.safetensors"):
        load_encoder(tmp_path / "enc")


@pytest.mark.parametrize("kind", ["psp", "e4e"])
@pytest.mark.parametrize("config_source", ["opts", "inferred"])
@pytest.mark.parametrize("head_width", [None, 8])
def test_psp_layout_round_trip(
    tmp_path: Path, generator: Generator, kind: str, config_source: str, head_width: int | None
) -> None:
    enc = _encoder(kind, head_width)
    path = save_psp_checkpoint(tmp_path / "ckpt.pt", enc, generator)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "opts", "latent_avg"}
    assert {k.split(".")[0] for k in raw["state_dict"]} == {"encoder", "decoder"}
    decoder_keys = {k[len("decoder.") :] for k in raw["state_dict"] if k.startswith("decoder.")}
    assert decoder_keys == set(generator.state_dict()) - {"w_avg"}
    assert raw["opts"]["encoder_type"] == (
        "GradualStyleEncoder" if kind == "psp" else "Encoder4Editing"
    )
    if config_source == "inferred":  # what a released file looks like: config only in the keys
        raw["opts"] = {k: v for k, v in raw["opts"].items() if k != OWN_CONFIG_OPT}
        torch.save(raw, path)
    back_enc, back_gen = load_psp_checkpoint(path)
    assert back_enc.config == enc.config and type(back_enc) is type(enc)
    assert not back_enc.training and not back_gen.training
    with torch.no_grad():
        assert torch.equal(back_enc(_x()), enc(_x()))
        ws = enc(_x())
        a = generator.synthesize(ws, noise_mode="const", taps="none").image
        b = back_gen.synthesize(ws, noise_mode="const", taps="none").image
    assert torch.equal(a, b)
    assert torch.allclose(back_gen.w_avg, enc.latent_avg[0])


def test_namespace_opts_accepted(tmp_path: Path, generator: Generator) -> None:
    enc = _encoder("psp")
    path = save_psp_checkpoint(tmp_path / "ns.pt", enc, generator)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    raw["opts"] = argparse.Namespace(**raw["opts"])
    torch.save(raw, path)
    assert load_psp_checkpoint(path).encoder.config == enc.config


class Payload:  # not on the allow-list
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_refusals(tmp_path: Path, generator: Generator) -> None:
    enc = _encoder("psp")
    path = save_psp_checkpoint(tmp_path / "c.pt", enc, generator)
    raw = torch.load(path, map_location="cpu", weights_only=True)

    def variant(name: str, **changes: object) -> Path:
        out = tmp_path / name
        torch.save({**raw, **changes}, out)
        return out

    with pytest.raises(CheckpointError, match="refused to unpickle"):
        load_psp_checkpoint(variant("evil.pt", opts=Payload()))
    bad_type = {**raw["opts"], "encoder_type": "BackboneEncoderUsingLastLayerIntoW"}
    bad_type.pop(OWN_CONFIG_OPT)
    with pytest.raises(EncoderCheckpointError, match="not supported"):
        load_psp_checkpoint(variant("type.pt", opts=bad_type))
    odd = {**raw["state_dict"], "discriminator.mlp.0.weight": torch.zeros(1)}
    with pytest.raises(EncoderCheckpointError, match="neither encoder"):
        load_psp_checkpoint(variant("odd.pt", state_dict=odd))
    short = {k: v for k, v in raw["state_dict"].items() if k != "encoder.styles.3.linear.bias"}
    with pytest.raises(EncoderCheckpointError, match="missing keys"):
        load_psp_checkpoint(variant("short.pt", state_dict=short))
    with pytest.raises(CheckpointError, match="no such file"):
        load_psp_checkpoint(tmp_path / "absent.pt")
