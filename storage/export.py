"""Exports of a samples store to the layouts downstream trainers read.

| format | layout | classes and palette |
|---|---|---|
| ``png`` | ``images/[split/]<id>.png`` (RGB), ``labels/[split/]<id>.png`` (palette PNG), ``manifest.csv`` | ``classes.json`` |
| ``mmseg`` | ``img_dir/<split>/<id>.png``, ``ann_dir/<split>/<id>.png`` (8-bit class ids, 255 = ignore) | ``metainfo.py`` (``METAINFO = dict(classes=..., palette=...)``) and ``classes.json`` |
| ``hf`` | ``data/<split>-NNNNN.parquet``: ``image`` and ``label`` Image columns, ``sample``, ``seed``, ``score`` | ``id2label.json``, features in the parquet metadata |
| ``webdataset`` | ``<split>-NNNNNN.tar``: ``<key>.png``, ``<key>.label.png``, ``<key>.json`` | ``classes.json`` |

Rows: the store's kept samples (its recorded ``drop_uncertain``, or the one given), split by a
seeded permutation (``train=0.9,val=0.1``: the first 90 % of the permutation are train). The parquet
and tar formats use their own libraries (``pyarrow``, ``webdataset``: ``pip install
datasetgan-pipeline[export]``). Every file is written under a temporary name and renamed, so a
killed export leaves no half-written file; a rerun with the same settings skips the files that
exist (``export.json`` records the settings, and a rerun with others is refused).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from datasetgan.storage.dataset import SegmentationDataset
from datasetgan.storage.errors import StorageError

FORMATS = ("png", "mmseg", "hf", "webdataset")
EXPORT_FILE = "export.json"
Progress = Callable[[int, int], None]


class ExportError(StorageError):
    """An export that cannot be made (bad settings, a missing library, another export's folder)."""


@dataclass(frozen=True)
class Split:
    """Named fractions that sum to 1, e.g. ``Split.parse("train=0.9,val=0.1")``."""

    names: tuple[str, ...] = ("train",)
    fractions: tuple[float, ...] = (1.0,)

    @classmethod
    def parse(cls, text: str | None) -> Split:
        if not text:
            return cls()
        names, fractions = [], []
        for part in text.split(","):
            name, _, value = part.partition("=")
            try:
                fraction = float(value)
            except ValueError:
                fraction = -1.0
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name.strip()) or not 0 < fraction <= 1:
                raise ExportError(
                    "--split", f"got {part!r} in {text!r}", "name=fraction, e.g. train=0.9,val=0.1"
                )
            names.append(name.strip())
            fractions.append(fraction)
        if len(set(names)) != len(names) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ExportError("--split", f"got {text!r}", "distinct names whose fractions sum to 1")
        return cls(tuple(names), tuple(fractions))

    def assign(self, n: int, seed: int) -> list[str]:
        """The split of each of n rows (a seeded permutation cut at the cumulative fractions)."""
        order = np.random.default_rng(seed).permutation(n)
        cuts = np.round(np.cumsum(self.fractions) * n).astype(int)
        out = [""] * n
        start = 0
        for name, stop in zip(self.names, cuts, strict=True):
            for row in order[start:stop]:
                out[int(row)] = name
            start = stop
        return out


@dataclass(frozen=True)
class ExportResult:
    format: str
    out: str
    n_samples: int
    per_split: dict[str, int]
    drop_uncertain: float
    files_written: int
    files_kept: int  # there from an earlier, interrupted run


