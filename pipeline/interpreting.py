"""train_interpreter's steps as plain functions: check the annotations, fit and save, report.

Shapes: N annotated images, H/W image size, K classes, L/D W+ code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasetgan.interpreter import (
    EnsembleConfig,
    TrainConfig,
    TrainProgress,
    latents_from_store,
    load_annotations,
    load_interpreter,
    rank_candidates,
    train_interpreter,
)
from datasetgan.interpreter.annotations import AnnotationSet
from datasetgan.interpreter.real import REAL_FIRST_ID, merge
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.imaging import to_uint8, write_preview
from datasetgan.models.runtime import tune_cpu_allocator
from datasetgan.models.stylegan2 import Generator, load_generator
from datasetgan.pipeline import progress
from datasetgan.pipeline.errors import ModelMismatchError
from datasetgan.pipeline.inversion import RealImages, invert_real_images
from datasetgan.pipeline.params import TrainInterpreterParams
from datasetgan.storage import ShardedStore, default_palette

REPORT_FILE = "report.json"
PREVIEW_IMAGES = 4


def check_annotations(p: TrainInterpreterParams) -> dict[str, Any]:
    """Refuse, before training, a samples store drawn by another generator (the masks themselves
    were checked when ``p`` was built: :func:`datasetgan.pipeline.params.check_masks`)."""
    g = load_generator(p.generator)
    out: dict[str, Any] = {"annotated": 0, "ids": [], "class_names": []}
    if p.samples is not None and p.annotations is not None:
        store = ShardedStore.open(p.samples)
        recorded = store.provenance.fingerprints.get("generator")
        actual = state_dict_sha256(g)
        if recorded != actual:
            raise ModelMismatchError(
                f"samples {p.samples}",
                f"drawn with generator {str(recorded)[:16]}..., but {p.generator} is {actual[:16]}...",
                "the generator the annotated samples came from",
            )
        ann = load_annotations(p.annotations, shape=(g.resolution, g.resolution))
        out = {"annotated": len(ann), "ids": list(ann.ids), "class_names": list(ann.class_names)}
    if p.real_images is not None:
        out["real_images"] = len(list(p.real_images.iterdir()))
    return out


def fit(p: TrainInterpreterParams) -> dict[str, Any]:
    """Train the ensemble, save it to ``p.out`` with ``report.json``; returns the report (JSON-able).
    Real images are inverted first; their codes, files and reconstruction errors are kept beside
    the interpreter (``real_codes.npy``, ``report.json``'s ``real_images``)."""
    tune_cpu_allocator()
    if p.threads:
        torch.set_num_threads(p.threads)
    config = TrainConfig(
        ensemble=EnsembleConfig(n_members=p.members),
        seed=p.seed,
        pixels_per_image=p.pixels_per_image,
        val_fraction=p.val_fraction,
        batch_size=p.batch_size,
        learning_rate=p.learning_rate,
        max_steps=p.max_steps,
        eval_every=p.eval_every,
        precision=p.precision,
    )
    g = load_generator(p.generator)
    ann, latents, real = training_set(p, g)
    interp, report = train_interpreter(g, ann, latents, config, progress=_progress)
    interp.save(p.out)
    data = report.to_dict() | {"config": config.to_dict(), "interpreter": str(p.out)}
    if real is not None:
        data["real_images"] = real.rows
        np.save(p.out / "real_codes.npy", real.codes)
    (p.out / REPORT_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def training_set(
    p: TrainInterpreterParams, g: Generator
) -> tuple[AnnotationSet, dict[int, torch.Tensor], RealImages | None]:
    """The annotated generated samples and/or real images, with their W+ codes by id."""
    sets, latents = [], {}
    if p.annotations is not None and p.samples is not None:
        ann = load_annotations(p.annotations, shape=(g.resolution, g.resolution))
        sets.append(ann)
        latents.update(latents_from_store(p.samples, ann.ids))
    real = None
    if p.real_images is not None and p.real_masks is not None and p.encoder is not None:
        real = invert_real_images(p, g)
        sets.append(real.annotations)
        latents.update(real.latents)
    merged = sets[0] if len(sets) == 1 else merge(sets[0], sets[1])
    return merged, latents, real


def _progress(event: TrainProgress) -> None:
    if event.phase == "render":
        progress.report("annotated images rendered", event.images_done, event.images_total)
    elif event.phase == "train":
        progress.report("training steps", event.step, event.max_steps)


@torch.no_grad()
def review(p: TrainInterpreterParams, report: dict[str, Any]) -> dict[str, Any]:
    """Preview of validation images (image | label overlay | uncertainty) next to the interpreter,
    and, with ``p.suggest``, the unannotated samples to annotate next (most uncertain first)."""
    g = load_generator(p.generator)
    interp = load_interpreter(p.out, generator=g)
    ids = list(report["val_ids"] or report["train_ids"])[:PREVIEW_IMAGES]
    path = p.out.with_name(f"{p.out.name}-preview.png")
    preview = _preview(path, g, interp, _codes(p, report, ids), ids, _palette(p, interp.n_classes))
    suggestions: list[dict[str, Any]] = []
    if p.suggest and p.samples is not None:
        annotated = [*report["train_ids"], *report["val_ids"]]
        ranked = rank_candidates(
            interp, g, latents_from_store(p.samples), exclude=annotated, top=p.suggest
        )
        suggestions = [{"sample": c.sample_id, "score": round(c.score, 6)} for c in ranked]
        (p.out / "suggestions.json").write_text(
            json.dumps(suggestions, indent=2) + "\n", encoding="utf-8"
        )
    return {"preview": str(preview), "suggestions": suggestions}


def _codes(
    p: TrainInterpreterParams, report: dict[str, Any], ids: list[int]
) -> dict[int, torch.Tensor]:
    """W+ codes of trained-on ids: generated samples from their store, real images from
    ``real_codes.npy``."""
    out: dict[int, torch.Tensor] = {}
    generated = [i for i in ids if i < REAL_FIRST_ID]
    if generated and p.samples is not None:
        out.update(latents_from_store(p.samples, generated))
    rows = {r["id"]: r["code_row"] for r in report.get("real_images", []) if r["id"] is not None}
    if any(i in rows for i in ids):
        codes = np.load(p.out / "real_codes.npy")
        out.update({i: torch.from_numpy(codes[rows[i]]) for i in ids if i in rows})
    return out


def _palette(p: TrainInterpreterParams, n_classes: int) -> Any:
    palette = ShardedStore.open(p.samples).spec.palette if p.samples is not None else ()
    return palette if len(palette) == n_classes else default_palette(n_classes)


def _preview(path: Path, g: Generator, interp: Any, codes: dict[int, torch.Tensor], ids: list[int],
             palette: Any) -> Path:  # fmt: skip
    ws = torch.stack([codes[i] for i in ids])
    image, result = interp.render_and_label(g, ws, maps=("uncertainty",))
    return write_preview(
        path, to_uint8(image), result.labels.numpy(), result.uncertainty.numpy(), palette
    )


def result(
    p: TrainInterpreterParams, report: dict[str, Any], review: dict[str, Any]
) -> dict[str, Any]:
    """What train_interpreter returns: the folder, validation mIoU, steps, preview, suggestions."""
    return {
        "interpreter": str(p.out),
        "val_miou": report["val_miou"],
        "steps": report["steps"],
        "preview": review["preview"],
        "suggestions": [s["sample"] for s in review["suggestions"]],
    }


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Table rows: validation IoU per class, mIoU, accuracy, steps, timing."""
    rows = [
        {
            "metric": "annotated images (train / validation)",
            "value": f"{len(report['train_ids'])} / {len(report['val_ids'])}",
        },
        {
            "metric": "steps (stopped early)",
            "value": f"{report['steps']} ({report['stopped_early']})",
        },
        {"metric": "training pixels", "value": report["pool_pixels"]},
        {"metric": "validation mIoU", "value": _round(report["val_miou"])},
        {"metric": "validation pixel accuracy", "value": _round(report["val_pixel_accuracy"])},
        {"metric": "wall time (s)", "value": round(float(report["seconds"]), 2)},
    ]
    rows += [
        {"metric": f"IoU: {name}", "value": _round(v)} for name, v in report["val_iou"].items()
    ]
    return rows


def _round(value: float | None) -> float | str:
    return "n/a" if value is None or not np.isfinite(value) else round(float(value), 4)
