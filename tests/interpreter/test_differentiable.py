"""soft_labels: the fused labeller's probabilities, with gradients to the taps, tile by tile."""

from __future__ import annotations

import pytest
import torch

from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.stylegan2 import GeneratorConfig, w_plus_from_seeds
from tests.models.stylegan2.helpers import perturbed


@pytest.fixture(scope="module")
def models() -> tuple[object, Interpreter]:
    g = perturbed(
        GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=128, channel_max=16)
    )
    ens = PixelEnsemble(g.feature_channels, 4, config=EnsembleConfig(n_members=3))
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(2)) * 0.1)
    interp = Interpreter(ens.eval(), class_names=list("abcd"), taps=g.tap_layout, resolution=32,
                         generator_fingerprint=state_dict_sha256(g))  # fmt: skip
    return g, interp


@pytest.mark.parametrize("tile_pixels", [32 * 32, 200, 32])
def test_equals_the_fused_labellers_probabilities(
    models: tuple[object, Interpreter], tile_pixels: int
) -> None:
    g, interp = models
    out = g.synthesize(w_plus_from_seeds(g, [0, 1]), taps="all")  # type: ignore[attr-defined]
    with torch.no_grad():
        ref = interp.label(out.features, maps=("probs",)).probs
        soft = interp.soft_labels(out.features, tile_pixels=tile_pixels)
    assert soft.shape == (2, 4, 32, 32) and torch.allclose(soft, ref, atol=1e-6)


def test_gradients_reach_w_plus_and_match_without_checkpointing(
    models: tuple[object, Interpreter],
) -> None:
    g, interp = models
    grads = []
    for checkpoint in (True, False):
        ws = w_plus_from_seeds(g, [3]).requires_grad_(True)  # type: ignore[arg-type]
        out = g.synthesize(ws, taps="all")  # type: ignore[attr-defined]
        interp.soft_labels(out.features, tile_pixels=300, checkpoint=checkpoint)[
            :, 2
        ].sum().backward()
        grads.append(ws.grad)
    assert grads[0] is not None and grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    assert all(p.grad is None for p in interp.ensemble.parameters())  # the ensemble stays fixed


def test_a_box_labels_the_same_window_with_the_same_gradients(
    models: tuple[object, Interpreter],
) -> None:
    """What an edit's loss uses: the window's probabilities equal the full map's, and so do the
    gradients of a loss that reads only the window."""
    g, interp = models
    box = (5, 19, 7, 30)
    grads, windows = [], []
    for use_box in (False, True):
        ws = w_plus_from_seeds(g, [4]).requires_grad_(True)  # type: ignore[arg-type]
        out = g.synthesize(ws, taps="all")  # type: ignore[attr-defined]
        if use_box:
            window = interp.soft_labels(out.features, tile_pixels=100, box=box)
        else:
            window = interp.soft_labels(out.features, tile_pixels=100)[:, :, 5:19, 7:30]
        assert window.shape == (1, 4, 14, 23)
        window[:, 1].square().sum().backward()
        grads.append(ws.grad)
        windows.append(window.detach())
    assert torch.allclose(windows[0], windows[1], atol=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    with pytest.raises(ValueError, match="box"):
        interp.soft_labels(out.features, box=(0, 40, 0, 10))
