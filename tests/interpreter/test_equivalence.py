"""Buffer vs fused vs DatasetGAN-style reference: the same features, probabilities and labels."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from datasetgan.interpreter import (
    EnsembleConfig,
    FeatureBuffer,
    FeatureConfig,
    FusedLabeller,
    PixelEnsemble,
    TapGrid,
    gather_pixels,
    label_buffer,
    reference_label,
)
from datasetgan.interpreter.fused import CUDA_TILE_PIXELS, DEFAULT_TILE_PIXELS, default_tile_pixels
from tests.interpreter.helpers import render, threads, tiny_generator

CONFIGS = [
    FeatureConfig(),
    FeatureConfig(mode="nearest"),
    FeatureConfig(size=48, crop=(3, 5, 40, 37)),
    FeatureConfig(size=24),
    FeatureConfig(size=64, mode="nearest", crop=(0, 8, 56, 48)),
]


def _reference_buffer(
    feats: list[torch.Tensor], cfg: FeatureConfig, resolution: int
) -> torch.Tensor:
    size = cfg.frame_size(resolution)
    kw = {"align_corners": False} if cfg.mode == "bilinear" else {}
    out = torch.cat([F.interpolate(f, size=(size, size), mode=cfg.mode, **kw) for f in feats], 1)
    if cfg.crop is not None:
        t, left, h, w = cfg.crop
        out = out[:, :, t : t + h, left : left + w]
    return out


def _ensemble(channels: int, k: int = 5, m: int = 4, seed: int = 1) -> PixelEnsemble:
    """An ensemble with non-trivial BatchNorm statistics, in eval mode."""
    ens = PixelEnsemble(
        channels, k, config=EnsembleConfig(n_members=m), rng=torch.Generator().manual_seed(seed)
    )
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, b in ens.named_buffers():
            b.copy_(torch.rand(b.shape, generator=g) * (1.0 if name.endswith("var") else 0.3) + 0.5)
        for p in ens.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return ens.eval()


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threads(1):
        yield


@pytest.fixture(scope="module")
def taps() -> list[torch.Tensor]:
    return render(tiny_generator(), [3, 4, 5])[1]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_buffer_equals_interpolate_and_cat(taps: list[torch.Tensor], cfg: FeatureConfig) -> None:
    g = tiny_generator()
    buf = FeatureBuffer(
        g.tap_layout, resolution=g.resolution, batch_size=4, config=cfg, tile_rows=7
    )
    got = buf.fill(taps)
    ref = _reference_buffer(taps, cfg, g.resolution)
    assert got.shape == ref.shape == (3, g.feature_channels, *cfg.output_shape(g.resolution))
    torch.testing.assert_close(got, ref, atol=2e-6, rtol=1e-6)


def test_buffer_is_reused_and_never_reallocated(taps: list[torch.Tensor]) -> None:
    g = tiny_generator()
    buf = FeatureBuffer(g.tap_layout, resolution=g.resolution, batch_size=3, dtype=torch.float16)
    ptr = buf.buffer.data_ptr()
    first = buf.fill(taps).clone()
    second = buf.fill([f[:2] for f in taps])
    assert (
        buf.buffer.data_ptr() == ptr and second.data_ptr() == ptr and second.dtype == torch.float16
    )
    torch.testing.assert_close(second, first[:2])
    torch.testing.assert_close(
        first.float(), _reference_buffer(taps, FeatureConfig(), 32), atol=1e-2, rtol=1e-3
    )
    with pytest.raises(ValueError, match="at most 3"):
        buf.fill([torch.cat([f, f]) for f in taps])
    with pytest.raises(ValueError, match="expected 7"):
        buf.fill(taps[:-1])


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_gather_equals_buffer_at_pixels(taps: list[torch.Tensor], cfg: FeatureConfig) -> None:
    g = tiny_generator()
    grid = TapGrid.build(g.tap_layout, g.resolution, cfg)
    full = FeatureBuffer(g.tap_layout, resolution=g.resolution, batch_size=3, config=cfg).fill(taps)
    gen = torch.Generator().manual_seed(0)
    ys = torch.randint(grid.height, (50,), generator=gen)
    xs = torch.randint(grid.width, (50,), generator=gen)
    got = gather_pixels(taps, grid, 1, ys, xs, torch.empty(50, grid.channels))
    torch.testing.assert_close(got, full[1, :, ys, xs].t(), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("tile", [1, 150, 10_000])
def test_fused_equals_buffer_and_reference(
    taps: list[torch.Tensor], cfg: FeatureConfig, tile: int
) -> None:
    g = tiny_generator()
    grid = TapGrid.build(g.tap_layout, g.resolution, cfg)
    ens = _ensemble(grid.channels)
    maps = ("probs", "uncertainty")
    fused = FusedLabeller(ens.fold(), grid, tile_pixels=tile).label(taps, maps=maps)
    buf = FeatureBuffer(g.tap_layout, resolution=g.resolution, batch_size=3, config=cfg).fill(taps)
    buffered = label_buffer(buf, ens.fold(), maps=maps, tile_pixels=tile)
    ref = reference_label(taps, ens, resolution=g.resolution, config=cfg, maps=maps)
    for other in (buffered, ref):
        assert other.probs is not None and fused.probs is not None
        assert other.uncertainty is not None and fused.uncertainty is not None
        assert (fused.probs - other.probs).abs().max() <= 1e-4
        assert torch.equal(fused.labels, other.labels)
        torch.testing.assert_close(fused.uncertainty, other.uncertainty, atol=1e-4, rtol=0)
        torch.testing.assert_close(fused.score, other.score, atol=1e-4, rtol=0)
    assert fused.labels.shape == (3, *cfg.output_shape(g.resolution))
    assert torch.allclose(fused.probs.sum(1), torch.ones(()), atol=1e-5)


def test_maps_are_optional_and_checked(taps: list[torch.Tensor]) -> None:
    g = tiny_generator()
    grid = TapGrid.build(g.tap_layout, g.resolution, FeatureConfig())
    lab = FusedLabeller(_ensemble(grid.channels).fold(), grid)
    res = lab.label(taps)
    assert res.probs is None and res.uncertainty is None and res.score.shape == (3,)
    with pytest.raises(ValueError, match="maps"):
        lab.label(taps, maps=("entropy",))
    with pytest.raises(ValueError, match=r"tap convs\.0"):
        lab.label([taps[0], taps[0], *taps[2:]])


def test_batched_ensemble_equals_datasetgan_members() -> None:
    ens = _ensemble(40, k=3, m=3)
    x = torch.randn(3, 17, 40, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = ens(x)
        for m in range(3):
            torch.testing.assert_close(logits[m], ens.member(m)(x[m]), atol=1e-5, rtol=1e-5)
        ens.train()
        train_logits = ens(x)
        for m in range(3):
            seq = ens.member(m).train()
            torch.testing.assert_close(train_logits[m], seq(x[m]), atol=1e-5, rtol=1e-5)


def test_folded_head_equals_eval_forward() -> None:
    ens = _ensemble(40, k=6, m=3)
    folded = ens.fold()
    x = torch.randn(25, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = torch.log_softmax(ens(x.expand(3, -1, -1)), -1)  # [M, P, K]
        got = folded.head(torch.addmm(folded.b1, x, folded.w1.t()))  # [M, K, P]
    torch.testing.assert_close(got.transpose(1, 2), expected, atol=1e-5, rtol=1e-5)


def test_wide_head_from_32_classes() -> None:
    assert EnsembleConfig().widths(31) == (128, 32)
    assert EnsembleConfig().widths(32) == (256, 128)
    assert PixelEnsemble(10, 40, config=EnsembleConfig(n_members=2)).w2.shape == (2, 128, 256)


@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=str)
def test_bf16_taps_get_a_bf16_first_layer_close_to_fp32(
    taps: list[torch.Tensor], cfg: FeatureConfig
) -> None:
    """precision="bf16" renders bf16 taps; the fused labeller projects them in bf16 and accumulates
    in fp32: probabilities stay close to the fp32 labels of the same (bf16-rounded) taps."""
    g = tiny_generator()
    grid = TapGrid.build(g.tap_layout, g.resolution, cfg)
    lab = FusedLabeller(_ensemble(grid.channels).fold(), grid, tile_pixels=150)
    low = [t.bfloat16() for t in taps]
    exact = lab.label([t.float() for t in low], maps=("probs",))
    fast = lab.label(low, maps=("probs",))
    assert exact.probs is not None and fast.probs is not None
    assert (fast.probs - exact.probs).abs().max() <= 0.02
    assert (fast.labels == exact.labels).float().mean() >= 0.99


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fused_labels_on_cuda_equal_the_cpu_ones() -> None:
    """The fused labeller and the reference run where their inputs are; on a GPU they give the
    CPU's labels (probabilities to float tolerance)."""
    g = tiny_generator()
    _, feats = render(g, [0, 1])
    grid = TapGrid.build(g.tap_layout, g.resolution, FeatureConfig())
    ens = _ensemble(grid.channels)
    cpu = FusedLabeller(ens.fold(), grid).label(feats, maps=("probs",))
    ens_gpu, feats_gpu = copy.deepcopy(ens).cuda(), [f.cuda() for f in feats]
    gpu = FusedLabeller(ens_gpu.fold(), grid.to("cuda")).label(feats_gpu, maps=("probs",))
    ref = reference_label(feats_gpu, ens_gpu, resolution=g.resolution)
    assert (ref.labels.cpu() == cpu.labels).float().mean() > 0.999
    assert gpu.probs is not None and cpu.probs is not None
    assert torch.allclose(gpu.probs.cpu(), cpu.probs, atol=1e-4)
    assert (gpu.labels.cpu() == cpu.labels).float().mean() > 0.999


def test_the_default_tile_follows_the_device() -> None:
    """CPUs keep cache-sized tiles; GPUs label a whole 512 px image per tile (launch-bound)."""
    g = tiny_generator()
    grid = TapGrid.build(g.tap_layout, g.resolution, FeatureConfig())
    assert FusedLabeller(_ensemble(grid.channels).fold(), grid).tile_pixels == DEFAULT_TILE_PIXELS
    assert default_tile_pixels("cpu") == DEFAULT_TILE_PIXELS == 4096
    assert default_tile_pixels("cuda:0") == CUDA_TILE_PIXELS == 512 * 512
    explicit = FusedLabeller(_ensemble(grid.channels).fold(), grid, tile_pixels=100)
    assert explicit.tile_pixels == 100
