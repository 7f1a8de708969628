"""Round trips, resume plans, append, codecs, the embeddings store and writer misuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from datasetgan.storage import (
    Compression,
    EmbeddingStatus,
    SchemaError,
    ShardedStore,
    ShardSlot,
    WriterError,
    embeddings_spec,
    load_entry,
    read_manifest,
)
from tests.storage.helpers import CLASSES, PROVENANCE, SHARD, build, sample_batch, tiny_spec

HERE = Path(__file__).parent


def _entry(store: ShardedStore) -> dict[str, np.ndarray]:
    with h5py.File(store.entry_path, "r") as f:
        return {name: f[name][...] for name in store.spec.field_names}


@pytest.mark.parametrize("codec", ["zstd", "gzip", "none"])
def test_round_trip_every_field_through_the_entry_file(tmp_path: Path, codec: str) -> None:
    store = ShardedStore.create(
        tmp_path / "s",
        tiny_spec(compression=Compression(codec=codec)),
        provenance=PROVENANCE,  # type: ignore[arg-type]
    )
    n = 2 * SHARD + 1
    for slot in store.pending(n):
        store.write_shard(slot, sample_batch(slot.start, slot.stop))
    got, want = _entry(store), sample_batch(0, n)
    for name, arr in want.items():
        assert got[name].dtype == store.spec.field(name).h5_dtype
        assert np.array_equal(got[name], arr.astype(got[name].dtype)), name
    with h5py.File(store.shard_path(0), "r") as f:
        assert f["image"].chunks == (1, 8, 8, 3)
        for field, expected in [
            ("image", {"zstd": {32015}, "gzip": set(), "none": set()}),  # gzip leaves images raw
            ("label", {"zstd": {32015}, "gzip": {h5py.h5z.FILTER_DEFLATE}, "none": set()}),
        ]:
            plist = f[field].id.get_create_plist()
            filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
            assert filters == expected[codec], field


def test_attributes_and_manifest(tmp_path: Path) -> None:
    store = build(tmp_path / "s", 6)
    with h5py.File(store.entry_path, "r") as f:
        assert f.attrs["schema_version"] == 1
        assert json.loads(f.attrs["class_names"]) == list(CLASSES)
        assert f.attrs["palette"].shape == (3, 3)
        assert f.attrs["fingerprint_generator"] == "ab" * 32
        assert json.loads(f.attrs["config_json"]) == {"n_samples": 10}
        assert f.attrs["created"] and f.attrs["package_version"]
        assert f["image"].is_virtual
    m = read_manifest(store.path)
    assert list(m.columns) == ["sample", "shard", "row", "seed", "score", "kept"]
    assert m["sample"].tolist() == list(range(6))
    assert m["shard"].tolist() == [0, 0, 0, 0, 1, 1]
    assert m["row"].tolist() == [0, 1, 2, 3, 0, 1]
    assert m["seed"].tolist() == [7000 + i for i in range(6)]
    assert np.allclose(m["score"], sample_batch(0, 6)["score"])


def test_plan_places_sample_i_in_shard_i_div_s(tmp_path: Path) -> None:
    store = ShardedStore.create(tmp_path / "s", tiny_spec())
    assert store.plan(0) == []
    assert store.plan(9) == [ShardSlot(0, 0, 4), ShardSlot(1, 4, 8), ShardSlot(2, 8, 9)]
    with pytest.raises(ValueError, match="expected start 4"):
        store.writer(ShardSlot(1, 3, 7))


def test_append_leaves_old_shards_untouched(tmp_path: Path) -> None:
    store = build(tmp_path / "s", 2 * SHARD)
    stats = {i: os.stat(store.shard_path(i)) for i in (0, 1)}
    store = build(tmp_path / "s", 4 * SHARD)
    assert store.complete_shards() == [0, 1, 2, 3]
    for i, st in stats.items():
        now = os.stat(store.shard_path(i))
        assert (now.st_ino, now.st_mtime_ns, now.st_size) == (st.st_ino, st.st_mtime_ns, st.st_size)
    assert np.array_equal(_entry(store)["image"], sample_batch(0, 4 * SHARD)["image"])


def test_writer_refuses_misuse_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = build(tmp_path / "s", SHARD)
    with pytest.raises(WriterError, match="already complete"):
        store.writer(store.plan(SHARD)[0])
    slot = store.plan(2 * SHARD)[1]
    with (
        pytest.raises(WriterError, match=r"3 samples written; expected 4"),
        store.writer(slot) as w,
    ):
        w.append(sample_batch(4, 7))
    with pytest.raises(ValueError, match=r"got shape \(1, 8, 8, 4\)"), store.writer(slot) as w:
        bad = sample_batch(4, 5)
        bad["image"] = np.zeros((1, 8, 8, 4), np.uint8)
        w.append(bad)
    with pytest.raises(ValueError, match=r"got class 3, expected 0..2"), store.writer(slot) as w:
        bad = sample_batch(4, 5)
        bad["label"][:] = 3
        w.append(bad)
    with pytest.raises(ValueError, match="expected"), store.writer(slot) as w:
        w.append({"image": sample_batch(4, 5)["image"]})
    assert store.complete_shards() == [0]
    assert list(store.shard_dir.glob("*.tmp")) == []


def test_create_exist_ok_resumes_only_a_compatible_store(tmp_path: Path) -> None:
    build(tmp_path / "s", 2)
    with pytest.raises(SchemaError, match="already exists"):
        ShardedStore.create(tmp_path / "s", tiny_spec())
    with pytest.raises(SchemaError, match="layout"):
        ShardedStore.create(tmp_path / "s", tiny_spec(height=16), exist_ok=True)
    other = type(PROVENANCE)(fingerprints={"generator": "ee" * 32})
    with pytest.raises(SchemaError, match="produced by"):
        ShardedStore.create(tmp_path / "s", tiny_spec(), provenance=other, exist_ok=True)


def test_resume_catches_up_an_entry_that_missed_a_landed_shard(tmp_path: Path) -> None:
    store = build(tmp_path / "s", SHARD)
    store.write_shard(store.plan(2 * SHARD)[1], sample_batch(SHARD, 2 * SHARD), refresh_entry=False)
    assert load_entry(store.entry_path).n_samples == SHARD  # as if killed right after the rename
    store = build(tmp_path / "s", 2 * SHARD)
    assert load_entry(store.entry_path).n_samples == 2 * SHARD


def test_entry_is_derived_and_rebuilt_when_deleted(tmp_path: Path) -> None:
    store = build(tmp_path / "s", 6)
    store.entry_path.unlink()
    store.refresh_entry()
    assert load_entry(store.entry_path).n_samples == 6


def test_two_processes_write_distinct_shards_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s"
    ShardedStore.create(path, tiny_spec(), provenance=PROVENANCE)
    code = (
        "import sys; from pathlib import Path; from tests.storage.helpers import sample_batch;"
        "from datasetgan.storage import ShardedStore; s = ShardedStore.open(Path(sys.argv[1]));"
        "[s.write_shard(slot, sample_batch(slot.start, slot.stop)) for slot in s.plan(32)"
        " if slot.index % 2 == int(sys.argv[2])]"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}  # the repository: tests.storage
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(k)], env=env) for k in (0, 1)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = ShardedStore.open(path)
    assert store.complete_shards() == list(range(8))
    assert load_entry(store.entry_path, verify="deep").n_samples == 32  # last refresh saw all
    assert np.array_equal(_entry(store)["seed"], sample_batch(0, 32)["seed"])


def test_embeddings_store_round_trip(tmp_path: Path) -> None:
    spec = embeddings_spec(
        n_latent=3, w_dim=4, class_names=CLASSES, label_shape=(8, 8), shard_size=2
    )
    store = ShardedStore.create(tmp_path / "e", spec)
    nan = np.float32("nan")
    batch = {
        "w_plus": np.ones((3, 3, 4), np.float32),
        "source": ["a/ä.png", "b/b.jpg", "c/broken.png"],
        "status": [EmbeddingStatus.OK, EmbeddingStatus.OK, EmbeddingStatus.READ_ERROR],
        "error": ["", "", "cannot identify image file"],
        "mse_before": [0.1, 0.2, nan],
        "lpips_before": [0.3, 0.4, nan],
        "mse_after": [0.05, 0.1, nan],
        "lpips_after": [0.2, 0.3, nan],
        "label": np.zeros((3, 8, 8), np.uint8),
    }
    for slot in store.pending(3):
        store.write_shard(slot, {k: v[slot.start : slot.stop] for k, v in batch.items()})
    m = store.manifest()
    assert m["source"].tolist() == batch["source"]
    assert m["status"].tolist() == [0, 0, 1]
    assert m["error"].tolist() == batch["error"]
    assert np.isnan(m["mse_after"][2]) and m["lpips_before"][1] == pytest.approx(0.4)
    with h5py.File(store.entry_path, "r") as f:
        assert f["w_plus"].shape == (3, 3, 4) and f["label"].dtype == np.uint8


_PLAIN_H5PY = """
import sys, h5py, json
with h5py.File(sys.argv[1], "r") as f:
    out = {name: f[name][...].tolist() for name in sys.argv[2:]}
    out["compression"] = f.attrs["compression"]
