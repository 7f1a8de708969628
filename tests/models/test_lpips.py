"""LPIPS: every weight accounted for, symmetric, zero on identical inputs, input checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datasetgan.models.lpips import (
    TAP_CHANNELS,
    LPIPSInputError,
    LPIPSWeightsError,
    VGG16Trunk,
    default_heads_path,
    default_trunk_path,
    heads_state_from,
    load_lpips,
    trunk_state_from,
)
from datasetgan.models.weight_paths import torch_hub_dir


@pytest.fixture(scope="module")
def lpips_random() -> torch.nn.Module:
    return load_lpips(trunk="random", rng=torch.Generator().manual_seed(0))


def _pair(seed: int, n: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.rand(
        n, 3, size, size, generator=g
    ) * 2 - 1


def _torchvision_layout(rng: torch.Generator) -> dict[str, torch.Tensor]:
    """A state dict laid out like torchvision's vgg16 (features.* + classifier.*)."""
    state = {k: torch.randn(v.shape, generator=rng) for k, v in VGG16Trunk().state_dict().items()}
    state["classifier.0.weight"] = torch.randn(8, 4, generator=rng)
    state["classifier.0.bias"] = torch.randn(8, generator=rng)
    return state


def test_package_heads_every_key_used() -> None:
    raw = torch.load(default_heads_path(), map_location="cpu", weights_only=True)
    assert sorted(raw) == [f"lin{k}.model.1.weight" for k in range(5)]
    mapped = heads_state_from(raw, "package")
    assert sorted(mapped) == [f"heads.{k}" for k in range(5)]
    model = load_lpips(trunk="random", rng=torch.Generator().manual_seed(0))
    for k in range(5):
        assert torch.equal(model.heads[k], raw[f"lin{k}.model.1.weight"])
        assert model.heads[k].shape == (1, TAP_CHANNELS[k], 1, 1)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.pop("lin3.model.1.weight"), "missing"),
        (lambda d: d.update({"lin5.model.1.weight": torch.zeros(1, 8, 1, 1)}), "unexpected"),
        (lambda d: d.update({"net.slice1.0.weight": torch.zeros(1)}), "unexpected"),
        (lambda d: d.update({"lin0.model.1.weight": torch.zeros(1, 3, 1, 1)}), "shape"),
        (lambda d: d.update({"lin0.model.0.weight": torch.zeros(1, 64, 1, 1)}), "two entries"),
    ],
)
def test_heads_refuse_bad_files(change, match) -> None:  # type: ignore[no-untyped-def]
    raw = dict(torch.load(default_heads_path(), map_location="cpu", weights_only=True))
    change(raw)
    with pytest.raises(LPIPSWeightsError, match=match):
        heads_state_from(raw, "test")


def test_heads_without_dropout_shift_accepted() -> None:
    raw = torch.load(default_heads_path(), map_location="cpu", weights_only=True)
    unshifted = {k.replace("model.1", "model.0"): v for k, v in raw.items()}
    assert sorted(heads_state_from(unshifted, "t")) == [f"heads.{k}" for k in range(5)]


def test_trunk_file_loads_every_feature_key(tmp_path: Path) -> None:
    state = _torchvision_layout(torch.Generator().manual_seed(1))
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    model = load_lpips(trunk=path)
    for k, v in model.trunk.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert len(model.trunk.state_dict()) == 26  # 13 convs x (weight, bias)


def test_trunk_refuses_missing_and_foreign_keys() -> None:
    state = _torchvision_layout(torch.Generator().manual_seed(1))
    broken = dict(state)
    broken.pop("features.28.bias")
    with pytest.raises(LPIPSWeightsError, match=r"missing keys \['features.28.bias'\]"):
        trunk_state_from(broken, "t")
    with pytest.raises(LPIPSWeightsError, match="unexpected"):
        trunk_state_from({**state, "slice1.0.weight": torch.zeros(1)}, "t")
    with pytest.raises(LPIPSWeightsError, match="shape"):
        trunk_state_from({**state, "features.0.weight": torch.zeros(64, 3, 1, 1)}, "t")


def test_missing_trunk_file_says_where_to_put_it(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert default_trunk_path() == tmp_path / "th" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert default_trunk_path().parent.parent == Path(torch.hub.get_dir())  # torch agrees
    with pytest.raises(LPIPSWeightsError, match=r"vgg16-397923af\.pth.*nothing is downloaded"):
        load_lpips()


@pytest.mark.parametrize("xdg", [True, False])
def test_hub_dir_without_torch_matches_torch(tmp_path: Path, monkeypatch, xdg: bool) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    else:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert torch_hub_dir() == Path(torch.hub.get_dir())


def test_symmetric_and_zero_on_identical(lpips_random) -> None:  # type: ignore[no-untyped-def]
    a, b = _pair(0)
    d_ab, d_ba = lpips_random(a, b), lpips_random(b, a)
    assert d_ab.shape == (2,)
    assert torch.allclose(d_ab, d_ba, atol=1e-6)
    assert (d_ab > 0).all()
    assert torch.equal(lpips_random(a, a), torch.zeros(2))


def test_unit_range_equals_signed(lpips_random) -> None:  # type: ignore[no-untyped-def]
    a, b = _pair(3)
    signed = lpips_random(a, b)
    unit = lpips_random((a + 1) / 2, (b + 1) / 2, input_range="unit")
    assert torch.allclose(signed, unit, atol=1e-5)


def test_grad_flows_to_inputs_only(lpips_random) -> None:  # type: ignore[no-untyped-def]
    a, b = _pair(4)
    a.requires_grad_(True)
    lpips_random(a, b).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in lpips_random.parameters())
    lpips_random.train()
    assert not lpips_random.training


def test_input_checks(lpips_random) -> None:  # type: ignore[no-untyped-def]
    a, b = _pair(5)
    with pytest.raises(LPIPSInputError, match="expected equal"):
        lpips_random(a, b[:1])
    with pytest.raises(LPIPSInputError, match="H>=16"):
        lpips_random(a[..., :8, :8], b[..., :8, :8])
    with pytest.raises(LPIPSInputError, match=r"0\.\.255"):
        lpips_random(a * 127.5 + 127.5, b)
    with pytest.raises(LPIPSInputError, match="floating"):
        lpips_random(a.to(torch.uint8), b.to(torch.uint8))
    with pytest.raises(LPIPSInputError, match="input_range"):
        lpips_random(a, b, input_range="0-255")


def test_cached_features_give_the_same_distance(lpips_random) -> None:  # type: ignore[no-untyped-def]
    a, b = _pair(6)
    fixed = lpips_random.features(b)
    assert torch.allclose(
        lpips_random.distance(lpips_random.features(a), fixed), lpips_random(a, b), atol=1e-6
    )
