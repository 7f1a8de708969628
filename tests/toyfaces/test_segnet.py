"""The downstream segmentation network: shapes, determinism, it learns, evaluation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from datasetgan.toyfaces.data import ToyFaces
from datasetgan.toyfaces.segnet import (
    SegNet,
    SegNetConfig,
    SegProgress,
    SegTrainConfig,
    class_weights,
    evaluate_segnet,
    n_parameters,
    predict,
    train_segnet,
)

TINY = SegNetConfig(widths=(8, 16, 24))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny convolutions run faster on one thread, and far faster on a shared, busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_forward_shapes_and_refusals() -> None:
    net = SegNet(SegNetConfig())
    assert 50_000 < n_parameters(net) < 500_000
    out = net.eval()(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 8, 64, 64)
    with pytest.raises(ValueError, match="expected multiples of 8"):
        net(torch.rand(1, 3, 60, 64))
    with pytest.raises(ValueError, match=r"expected \[N, 3, H, W\]"):
        net(torch.rand(1, 1, 64, 64))


def test_init_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a, b, c = SegNet(TINY, seed=1), SegNet(TINY, seed=1), SegNet(TINY, seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.head.weight, c.head.weight)


def test_class_weights() -> None:
    labels = torch.tensor([0, 0, 0, 0, 1, -1])
    w = class_weights(labels, 3, "inv_sqrt")
    assert w[2] == 0 and w[1] == pytest.approx(2 * w[0]) and (w[:2].mean()) == pytest.approx(1.0)
    assert torch.equal(class_weights(labels, 3, "none"), torch.ones(3))


def test_training_is_deterministic() -> None:
    ds = ToyFaces.from_seeds(range(4), image_range="unit")
    cfg = SegTrainConfig(steps=3, batch_size=2)
    a = train_segnet(ds, config=cfg, model_config=TINY)
    b = train_segnet(ds, config=cfg, model_config=TINY)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_segnet_learns_from_a_few_real_images() -> None:
    train = ToyFaces.from_seeds(range(300, 308), image_range="unit")
    test = ToyFaces.from_seeds(range(400, 416), image_range="unit")
    seen: list[SegProgress] = []
    cfg = SegTrainConfig(steps=80, batch_size=4, log_every=40)
    model = train_segnet(train, config=cfg, model_config=TINY, progress=seen.append)
    assert [p.step for p in seen] == [40, 80] and seen[-1].loss < seen[0].loss
    r = evaluate_segnet(model, test)
    # chance (all background) is ~0.09; measured 0.78 for this tiny run (1 thread)
    assert r.miou > 0.6, r.per_class
    pred = predict(model, test.tensors()[0][:3])
    assert pred.shape == (3, 64, 64) and pred.dtype == torch.int64
    assert np.isfinite(r.accuracy) and r.accuracy > 0.85
