"""The oracle annotator: labels any toy-face image from its pixels alone.

It stands in for the person who paints masks on generated samples. In version 2 of the domain
colour does not decide the class, so no colour rule can annotate it; the oracle is instead an expert
segmentation net (:mod:`toyfaces.segnet`, wider than the one that measures datasets) trained once
on many real renders with exact masks (seeds from ``ORACLE_FIRST_SEED``, disjoint from every seed
range used for evaluation) and on generator-like degradations of them (blur, noise, colour casts).
Like a person who has seen many faces, it never sees the mask of the image it annotates.

The shipped weights are in ``oracle_net/`` beside this module; ``python -m datasetgan.toyfaces
train-oracle`` makes them again. Its agreement with the exact masks is measured in docs/toyfaces.md.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from datasetgan.toyfaces.domain import K
from datasetgan.toyfaces.segnet import SegNet, SegNetConfig, SegTrainConfig, load_segnet

ORACLE_DIR = Path(__file__).resolve().parent / "oracle_net"
ORACLE_FIRST_SEED = 3_000_000
ORACLE_NET = SegNetConfig(n_classes=K, widths=(24, 48, 96, 192))
ORACLE_TRAINING = SegTrainConfig(
    steps=8000, batch_size=16, lr=3e-3, colour_jitter=0.08, blur=1.0, noise=0.03, log_every=250
)


@functools.lru_cache(maxsize=2)
def load_oracle(folder: Path = ORACLE_DIR) -> SegNet:
    """The oracle's net (cached per folder)."""
    return load_segnet(folder)


def oracle_annotate_batch(images: np.ndarray, *, folder: Path = ORACLE_DIR) -> np.ndarray:
    """images uint8 [N, H, W, 3] -> masks uint8 [N, H, W] (H, W multiples of 8)."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"got images {images.dtype} {images.shape}, expected uint8 [N, H, W, 3]")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    model = load_oracle(folder)
    with torch.no_grad():
        logits = model(x) + model(x.flip(-1)).flip(-1)  # the mirror image agrees on average
    return logits.argmax(1).to(torch.uint8).numpy()


def oracle_annotate(image: np.ndarray, *, folder: Path = ORACLE_DIR) -> np.ndarray:
    """Label a toy-face image from its pixels: image [H, W, 3] uint8 -> mask [H, W] uint8."""
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"got image {image.dtype} {image.shape}, expected uint8 [H, W, 3]")
    return oracle_annotate_batch(image[None], folder=folder)[0]


__all__ = [
    "ORACLE_DIR",
    "ORACLE_FIRST_SEED",
    "ORACLE_NET",
    "ORACLE_TRAINING",
    "load_oracle",
    "oracle_annotate",
    "oracle_annotate_batch",
]
