"""`SegmentationDataset`: a samples store as a `torch.utils.data.Dataset` of (image, label) tensors."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from datasetgan.storage.entry import ENTRY_NAME, EntryInfo, Verify, keep_rows, load_entry
from datasetgan.storage.errors import SchemaError, ShardError

ImageDtype = Literal["float", "uint8"]
Transform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def entry_path_of(path: str | Path) -> Path:
    """`path` itself if it is a file, else `path/data.h5`."""
    p = Path(path)
    return p / ENTRY_NAME if p.is_dir() else p


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """(image, label) pairs of a samples store: image [3,H,W] (float32 in [0,1], or uint8), label [H,W] int64.

    path: the store directory or its data.h5. The shards are opened lazily in each process that reads
    (DataLoader workers under fork or spawn); the dataset pickles without open files.
    drop_uncertain: leave out this fraction of samples with the highest `score` (NaN counts as most
        uncertain); nothing is rewritten. None (default): the store's own value, the `drop_uncertain`
        attribute of data.h5 (`ShardedStore.set_drop_uncertain`; 0 when absent). 0.0 reads every sample.
    transform: called as transform(image, label) -> (image, label) on every item.
    verify: how the shards are checked at construction ("stat", "deep" or "none").
    max_open_files: shards kept open per process (least recently used are closed beyond it).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        drop_uncertain: float | None = None,
        transform: Transform | None = None,
        image_dtype: ImageDtype = "float",
        verify: Verify = "stat",
        max_open_files: int = 256,
    ) -> None:
        if image_dtype not in ("float", "uint8"):
            raise ValueError(f"got image_dtype {image_dtype!r}, expected 'float' or 'uint8'")
        self.entry_path = entry_path_of(path)
        info = load_entry(self.entry_path, verify=verify)
        _require_fields(info, ("image", "label"))
        self.spec = info.spec
        self.transform = transform
        self.image_dtype = image_dtype
        self.max_open_files = max_open_files
        self._files = [info.shard_path(r) for r in info.records]
        self._shard_of, self._row_of, self._sample_of = _index_arrays(info)
        self.drop_uncertain = info.drop_uncertain if drop_uncertain is None else drop_uncertain
        self.rows = _kept_rows(self.entry_path, info, self.drop_uncertain)
        self._open: OrderedDict[int, tuple[h5py.File, h5py.Dataset, h5py.Dataset]] = OrderedDict()
        self._pid = os.getpid()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def sample_ids(self) -> np.ndarray:
        """[len(self)] sample index (within its build) of each item."""
        return self._sample_of[self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item `index` as stored: image [H,W,3] uint8, label [H,W] uint8/uint16."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"got index {index}, expected 0..{len(self) - 1}")
        row = int(self.rows[index])
        shard = int(self._shard_of[row])
        _, image_ds, label_ds = self._handle(shard)
        r = int(self._row_of[row])
        try:
            return image_ds[r], label_ds[r]
        except (OSError, RuntimeError) as exc:
            raise ShardError(
                self._files[shard], f"row {r} cannot be read ({exc})", "an intact shard"
            ) from exc

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_np, label_np = self.read(index)
        image = torch.from_numpy(np.ascontiguousarray(image_np.transpose(2, 0, 1)))
        if self.image_dtype == "float":
            image = image.to(torch.float32).div_(255.0)
        label = torch.from_numpy(label_np.astype(np.int64))
        if self.transform is not None:
            image, label = self.transform(image, label)
        return image, label

    def _handle(self, shard: int) -> tuple[h5py.File, h5py.Dataset, h5py.Dataset]:
        if self._pid != os.getpid():  # forked after opening: the inherited handles are not ours
            self._open = OrderedDict()
            self._pid = os.getpid()
        handle = self._open.get(shard)
        if handle is not None:
            self._open.move_to_end(shard)
            return handle
        f = _open_shard(self._files[shard])
        handle = (f, f["image"], f["label"])
        self._open[shard] = handle
        while len(self._open) > self.max_open_files:
            _, (old, _, _) = self._open.popitem(last=False)
            old.close()
        return handle

    def close(self) -> None:
        """Close the shards this process opened (they reopen on the next read)."""
        for f, _, _ in self._open.values():
            f.close()
        self._open = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()


def _index_arrays(info: EntryInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry row [N]: position of its shard in the entry, row inside the shard, sample index."""
    empty = np.zeros(0, dtype=np.int64)
    sizes = [r.n_samples for r in info.records]
    shard_of = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    row_of = np.concatenate([np.arange(s, dtype=np.int64) for s in sizes]) if sizes else empty
    sample_of = row_of + np.repeat(
        np.array([r.sample_start for r in info.records], dtype=np.int64), sizes
    )
    return shard_of, row_of, sample_of


def _open_shard(path: Path) -> h5py.File:
    if not path.is_file():
        raise ShardError(path, "is missing", "the shard listed in data.h5")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ShardError(path, f"cannot be opened as HDF5 ({exc})", "a complete shard") from exc
    if "image" not in f or "label" not in f:
        f.close()
        raise ShardError(path, "lacks the image or label dataset", "a samples shard")
    return f


def _require_fields(info: EntryInfo, names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in info.spec.field_names]
    if missing:
        raise SchemaError(info.path, f"{info.spec.kind} store has no {missing}", f"fields {names}")


def _kept_rows(entry: Path, info: EntryInfo, drop_uncertain: float) -> np.ndarray:
    """Sorted entry rows [N'] left after dropping the `drop_uncertain` most uncertain fraction."""
    n = info.n_samples
    if drop_uncertain == 0.0:
        return np.arange(n, dtype=np.int64)
    if drop_uncertain == info.drop_uncertain and "score" in info.spec.field_names:
        with h5py.File(entry, "r") as f:
            kept = f["manifest"]["kept"][...] if "kept" in f["manifest"] else None
        if kept is not None and len(kept) == n:
            return np.flatnonzero(kept).astype(np.int64)
    scores = _read_scores(entry, info) if n else np.zeros(0, dtype=np.float32)
    return keep_rows(scores, drop_uncertain)


def _read_scores(entry: Path, info: EntryInfo) -> np.ndarray:
    _require_fields(info, ("score",))
    with h5py.File(entry, "r") as f:
        return np.asarray(f["score"][...], dtype=np.float32)
