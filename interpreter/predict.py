"""From member probabilities to labels, uncertainty and image scores (shared by every labelling path).

- label: majority vote over the M members; ties broken by the mean probability (then the lower class);
- mean probabilities over members;
- per-pixel uncertainty: mutual information of the ensemble, H(mean_m p_m) - mean_m H(p_m) (nats);
- image score: mean of the top ``SCORE_FRACTION`` of its pixel uncertainties (DatasetGAN's score).

Shapes: M members, P pixels, K classes, N images, H/W image size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

MapName = Literal["probs", "uncertainty"]
MAP_NAMES = ("probs", "uncertainty")
SCORE_FRACTION = 0.1


@dataclass
class LabelResult:
    """What labelling N images returns.

    labels: [N, H, W] int64 class indices; score: [N] float32 (higher = less certain);
    probs: [N, K, H, W] mean member probabilities (when asked for with ``maps=("probs",)``);
    uncertainty: [N, H, W] per-pixel mutual information (when asked for).
    """

    labels: torch.Tensor
    score: torch.Tensor
    probs: torch.Tensor | None = None
    uncertainty: torch.Tensor | None = None


def summarize_members(logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Member log-probabilities [M, K, P] -> (labels [P] int64, mean probabilities [K, P],
    mutual information [P] in nats)."""
    m, k, p = logp.shape
    probs = logp.exp()
    mean = probs.mean(0)
    votes = torch.zeros(k, p, dtype=torch.float64, device=logp.device)
    ones = torch.ones(1, 1, dtype=torch.float64, device=logp.device).expand(m, p)
    votes.scatter_add_(0, argmax_classes(logp), ones)
    labels = argmax_classes(votes + 0.5 * mean.double())  # a vote outweighs any probability gap
    entropy_of_mean = -torch.xlogy(mean, mean).sum(0)
    mean_entropy = -(probs * logp).sum(1).mean(0)
    return labels, mean, (entropy_of_mean - mean_entropy).clamp_(min=0.0)


def argmax_classes(x: torch.Tensor) -> torch.Tensor:
    """Index of the largest of the K entries along axis -2 of [..., K, P] (first one on ties), as
    K vectorised comparisons along the contiguous pixels (faster than a strided argmax)."""
    best = x.select(-2, 0).clone()
    index = torch.zeros(best.shape, dtype=torch.int64, device=x.device)
    for k in range(1, x.shape[-2]):
        value = x.select(-2, k)
        better = value > best
        best = torch.where(better, value, best)
        index.masked_fill_(better, k)
    return index


def image_scores(uncertainty: torch.Tensor, fraction: float = SCORE_FRACTION) -> torch.Tensor:
    """uncertainty [N, H, W] (or [N, P]) -> [N]: mean of each image's top ``fraction`` of pixels."""
    flat = uncertainty.reshape(uncertainty.shape[0], -1)
    k = max(1, math.ceil(fraction * flat.shape[1]))
    return flat.float().topk(k, dim=1, sorted=False).values.mean(1)


def check_maps(maps: Sequence[str]) -> tuple[str, ...]:
    bad = [m for m in maps if m not in MAP_NAMES]
    if bad or isinstance(maps, str):
        raise ValueError(f"maps: got {maps!r}, expected a tuple drawn from {MAP_NAMES}")
    return tuple(maps)


class ResultWriter:
    """Preallocated outputs of one labelling call, filled tile by tile."""

    def __init__(
        self,
        n: int,
        height: int,
        width: int,
        n_classes: int,
        maps: Sequence[str],
        device: torch.device,
    ) -> None:
        self.maps = check_maps(maps)
        self.labels = torch.empty(n, height, width, dtype=torch.int64, device=device)
        self.uncertainty = torch.empty(n, height, width, dtype=torch.float32, device=device)
        self.probs = (
            torch.empty(n, n_classes, height, width, dtype=torch.float32, device=device)
            if "probs" in self.maps
            else None
        )

    def write(self, logp: torch.Tensor, index: int, y0: int, y1: int, *, order: str = "yx") -> None:
        """Member log-probabilities [M, K, P] of rows y0..y1-1 of image ``index``; pixel order "yx"
        (row-major, P = T*W) or "xy" (column-major, P = W*T)."""
        labels, mean, mi = summarize_members(logp)
        t, w = y1 - y0, self.labels.shape[2]
        if order == "xy":
            self.labels[index, y0:y1] = labels.view(w, t).t()
            self.uncertainty[index, y0:y1] = mi.view(w, t).t()
            if self.probs is not None:
                self.probs[index, :, y0:y1] = mean.view(-1, w, t).transpose(1, 2)
        else:
            self.labels[index, y0:y1] = labels.view(t, w)
            self.uncertainty[index, y0:y1] = mi.view(t, w)
            if self.probs is not None:
                self.probs[index, :, y0:y1] = mean.view(-1, t, w)

    def result(self) -> LabelResult:
        return LabelResult(
            labels=self.labels,
            score=image_scores(self.uncertainty),
            probs=self.probs,
            uncertainty=self.uncertainty if "uncertainty" in self.maps else None,
        )
