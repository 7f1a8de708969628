"""SegmentationDataset: tensors, DataLoader workers under fork and spawn, drop_uncertain, PNG export."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from datasetgan.storage import SegmentationDataset, ShardedStore, keep_rows
from tests.storage.helpers import CLASSES, SHARD, build, sample_batch

N = 2 * SHARD + 3


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ShardedStore:
    return build(tmp_path_factory.mktemp("ds") / "store", N)


def test_items_are_tensors_with_the_stored_content(store: ShardedStore) -> None:
    ds = SegmentationDataset(store.path)
    want = sample_batch(0, N)
    assert len(ds) == N and ds.class_names == CLASSES
    image, label = ds[5]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    assert label.shape == (8, 8) and label.dtype == torch.int64
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert torch.equal(label, torch.from_numpy(want["label"][5]))
    raw = SegmentationDataset(store.entry_path, image_dtype="uint8")
    assert torch.equal(raw[5][0], torch.from_numpy(want["image"][5]).permute(2, 0, 1))
    assert torch.allclose(image, raw[5][0].float() / 255)


def test_pickles_without_open_files(store: ShardedStore) -> None:
    ds = SegmentationDataset(store.path)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[N - 1][1], ds[N - 1][1])
    ds.close()


_LOADER_CHECK = """
import sys, torch
from torch.utils.data import DataLoader
from tests.storage.helpers import sample_batch
from datasetgan.storage import SegmentationDataset
path, method, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = SegmentationDataset(path, image_dtype="uint8")
ds[0]  # a handle opened in the parent must not leak into the workers
loader = DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context=method)
images, labels = zip(*loader, strict=True)
want = sample_batch(0, n)
assert torch.equal(torch.cat(images), torch.from_numpy(want["image"]).permute(0, 3, 1, 2))
assert torch.equal(torch.cat(labels), torch.from_numpy(want["label"]))
print("ok")
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_two_workers(store: ShardedStore, method: str) -> None:
    """Runs in a fresh interpreter, as a training script would: forking a process that already
    runs other libraries' threads (e.g. an earlier test's Prefect server) is not what is tested."""
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent.parent)])}
    result = subprocess.run(
        [sys.executable, "-c", _LOADER_CHECK, str(store.path), method, str(N)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_drop_uncertain_leaves_out_the_highest_scores(store: ShardedStore) -> None:
    scores = sample_batch(0, N)["score"]
    ds = SegmentationDataset(store.path, drop_uncertain=0.3)
    n_drop = int(0.3 * N)
    assert len(ds) == N - n_drop
    dropped = set(range(N)) - set(ds.sample_ids.tolist())
    assert dropped == set(np.argsort(-scores)[:n_drop].tolist())
    assert max(scores[list(ds.sample_ids)]) <= min(scores[list(dropped)])
    assert torch.equal(ds[0][1], torch.from_numpy(sample_batch(0, N)["label"][ds.sample_ids[0]]))
    with pytest.raises(
        ValueError, match=r"got drop_uncertain 1.0, expected a fraction in \[0, 1\)"
    ):
        SegmentationDataset(store.path, drop_uncertain=1.0)


def test_keep_rows_ranks_nan_as_most_uncertain() -> None:
    scores = np.array([0.1, np.nan, 0.5, 0.5, 0.2], np.float32)
    assert keep_rows(scores, 0.0).tolist() == [0, 1, 2, 3, 4]
    assert keep_rows(scores, 0.2).tolist() == [0, 2, 3, 4]
    assert keep_rows(scores, 0.6).tolist() == [0, 4]


def test_transform_is_applied(store: ShardedStore) -> None:
    ds = SegmentationDataset(store.path, transform=lambda im, lb: (im.flip(-1), lb.flip(-1)))
    plain = SegmentationDataset(store.path)
    assert torch.equal(ds[1][0], plain[1][0].flip(-1)) and torch.equal(
        ds[1][1], plain[1][1].flip(-1)
    )
