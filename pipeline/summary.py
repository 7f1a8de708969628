"""After the shards: read the store back, apply the uncertainty drop, draw the preview, and collect the
rows and lines the artifacts show (plain functions; the flows' last step).

Shapes: N samples, H/W image size, K classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasetgan.interpreter import latents_from_store
from datasetgan.models.imaging import write_preview
from datasetgan.pipeline.generate import load_models
from datasetgan.pipeline.plans import StorePlan
from datasetgan.pipeline.stats import ShardStats, shard_rows, timings
from datasetgan.storage import SegmentationDataset, ShardedStore, keep_rows

PREVIEW_SAMPLES = 4
QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


@dataclass
class Summary:
    """What a generation run reports: table rows, markdown lines, the preview PNG, key numbers."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    preview: Path | None = None
    numbers: dict[str, Any] = field(default_factory=dict)


def preview_path(store: Path) -> Path:
    """The preview PNG next to a store folder: ``<store>-preview.png``."""
    return store.with_name(f"{store.name}-preview.png")


def summarize(plan: StorePlan, stats: list[ShardStats], wall_s: float, workers: int) -> Summary:
    """Rows (counts, drop, class pixel shares, score quantiles, timings) and the preview PNG."""
    store = ShardedStore.open(plan.store)
    store.validate()
    manifest = store.manifest()
    scores = manifest["score"].to_numpy(dtype=np.float32)
    kept = keep_rows(scores, plan.drop_uncertain) if len(scores) else np.zeros(0, dtype=np.int64)
    dropped = len(scores) - len(kept)
    numbers = {
        "samples_in_store": len(manifest),
        "samples_before": plan.samples_before,
        "samples_written": sum(s.n_samples for s in stats),
        "shards_skipped": plan.skipped_shards,
        "dropped": dropped,
        "duplicates": int(manifest["sample"].duplicated().sum()),
    }
    s = Summary(numbers=numbers)
    s.rows = [{"metric": k.replace("_", " "), "value": v} for k, v in numbers.items()]
    if plan.recipe.kind in ("dataset", "edited"):
        s.rows.append(
            {"metric": "drop_uncertain (most uncertain fraction)", "value": plan.drop_uncertain}
        )
        if dropped:
            threshold = float(np.nanmax(scores[kept])) if len(kept) else float("nan")
            s.rows.append({"metric": "highest kept score", "value": round(threshold, 6)})
        pixels = np.sum([st.class_pixels for st in stats], axis=0).tolist() if stats else []
        s.rows += class_rows(plan.class_names, pixels) if pixels else []
        s.rows += score_rows(scores)
    s.rows += shard_rows(stats, wall_s, workers)
    s.numbers |= timings(stats)
    s.preview = _preview(plan, store, manifest["sample"].to_numpy())
    s.lines = _lines(plan, numbers)
    return s


def _preview(plan: StorePlan, store: ShardedStore, samples: np.ndarray) -> Path | None:
    """image | label overlay | uncertainty of the first samples (uncertainty re-rendered from the
    stored W+ codes; for annotation stores a grid of images)."""
    if not len(samples):
        return None
    n = len(samples) if plan.recipe.kind == "samples" else PREVIEW_SAMPLES
    ds = SegmentationDataset(store.path, drop_uncertain=0.0, image_dtype="uint8")
    pairs = [ds.read(i) for i in range(min(n, 16, len(ds)))]
    ds.close()
    images = np.stack([p[0] for p in pairs])
    path = preview_path(store.path)
    if plan.recipe.kind == "samples":
        return write_preview(path, images, None, None, plan.palette)
    labels = np.stack([p[1] for p in pairs])
    uncertainty = _uncertainty(plan, store.path, [int(v) for v in samples[: len(pairs)]])
    return write_preview(path, images, labels, uncertainty, plan.palette)


@torch.no_grad()
def _uncertainty(plan: StorePlan, store: Path, ids: list[int]) -> np.ndarray:
    models = load_models(plan.recipe)
    assert models.interpreter is not None
    codes = latents_from_store(store, ids)
    ws = torch.stack([codes[i] for i in ids])
    _, result = models.interpreter.render_and_label(
        models.generator, ws, noise_mode=plan.recipe.render.noise_mode, maps=("uncertainty",)
    )
    assert result.uncertainty is not None
    return result.uncertainty.numpy()


def _lines(plan: StorePlan, numbers: dict[str, Any]) -> list[str]:
    lines = [
        f"- store: `{plan.store}` ({numbers['samples_in_store']} samples; "
        f"{numbers['samples_written']} written by this run, {numbers['shards_skipped']} shards already complete)",
        f"- recipe: seed {plan.recipe.render.seed}, truncation {plan.recipe.render.truncation}, "
        f"batch {plan.recipe.render.batch_size}, {plan.recipe.render.threads} torch thread(s) per shard task",
        "- read it with `storage.SegmentationDataset(store)`"
        + (
            f" (the store records drop_uncertain={plan.drop_uncertain}; pass drop_uncertain=0.0 "
            "to read every sample)"
            if plan.drop_uncertain
            else ""
        ),
    ]
    if numbers["dropped"]:
        lines.append(
            f"- the {numbers['dropped']} most uncertain samples are left out by that reader"
        )
    return lines


def class_rows(names: Sequence[str], pixels: Sequence[int]) -> list[dict[str, Any]]:
    total = sum(pixels)
    return [
        _row(f"class pixel share: {n}", _pct(p, total)) for n, p in zip(names, pixels, strict=True)
    ]


def score_rows(scores: np.ndarray) -> list[dict[str, Any]]:
    finite = scores[np.isfinite(scores)]
    if not finite.size:
        return [_row("score quantiles", "n/a (no scores)")]
    values = np.quantile(finite, QUANTILES)
    return [
        _row(f"score q{int(q * 100)}", round(float(v), 6))
        for q, v in zip(QUANTILES, values, strict=True)
    ]


def _row(metric: str, value: Any) -> dict[str, Any]:
    return {"metric": metric, "value": value}


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"
