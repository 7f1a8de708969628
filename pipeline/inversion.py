"""Annotated real images into training data for the interpreter (HandsOff): pair images with masks,
invert the images into W+ (encoder, ReStyle passes when the encoder has them, optional refinement
with a pull towards the encoder's code), skip and record the files that fail, bring the masks
to the label size, and (``max_pixel_error``) leave out of training the mask pixels where the
reconstruction does not show what the real image shows.

Shapes: N images, L/D W+ code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from datasetgan.interpreter.annotations import AnnotationSet
from datasetgan.interpreter.real import pair_real_images, real_annotations
from datasetgan.models.embedding import EmbedConfig, embed_files, load_embedding_models
from datasetgan.models.projector import RefineConfig
from datasetgan.models.stylegan2 import Generator
from datasetgan.pipeline import progress
from datasetgan.pipeline.errors import InputError
from datasetgan.pipeline.params import TrainInterpreterParams


@dataclass
class RealImages:
    """What inversion gave: the annotation set, codes by id, one row per file, codes [N, L, D]."""

    annotations: AnnotationSet
    latents: dict[int, torch.Tensor]
    rows: list[dict[str, Any]] = field(default_factory=list)
    codes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))


def invert_real_images(p: TrainInterpreterParams, generator: Generator) -> RealImages:
    """Embed ``p.real_images`` with ``p.encoder`` (and refinement), pair with their masks."""
    assert p.real_images is not None and p.real_masks is not None and p.encoder is not None
    names = p.real_class_names()
    pairs = pair_real_images(p.real_images, p.real_masks, n_classes=len(names))
    models = load_embedding_models(p.encoder, p.generator, lpips_trunk=p.lpips_trunk)
    lpips = 0.0 if models.lpips is None else 1.0
    refine = RefineConfig(steps=p.refine_steps, lpips_lambda=lpips, pull_lambda=p.latent_pull)
    keep = "reconstructions" if p.max_pixel_error is not None else "none"
    config = EmbedConfig(refine=p.refine, refine_config=refine, keep_images=keep)
    done = embed_files([str(q.image) for q in pairs], models.encoder, generator, config=config,
                       lpips=models.lpips, rng=torch.Generator().manual_seed(p.seed),
                       progress=lambda k, n: progress.report("real images inverted", k, n))  # fmt: skip
    ok = [pairs[i] for i in done.indices]
    rows: list[dict[str, Any]] = [{"image": str(q.image), "mask": str(q.mask), "id": None, "error": f.reason}
            for q, f in zip([pairs[i] for i in done.failure_indices], done.failures, strict=True)]  # fmt: skip
    if not ok:
        raise InputError(
            p.real_images, f"none of {len(pairs)} images could be inverted", "readable images"
        )
    codes = [torch.from_numpy(done.ws[k]) for k in range(len(ok))]
    unlike = None
    if p.max_pixel_error is not None:
        assert done.inputs is not None and done.reconstructions is not None
        unlike = list(pixel_error(done.inputs, done.reconstructions) > p.max_pixel_error)
    ann, latents = real_annotations(ok, codes, class_names=names, label_size=generator.resolution,
                                    folder=p.real_masks, leave_out=unlike)  # fmt: skip
    for k, (q, item) in enumerate(zip(ok, ann.items, strict=True)):
        rows.append({"image": str(q.image), "mask": str(q.mask), "id": item.sample_id, "code_row": k,
                     "mse_encoder": float(done.mse_before[k]), "mse": float(done.mse_after[k]),
                     "lpips": float(done.lpips_after[k]),
                     "left_out": None if unlike is None else float(unlike[k].mean())})  # fmt: skip
    return RealImages(ann, latents, rows, np.asarray(done.ws, dtype=np.float32))


def pixel_error(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """uint8 [N, R, R, 3] twice -> float32 [N, R, R]: mean absolute difference over RGB, in [0, 1]."""
    diff = np.abs(images.astype(np.float32) - reconstructions.astype(np.float32))
    return diff.mean(-1) / 255.0
