"""The one implementation of segmentation scores (confusion matrix, per-class IoU, mIoU, pixel
accuracy), used by interpreter training, the toy domain's segnet and oracle, and the demo.

Shapes: K classes, N images, H/W mask size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from datasetgan.interpreter.model import Interpreter
    from datasetgan.models.stylegan2 import Generator
    from datasetgan.models.stylegan2.generator import NoiseMode


ArrayLike = np.ndarray | torch.Tensor


def _flat_ints(x: ArrayLike) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.reshape(-1).long()


def confusion_matrix(pred: ArrayLike, target: ArrayLike, n_classes: int) -> torch.Tensor:
    """[K, K] int64 counts, rows = target class, columns = predicted class (numpy or torch, any
    equal shapes). Target values outside 0..K-1 (e.g. -1, "not annotated") are left out;
    predictions outside 0..K-1 are refused."""
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(
            f"got pred {tuple(pred.shape)}, target {tuple(target.shape)}, expected equal shapes"
        )
    p, t = _flat_ints(pred), _flat_ints(target)
    keep = (t >= 0) & (t < n_classes)
    p, t = p[keep], t[keep]
    if p.numel() and (int(p.min()) < 0 or int(p.max()) >= n_classes):
        raise ValueError(
            f"got predicted classes {int(p.min())}..{int(p.max())}, expected 0..{n_classes - 1}"
        )
    return torch.bincount(t * n_classes + p, minlength=n_classes * n_classes).view(
        n_classes, n_classes
    )


@dataclass(frozen=True)
class IoU:
    """Per-class IoU [K] = TP / (TP + FP + FN) (NaN for a class absent from both prediction and
    target), their mean over present classes, pixel accuracy (NaN with no pixels), the confusion."""

    per_class: np.ndarray
    miou: float
    accuracy: float
    confusion: np.ndarray

    def as_dict(self, class_names: Sequence[str] | None = None) -> dict[str, float]:
        names = class_names or tuple(str(k) for k in range(len(self.per_class)))
        out = {"miou": self.miou, "accuracy": self.accuracy}
        out.update({f"iou_{n}": float(v) for n, v in zip(names, self.per_class, strict=True)})
        return out


def iou_from_confusion(confusion: ArrayLike) -> IoU:
    """IoU of each class from a [K, K] confusion matrix (see :class:`IoU`)."""
    c = confusion.cpu().numpy() if isinstance(confusion, torch.Tensor) else np.asarray(confusion)
    c = c.astype(np.float64)
    tp = np.diag(c)
    union = c.sum(0) + c.sum(1) - tp
    present = union > 0
    per_class = np.full(len(tp), np.nan)
    per_class[present] = tp[present] / union[present]
    miou = float(per_class[present].mean()) if present.any() else float("nan")
    total = c.sum()
    accuracy = float(tp.sum() / total) if total > 0 else float("nan")
    return IoU(per_class=per_class, miou=miou, accuracy=accuracy, confusion=c.astype(np.int64))


def mean_iou(pred: ArrayLike, target: ArrayLike, n_classes: int) -> IoU:
    """IoU of ``pred`` against ``target`` over all their pixels together (dataset-level)."""
    return iou_from_confusion(confusion_matrix(pred, target, n_classes))


@dataclass(frozen=True)
class ValidationScores:
    """The interpreter's validation figures; iou: per class (None where the class is in neither the
    masks nor the predictions), as JSON-able floats."""

    confusion: torch.Tensor  # [K, K] int64, rows = annotation, columns = prediction
    iou: tuple[float | None, ...]
    miou: float | None
    pixel_accuracy: float | None


def scores_from_confusion(confusion: torch.Tensor) -> ValidationScores:
    r = iou_from_confusion(confusion)
    return ValidationScores(
        confusion=confusion,
        iou=tuple(None if np.isnan(v) else float(v) for v in r.per_class),
        miou=None if np.isnan(r.miou) else r.miou,
        pixel_accuracy=None if np.isnan(r.accuracy) else r.accuracy,
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
