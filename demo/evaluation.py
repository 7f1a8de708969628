"""Quality measurements of the demo and of benchmarks/quality.py (plain functions, no Prefect).

Every figure is computed from files a run wrote (stores, PNG folders) against ground truth that is
exact in the toy domain: the oracle annotator on generated images, the renderer's masks on real ones.

Shapes: N images, H/W size, K classes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from datasetgan import toyfaces
from datasetgan.interpreter.validation import IoU, confusion_matrix, iou_from_confusion
from datasetgan.storage import EmbeddingStatus, SegmentationDataset, keep_rows, read_fields
from datasetgan.toyfaces.segnet import SegProgress, SegTrainConfig, evaluate_segnet, train_segnet


@dataclass(frozen=True)
class Score:
    """An IoU summary that fits in JSON: mIoU, per-class IoU (NaN: class absent), pixel accuracy, n."""

    miou: float
    per_class: list[float]
    accuracy: float
    n_images: int

    @classmethod
    def of(cls, iou: IoU, n_images: int) -> Score:
        return cls(
            float(iou.miou), [float(v) for v in iou.per_class], float(iou.accuracy), n_images
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Score:
        return cls(
            float(d["miou"]),
            [float(v) for v in d["per_class"]],
            float(d["accuracy"]),
            int(d["n_images"]),
        )


def score(pred: np.ndarray, target: np.ndarray, n_classes: int = toyfaces.K) -> Score:
    """IoU of label maps pred vs target, both int [N, H, W] (or [H, W])."""
    if pred.shape != target.shape:
        raise ValueError(f"pred: got shape {pred.shape}, expected the target's {target.shape}")
    conf = confusion_matrix(pred, target, n_classes)
    n = 1 if pred.ndim == 2 else int(pred.shape[0])
    return Score.of(iou_from_confusion(conf), n)


@dataclass(frozen=True)
class InterpreterQuality:
    """Interpreter labels vs the oracle's on generated images; the same split by uncertainty."""

    all: Score
    kept: Score  # after dropping the `drop` most uncertain
    dropped: Score
    drop: float
    oracle_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "all": self.all.to_dict(),
            "kept": self.kept.to_dict(),
            "dropped": self.dropped.to_dict(),
            "drop": self.drop,
            "oracle_seconds": self.oracle_seconds,
        }


def interpreter_vs_oracle(
    images: np.ndarray, labels: np.ndarray, scores: np.ndarray, *, drop: float = 0.1
) -> InterpreterQuality:
    """images uint8 [N, H, W, 3], interpreter labels [N, H, W], image scores [N] (higher = less
    certain): mIoU against the oracle on all N, on the kept (1 - drop) and on the dropped share."""
    t0 = time.perf_counter()
    oracle = toyfaces.oracle_annotate_batch(images)
    seconds = time.perf_counter() - t0
    kept = keep_rows(scores.astype(np.float32), drop)
    dropped = np.setdiff1d(np.arange(len(scores)), kept)
    return InterpreterQuality(
        all=score(labels, oracle),
        kept=score(labels[kept], oracle[kept]),
        dropped=score(labels[dropped], oracle[dropped])
        if len(dropped)
        else score(labels[:0], oracle[:0]),
        drop=drop,
        oracle_seconds=seconds,
    )


def tensors_dataset(
    images: np.ndarray, masks: np.ndarray
) -> Dataset[tuple[torch.Tensor, torch.Tensor]]:
    """uint8 images [N, H, W, 3] + masks [N, H, W] -> (image [3, H, W] in [0, 1], label int64)."""
    x = toyfaces.to_tensor(images, image_range="unit")
    return TensorDataset(x, torch.from_numpy(masks.astype(np.int64)))  # type: ignore[return-value]


def real_dataset(seeds: Sequence[int]) -> Dataset[tuple[torch.Tensor, torch.Tensor]]:
    """Real renders of the toy domain with their exact masks."""
    images, masks = toyfaces.render_batch(seeds)
    return tensors_dataset(images, masks)


def generated_dataset(
    store: Path, *, drop_uncertain: float = 0.0, n: int | None = None
) -> Dataset[tuple[torch.Tensor, torch.Tensor]]:
    """A generated samples store through the issue-3 reader (``storage.SegmentationDataset``)."""
    ds: Dataset[tuple[torch.Tensor, torch.Tensor]] = SegmentationDataset(
        store, drop_uncertain=drop_uncertain
    )
    if n is not None and n < len(ds):  # type: ignore[arg-type]
        ds = Subset(ds, list(range(n)))
    return ds


@dataclass(frozen=True)
class SegnetResult:
    name: str
    n_train: int
    test: Score
    train_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_train": self.n_train, "test": self.test.to_dict(),
                "train_seconds": self.train_seconds}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegnetResult:
        return cls(
            str(d["name"]), int(d["n_train"]), Score.from_dict(d["test"]), float(d["train_seconds"])
        )


def segnet_quality(
    name: str,
    train: Dataset[tuple[torch.Tensor, torch.Tensor]],
    test: Dataset[tuple[torch.Tensor, torch.Tensor]],
    *,
    config: SegTrainConfig = SegTrainConfig(),
    progress: Callable[[SegProgress], None] | None = None,
) -> SegnetResult:
    """Train the small U-Net on ``train`` only, evaluate it on ``test`` (real images, exact masks)."""
    t0 = time.perf_counter()
    model = train_segnet(train, config=config, progress=progress)
    seconds = time.perf_counter() - t0
    iou = evaluate_segnet(model, test)
    return SegnetResult(name, len(train), Score.of(iou, len(test)), seconds)  # type: ignore[arg-type]


@dataclass(frozen=True)
class EmbeddingQuality:
    """Real images through encoder -> generator features -> interpreter, against exact masks."""

    labels: Score
    mse_before: float  # median reconstruction MSE of the encoder's codes (images in [-1, 1])
    mse_after: float  # after refinement (NaN when not refined)
    lpips_before: float
    lpips_after: float
    n_failed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"labels": self.labels.to_dict()}


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


def embedding_quality(store: Path) -> EmbeddingQuality:
    """Labels stored by the embed flow vs the exact masks of the real images it embedded
    (``toyfaces.write_png_folder`` layout: ``<root>/images/<seed>.png`` beside ``<root>/labels``)."""
    rows = read_fields(store, ("source", "status", "label", "mse_before", "mse_after",
                               "lpips_before", "lpips_after"))  # fmt: skip
    ok = rows["status"] == int(EmbeddingStatus.OK)
    sources = [str(s) for s in rows["source"]]
    masks = np.stack([_exact_mask(Path(s)) for s, good in zip(sources, ok, strict=True) if good])
    return EmbeddingQuality(
        labels=score(rows["label"][ok].astype(np.int64), masks.astype(np.int64)),
        mse_before=_median(rows["mse_before"][ok]),
        mse_after=_median(rows["mse_after"][ok]),
        lpips_before=_median(rows["lpips_before"][ok]),
        lpips_after=_median(rows["lpips_after"][ok]),
        n_failed=int((~ok).sum()),
    )


def _exact_mask(image_path: Path) -> np.ndarray:
    from PIL import Image

    label = image_path.parent.parent / "labels" / image_path.name
    return np.asarray(Image.open(label))


def save_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
