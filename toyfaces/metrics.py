"""Segmentation quality: confusion matrices, per-class IoU and mIoU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def _np(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def confusion_matrix(pred: ArrayLike, target: ArrayLike, n_classes: int) -> np.ndarray:
    """[K, K] int64 counts, rows = target class, columns = predicted class.

    pred, target: integer labels of the same shape (any); target values outside 0..K-1 (e.g. -1, an
    ignore label) are left out; predictions outside 0..K-1 are refused.
    """
    p, t = _np(pred).astype(np.int64).ravel(), _np(target).astype(np.int64).ravel()
    if p.shape != t.shape:
        raise ValueError(
            f"got pred {_np(pred).shape}, target {_np(target).shape}, expected equal shapes"
        )
    keep = (t >= 0) & (t < n_classes)
    p, t = p[keep], t[keep]
    if p.size and (p.min() < 0 or p.max() >= n_classes):
        raise ValueError(f"got predicted classes {p.min()}..{p.max()}, expected 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


@dataclass(frozen=True)
class IoU:
    """Per-class IoU [K] (NaN for a class absent from both prediction and target), their mean over
    present classes, pixel accuracy, and the confusion matrix it came from."""

    per_class: np.ndarray
    miou: float
    accuracy: float
    confusion: np.ndarray

    def as_dict(self, class_names: tuple[str, ...] | None = None) -> dict[str, float]:
        names = class_names or tuple(str(k) for k in range(len(self.per_class)))
        out = {"miou": self.miou, "accuracy": self.accuracy}
        out.update({f"iou_{n}": float(v) for n, v in zip(names, self.per_class, strict=True)})
        return out


def iou_from_confusion(confusion: np.ndarray) -> IoU:
    """IoU of each class = TP / (TP + FP + FN); classes absent from both sides are NaN and skipped."""
    c = confusion.astype(np.float64)
    tp = np.diag(c)
    union = c.sum(0) + c.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)
    present = union > 0
    miou = float(per_class[present].mean()) if present.any() else float("nan")
    total = c.sum()
    accuracy = float(tp.sum() / total) if total > 0 else float("nan")
    return IoU(per_class=per_class, miou=miou, accuracy=accuracy, confusion=confusion)


def mean_iou(pred: ArrayLike, target: ArrayLike, n_classes: int) -> IoU:
    """IoU of `pred` against `target` over all their pixels together (dataset-level, not per image)."""
    return iou_from_confusion(confusion_matrix(pred, target, n_classes))
