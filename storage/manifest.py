"""Manifest tables (pandas) of a store: one row per sample."""

from __future__ import annotations

from pathlib import Path

import h5py
import pandas as pd

from storage.entry import load_entry
from storage.schema import TEXT


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Manifest of the store whose entry file is `path` (its data.h5, or the store directory).

    Row r (the DataFrame index) is row r of every dataset in data.h5. Columns: `sample` (the sample's
    index in its build: shard * shard_size + row), `shard`, `row` (index inside the shard), then every
    scalar field of the store (samples store: `seed`, `score`; embeddings store: `source`, `status`,
    `error` and the metrics).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "data.h5"
    info = load_entry(p, verify="stat")
    columns: dict[str, object] = {}
    with h5py.File(p, "r") as f:
        for name in ("sample", "shard", "row"):
            columns[name] = f["manifest"][name][...]
        for fs in info.spec.fields:
            if fs.shape:
                continue
            if fs.dtype == TEXT:
                columns[fs.name] = f[fs.name].asstr()[...]
            else:
                columns[fs.name] = f[fs.name][...]
    frame = pd.DataFrame(columns)
    frame.index.name = "entry_row"
    return frame
