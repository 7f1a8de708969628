"""Editing on tiny random models: refusals, the default region, the loss falls, vectors round-trip,
refuse another generator, transfer with and without refinement, the refinement region."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datasetgan.editing import EditConfig, EditError, EditingVector, apply_edit, edit, load_vector
from datasetgan.editing.edit import dilate, render
from datasetgan.editing.vector import change_region
from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.stylegan2 import Generator, GeneratorConfig, w_plus_from_seeds
from tests.models.stylegan2.helpers import perturbed

CONFIG = GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=128, channel_max=16)


@pytest.fixture(scope="module")
def models() -> tuple[Generator, Interpreter]:
    torch.set_num_threads(1)
    g = perturbed(CONFIG)
    ens = PixelEnsemble(g.feature_channels, 3, config=EnsembleConfig(n_members=2))
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(5)) * 0.2)
    interp = Interpreter(ens.eval(), class_names=["bg", "a", "b"], taps=g.tap_layout, resolution=32,
                         generator_fingerprint=state_dict_sha256(g))  # fmt: skip
    return g, interp


def _target(
    g: Generator, interp: Interpreter, ws: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    _, labels = render(g, interp, ws)
    target = labels[0].clone()
    target[10:18, 10:18] = 2
    return labels[0], target


def test_refusals(models: tuple[Generator, Interpreter]) -> None:
    g, interp = models
    ws = w_plus_from_seeds(g, [0])
    source, _ = _target(g, interp, ws)
    with pytest.raises(EditError, match="changes nothing"):
        edit(g, interp, ws, source)
    with pytest.raises(EditError, match=r"expected 32x32"):
        edit(g, interp, ws, torch.zeros(16, 32, dtype=torch.long))
    with pytest.raises(EditError, match=r"class id\(s\) \[7\]"):
        edit(g, interp, ws, torch.full((32, 32), 7))
    with pytest.raises(EditError, match=r"expected \[1, "):
        edit(g, interp, torch.zeros(2, g.n_latent, g.w_dim), source)


def test_edit_lowers_the_loss_inside_a_dilated_region(
    models: tuple[Generator, Interpreter],
) -> None:
    g, interp = models
    ws = w_plus_from_seeds(g, [1])
    source, target = _target(g, interp, ws)
    result = edit(g, interp, ws, target, config=EditConfig(steps=25, lr=0.05))
    assert torch.equal(result.region, dilate(target != source, 2))
    assert result.history[-1] < result.history[0]
    assert result.delta.shape == ws.shape and torch.allclose(result.w_plus, ws + result.delta)
    assert set(result.losses) == {"ce", "l1", "pull", "total"} and result.seconds > 0
    shared = edit(g, interp, ws, target, config=EditConfig(steps=2, space="w"))
    assert torch.allclose(shared.delta, shared.delta[:, :1].expand_as(shared.delta))  # one offset


def test_vectors_save_load_refuse_and_transfer(
    models: tuple[Generator, Interpreter], tmp_path: Path
) -> None:
    g, interp = models
    ws = w_plus_from_seeds(g, [2])
    source, target = _target(g, interp, ws)
    result = edit(g, interp, ws, target, config=EditConfig(steps=5, lr=0.05))
    vector = EditingVector.from_edit(result, source, target, g, interp, source={"seed": 2})
    assert {c["to"] for c in vector.changes} == {"b"} and sum(
        c["pixels"] for c in vector.changes
    ) == int((source != target).sum())
    loaded = load_vector(vector.save(tmp_path / "v"))
    assert torch.equal(loaded.delta, vector.delta) and loaded.changes == vector.changes
    others = w_plus_from_seeds(g, [10, 11])
    plain = apply_edit(loaded, g, interp, others)
    assert len(plain) == 2 and torch.allclose(plain[0].w_plus, others[:1] + vector.delta)
    refined = apply_edit(loaded, g, interp, others, refine_steps=3)
    assert refined[1].history and not torch.equal(refined[1].w_plus, plain[1].w_plus)
    renamed = EditingVector(loaded.delta, loaded.changes, ["bg", "b", "a"],
                            loaded.generator_fingerprint, loaded.interpreter_fingerprint)  # fmt: skip
    with pytest.raises(EditError, match="made with classes"):
        apply_edit(renamed, g, interp, others)
    other = perturbed(CONFIG, seed=9)
    with pytest.raises(EditError, match="made for generator"):
        apply_edit(loaded, other, interp, others)
    (tmp_path / "v" / "config.json").write_text('{"format": "x", "version": 1}')
    with pytest.raises(EditError, match="expected 'datasetgan-pipeline/editing-vector'"):
        load_vector(tmp_path / "v")


def test_refinement_region_follows_the_vectors_class_changes() -> None:
    """The region is where a label moved the way the vector's changes go (dilated), not every pixel
    of a class it touches; with no such move it falls back to the pixels of those classes."""
    source = torch.zeros(9, 9, dtype=torch.long)  # class 0 everywhere ("background")
    source[2:4, 2:4] = 1
    edited = source.clone()
    edited[2:4, 2:4] = 0  # 1 -> 0: the vector's change
    edited[7, 7] = 2  # 0 -> 2: a leak the vector never asked for
    region = change_region(source, edited, [(1, 0)], 1)
    assert torch.equal(region, dilate(source == 1, 1))
    assert not region[7, 7] and not region[0, 8]
    nothing_moved = change_region(source, source, [(1, 0)], 0)
    assert torch.equal(nothing_moved, (source == 0) | (source == 1))  # the fallback


def test_vector_class_pairs_are_ids_of_its_class_names() -> None:
    vector = EditingVector(
        torch.zeros(1, 2, 3),
        [{"from": "b", "to": "a", "pixels": 4}, {"from": "a", "to": "gone", "pixels": 1}],
        ["a", "b"],
        "g",
        "i",
    )
    assert vector.class_pairs() == [(1, 0)]
