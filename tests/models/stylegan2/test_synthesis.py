from __future__ import annotations

import pytest
import torch

from datasetgan.models.errors import ConfigError
from datasetgan.models.stylegan2 import (
    Generator,
    GeneratorConfig,
    mix_styles,
    w_plus_from_seeds,
    z_from_seeds,
)
from tests.models.stylegan2.helpers import TINY, perturbed


def _ws(g: Generator, n: int = 3, seed: int = 0) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n, g.n_latent, g.w_dim, generator=rng)


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_batched_and_grouped_modconv_agree(resolution: int) -> None:
    g = perturbed(
        GeneratorConfig(resolution=resolution, w_dim=32, n_mlp=2, channel_base=128, channel_max=16)
    )
    ws = _ws(g)
    with torch.no_grad():
        a = g.synthesize(ws, modconv="batched")
        b = g.synthesize(ws, modconv="grouped")
    assert (a.image - b.image).abs().max() <= 1e-4
    for fa, fb in zip(a.features, b.features, strict=True):
        assert (fa - fb).abs().max() <= 1e-4


def test_modconv_paths_agree_with_autograd(tiny: Generator) -> None:
    ws = _ws(tiny).requires_grad_(True)
    img_a = tiny.synthesize(ws, modconv="batched").image
    (grad_a,) = torch.autograd.grad(img_a.square().sum(), ws)
    img_b = tiny.synthesize(ws, modconv="grouped").image
    (grad_b,) = torch.autograd.grad(img_b.square().sum(), ws)
    assert (img_a - img_b).abs().max() <= 1e-4
    assert (grad_a - grad_b).abs().max() <= 1e-3 * grad_a.abs().max()


def test_inference_equals_autograd_path(tiny: Generator) -> None:
    """The in-place no-grad fast path computes the same images as the autograd path."""
    ws = _ws(tiny)
    with torch.no_grad():
        fast = tiny.synthesize(ws).image
    slow = tiny.synthesize(ws).image.detach()
    assert (fast - slow).abs().max() <= 1e-5


def test_tap_layout_matches_features(tiny: Generator) -> None:
    with torch.no_grad():
        out = tiny.synthesize(_ws(tiny, n=2))
    assert out.image.shape == (2, 3, 16, 16)
    assert len(out.features) == len(tiny.tap_layout)
    for tap, feat in zip(tiny.tap_layout, out.features, strict=True):
        assert feat.shape == (2, tap.channels, tap.resolution, tap.resolution)
    assert tiny.feature_channels == sum(f.shape[1] for f in out.features)
    assert tiny.synthesize(_ws(tiny, n=1), taps="none").features == []


def test_full_config_tap_width_is_computed() -> None:
    cfg = GeneratorConfig(resolution=256)
    assert cfg.channel_table == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    assert cfg.n_latent == 14 and cfg.num_layers == 13


def test_const_noise_is_deterministic_random_follows_rng(tiny: Generator) -> None:
    ws = _ws(tiny)
    with torch.no_grad():
        a = tiny.synthesize(ws, noise_mode="const").image
        b = tiny.synthesize(ws, noise_mode="const").image
        r1 = tiny.synthesize(ws, noise_mode="random", rng=torch.Generator().manual_seed(5)).image
        r2 = tiny.synthesize(ws, noise_mode="random", rng=torch.Generator().manual_seed(5)).image
        r3 = tiny.synthesize(ws, noise_mode="random", rng=torch.Generator().manual_seed(6)).image
        none = tiny.synthesize(ws, noise_mode="none").image
    assert torch.equal(a, b)
    assert torch.equal(r1, r2)
    assert not torch.allclose(r1, r3)
    assert not torch.allclose(a, none)


def test_bad_arguments_are_refused(tiny: Generator) -> None:
    with pytest.raises(ValueError, match="expected \\[N, 6, 32\\]"):
        tiny.synthesize(torch.zeros(2, 5, 32))
    with pytest.raises(ValueError, match="rng"):
        tiny.synthesize(_ws(tiny), noise_mode="random")
    with pytest.raises(ValueError, match="noise_mode"):
        tiny.synthesize(_ws(tiny), noise_mode="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected \\[N, 32\\]"):
        tiny.mapping(torch.zeros(2, 31))


@pytest.mark.parametrize("resolution", [4, 12, 2048])
def test_unsupported_resolution(resolution: int) -> None:
    with pytest.raises(ConfigError, match="power of two from 8 to 1024"):
        GeneratorConfig(resolution=resolution)


def test_truncation_pulls_towards_w_avg(tiny: Generator) -> None:
    z = z_from_seeds([1, 2, 3], tiny.w_dim)
    with torch.no_grad():
        w0 = tiny.mapping(z, truncation=0.0)
        w_half = tiny.mapping(z, truncation=0.5)
        w1 = tiny.mapping(z)
    assert torch.allclose(w0, tiny.w_avg.expand_as(w0))
    assert torch.allclose(w_half, 0.5 * (w1 + tiny.w_avg), atol=1e-6)


def test_seeds_are_independent_of_batch_composition(tiny: Generator) -> None:
    together = w_plus_from_seeds(tiny, [3, 7, 11], truncation=0.7, mixing_prob=0.5)
    alone = w_plus_from_seeds(tiny, [7], truncation=0.7, mixing_prob=0.5)
    assert torch.equal(together[1], alone[0])
    assert torch.equal(z_from_seeds([7], 8)[0], z_from_seeds([1, 7], 8)[1])


def test_style_mixing_switches_at_crossover() -> None:
    a, b = torch.zeros(2, 4), torch.ones(2, 4)
    mixed = mix_styles(a, b, torch.tensor([1, 3]), n_latent=5)
    assert mixed.shape == (2, 5, 4)
    assert mixed[0, :, 0].tolist() == [0, 1, 1, 1, 1]
    assert mixed[1, :, 0].tolist() == [0, 0, 0, 1, 1]
    ws = w_plus_from_seeds(perturbed(TINY), list(range(20)), mixing_prob=1.0)
    assert all(not torch.equal(w[0], w[-1]) for w in ws)


def test_fresh_generators_are_reproducible() -> None:
    a, b = Generator(TINY, seed=3), Generator(TINY, seed=3)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    state = torch.random.get_rng_state()
    Generator(TINY, seed=4)
    assert torch.equal(state, torch.random.get_rng_state()), (
        "building a generator touched the global RNG"
    )
