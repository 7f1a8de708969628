"""What a store holds, for ``datasetgan inspect``: counts, classes with pixel shares, the score
histogram, provenance, and every file of its shard folder with its state; and a picture of the
class shares and the score histogram.

Shard states: ``complete`` (listed by data.h5, or landed after it was written), ``incomplete``
(a temporary file: a writer is running or was killed), ``damaged`` (a shard file that does not
open as one of this store's shards) and ``foreign`` (anything else in the folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image, ImageDraw

from datasetgan.storage.errors import StorageError
from datasetgan.storage.shards import check_shard, parse_shard_name, parse_tmp_name
from datasetgan.storage.store import ShardedStore

HIST_BINS = 20


def inspect_store(path: str | Path, *, max_label_samples: int = 2000) -> dict[str, Any]:
    """A JSON-able description of the store at ``path`` (see the module docstring). Pixel shares
    come from at most ``max_label_samples`` labels, evenly spread over the store."""
    store = ShardedStore.open(path)  # NotAStoreError for anything else
    info = store.validate()
    spec, prov = info.spec, info.provenance
    out: dict[str, Any] = {
        "store": str(store.path),
        "kind": spec.kind,
        "samples": info.n_samples,
        "shard_size": spec.shard_size,
        "compression": spec.compression.describe(),
        "drop_uncertain": info.drop_uncertain,
        "fields": {f.name: {"dtype": f.dtype, "shape": list(f.shape)} for f in spec.fields},
        "classes": list(spec.class_names),
        "provenance": {
            "fingerprints": prov.fingerprints,
            "recipe": _json_or_text(prov.config_json),
            "created": prov.created,
            "package_version": prov.package_version,
        },
        "shards": shard_states(store),
    }
    with h5py.File(store.entry_path, "r") as f:
        out["schema_version"] = int(f.attrs["schema_version"])
        if "label" in f and info.n_samples:
            out["class_shares"] = _shares(f["label"], len(spec.class_names), max_label_samples)
        if "score" in f and info.n_samples:
            out["score_histogram"] = _histogram(np.asarray(f["score"][...], dtype=np.float64))
        if "status" in f:
            out["status_counts"] = {
                str(k): int(v)
                for k, v in zip(*np.unique(f["status"][...], return_counts=True), strict=True)
            }
    return out


def shard_states(store: ShardedStore) -> list[dict[str, Any]]:
    listed = {r.index: r for r in store.validate().records}
    rows = []
    for p in sorted(store.shard_dir.iterdir()):
        index, tmp = parse_shard_name(p.name), parse_tmp_name(p.name)
        if index is not None:
            try:
                h = check_shard(p, store.spec)
                state = "complete" if index in listed else "complete (not yet in data.h5)"
                rows.append(
                    {
                        "file": p.name,
                        "state": state,
                        "samples": h.n_samples,
                        "first": h.sample_start,
                    }
                )
            except StorageError as exc:
                rows.append({"file": p.name, "state": "damaged", "problem": exc.problem})
        elif tmp is not None:
            rows.append({"file": p.name, "state": "incomplete", "shard": tmp})
        else:
            rows.append({"file": p.name, "state": "foreign"})
    return rows


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _shares(labels: h5py.Dataset, k: int, limit: int) -> list[float]:
    n = labels.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int))
    counts = np.zeros(max(k, 1), dtype=np.int64)
    for start in range(0, len(rows), 256):
        chunk = np.asarray(labels[rows[start : start + 256]])
        counts += np.bincount(chunk.ravel().astype(np.int64), minlength=k)[:k]
    return [float(c) for c in counts / max(counts.sum(), 1)]


def _histogram(scores: np.ndarray) -> dict[str, Any]:
    finite = scores[np.isfinite(scores)]
    if not len(finite):
        return {"edges": [], "counts": [], "nan": len(scores)}
    counts, edges = np.histogram(finite, bins=HIST_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
            "nan": int(len(scores) - len(finite))}  # fmt: skip


def inspect_picture(
    report: dict[str, Any], path: Path, palette: list[list[int]] | None = None
) -> Path:
    """A PNG: one bar per class (pixel share, in the class's colour) beside the score histogram."""
    width, height, pad = 900, 360, 40
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    shares, names = report.get("class_shares", []), report["classes"]
    colours = palette or [[90, 120, 200]] * len(names)
    half = width // 2
    draw.text((pad, 8), "pixel share per class", fill=(0, 0, 0))
    if shares:
        top = max(shares) or 1.0
        step = (height - 2 * pad) / max(len(shares), 1)
        for k, (name, share) in enumerate(zip(names, shares, strict=True)):
            y = pad + k * step
            length = (half - pad - 140) * share / top
            draw.rectangle(
                (pad + 90, y + 1, pad + 90 + length, y + step - 2),
                fill=tuple(colours[k]),
                outline=(60, 60, 60),
            )
            draw.text((pad, y), name[:14], fill=(0, 0, 0))
            draw.text((pad + 95 + length, y), f"{share:.1%}", fill=(0, 0, 0))
    hist = report.get("score_histogram")
    draw.text((half + pad, 8), "image uncertainty score (higher = less certain)", fill=(0, 0, 0))
    if hist and hist["counts"]:
        counts, edges = hist["counts"], hist["edges"]
        top, bar = max(counts) or 1, (half - 2 * pad) / len(counts)
        for i, c in enumerate(counts):
            x = half + pad + i * bar
            draw.rectangle(
                (x, height - pad - (height - 2 * pad - 20) * c / top, x + bar - 2, height - pad),
                fill=(80, 80, 80),
            )
        draw.text((half + pad, height - pad + 6), f"{edges[0]:.3g}", fill=(0, 0, 0))
        draw.text((width - pad - 40, height - pad + 6), f"{edges[-1]:.3g}", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
