"""The precision setting: bf16 close to fp32 where the CPU has BF16, refused with a clear message
where it does not, and the bf16 path's transposed convolution equal to PyTorch's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from datasetgan.models import precision as precision_module
from datasetgan.models.errors import PrecisionError
from datasetgan.models.precision import bf16_supported, check_precision, compute_precision
from datasetgan.models.stylegan2 import Generator
from datasetgan.models.stylegan2.layers import _transposed_conv_by_phases
from tests.models.stylegan2.helpers import perturbed

needs_bf16 = pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no BF16")


def test_transposed_conv_by_phases_equals_conv_transpose2d() -> None:
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 5, 7, generator=rng)
    weight = torch.randn(4, 6, 3, 3, generator=rng)  # [C_out, C_in, 3, 3]
    expected = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    got = _transposed_conv_by_phases(x, weight)
    assert got.shape == expected.shape == (2, 4, 11, 15)
    assert (got - expected).abs().max() <= 1e-5


@needs_bf16
def test_bf16_render_is_close_to_fp32() -> None:
    tiny: Generator = perturbed()
    ws = torch.randn(3, tiny.n_latent, tiny.w_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        exact = tiny.synthesize(ws)
        with compute_precision("bf16", "cpu"):
            fast = tiny.synthesize(ws)
    assert fast.image.dtype == torch.float32  # the to-RGB sum stays fp32
    assert fast.features[-1].dtype == torch.bfloat16
    mse = (exact.image - fast.image).square().mean() / 4  # images in [-1, 1] -> range 2
    assert 10 * torch.log10(1 / mse) >= 35.0
    for a, b in zip(exact.features, fast.features, strict=True):
        assert (a - b.float()).abs().max() <= 0.05 * a.abs().max() + 1e-3


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(PrecisionError, match=r"precision: got 'fp16', expected one of"):
        check_precision("fp16", "cpu")


def test_bf16_is_refused_without_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "_mkldnn_bf16", lambda: False)
    with pytest.raises(PrecisionError, match=r"'bf16': this CPU has no AVX-512 BF16/AMX"):
        check_precision("bf16", "cpu")
    with pytest.raises(PrecisionError), compute_precision("bf16", "cpu"):
        pass
    assert check_precision("fp32", "cpu") == "fp32"