assert "hdf5plugin" not in sys.modules
print(json.dumps(out))
"""


def _read_plain(entry: Path, *fields: str) -> dict[str, object]:
    """``fields`` of a store read by a fresh interpreter with h5py alone (no hdf5plugin import)."""
    done = subprocess.run([sys.executable, "-c", _PLAIN_H5PY, str(entry), *fields],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


def test_default_stores_open_in_plain_h5py(tmp_path: Path) -> None:
    store = build(tmp_path / "s", 6)  # default compression
    got = _read_plain(store.entry_path, "image", "label", "w_plus", "seed", "score")
    want = sample_batch(0, 6)
    assert got["compression"] == "gzip"
    for name in ("image", "label", "seed"):
        assert np.array_equal(np.asarray(got[name]), want[name]), name
    assert np.allclose(np.asarray(got["w_plus"]), want["w_plus"])
    spec = embeddings_spec(n_latent=3, w_dim=4, shard_size=2)
    emb = ShardedStore.create(tmp_path / "e", spec)
    emb.write_shard(emb.pending(2)[0], {
        "w_plus": np.ones((2, 3, 4), np.float32), "source": ["a.png", "b.png"],
        "status": [0, 1], "error": ["", "bad"], "mse_before": [0.1, 0.2], "lpips_before": [0.1, 0.2],
        "mse_after": [0.1, 0.2], "lpips_after": [0.1, 0.2],
    })  # fmt: skip
    got = _read_plain(emb.entry_path, "status", "w_plus")
    assert got["status"] == [0, 1] and np.asarray(got["w_plus"]).shape == (2, 3, 4)


def test_a_zstd_store_says_so(tmp_path: Path) -> None:
    store = ShardedStore.create(tmp_path / "z", tiny_spec(compression=Compression("zstd")))
    store.write_shard(store.pending(2)[0], sample_batch(0, 2))
    with h5py.File(store.entry_path, "r") as f:
        assert f.attrs["compression"] == "zstd"
    assert (
        json.loads((store.path / "store.json").read_text())["spec"]["compression"]["codec"]
        == "zstd"
    )
