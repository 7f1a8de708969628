"""Export a samples store to a folder of PNGs for tools that want files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from datasetgan.storage.dataset import SegmentationDataset


def export_pngs(
    path: str | Path,
    out_dir: str | Path,
    *,
    drop_uncertain: float = 0.0,
    limit: int | None = None,
) -> int:
    """Write `images/<sample>.png` (RGB) and `labels/<sample>.png` (palette PNG, pixel = class index).

    Also writes `classes.json` (names and RGB palette) and `manifest.csv` (file, sample). `<sample>` is
    the sample index zero-padded to 8 digits. Returns the number of pairs written.
    """
    ds = SegmentationDataset(path, drop_uncertain=drop_uncertain, image_dtype="uint8")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    if len(ds.class_names) > 256:
        raise ValueError(f"got {len(ds.class_names)} classes, expected <= 256 for palette PNGs")
    palette = [v for rgb in ds.spec.palette for v in rgb]
    n = len(ds) if limit is None else min(limit, len(ds))
    lines = ["file,sample"]
    for i in range(n):
        image, label = ds.read(i)
        name = f"{int(ds.sample_ids[i]):08d}.png"
        Image.fromarray(np.ascontiguousarray(image)).save(out / "images" / name)
        h, w = label.shape
        mask = Image.frombytes("P", (w, h), np.ascontiguousarray(label, dtype=np.uint8).tobytes())
        mask.putpalette(palette)
        mask.save(out / "labels" / name)
        lines.append(f"{name},{int(ds.sample_ids[i])}")
    ds.close()
    classes = {"class_names": list(ds.class_names), "palette": [list(c) for c in ds.spec.palette]}
    (out / "classes.json").write_text(json.dumps(classes, indent=2), encoding="utf-8")
    (out / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return n
