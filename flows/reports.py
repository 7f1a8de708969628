"""What people see of a run: the preview grid PNG (image | label overlay | uncertainty), the summary
rows, and the Prefect artifacts (table, markdown, progress).

Shapes: N samples, H/W image size, K classes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import numpy as np
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from flows.preview import grid_image, save_png
from flows.work import ShardStats

QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


def overlay(
    image: np.ndarray, label: np.ndarray, palette: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """uint8 [H, W, 3] image blended with the palette colour of each pixel's class (label [H, W])."""
    colours = palette[np.clip(label, 0, len(palette) - 1)].astype(np.float32)
    return (image.astype(np.float32) * (1 - alpha) + colours * alpha).round().astype(np.uint8)


def heat(values: np.ndarray, vmax: float) -> np.ndarray:
    """[H, W] values in [0, vmax] -> uint8 [H, W, 3], black -> red -> yellow -> white."""
    t = np.clip(values.astype(np.float32) / max(vmax, 1e-12), 0.0, 1.0) * 3.0
    rgb = np.stack([np.clip(t, 0, 1), np.clip(t - 1, 0, 1), np.clip(t - 2, 0, 1)], axis=-1)
    return (rgb * 255).round().astype(np.uint8)


def write_preview(
    path: Path,
    images: np.ndarray,
    labels: np.ndarray | None,
    uncertainty: np.ndarray | None,
    palette: Sequence[Sequence[int]],
) -> Path:
    """One row per sample: image | label overlay | uncertainty (heat map scaled to the largest
    value shown), as a PNG; images alone make a square grid."""
    if labels is None and uncertainty is None:
        return save_png(grid_image(images), path)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    columns = [images]
    if labels is not None:
        columns.append(
            np.stack([overlay(im, lab, pal) for im, lab in zip(images, labels, strict=True)])
        )
    if uncertainty is not None:
        vmax = float(np.max(uncertainty)) if uncertainty.size else 1.0
        columns.append(np.stack([heat(u, vmax) for u in uncertainty]))
    return write_columns(path, columns)


def write_columns(path: Path, columns: Sequence[np.ndarray]) -> Path:
    """One row per item, one column per array of uint8 [N, H, W, 3] (equal N, H, W), as a PNG."""
    tiles = np.stack([c[i] for i in range(len(columns[0])) for c in columns])
    return save_png(grid_image(tiles, cols=len(columns)), path)


def shard_rows(stats: Sequence[ShardStats], wall_s: float, workers: int) -> list[dict[str, Any]]:
    """Timing rows of a generation run: shard work, writer share, and what is left for Prefect."""
    task_s = sum(s.wall_s for s in stats)
    span = max(s.finished for s in stats) - min(s.started for s in stats) if stats else 0.0
    write_s = sum(s.write_s for s in stats)
    rows = [
        _row("shards written this run", len(stats)),
        _row("samples written this run", sum(s.n_samples for s in stats)),
        _row("flow wall time (s)", round(wall_s, 3)),
        _row("shard task time, summed (s)", round(task_s, 3)),
        _row("render + label, summed (s)", round(sum(s.compute_s for s in stats), 3)),
        _row("writing (compress, fsync, rename, entry), summed (s)", round(write_s, 3)),
        _row("writer share of shard task time", _pct(write_s, task_s)),
        _row("worker processes used", len({s.pid for s in stats}) or 0),
        _row("shard phase span (s)", round(span, 3)),
    ]
    if stats and workers == 1:
        rows.append(_row("flow time outside shard tasks (s)", round(wall_s - task_s, 3)))
    return rows


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


def artifact_key(prefix: str, path: Path) -> str:
    """A valid artifact key (lowercase letters, digits, dashes) naming the output folder."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{path.name}".lower()).strip("-")
    return slug[:100] or prefix


def publish_table(key: str, rows: list[dict[str, Any]], description: str) -> None:
    create_table_artifact(table=rows, key=key, description=description)


def publish_markdown(key: str, title: str, lines: Sequence[str], preview: Path | None) -> None:
    text = [f"# {title}", "", *lines]
    if preview is not None:
        text += [
            "",
            f"Preview (image | label overlay | uncertainty): `{preview}`",
            "",
            f"![preview]({preview.resolve().as_uri()})",
        ]
    create_markdown_artifact(markdown="\n".join(text), key=key, description=title)


class ProgressArtifact:
    """A Prefect progress artifact, updated as shards finish."""

    def __init__(self, key: str, total: int, description: str) -> None:
        self.total = max(total, 1)
        made = create_progress_artifact(progress=0.0, key=key, description=description)
        self.id = cast(UUID, made)  # sync call: a UUID

    def update(self, done: int) -> None:
        update_progress_artifact(artifact_id=self.id, progress=100.0 * done / self.total)