def export_store(
    path: str | Path,
    out: str | Path,
    *,
    fmt: str,
    drop_uncertain: float | None = None,
    split: Split = Split(),
    seed: int = 0,
    shard_size: int = 1000,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the kept samples of the store at ``path`` to ``out`` (see the module docstring)."""
    if fmt not in FORMATS:
        raise ExportError(out, f"format {fmt!r}", f"one of {', '.join(FORMATS)}")
    writer = _WRITERS[fmt]  # checks its library before any work
    ds = SegmentationDataset(path, drop_uncertain=drop_uncertain, image_dtype="uint8")
    out = Path(out)
    settings = {"format": fmt, "store": str(Path(path).resolve()), "drop_uncertain": ds.drop_uncertain,
                "split": dict(zip(split.names, split.fractions, strict=True)), "seed": seed,
                "shard_size": shard_size, "n_samples": len(ds)}  # fmt: skip
    _claim(out, settings)
    rows = _Rows(ds, split.assign(len(ds), seed))
    written, kept = writer(rows, out, split, shard_size, progress or (lambda done, total: None))
    ds.close()
    per_split = {name: rows.splits.count(name) for name in split.names}
    result = ExportResult(fmt, str(out), len(ds), per_split, ds.drop_uncertain, written, kept)
    _write_json(out / EXPORT_FILE, settings | {"complete": True, "result": asdict(result)})
    return result


@dataclass
class _Rows:
    """The kept samples in store order, with their split, seed and score."""

    ds: SegmentationDataset
    splits: list[str]

    def __post_init__(self) -> None:
        import h5py

        with h5py.File(self.ds.entry_path, "r") as f:
            self.seeds = (
                f["seed"][...][self.ds.rows] if "seed" in f else np.zeros(len(self.ds), np.int64)
            )
            self.scores = (
                f["score"][...][self.ds.rows] if "score" in f else np.full(len(self.ds), np.nan)
            )

    @property
    def class_names(self) -> list[str]:
        return list(self.ds.class_names)

    @property
    def palette(self) -> list[list[int]]:
        return [list(map(int, c)) for c in self.ds.spec.palette]

    def name(self, i: int) -> str:
        return f"{int(self.ds.sample_ids[i]):08d}"

    def of(self, split: str) -> list[int]:
        return [i for i, s in enumerate(self.splits) if s == split]

    def read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ds.read(i)

    def meta(self, i: int) -> dict[str, Any]:
        return {"sample": int(self.ds.sample_ids[i]), "seed": int(self.seeds[i]),
                "score": float(self.scores[i])}  # fmt: skip


def _claim(out: Path, settings: dict[str, Any]) -> None:
    """Refuse a folder holding another export (or anything else); record this one's settings."""
    path = out / EXPORT_FILE
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        if {k: before.get(k) for k in settings} != settings:
            changed = [k for k in settings if before.get(k) != settings[k]]
            raise ExportError(out, f"holds an export with other {', '.join(changed)}",
                              "the same settings to resume, or another --out")  # fmt: skip
    elif out.exists() and any(out.iterdir()):
        raise ExportError(out, "not empty and not an export", "a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(path, settings | {"complete": False})


def _write_json(path: Path, data: Any) -> None:
    _atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def _atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _png(array: np.ndarray, mode: str, palette: Sequence[Sequence[int]] = ()) -> bytes:
    img = Image.fromarray(np.ascontiguousarray(array), mode=mode)
    if palette:
        table = np.zeros((256, 3), np.uint8)
        table[: len(palette)] = np.asarray(palette, np.uint8)
        img.putpalette(table.ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _labels_u8(label: np.ndarray) -> np.ndarray:
    if label.max(initial=0) > 255:
        raise ExportError(
            "label", f"class id {int(label.max())}", "at most 255 classes for 8-bit PNG labels"
        )
    return label.astype(np.uint8)


Writer = Callable[[_Rows, Path, Split, int, Progress], tuple[int, int]]


def _per_file(
    rows: _Rows,
    progress: Progress,
    files: Callable[[int], Iterator[tuple[Path, Callable[[], bytes]]]],
) -> tuple[int, int]:
    written = kept = 0
    for i in range(len(rows.splits)):
        for path, make in files(i):
            if path.is_file():
                kept += 1
            else:
                _atomic(path, make())
                written += 1
        progress(i + 1, len(rows.splits))
    return written, kept


def _write_png(
    rows: _Rows, out: Path, split: Split, shard_size: int, progress: Progress
) -> tuple[int, int]:
    sub = (lambda s: s) if len(split.names) > 1 else (lambda s: "")

    def files(i: int) -> Iterator[tuple[Path, Callable[[], bytes]]]:
        name, where, pair = (
            rows.name(i) + ".png",
            sub(rows.splits[i]),
            functools.cache(lambda: rows.read(i)),
        )
        yield out / "images" / where / name, lambda: _png(pair()[0], "RGB")
        yield out / "labels" / where / name, lambda: _png(_labels_u8(pair()[1]), "P", rows.palette)

    counts = _per_file(rows, progress, files)
    lines = ["file,split,sample,seed,score"] + [
        f"{rows.name(i)}.png,{rows.splits[i]},{rows.meta(i)['sample']},{rows.meta(i)['seed']},{rows.meta(i)['score']:.6g}"
        for i in range(len(rows.splits))
    ]
    _atomic(out / "manifest.csv", ("\n".join(lines) + "\n").encode())
    _write_json(out / "classes.json", {"class_names": rows.class_names, "palette": rows.palette})
    return counts


def _write_mmseg(
    rows: _Rows, out: Path, split: Split, shard_size: int, progress: Progress
) -> tuple[int, int]:
    def files(i: int) -> Iterator[tuple[Path, Callable[[], bytes]]]:
        name, where, pair = (
            rows.name(i) + ".png",
            rows.splits[i],
            functools.cache(lambda: rows.read(i)),
        )
        yield out / "img_dir" / where / name, lambda: _png(pair()[0], "RGB")
        yield out / "ann_dir" / where / name, lambda: _png(_labels_u8(pair()[1]), "L")

    counts = _per_file(rows, progress, files)
    meta = f"METAINFO = dict(\n    classes={tuple(rows.class_names)!r},\n    palette={rows.palette!r},\n)\n"
    _atomic(
        out / "metainfo.py",
        (
            "# mmsegmentation dataset metainfo (reduce_zero_label=False, ignore_index=255)\n" + meta
        ).encode(),
    )
    _write_json(out / "classes.json", {"class_names": rows.class_names, "palette": rows.palette})
    return counts


def _chunks(rows: _Rows, split: Split, shard_size: int) -> Iterator[tuple[str, int, list[int]]]:
    for name in split.names:
        members = rows.of(name)
        for k, start in enumerate(range(0, len(members), shard_size)):
            yield name, k, members[start : start + shard_size]


def _write_hf(
    rows: _Rows, out: Path, split: Split, shard_size: int, progress: Progress
) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    features = {"image": {"_type": "Image"}, "label": {"_type": "Image"},
                "sample": {"dtype": "int64", "_type": "Value"}, "seed": {"dtype": "int64", "_type": "Value"},
                "score": {"dtype": "float32", "_type": "Value"}}  # fmt: skip
    schema = pa.schema([("image", image), ("label", image), ("sample", pa.int64()), ("seed", pa.int64()),
                        ("score", pa.float32())],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})  # fmt: skip
    written = kept = done = 0
    for name, k, members in _chunks(rows, split, shard_size):
        path = out / "data" / f"{name}-{k:05d}.parquet"
        done += len(members)
        if path.is_file():
            kept += 1
            continue
        cols: dict[str, list[Any]] = {c: [] for c in ("image", "label", "sample", "seed", "score")}
        for i in members:
            img, lab = rows.read(i)
            cols["image"].append({"bytes": _png(img, "RGB"), "path": rows.name(i) + ".png"})
            cols["label"].append(
                {"bytes": _png(_labels_u8(lab), "L"), "path": rows.name(i) + ".label.png"}
            )
            for key, value in rows.meta(i).items():
                cols[key].append(value)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols, schema=schema), tmp)
        os.replace(tmp, path)
        written += 1
        progress(done, len(rows.splits))
    _write_json(out / "id2label.json", {str(k): n for k, n in enumerate(rows.class_names)})
    _write_json(out / "classes.json", {"class_names": rows.class_names, "palette": rows.palette})
    return written, kept


