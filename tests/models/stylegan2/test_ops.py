from __future__ import annotations

import pytest
import torch

from datasetgan.models.stylegan2 import kernels
from datasetgan.models.stylegan2.ops import (
    fused_leaky_relu,
    fused_leaky_relu_native,
    make_blur_kernel,
    upfirdn2d_native,
)


def _upfirdn_loop(
    x: torch.Tensor, k: torch.Tensor, up: int, down: int, pad: tuple[int, int]
) -> torch.Tensor:
    """Direct definition: zero-insert, pad, true convolution, decimate (slow, for checking)."""
    n, c, h, w = x.shape
    big = torch.zeros(n, c, h * up, w * up)
    big[:, :, ::up, ::up] = x
    p0, p1 = pad
    big = torch.nn.functional.pad(big, [p0, p1, p0, p1])
    kh, kw = k.shape
    oh, ow = big.shape[2] - kh + 1, big.shape[3] - kw + 1
    out = torch.zeros(n, c, oh, ow)
    for i in range(oh):
        for j in range(ow):
            window = big[:, :, i : i + kh, j : j + kw]
            out[:, :, i, j] = (window * k.flip(0, 1)).sum((2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(
    ("up", "down", "pad"),
    [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (1, 1)), (2, 2, (0, 0)), (1, 1, (-1, 2))],
)
def test_upfirdn2d_matches_its_definition(up: int, down: int, pad: tuple[int, int]) -> None:
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 7, generator=rng)
    k = torch.randn(4, 4, generator=rng)  # asymmetric: checks the flip
    got = upfirdn2d_native(x, k, up=up, down=down, pad=pad)
    want = _upfirdn_loop(x, k, up, down, pad)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5)


def test_blur_kernel_normalised() -> None:
    k = make_blur_kernel((1, 3, 3, 1), gain=4)
    assert k.shape == (4, 4)
    assert torch.isclose(k.sum(), torch.tensor(4.0))


def test_fused_leaky_relu_inplace_equals_reference() -> None:
    x = torch.randn(2, 5, 3, 3)
    b = torch.randn(5)
    ref = torch.nn.functional.leaky_relu(x + b.view(1, 5, 1, 1), 0.2) * 2**0.5
    assert torch.allclose(fused_leaky_relu(x, b), ref, atol=1e-6)
    assert torch.allclose(fused_leaky_relu_native(x.clone(), b, inplace=True), ref, atol=1e-6)


def test_nothing_compiles_at_import() -> None:
    assert kernels._state["tried"] is False or not torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_kernels_match_native() -> None:
    ext = kernels.load()
    if ext is None:
        pytest.skip("CUDA kernels could not be built here (see log)")
    x = torch.randn(2, 8, 17, 17, device="cuda")
    k = make_blur_kernel((1, 3, 3, 1), gain=4).cuda()
    for up, down, pad in [(2, 1, (2, 1)), (1, 1, (1, 1)), (1, 2, (1, 1))]:
        want = upfirdn2d_native(x, k, up=up, down=down, pad=pad)
        got = ext.upfirdn2d(x, k, up, down, pad[0], pad[1])
        assert torch.allclose(got, want, atol=1e-5)
    b = torch.randn(8, device="cuda")
    assert torch.allclose(
        ext.bias_leaky_relu(x, b, 0.2, 2**0.5), fused_leaky_relu_native(x, b), atol=1e-6
    )
