"""The entry file `data.h5`: one virtual dataset per field over all complete shards, plus the shard table.

The entry is derived data: it is rebuilt from `store.json` and the shards (under a temporary name, then
`os.replace`d) whenever a shard lands. Opening it checks every listed shard is present with the size it
had when it landed, so a missing or truncated shard is an error naming the file, never fill values.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from datasetgan.storage.errors import NotAStoreError, SchemaError, ShardError
from datasetgan.storage.schema import SCHEMA_VERSION, Provenance, StoreSpec, check_schema_version
from datasetgan.storage.shards import SHARD_DIR, check_shard, fsync_path, shard_name

ENTRY_NAME = "data.h5"
Verify = Literal["none", "stat", "deep"]


@dataclass(frozen=True)
class ShardRecord:
    """A complete shard as the entry lists it; `size_bytes`/`mtime_ns` detect later damage or change."""

    index: int
    sample_start: int
    n_samples: int
    size_bytes: int
    mtime_ns: int

    @property
    def file(self) -> str:
        """Path relative to the store directory (HDF5 resolves it relative to the entry file)."""
        return f"{SHARD_DIR}/{shard_name(self.index)}"


@dataclass(frozen=True)
class EntryInfo:
    """What an entry file says: the store's spec and provenance, and its shards in order."""

    path: Path
    spec: StoreSpec
    provenance: Provenance
    records: tuple[ShardRecord, ...]
    drop_uncertain: float = 0.0

    @property
    def n_samples(self) -> int:
        return sum(r.n_samples for r in self.records)

    def shard_path(self, record: ShardRecord) -> Path:
        return self.path.parent / record.file


def write_entry(
    store_dir: Path,
    spec: StoreSpec,
    provenance: Provenance,
    records: Sequence[ShardRecord],
    *,
    drop_uncertain: float = 0.0,
) -> Path:
    """Atomically (re)write `store_dir/data.h5` over `records` (sorted by shard index).

    drop_uncertain: stored as the root attribute of that name; `manifest/kept` [N] marks the rows
    `keep_rows` keeps (samples stores ranked by `score`; stores without `score` keep every row).
    """
    if not 0.0 <= drop_uncertain < 1.0:
        raise ValueError(f"got drop_uncertain {drop_uncertain}, expected a fraction in [0, 1)")
    records = sorted(records, key=lambda r: r.index)
    final = store_dir / ENTRY_NAME
    tmp = store_dir / f".data.{secrets.token_hex(6)}.h5.tmp"
    try:
        with h5py.File(tmp, "w") as f:
            _write_attrs(f, spec, provenance, records)
            _write_tables(f, records)
            for fs in spec.fields:
                _write_virtual(f, fs.name, fs.h5_dtype, fs.shape, records)
                f[fs.name].attrs["meaning"] = fs.meaning
            _write_kept(f, spec, records, drop_uncertain)
        fsync_path(tmp)
        os.replace(tmp, final)
        fsync_path(store_dir)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _write_attrs(
    f: h5py.File, spec: StoreSpec, provenance: Provenance, records: Sequence[ShardRecord]
) -> None:
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["kind"] = spec.kind
    f.attrs["spec"] = json.dumps(spec.to_dict(), sort_keys=True)
    f.attrs["class_names"] = json.dumps(list(spec.class_names))
    f.attrs["palette"] = np.asarray(spec.palette, dtype=np.uint8).reshape(-1, 3)
    f.attrs["shard_size"] = spec.shard_size
    f.attrs["compression"] = spec.compression.codec  # "zstd": readers must import hdf5plugin
    f.attrs["n_samples"] = sum(r.n_samples for r in records)
    f.attrs["n_shards"] = len(records)
    f.attrs["fingerprints"] = json.dumps(dict(sorted(provenance.fingerprints.items())))
    for role, digest in provenance.fingerprints.items():
        f.attrs[f"fingerprint_{role}"] = digest
    f.attrs["config_json"] = provenance.config_json
    f.attrs["created"] = provenance.created
    f.attrs["package_version"] = provenance.package_version


def _write_tables(f: h5py.File, records: Sequence[ShardRecord]) -> None:
    g = f.create_group("shards")
    for name in ("index", "sample_start", "n_samples", "size_bytes", "mtime_ns"):
        g.create_dataset(name, data=np.array([getattr(r, name) for r in records], dtype=np.int64))
    g.create_dataset("file", data=[r.file for r in records], dtype=h5py.string_dtype("utf-8"))
    sample = [np.arange(r.sample_start, r.sample_start + r.n_samples) for r in records]
    shard = [np.full(r.n_samples, r.index) for r in records]
    row = [np.arange(r.n_samples) for r in records]
    m = f.create_group("manifest")
    for name, parts in (("sample", sample), ("shard", shard), ("row", row)):
        data = np.concatenate(parts) if parts else np.zeros(0)
        m.create_dataset(name, data=data.astype(np.int64))


