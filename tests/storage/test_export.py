"""`export`: every format read back by its consumer's own reader (datasets.load_dataset for the
parquet files, webdataset.WebDataset for the tars, the mmseg folder convention file by file), the
store's drop honoured, deterministic splits, resume without rewriting, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasetgan.storage import ShardedStore
from datasetgan.storage.export import ExportError, Split, export_pngs, export_store
from tests.storage.helpers import CLASSES, build, sample_batch

N = 10


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ShardedStore:
    s = build(tmp_path_factory.mktemp("export") / "s", N)
    s.set_drop_uncertain(0.2)  # the store's recorded drop: its 2 most uncertain samples go
    return s


def _kept(store: ShardedStore, drop: float = 0.2) -> list[int]:
    scores = sample_batch(0, N)["score"]
    order = np.argsort(-scores, kind="stable")
    return sorted(int(i) for i in order[int(np.floor(drop * N + 1e-9)) :])


def test_split_is_deterministic_and_covers_every_row() -> None:
    split = Split.parse("train=0.7,val=0.3")
    a, b = split.assign(20, seed=3), split.assign(20, seed=3)
    assert a == b and a.count("train") == 14 and a.count("val") == 6
    assert split.assign(20, seed=4) != a
    for bad in ("train=0.9", "train=0.5,train=0.5", "a b=1", "x=zero"):
        with pytest.raises(ExportError, match="--split"):
            Split.parse(bad)


def test_png_honours_the_store_drop(store: ShardedStore, tmp_path: Path) -> None:
    assert export_pngs(store.path, tmp_path / "png") == 8
    names = sorted(p.name for p in (tmp_path / "png" / "images").iterdir())
    assert names == [f"{i:08d}.png" for i in _kept(store)]
    label = Image.open(tmp_path / "png" / "labels" / names[0])
    want = sample_batch(0, N)["label"][int(names[0][:8])]
    assert label.mode == "P" and np.array_equal(np.asarray(label), want)
    assert json.loads((tmp_path / "png" / "classes.json").read_text())["class_names"] == list(
        CLASSES
    )
    every = export_store(store.path, tmp_path / "all", fmt="png", drop_uncertain=0.0)
    assert every.n_samples == N


def test_mmseg_folders_file_by_file(store: ShardedStore, tmp_path: Path) -> None:
    out = tmp_path / "mmseg"
    r = export_store(store.path, out, fmt="mmseg", split=Split.parse("train=0.75,val=0.25"), seed=1)
    assert r.per_split == {"train": 6, "val": 2}
    want = sample_batch(0, N)
    for split, count in r.per_split.items():
        images = sorted((out / "img_dir" / split).iterdir())
        anns = sorted((out / "ann_dir" / split).iterdir())
        assert [p.name for p in images] == [p.name for p in anns] and len(images) == count
        for img, ann in zip(images, anns, strict=True):
            sample = int(img.stem)
            a = Image.open(ann)
            assert Image.open(img).mode == "RGB" and a.mode == "L"  # single-channel class ids
            assert np.array_equal(np.asarray(a), want["label"][sample])
            assert np.array_equal(np.asarray(Image.open(img)), want["image"][sample])
    namespace: dict[str, object] = {}
    exec((out / "metainfo.py").read_text(), namespace)
    assert namespace["METAINFO"]["classes"] == CLASSES  # type: ignore[index]


def test_hf_parquet_reads_back_with_datasets(store: ShardedStore, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    export_store(store.path, out, fmt="hf", split=Split.parse("train=0.5,val=0.5"), shard_size=3)
    files = {
        s: sorted(str(p) for p in (out / "data").glob(f"{s}-*.parquet")) for s in ("train", "val")
    }
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert ds["train"].num_rows == 4 and ds["val"].num_rows == 4
    assert isinstance(ds["train"].features["image"], datasets.Image)
    row = ds["train"][0]
    want = sample_batch(0, N)
    assert np.array_equal(np.asarray(row["image"]), want["image"][row["sample"]])
    assert np.array_equal(np.asarray(row["label"]), want["label"][row["sample"]])
    assert json.loads((out / "id2label.json").read_text()) == {
        "0": "background",
        "1": "hair",
        "2": "skin",
    }


def test_webdataset_reads_back_with_webdataset(store: ShardedStore, tmp_path: Path) -> None:
    wds = pytest.importorskip("webdataset")
    out = tmp_path / "wds"
    export_store(store.path, out, fmt="webdataset", shard_size=5)
    tars = sorted(str(p) for p in out.glob("train-*.tar"))
    assert len(tars) == 2
    want = sample_batch(0, N)
    seen = []
    for item in wds.WebDataset(tars, shardshuffle=False).decode("rgb8"):
        sample = item["json"]["sample"]
        seen.append(sample)
        assert np.array_equal(item["png"], want["image"][sample])
        assert np.array_equal(item["label.png"][..., 0], want["label"][sample])  # grey ids
    assert sorted(seen) == _kept(store)


def test_resume_keeps_files_and_other_settings_are_refused(
    store: ShardedStore, tmp_path: Path
) -> None:
    out = tmp_path / "png"
    first = export_store(store.path, out, fmt="png")
    (out / "images" / f"{_kept(store)[0]:08d}.png").unlink()  # as if killed mid-way
    (out / "export.json").write_text(
        json.dumps(json.loads((out / "export.json").read_text()) | {"complete": False})
    )
    again = export_store(store.path, out, fmt="png")
    assert again.files_written == 1 and again.files_kept == 2 * first.n_samples - 1
    assert not list(out.rglob(".*.tmp"))
    with pytest.raises(ExportError, match="holds an export with other drop_uncertain"):
        export_store(store.path, out, fmt="png", drop_uncertain=0.5)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("x")
    with pytest.raises(ExportError, match="not empty and not an export"):
        export_store(store.path, tmp_path / "busy", fmt="mmseg")
    with pytest.raises(ExportError, match="one of png, mmseg, hf, webdataset"):
        export_store(store.path, tmp_path / "x", fmt="coco")
