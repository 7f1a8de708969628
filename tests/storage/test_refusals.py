"""Bad input is refused with an error that names the file and the problem."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import pytest

from datasetgan.storage import (
    FieldSpec,
    NotAStoreError,
    SchemaError,
    SegmentationDataset,
    ShardedStore,
    ShardError,
    StorageError,
    StoreSpec,
    embeddings_spec,
    load_entry,
    read_manifest,
)
from tests.storage.helpers import PROVENANCE, SHARD, build, sample_batch, tiny_spec


@pytest.fixture()
def store(tmp_path: Path) -> ShardedStore:
    return build(tmp_path / "s", 2 * SHARD)


def _foreign_shard(tmp_path: Path, spec: StoreSpec, batch: dict) -> Path:
    """Shard 1 of another store with `spec` (so it can be dropped into the store under test)."""
    other = ShardedStore.create(tmp_path / "other", spec)
    slot = other.plan(2 * SHARD)[1]
    return other.write_shard(slot, {k: v for k, v in batch.items() if k in spec.field_names})


def _swap_in(store: ShardedStore, shard: Path) -> None:
    os.replace(shard, store.shard_path(1))


def test_newer_schema_version_in_store_json(store: ShardedStore) -> None:
    spec_path = store.path / "store.json"
    data = json.loads(spec_path.read_text())
    data["schema_version"] = 2
    spec_path.write_text(json.dumps(data))
    with pytest.raises(
        SchemaError, match=r"store\.json: schema_version 2 is newer than this reader"
    ):
        ShardedStore.open(store.path)


@pytest.mark.parametrize(("version", "words"), [(99, "is newer"), (0, "unknown schema_version 0")])
def test_unknown_schema_version_in_entry(store: ShardedStore, version: int, words: str) -> None:
    with h5py.File(store.entry_path, "r+") as f:
        f.attrs["schema_version"] = version
    with pytest.raises(SchemaError, match=rf"data\.h5: .*{words}"):
        SegmentationDataset(store.path)


def test_newer_schema_version_in_a_shard(store: ShardedStore) -> None:
    with h5py.File(store.shard_path(1), "r+") as f:
        f.attrs["schema_version"] = 3
    with pytest.raises(SchemaError, match=r"shard-00001\.h5: schema_version 3 is newer"):
        store.complete_shards()


def test_shard_with_other_shapes(tmp_path: Path, store: ShardedStore) -> None:
    shard = _foreign_shard(tmp_path, tiny_spec(height=16), sample_batch(4, 8, h=16))
    _swap_in(store, shard)
    with pytest.raises(
        ShardError, match=r"shard-00001\.h5: disagrees with the store: field 'image'.*16, 8, 3"
    ):
        store.refresh_entry()


def test_shard_with_other_dtype(tmp_path: Path, store: ShardedStore) -> None:
    base = tiny_spec()
    fields = tuple(
        FieldSpec("w_plus", "float16", f.shape) if f.name == "w_plus" else f for f in base.fields
    )
    spec = StoreSpec("samples", fields, base.class_names, base.palette, base.shard_size)
    _swap_in(store, _foreign_shard(tmp_path, spec, sample_batch(4, 8)))
    with pytest.raises(
        ShardError, match=r"shard-00001\.h5: .*field 'w_plus'.*float16.*expected.*float32"
    ):
        store.complete_shards()


def test_shard_with_other_classes(tmp_path: Path, store: ShardedStore) -> None:
    spec = tiny_spec(class_names=("background", "hair", "eyes"))
    _swap_in(store, _foreign_shard(tmp_path, spec, sample_batch(4, 8)))
    with pytest.raises(
        ShardError, match=r"shard-00001\.h5: .*class names \['background', 'hair', 'eyes'\]"
    ):
        store.pending(3 * SHARD)


def test_path_that_is_not_hdf5(tmp_path: Path) -> None:
    bogus = tmp_path / "data.h5"
    bogus.write_text("not hdf5")
    with pytest.raises(NotAStoreError, match=r"data\.h5: is not an HDF5 file"):
        SegmentationDataset(bogus)
    with pytest.raises(NotAStoreError, match=r"store\.json: is missing"):
        ShardedStore.open(tmp_path)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1]
    with pytest.raises(NotAStoreError, match=r"plain\.h5: has no schema_version"):
        read_manifest(plain)
    with pytest.raises(NotAStoreError, match="does not exist"):
        SegmentationDataset(tmp_path / "nowhere.h5")


def test_truncated_shard(store: ShardedStore) -> None:
    path = store.shard_path(1)
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(ShardError, match=r"shard-00001\.h5: is \d+ bytes but was \d+ .*truncated"):
        SegmentationDataset(store.path)
    with pytest.raises(
        ShardError, match=r"shard-00001\.h5: cannot be opened as HDF5 \(.*truncated"
    ):
        store.complete_shards()


def test_shard_truncated_while_a_reader_is_open(store: ShardedStore) -> None:
    ds = SegmentationDataset(store.path)
    path = store.shard_path(1)
    shutil.copy(path, path.with_suffix(".bak"))
    os.truncate(path, 2048)
    with pytest.raises(StorageError, match=r"shard-00001\.h5"):
        ds[SHARD + 3]


def test_missing_shard_is_an_error_not_fill_values(store: ShardedStore) -> None:
    store.shard_path(0).unlink()
    with pytest.raises(ShardError, match=r"shard-00000\.h5: is missing but data\.h5 lists it"):
        SegmentationDataset(store.path)
    with pytest.raises(ShardError, match="is missing"):
        load_entry(store.entry_path)
    assert [s.index for s in store.pending(2 * SHARD)] == [0]  # resume rebuilds it


def test_reader_refuses_a_store_without_images(tmp_path: Path) -> None:
    spec = embeddings_spec(n_latent=2, w_dim=2)
    store = ShardedStore.create(tmp_path / "e", spec, provenance=PROVENANCE)
    with pytest.raises(
        SchemaError, match=r"data\.h5: embeddings store has no \['image', 'label'\]"
    ):
        SegmentationDataset(store.path)
