"""Reading a store by field: the manifest table (pandas, one row per sample) and field arrays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from datasetgan.storage.entry import load_entry
from datasetgan.storage.errors import SchemaError
from datasetgan.storage.schema import TEXT


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Manifest of the store whose entry file is `path` (its data.h5, or the store directory).

    Row r (the DataFrame index) is row r of every dataset in data.h5. Columns: `sample` (the sample's
    index in its build: shard * shard_size + row), `shard`, `row` (index inside the shard), then every
    scalar field of the store (samples store: `seed`, `score`; embeddings store: `source`, `status`,
    `error` and the metrics), then `kept` (bool: the row survives the store's `drop_uncertain`, the
    data.h5 attribute; every row of an embeddings store, and of an entry written before that column).
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
        n = len(columns["sample"])  # type: ignore[arg-type]
        kept = f["manifest"]["kept"][...] if "kept" in f["manifest"] else None
        columns["kept"] = kept if kept is not None and len(kept) == n else np.ones(n, dtype=bool)
    frame = pd.DataFrame(columns)
    frame.index.name = "entry_row"
    return frame


def read_fields(
    path: str | Path, fields: Sequence[str], *, start: int = 0, stop: int | None = None
) -> dict[str, np.ndarray]:
    """Rows ``[start, stop)`` (to the end when stop is None) of ``fields`` of a store (its data.h5,
    or the store directory), as arrays in entry-row order; text fields as ``str`` object arrays.

    Refuses a field the store does not have, naming the ones it has.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "data.h5"
    info = load_entry(p, verify="stat")
    known = {fs.name: fs for fs in info.spec.fields}
    missing = [name for name in fields if name not in known]
    if missing:
        raise SchemaError(p, f"no field(s) {missing}", f"one of {sorted(known)}")
    out: dict[str, np.ndarray] = {}
    with h5py.File(p, "r") as f:
        for name in fields:
            data = f[name].asstr() if known[name].dtype == TEXT else f[name]
            out[name] = np.asarray(data[start:stop])
    return out
