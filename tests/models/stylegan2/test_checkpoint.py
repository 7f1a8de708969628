from __future__ import annotations

import argparse
import logging
import os
import random
from pathlib import Path

import pytest
import torch

from datasetgan.models.errors import CheckpointError
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.stylegan2 import Generator, GeneratorConfig, load_generator, save_generator
from datasetgan.models.stylegan2.ada import ada_to_rosinality, rosinality_to_ada
from datasetgan.models.stylegan2.checkpoint import infer_config
from tests.models.stylegan2.helpers import TINY, perturbed


def _render(g: Generator) -> torch.Tensor:
    ws = torch.randn(2, g.n_latent, g.w_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        return g.synthesize(ws).image


def _rosinality_state(g: Generator) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in g.state_dict().items() if k != "w_avg"}


def test_own_format_round_trip_is_exact(tiny: Generator, tmp_path: Path) -> None:
    folder = save_generator(tiny, tmp_path / "gen")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_generator(folder)
    assert loaded.config == tiny.config
    assert state_dict_sha256(loaded) == state_dict_sha256(tiny)
    assert torch.equal(_render(loaded), _render(tiny))
    assert not loaded.training


def test_explicit_channel_table_round_trips(tmp_path: Path) -> None:
    cfg = GeneratorConfig(resolution=16, w_dim=16, n_mlp=1, channels=(8, 12, 6))
    g = Generator(cfg)
    assert load_generator(save_generator(g, tmp_path / "g")).config.channel_table == {
        4: 8,
        8: 12,
        16: 6,
    }


def test_rosinality_checkpoint_with_args_and_latent_avg(tiny: Generator, tmp_path: Path) -> None:
    path = tmp_path / "050000.pt"
    args = argparse.Namespace(size=16, latent=32, n_mlp=2, channel_multiplier=2, lr=0.002)
    torch.save(
        {"g_ema": _rosinality_state(tiny), "args": args, "latent_avg": tiny.w_avg.clone()}, path
    )
    loaded = load_generator(path)
    assert loaded.config.resolution == 16 and loaded.config.w_dim == 32 and loaded.config.n_mlp == 2
    assert loaded.config.channel_table == tiny.config.channel_table
    assert torch.equal(loaded.w_avg, tiny.w_avg)
    assert torch.equal(_render(loaded), _render(tiny))