def _write_kept(
    f: h5py.File, spec: StoreSpec, records: Sequence[ShardRecord], drop_uncertain: float
) -> None:
    """Root attribute `drop_uncertain` and `manifest/kept` [N] bool (call after the virtual datasets)."""
    n = sum(r.n_samples for r in records)
    kept = np.ones(n, dtype=bool)
    if drop_uncertain > 0 and n and "score" in spec.field_names:
        kept[:] = False
        kept[keep_rows(np.asarray(f["score"][...], dtype=np.float32), drop_uncertain)] = True
    f.attrs["drop_uncertain"] = float(drop_uncertain)
    f["manifest"].create_dataset("kept", data=kept)


def keep_rows(scores: np.ndarray, drop_uncertain: float) -> np.ndarray:
    """Entry rows kept after dropping the `drop_uncertain` fraction with the highest scores (NaN first).

    scores: [N]; returns sorted row indices [N - floor(drop_uncertain * N)]. Ties break by row.
    """
    if not 0.0 <= drop_uncertain < 1.0:
        raise ValueError(f"got drop_uncertain {drop_uncertain}, expected a fraction in [0, 1)")
    n = len(scores)
    n_drop = int(np.floor(drop_uncertain * n + 1e-9))
    key = np.where(np.isnan(scores), np.inf, scores.astype(np.float64))
    order = np.argsort(-key, kind="stable")
    return np.sort(order[n_drop:])


def _write_virtual(
    f: h5py.File, name: str, dtype: Any, shape: tuple[int, ...], records: Sequence[ShardRecord]
) -> None:
    total = sum(r.n_samples for r in records)
    layout = h5py.VirtualLayout(shape=(total, *shape), dtype=dtype)
    row = 0
    for r in records:
        src = h5py.VirtualSource(r.file, name, shape=(r.n_samples, *shape))
        layout[row : row + r.n_samples] = src
        row += r.n_samples
    f.create_virtual_dataset(name, layout)


def load_entry(path: Path, *, verify: Verify = "stat") -> EntryInfo:
    """Read an entry file's spec, provenance and shard table, then check its shards.

    verify: "stat" (each shard present with its recorded size; cheap), "deep" (also open and check
    every shard's header and datasets), "none".
    """
    if not path.is_file():
        raise NotAStoreError(path, "does not exist or is not a file", f"a store's {ENTRY_NAME}")
    if not h5py.is_hdf5(path):
        raise NotAStoreError(path, "is not an HDF5 file", f"a store's {ENTRY_NAME}")
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            table = {k: f["shards"][k][...] for k in f["shards"]} if "shards" in f else None
    except OSError as exc:
        raise NotAStoreError(
            path, f"cannot be read as HDF5 ({exc})", "an intact entry file"
        ) from exc
    if "schema_version" not in attrs or table is None:
        raise NotAStoreError(
            path, "has no schema_version or shard table", "an entry file written by storage"
        )
    check_schema_version(attrs["schema_version"], path)
    try:
        spec = StoreSpec.from_dict(json.loads(attrs["spec"]), path)
        prov = json.loads(attrs["fingerprints"]), str(attrs["config_json"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise SchemaError(
            path, f"unreadable store attributes ({exc})", "attributes written by storage"
        ) from exc
    provenance = Provenance(
        fingerprints=prov[0],
        config_json=prov[1],
        package_version=str(attrs.get("package_version", "")),
        created=str(attrs.get("created", "")),
    )
    fields = ("index", "sample_start", "n_samples", "size_bytes", "mtime_ns")
    records = tuple(
        ShardRecord(*(int(v) for v in vals))
        for vals in zip(*(table[k] for k in fields), strict=True)
    )
    info = EntryInfo(
        path=path,
        spec=spec,
        provenance=provenance,
        records=records,
        drop_uncertain=float(attrs.get("drop_uncertain", 0.0)),
    )
    if verify != "none":
        verify_shards(info, deep=verify == "deep")
    return info


def verify_shards(info: EntryInfo, *, deep: bool = False) -> None:
    """ShardError naming the first listed shard that is missing, resized or (deep) damaged."""
    for r in info.records:
        path = info.shard_path(r)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ShardError(
                path,
                f"is missing but {info.path.name} lists it",
                f"{r.n_samples} samples from {r.sample_start}",
            ) from None
        if size != r.size_bytes:
            raise ShardError(
                path,
                f"is {size} bytes but was {r.size_bytes} when it landed (truncated or replaced)",
                "the file as written; delete it and rebuild the shard",
            )
        if deep:
            header = check_shard(path, info.spec, deep=True)
            if header.n_samples != r.n_samples:
                raise ShardError(path, f"holds {header.n_samples} samples", f"{r.n_samples}")