def _write_webdataset(
    rows: _Rows, out: Path, split: Split, shard_size: int, progress: Progress
) -> tuple[int, int]:
    import webdataset as wds

    written = kept = done = 0
    for name, k, members in _chunks(rows, split, shard_size):
        path = out / f"{name}-{k:06d}.tar"
        done += len(members)
        if path.is_file():
            kept += 1
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        with wds.TarWriter(str(tmp)) as sink:
            for i in members:
                img, lab = rows.read(i)
                sink.write({"__key__": rows.name(i), "png": _png(img, "RGB"),
                            "label.png": _png(_labels_u8(lab), "L"), "json": json.dumps(rows.meta(i)).encode()})  # fmt: skip
        os.replace(tmp, path)
        written += 1
        progress(done, len(rows.splits))
    _write_json(out / "classes.json", {"class_names": rows.class_names, "palette": rows.palette})
    return written, kept


def _needs(module: str, fmt: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ExportError(fmt, f"the {module!r} package is not installed",
                          f"`pip install datasetgan-pipeline[export]` (or `pip install {module}`)")  # fmt: skip


class _Writers(dict[str, Writer]):
    def __getitem__(self, fmt: str) -> Writer:
        for module in {"hf": ("pyarrow",), "webdataset": ("webdataset",)}.get(fmt, ()):
            _needs(module, fmt)
        return super().__getitem__(fmt)


_WRITERS = _Writers(png=_write_png, mmseg=_write_mmseg, hf=_write_hf, webdataset=_write_webdataset)


def export_pngs(
    path: str | Path, out_dir: str | Path, *, drop_uncertain: float | None = None
) -> int:
    """The ``png`` export of every kept sample (the store's drop unless given); returns the count."""
    return export_store(path, out_dir, fmt="png", drop_uncertain=drop_uncertain).n_samples
