"""Scoring labels against annotation masks: confusion matrices, per-class IoU, pixel accuracy.

Shapes: K classes, N images, H/W mask size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from datasetgan.interpreter.model import Interpreter
    from datasetgan.models.stylegan2 import Generator
    from datasetgan.models.stylegan2.generator import NoiseMode


@dataclass(frozen=True)
class ValidationScores:
    """iou: per class (None where the class is in neither the masks nor the predictions)."""

    confusion: torch.Tensor  # [K, K] int64, rows = annotation, columns = prediction
    iou: tuple[float | None, ...]
    miou: float | None
    pixel_accuracy: float | None


def confusion_matrix(labels: torch.Tensor, masks: torch.Tensor, n_classes: int) -> torch.Tensor:
    """[K, K] counts over annotated pixels (mask >= 0); labels and masks [N, H, W] (or any equal shape)."""
    valid = masks >= 0
    idx = masks[valid].long() * n_classes + labels[valid].long()
    return torch.bincount(idx.cpu(), minlength=n_classes * n_classes).view(n_classes, n_classes)


def iou_report(confusion: torch.Tensor) -> tuple[float | None, ...]:
    """Per-class IoU = TP / (TP + FP + FN) from a [K, K] confusion matrix."""
    tp = confusion.diag().double()
    denom = confusion.sum(0).double() + confusion.sum(1).double() - tp
    return tuple(
        float(t / d) if d > 0 else None for t, d in zip(tp.tolist(), denom.tolist(), strict=True)
    )


def scores_from_confusion(confusion: torch.Tensor) -> ValidationScores:
    iou = iou_report(confusion)
    defined = [v for v in iou if v is not None]
    total = int(confusion.sum())
    return ValidationScores(
        confusion=confusion,
        iou=iou,
        miou=sum(defined) / len(defined) if defined else None,
        pixel_accuracy=float(confusion.diag().sum()) / total if total else None,
    )


@torch.no_grad()
def score_images(
    interpreter: Interpreter,
    generator: Generator,
    ws: torch.Tensor,
    masks: Sequence[torch.Tensor],
    *,
    noise_mode: NoiseMode = "const",
) -> ValidationScores:
    """Render W+ codes ws [N, L, D] one by one, label them (fused), compare with masks [H, W] each."""
    k = interpreter.n_classes
    confusion = torch.zeros(k, k, dtype=torch.int64)
    for i, mask in enumerate(masks):
        out = generator.synthesize(ws[i : i + 1], noise_mode=noise_mode, taps="all")
        labels = interpreter.label(out.features).labels[0]
        confusion += confusion_matrix(labels, mask.to(labels.device), k)
    return scores_from_confusion(confusion)
