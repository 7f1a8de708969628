"""KID: near zero for one distribution, growing with the gap between two, and refusals."""

from __future__ import annotations

import pytest
import torch

from datasetgan.models.kid import kernel_inception_distance


def _rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_same_distribution_is_near_zero_and_a_shift_is_not() -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.randn(600, 16, generator=g)
    same = torch.randn(600, 16, generator=g)
    near = kernel_inception_distance(real, same, subsets=10, subset_size=300, rng=_rng())
    small = kernel_inception_distance(real, same + 0.2, subsets=10, subset_size=300, rng=_rng())
    large = kernel_inception_distance(real, same + 0.6, subsets=10, subset_size=300, rng=_rng())
    assert abs(near.mean) < 3 * near.std + 1e-3
    assert near.mean < small.mean < large.mean and small.mean > 3 * small.std


def test_unbiased_estimate_matches_a_hand_computed_one() -> None:
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [4.0]])
    k = lambda a, b: (a * b + 1.0) ** 3  # noqa: E731  (F = 1)
    expected = (
        k(0.0, 1.0) * 2 / 2 + k(2.0, 4.0) * 2 / 2 - 2 * (k(0, 2) + k(0, 4) + k(1, 2) + k(1, 4)) / 4
    )
    got = kernel_inception_distance(x, y, subsets=1, subset_size=2, rng=_rng())
    assert got.mean == pytest.approx(expected) and got.std == 0.0


def test_refusals() -> None:
    with pytest.raises(ValueError, match=r"expected \[N, F\], \[M, F\]"):
        kernel_inception_distance(torch.zeros(4, 3), torch.zeros(4, 2), rng=_rng())
    with pytest.raises(ValueError, match="expected >= 2 each"):
        kernel_inception_distance(torch.zeros(1, 3), torch.zeros(4, 3), rng=_rng())