def test_missing_latent_avg_is_estimated_and_said(
    tiny: Generator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "g.pt"
    torch.save({"g_ema": _rosinality_state(tiny)}, path)
    with caplog.at_level(logging.INFO):
        a = load_generator(path)
    b = load_generator(path)
    assert "estimated mean W from 10000 samples" in caplog.text
    assert torch.equal(a.w_avg, b.w_avg)  # fixed seed
    assert torch.allclose(a.w_avg, tiny.w_avg, atol=0.15)  # tiny.w_avg came from 500 samples


def test_psp_layout_gives_the_decoder(tiny: Generator, tmp_path: Path) -> None:
    path = tmp_path / "psp.pt"
    state = {f"decoder.{k}": v for k, v in _rosinality_state(tiny).items()}
    state["encoder.input_layer.0.weight"] = torch.zeros(4, 3, 3, 3)
    latent_avg = tiny.w_avg[None].expand(tiny.n_latent, -1).clone()
    torch.save({"state_dict": state, "opts": {"output_size": 16}, "latent_avg": latent_avg}, path)
    loaded = load_generator(path)
    assert torch.equal(loaded.w_avg, tiny.w_avg)
    assert torch.equal(_render(loaded), _render(tiny))


def test_ada_state_dict_converts_to_the_same_generator(tiny: Generator, tmp_path: Path) -> None:
    ada = rosinality_to_ada(tiny.state_dict())
    assert "synthesis.b16.conv0.noise_const" in ada and ada["synthesis.b4.const"].ndim == 3
    back = ada_to_rosinality(ada)
    for key, value in tiny.state_dict().items():
        if not key.endswith(".kernel"):
            assert torch.allclose(back[key], value, rtol=1e-6, atol=1e-7), key
    path = tmp_path / "ada_g_ema.pt"
    torch.save(ada, path)
    loaded = load_generator(path)
    assert torch.allclose(_render(loaded), _render(tiny), atol=1e-5)
    torch.save({"G_ema": ada}, tmp_path / "nested.pt")
    assert torch.allclose(_render(load_generator(tmp_path / "nested.pt")), _render(tiny), atol=1e-5)


def test_ada_other_architectures_are_refused(tiny: Generator, tmp_path: Path) -> None:
    ada = rosinality_to_ada(tiny.state_dict())
    ada["synthesis.b8.skip.weight"] = torch.zeros(1)
    torch.save(ada, tmp_path / "resnet.pt")
    with pytest.raises(CheckpointError, match="'resnet' synthesis architecture"):
        load_generator(tmp_path / "resnet.pt")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file or folder"):
        load_generator(tmp_path / "nope.pt")


def test_truncated_file(tiny: Generator, tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    torch.save({"g_ema": _rosinality_state(tiny)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt: truncated or corrupt"):
        load_generator(path)


@pytest.mark.parametrize("seed", range(40))
def test_garbage_file(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(
        random.Random(seed).randbytes(2048)
    )  # some seeds make the unpickler raise IndexError
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_generator(path)


class _Evil:
    marker: Path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_pickle_needing_code_is_refused_and_not_run(tmp_path: Path) -> None:
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "payload": evil}, path)
    with pytest.raises(CheckpointError, match=r"refused to unpickle.*needs arbitrary code"):
        load_generator(path)
    assert not evil.marker.exists()


def test_missing_and_unexpected_keys_are_named(tiny: Generator, tmp_path: Path) -> None:
    state = _rosinality_state(tiny)
    del state["convs.1.noise.weight"]
    state["convs.1.extra"] = torch.zeros(1)
    torch.save({"g_ema": state}, tmp_path / "keys.pt")
    with pytest.raises(
        CheckpointError,
        match=r"missing keys \['convs.1.noise.weight'\].*unexpected keys \['convs.1.extra'\]",
    ):
        load_generator(tmp_path / "keys.pt")


def test_shape_mismatch_is_named(tiny: Generator, tmp_path: Path) -> None:
    state = _rosinality_state(tiny)
    state["convs.1.activate.bias"] = torch.zeros(7)
    torch.save({"g_ema": state}, tmp_path / "shape.pt")
    with pytest.raises(
        CheckpointError, match=r"convs.1.activate.bias has shape \(7,\), expected \(16,\)"
    ):
        load_generator(tmp_path / "shape.pt")


def test_unsupported_resolution_in_checkpoint(tmp_path: Path) -> None:
    g = Generator(GeneratorConfig(resolution=8, w_dim=8, n_mlp=1, channel_base=64, channel_max=8))
    state = _rosinality_state(g)
    state["input.input"] = torch.zeros(1, 8, 4, 4)
    # drop every styled layer: to_rgbs suggest 4 px, which no generator supports
    for key in [k for k in state if k.startswith(("to_rgbs.", "convs."))]:
        del state[key]
    with pytest.raises(CheckpointError, match="unsupported resolution: got 4"):
        infer_config(state, source="x.pt")


def test_own_format_refusals(tiny: Generator, tmp_path: Path) -> None:
    folder = save_generator(tiny, tmp_path / "g")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        load_generator(folder)
    (folder / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="expected 'datasetgan-pipeline/generator'"):
        load_generator(folder)


def test_fingerprint_ignores_format_but_not_weights(tiny: Generator, tmp_path: Path) -> None:
    torch.save({"g_ema": _rosinality_state(tiny), "latent_avg": tiny.w_avg}, tmp_path / "g.pt")
    assert state_dict_sha256(load_generator(tmp_path / "g.pt")) == state_dict_sha256(tiny)
    assert state_dict_sha256(perturbed(TINY, seed=1)) != state_dict_sha256(tiny)
