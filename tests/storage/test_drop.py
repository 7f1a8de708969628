"""The store remembers `drop_uncertain`: store.json, data.h5 attribute + `manifest/kept`, reader default."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from datasetgan.storage import (
    SegmentationDataset,
    ShardedStore,
    embeddings_spec,
    keep_rows,
    load_entry,
    read_manifest,
)
from tests.storage.helpers import PROVENANCE, SHARD, build, sample_batch, tiny_spec

N = 2 * SHARD + 2  # 10 samples: 3 shards


def _kept(store: ShardedStore) -> np.ndarray:
    with h5py.File(store.entry_path, "r") as f:
        assert f["manifest"]["kept"].dtype == np.bool_
        return f["manifest"]["kept"][...]


def _attr(store: ShardedStore) -> float:
    with h5py.File(store.entry_path, "r") as f:
        return float(f.attrs["drop_uncertain"])


def test_set_writes_attribute_kept_and_store_json(tmp_path: Path) -> None:
    store = build(tmp_path / "s", N)
    assert _attr(store) == 0.0 and _kept(store).all() and len(_kept(store)) == N
    store.set_drop_uncertain(0.3)
    scores = sample_batch(0, N)["score"]
    want = np.zeros(N, dtype=bool)
    want[keep_rows(scores, 0.3)] = True
    assert _attr(store) == pytest.approx(0.3)
    assert _kept(store).tolist() == want.tolist() and int(want.sum()) == N - 3
    assert set(np.argsort(-scores)[:3]) == set(np.flatnonzero(~want))
    meta = json.loads((store.path / "store.json").read_text("utf-8"))
    assert meta["drop_uncertain"] == pytest.approx(0.3)
    assert ShardedStore.open(store.path).drop_uncertain == pytest.approx(0.3)
    assert load_entry(store.entry_path).drop_uncertain == pytest.approx(0.3)


def test_default_reader_honours_the_entry_value(tmp_path: Path) -> None:
    store = build(tmp_path / "s", N)
    assert len(SegmentationDataset(store.path)) == N  # absent / 0: everything
    store.set_drop_uncertain(0.3)
    ds = SegmentationDataset(store.path)
    scores = sample_batch(0, N)["score"]
    assert ds.drop_uncertain == pytest.approx(0.3)
    assert ds.rows.tolist() == keep_rows(scores, 0.3).tolist()
    assert len(ds) == N - 3
    worst = int(np.argmax(scores))
    assert worst not in ds.sample_ids.tolist()


def test_explicit_value_overrides_the_entry(tmp_path: Path) -> None:
    store = build(tmp_path / "s", N)
    store.set_drop_uncertain(0.3)
    scores = sample_batch(0, N)["score"]
    assert len(SegmentationDataset(store.path, drop_uncertain=0.0)) == N
    ds = SegmentationDataset(store.entry_path, drop_uncertain=0.5)
    assert ds.rows.tolist() == keep_rows(scores, 0.5).tolist() and len(ds) == N - 5


def test_value_persists_across_append_and_rebuild(tmp_path: Path) -> None:
    store = build(tmp_path / "s", SHARD)
    store.set_drop_uncertain(0.25)
    # a later process (fresh ShardedStore objects) appends shards; each commit rebuilds the entry
    grown = build(tmp_path / "s", N)
    assert grown.drop_uncertain == pytest.approx(0.25)
    assert _attr(grown) == pytest.approx(0.25)
    scores = sample_batch(0, N)["score"]
    assert np.flatnonzero(_kept(grown)).tolist() == keep_rows(scores, 0.25).tolist()
    assert len(SegmentationDataset(grown.path)) == N - 2
    # a stale handle's rebuild keeps what another process set
    stale = ShardedStore.open(store.path)
    ShardedStore.open(store.path).set_drop_uncertain(0.5)
    stale.refresh_entry()
    assert _attr(stale) == pytest.approx(0.5) and stale.drop_uncertain == pytest.approx(0.5)
    # create(exist_ok=True) (a resume) keeps it too
    again = build(tmp_path / "s", N)
    assert again.drop_uncertain == pytest.approx(0.5) and int(_kept(again).sum()) == N - 5


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, math.nan, math.inf, True, "0.1", None])
def test_refuses_bad_fractions(tmp_path: Path, bad: object) -> None:
    store = build(tmp_path / "s", SHARD)
    before = (store.path / "store.json").read_bytes()
    with pytest.raises(ValueError, match=r"expected a fraction in \[0, 1\)"):
        store.set_drop_uncertain(bad)  # type: ignore[arg-type]
    assert (store.path / "store.json").read_bytes() == before
    assert _attr(store) == 0.0


def test_manifest_has_kept_column(tmp_path: Path) -> None:
    store = build(tmp_path / "s", N)
    frame = read_manifest(store.path)
    assert frame["kept"].dtype == np.bool_ and frame["kept"].all()
    store.set_drop_uncertain(0.3)
    frame = store.manifest()
    assert list(frame.columns)[-1] == "kept"
    dropped = frame.loc[~frame["kept"], "score"]
    assert len(dropped) == 3 and dropped.min() >= frame.loc[frame["kept"], "score"].max()


def test_nan_scores_are_dropped_first(tmp_path: Path) -> None:
    store = ShardedStore.create(tmp_path / "s", tiny_spec(), provenance=PROVENANCE)
    batch = sample_batch(0, SHARD)
    batch["score"] = np.array([0.1, np.nan, 0.9, 0.2], dtype=np.float32)
    store.write_shard(store.plan(SHARD)[0], batch)
    store.set_drop_uncertain(0.5)
    assert _kept(store).tolist() == [True, False, False, True]
    assert SegmentationDataset(store.path).sample_ids.tolist() == [0, 3]


def test_embeddings_store_keeps_every_row(tmp_path: Path) -> None:
    store = ShardedStore.create(
        tmp_path / "e", embeddings_spec(n_latent=2, w_dim=2, shard_size=3), provenance=PROVENANCE
    )
    rows = {
        "w_plus": np.zeros((3, 2, 2), dtype=np.float32),
        "source": np.array(["a.png", "b.png", "c.png"], dtype=object),
        "status": np.zeros(3, dtype=np.uint8),
        "error": np.array(["", "", ""], dtype=object),
        **{m: np.full(3, np.nan, dtype=np.float32) for m in ("mse_before", "lpips_before")},
        **{m: np.full(3, np.nan, dtype=np.float32) for m in ("mse_after", "lpips_after")},
    }
    store.write_shard(store.plan(3)[0], rows)
    store.set_drop_uncertain(0.5)
    assert _attr(store) == pytest.approx(0.5) and _kept(store).tolist() == [True] * 3
    assert read_manifest(store.path)["kept"].tolist() == [True] * 3
