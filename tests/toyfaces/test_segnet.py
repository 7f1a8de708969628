"""The downstream segmentation network: shapes, determinism, it learns, evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from datasetgan.interpreter.validation import mean_iou
from datasetgan.models import precision as precision_module
from datasetgan.models.errors import PrecisionError
from datasetgan.models.precision import bf16_supported
from datasetgan.toyfaces.data import ToyFaces
from datasetgan.toyfaces.segnet import (
    SegNet,
    SegNetConfig,
    SegNetFormatError,
    SegProgress,
    SegTrainConfig,
    class_weights,
    degrade,
    evaluate_segnet,
    load_segnet,
    n_parameters,
    predict,
    save_segnet,
    train_segnet,
    warmup_fraction,
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
    assert out.shape == (2, 12, 64, 64)
    assert net.features(torch.rand(2, 3, 64, 64)).shape == (2, sum(SegNetConfig().widths))
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


@pytest.mark.parametrize("steps", [1, 2, 10, 15])
def test_short_runs_train(steps: int) -> None:
    """OneCycleLR divided by zero when its warm-up ended on step 1 (10 % of 10 steps)."""
    ds = ToyFaces.from_seeds(range(2), image_range="unit")
    train_segnet(ds, config=SegTrainConfig(steps=steps, batch_size=2), model_config=TINY)
    assert warmup_fraction(200) == 0.1 and warmup_fraction(10) == 0.15


class _Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    ds = ToyFaces.from_seeds(range(300, 308), image_range="unit")
    cfg = SegTrainConfig(steps=12, batch_size=3, log_every=1, blur=1.0, noise=0.03)
    whole = train_segnet(ds, config=cfg, model_config=TINY)

    def crash(p: SegProgress) -> None:
        if p.step == 8:
            raise _Stop

    checkpoint = tmp_path / "run.pt"
    with pytest.raises(_Stop):
        train_segnet(ds, config=cfg, model_config=TINY, checkpoint=checkpoint,
                     checkpoint_every=5, progress=crash)  # fmt: skip
    resumed = train_segnet(ds, config=cfg, model_config=TINY, checkpoint=checkpoint)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_save_and_load(tmp_path: Path) -> None:
    net = SegNet(TINY, seed=3).eval()
    loaded = load_segnet(save_segnet(net, tmp_path / "net"))
    x = torch.rand(2, 3, 32, 32)
    assert loaded.config == TINY and torch.equal(net(x), loaded(x))
    (tmp_path / "net" / "config.json").write_text('{"format": "other", "version": 1}')
    with pytest.raises(SegNetFormatError, match="expected 'datasetgan-pipeline/toyfaces-segnet'"):
        load_segnet(tmp_path / "net")
    with pytest.raises(SegNetFormatError, match=r"missing config\.json"):
        load_segnet(tmp_path / "nothing")


def test_degrade_blurs_and_adds_noise_to_about_half() -> None:
    images = torch.rand(64, 3, 16, 16)
    out = degrade(images, blur=1.0, noise=0.05, rng=torch.Generator().manual_seed(0))
    changed = (out - images).abs().flatten(1).amax(1) > 1e-3
    assert out.shape == images.shape and 16 < int(changed.sum()) < 48
    assert out.min() >= 0 and out.max() <= 1
    flat = torch.full((4, 3, 8, 8), 0.5)
    assert torch.allclose(degrade(flat, blur=2.0, noise=0.0, rng=torch.Generator()), flat)


def test_segnet_learns_from_a_few_real_images() -> None:
    train = ToyFaces.from_seeds(range(300, 308), image_range="unit")
    test = ToyFaces.from_seeds(range(400, 416), image_range="unit")
    seen: list[SegProgress] = []
    cfg = SegTrainConfig(steps=80, batch_size=4, log_every=40)
    model = train_segnet(train, config=cfg, model_config=TINY, progress=seen.append)
    assert [p.step for p in seen] == [40, 80] and seen[-1].loss < seen[0].loss
    r = evaluate_segnet(model, test)
    images, labels = test.tensors()
    chance = mean_iou(torch.zeros_like(labels), labels, 12)  # everything background
    # measured 0.121 vs chance 0.041 for this tiny run (1 thread); far from done, but learning
    assert r.miou > 2 * chance.miou and r.per_class[1] > 0.2, r.per_class  # skin
    pred = predict(model, images[:3])
    assert pred.shape == (3, 64, 64) and pred.dtype == torch.int64
    assert np.isfinite(r.accuracy)


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16")
def test_bf16_training_learns_like_fp32() -> None:
    """precision="bf16" (autocast training steps): float32 weights, and it learns as fp32 does."""
    train = ToyFaces.from_seeds(range(300, 308), image_range="unit")
    test = ToyFaces.from_seeds(range(400, 416), image_range="unit")
    scores = {}
    for precision in ("fp32", "bf16"):
        cfg = SegTrainConfig(steps=80, batch_size=4, precision=precision)  # type: ignore[arg-type]
        model = train_segnet(train, config=cfg, model_config=TINY)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        scores[precision] = evaluate_segnet(model, test).miou
    # measured fp32 0.121, bf16 0.121 (1 thread)
    assert abs(scores["bf16"] - scores["fp32"]) < 0.03, scores


def test_bf16_training_refused_without_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "_mkldnn_bf16", lambda: False)
    ds = ToyFaces.from_seeds(range(2), image_range="unit")
    cfg = SegTrainConfig(steps=1, batch_size=2, precision="bf16")
    with pytest.raises(PrecisionError, match=r"'bf16': this CPU has no AVX-512 BF16/AMX"):
        train_segnet(ds, config=cfg, model_config=TINY)


def test_headroom_keeps_one_checkpoint_per_width(tmp_path: Path) -> None:
    """A rerun with another net width trains afresh instead of loading weights of the wrong shape;
    a rerun with the same width reuses its finished checkpoint and gives the same scores."""
    from datasetgan.toyfaces.training import headroom

    cfg = SegTrainConfig(steps=2, batch_size=2, log_every=1)
    narrow, wide = SegNetConfig(widths=(4, 8)), SegNetConfig(widths=(6, 12))
    first = headroom([2], n_test=2, work=tmp_path, config=cfg, model_config=narrow)
    assert headroom([2], n_test=2, work=tmp_path, config=cfg, model_config=wide)[0].n_train == 2
    again = headroom([2], n_test=2, work=tmp_path, config=cfg, model_config=narrow)
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == [
        "checkpoint-2-2-w4-8.pt", "checkpoint-2-2-w6-12.pt"]  # fmt: skip
    assert np.array_equal(first[0].iou.confusion, again[0].iou.confusion)


def test_dense_grad_hands_on_the_same_gradient_densely() -> None:
    """The upsampled decoder input's gradient leaves torch.cat as a strided channel slice; the
    identity in front of the cat makes it dense (upsample's backward is far slower on strided
    gradients) without changing a value."""
    from datasetgan.toyfaces.segnet import _dense_grad

    x = torch.randn(2, 3, 4, 4).contiguous(memory_format=torch.channels_last).requires_grad_()
    skip = torch.randn(2, 5, 4, 4).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(2, 8, 4, 4)
    seen: list[torch.Tensor] = []
    y = _dense_grad(x)
    y.register_hook(lambda g: seen.append(g))
    (torch.cat([y, skip], 1) * weight).sum().backward()
    assert x.grad is not None and torch.equal(x.grad, weight[:, :3])
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    assert not seen[0].is_contiguous(memory_format=torch.channels_last)  # the strided slice
    plain = x.detach()
    assert _dense_grad(plain) is plain and torch.equal(_dense_grad(x), x)
