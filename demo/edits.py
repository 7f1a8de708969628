"""Edits a user of the face domain would want, as rules on a label map: the target map and whether
the edit applies to a sample. Shared by the demo's editing figure and benchmarks/editing.py.

- ``mouth``: enlarge the mouth: lips grown by 1 px into the skin around them;
- ``hat``: remove the hat: its pixels become background;
- ``hair``: change the hair outline: hair grown by 3 px into the background beside and below it.

Shapes: H/W label size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from datasetgan.toyfaces.domain import BG, HAIR, HAT, LIPS, SKIN, K


def _grow(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    k = 2 * pixels + 1
    return F.max_pool2d(mask[None, None].float(), k, stride=1, padding=pixels)[0, 0] > 0


def _mouth(labels: torch.Tensor) -> torch.Tensor:
    target = labels.clone()
    target[_grow(labels == LIPS, 1) & (labels == SKIN)] = LIPS
    return target


def _hat(labels: torch.Tensor) -> torch.Tensor:
    target = labels.clone()
    target[labels == HAT] = BG
    return target


def _hair(labels: torch.Tensor) -> torch.Tensor:
    target = labels.clone()
    target[_grow(labels == HAIR, 3) & (labels == BG)] = HAIR
    return target


@dataclass(frozen=True)
class EditRule:
    name: str
    title: str
    target: Callable[[torch.Tensor], torch.Tensor]
    needs: int  # the class that must be in the sample
    min_pixels: int  # ... with at least this many pixels

    def applies(self, labels: torch.Tensor) -> bool:
        changed = int((self.target(labels) != labels).sum())
        return int((labels == self.needs).sum()) >= self.min_pixels and changed >= 8


RULES = (
    EditRule("mouth", "enlarge the mouth", _mouth, LIPS, 6),
    EditRule("hat", "remove the hat", _hat, HAT, 30),
    EditRule("hair", "change the hair outline", _hair, HAIR, 60),
)


def region_iou(
    predicted: torch.Tensor, target: torch.Tensor, region: torch.Tensor, n_classes: int
) -> float:
    """Mean IoU over the classes present inside ``region`` (in either map) of two label maps."""
    p, t = predicted[region].long(), target[region].long()
    ious = []
    for k in range(n_classes):
        union = int(((p == k) | (t == k)).sum())
        if union:
            ious.append(int(((p == k) & (t == k)).sum()) / union)
    return sum(ious) / len(ious) if ious else float("nan")


def score_edit(
    image: torch.Tensor, source_image: torch.Tensor, target: torch.Tensor, labels: torch.Tensor
) -> tuple[float, float, np.ndarray]:
    """One edit judged by the oracle (never the interpreter): (IoU of the oracle's labels of the
    edited image [1, 3, H, W] with ``target`` [H, W] inside the region, mean absolute pixel change
    outside it with images in [0, 1], the oracle's labels [H, W]). The region is the target's
    changed pixels (against the source's labels [H, W]) dilated by 2, the edits' default region."""
    from datasetgan.editing.edit import dilate
    from datasetgan.models.imaging import to_uint8
    from datasetgan.toyfaces import oracle_annotate

    region = dilate(target != labels, 2)
    oracle = torch.from_numpy(oracle_annotate(to_uint8(image)[0]).astype(np.int64))
    iou = region_iou(oracle, target, region, K)
    change = (image - source_image).abs().mean(1)[0] / 2  # [H, W]; [-1, 1] -> [0, 1]
    outside = change[~region]
    return iou, float(outside.mean()) if outside.numel() else 0.0, oracle.numpy()
