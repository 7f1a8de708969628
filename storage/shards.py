"""Shard files: naming, the atomic writer, and header checks.

Shard k of a store with shard size S holds samples k*S .. k*S+n-1 (n <= S) in `shards/shard-0000k.h5`.
A writer fills `shards/shard-0000k.<random>.h5.tmp`, closes and fsyncs it, then `os.replace`s it to the
final name, so a reader sees either no shard or a complete one, and distinct processes may write
distinct shards at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from datasetgan.storage.errors import SchemaError, ShardError, WriterError
from datasetgan.storage.schema import SCHEMA_VERSION, StoreSpec, check_schema_version, layout_json

SHARD_DIR = "shards"
_FINAL_RE = re.compile(r"^shard-(\d{5,})\.h5$")
_TMP_RE = re.compile(r"^shard-(\d{5,})\.[0-9a-f]+\.h5\.tmp$")


def shard_name(index: int) -> str:
    """File name of shard `index` (e.g. 'shard-00012.h5')."""
    if index < 0:
        raise ValueError(f"got shard index {index}, expected >= 0")
    return f"shard-{index:05d}.h5"


def parse_shard_name(name: str) -> int | None:
    """Shard index of a final shard file name, None for anything else."""
    m = _FINAL_RE.match(name)
    return int(m.group(1)) if m else None


def parse_tmp_name(name: str) -> int | None:
    """Shard index of a temporary (in-progress or abandoned) shard file name, None otherwise."""
    m = _TMP_RE.match(name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class ShardSlot:
    """Shard `index` holds samples [start, stop); start == index * shard_size."""

    index: int
    start: int
    stop: int

    @property
    def n_samples(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ShardHeader:
    """What a complete shard says about itself."""

    index: int
    sample_start: int
    n_samples: int
    layout: str


def fsync_path(path: Path) -> None:
    """Flush a file (or directory) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_h5(path: Path, error: type[ShardError] | type[SchemaError] = ShardError) -> h5py.File:
    """Open `path` read-only; `error` naming the file if it is missing, not HDF5 or damaged."""
    if not path.is_file():
        raise error(path, "file is missing", "an HDF5 file written by storage")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise error(path, f"cannot be opened as HDF5 ({exc})", "a complete HDF5 file") from exc


def read_header(path: Path) -> ShardHeader:
    """Read and check a shard's attributes; ShardError naming `path` if it is not a complete shard."""
    with open_h5(path) as f:
        attrs = dict(f.attrs)
    if "schema_version" not in attrs:
        raise ShardError(path, "has no schema_version attribute", "a shard written by storage")
    check_schema_version(attrs["schema_version"], path)
    if not attrs.get("complete", False):
        raise ShardError(path, "is not marked complete", "a shard closed by ShardWriter.commit")
    try:
        return ShardHeader(
            index=int(attrs["shard_index"]),
            sample_start=int(attrs["sample_start"]),
            n_samples=int(attrs["n_samples"]),
            layout=str(attrs["layout"]),
        )
    except KeyError as exc:
        raise ShardError(path, f"lacks attribute {exc}", "a shard written by storage") from exc


def check_shard(path: Path, spec: StoreSpec, *, deep: bool = False) -> ShardHeader:
    """Check the shard at `path` against `spec`; with `deep`, also every dataset's shape and dtype."""
    header = read_header(path)
    index = parse_shard_name(path.name)
    if header.index != index:
        raise ShardError(path, f"says it is shard {header.index}", f"shard {index} (its file name)")
    if header.sample_start != header.index * spec.shard_size:
        raise ShardError(
            path, f"starts at sample {header.sample_start}", f"{header.index * spec.shard_size}"
        )
    if not 1 <= header.n_samples <= spec.shard_size:
        raise ShardError(path, f"holds {header.n_samples} samples", f"1..{spec.shard_size}")
    if header.layout != layout_json(spec):
        raise ShardError(path, f"disagrees with the store: {_layout_diff(header.layout, spec)}")
    if deep:
        _check_datasets(path, spec, header.n_samples)
    return header


def _layout_diff(shard_layout: str, spec: StoreSpec) -> str:
    theirs = json.loads(shard_layout)
    ours = spec.layout()
    if theirs.get("class_names") != ours["class_names"]:
        return f"class names {theirs.get('class_names')}, expected {ours['class_names']}"
    if theirs.get("kind") != ours["kind"]:
        return f"kind {theirs.get('kind')!r}, expected {ours['kind']!r}"
    mine = {f[0]: f for f in ours["fields"]}
    other = {f[0]: f for f in theirs.get("fields", [])}
    for name in sorted(set(mine) | set(other)):
        if mine.get(name) != other.get(name):
            return f"field {name!r} is {other.get(name)}, expected {mine.get(name)} ([name, dtype, shape])"
    return "layout differs"


def _check_datasets(path: Path, spec: StoreSpec, n: int) -> None:
    with open_h5(path) as f:
        for fs in spec.fields:
            if fs.name not in f:
                raise ShardError(path, f"has no dataset {fs.name!r}", f"fields {spec.field_names}")
            ds = f[fs.name]
            if ds.shape != (n, *fs.shape) or ds.dtype != fs.h5_dtype:
                raise ShardError(
                    path,
                    f"dataset {fs.name!r} is {ds.shape} {ds.dtype}",
                    f"{(n, *fs.shape)} {fs.h5_dtype}",
                )


class ShardWriter:
    """Writes shard `slot.index` incrementally: `append(batch)` any number of times, then `commit()`.

    Used as a context manager it commits on success and deletes the temporary file on error.
    Array fields go to disk as they arrive; scalar and text fields are buffered until commit.
    """

    def __init__(
        self,
        shard_dir: Path,
        spec: StoreSpec,
        slot: ShardSlot,
        *,
        on_commit: Callable[[Path], object] | None = None,
    ) -> None:
        self.spec = spec
        self.slot = slot
        self.final_path = shard_dir / shard_name(slot.index)
        self.tmp_path = shard_dir / f"shard-{slot.index:05d}.{secrets.token_hex(6)}.h5.tmp"
        self._on_commit = on_commit
        self._pos = 0
        self._buffers: dict[str, list[np.ndarray]] = {}
        self._file: h5py.File | None = self._create()

    def _create(self) -> h5py.File:
        n = self.slot.n_samples
        f = h5py.File(self.tmp_path, "w")
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["shard_index"] = self.slot.index
        f.attrs["sample_start"] = self.slot.start
        f.attrs["n_samples"] = n
        f.attrs["layout"] = layout_json(self.spec)
        f.attrs["complete"] = False
        for fs in self.spec.fields:
            if fs.per_sample_chunks:
                itemsize = np.dtype(fs.dtype).itemsize
                f.create_dataset(
                    fs.name,
                    shape=(n, *fs.shape),
                    dtype=fs.h5_dtype,
                    chunks=fs.chunks(n),
                    **self.spec.compression.h5_kwargs(itemsize, fs.name),
                )
            else:
                self._buffers[fs.name] = []
        return f

    @property
    def n_written(self) -> int:
        return self._pos

    def append(self, batch: Mapping[str, Any]) -> None:
        """Add B samples: `batch[name]` is [B, *field.shape] for every field of the store."""
        f = self._require_open()
        missing = set(self.spec.field_names) - set(batch)
        extra = set(batch) - set(self.spec.field_names)
        if missing or extra:
            raise ValueError(
                f"got fields {sorted(batch)}, expected {sorted(self.spec.field_names)}"
            )
        b = len(batch[self.spec.fields[0].name])
        if self._pos + b > self.slot.n_samples:
            raise WriterError(
                self.tmp_path,
                f"{self._pos + b} samples appended",
                f"at most {self.slot.n_samples} for shard {self.slot.index}",
            )
        arrays = {fs.name: fs.coerce(batch[fs.name], b) for fs in self.spec.fields}
        self._check_labels(arrays)
        for name, arr in arrays.items():
            if name in self._buffers:
                self._buffers[name].append(arr)
            else:
                f[name][self._pos : self._pos + b] = arr
        self._pos += b

    def _check_labels(self, arrays: Mapping[str, np.ndarray]) -> None:
        label = arrays.get("label")
        k = len(self.spec.class_names)
        if label is not None and label.size and int(label.max()) >= k:
            raise ValueError(f"field 'label': got class {int(label.max())}, expected 0..{k - 1}")

    def commit(self) -> Path:
        """Finish the shard: check the count, close, fsync, rename into place. Returns the final path."""
        f = self._require_open()
        if self._pos != self.slot.n_samples:
            raise WriterError(
                self.tmp_path,
                f"{self._pos} samples written",
                f"{self.slot.n_samples} for shard {self.slot.index}",
            )
        for name, parts in self._buffers.items():
            fs = self.spec.field(name)
            data = np.concatenate(parts) if parts else np.empty((0,), dtype=fs.h5_dtype)
            kwargs = (
                {} if fs.dtype == "utf8" else self.spec.compression.h5_kwargs(data.itemsize, name)
            )
            f.create_dataset(
                name, data=data, dtype=fs.h5_dtype, chunks=fs.chunks(len(data)), **kwargs
            )
        f.attrs["complete"] = True
        f.close()
        self._file = None
        fsync_path(self.tmp_path)
        os.replace(self.tmp_path, self.final_path)
        fsync_path(self.final_path.parent)
        if self._on_commit is not None:
            self._on_commit(self.final_path)
        return self.final_path

    def abort(self) -> None:
        """Close and delete the temporary file; the shard stays absent."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp_path.unlink()

    def _require_open(self) -> h5py.File:
        if self._file is None:
            raise WriterError(
                self.tmp_path, "writer is closed", "an open writer (append before commit)"
            )
        return self._file

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self._file is not None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()
