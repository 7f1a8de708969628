"""A writer killed with SIGKILL mid-shard: the store still opens, resumes, and ends equal to a clean build."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from datasetgan.storage import SegmentationDataset, ShardedStore
from tests.storage.helpers import SHARD, build, sample_batch

HERE = Path(__file__).parent
N = 3 * SHARD + 2  # shards 0..3, the last one short


def _run_writer(path: Path, n: int, hold_at: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}  # the repository: tests.storage
    cmd = [sys.executable, "-m", "tests.storage.kill_writer", str(path), str(n), str(hold_at)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)


def _kill_mid_shard(path: Path, hold_at: int) -> None:
    proc = _run_writer(path, N, hold_at)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "HOLD"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


def _datasets(store: ShardedStore) -> dict[str, np.ndarray]:
    with h5py.File(store.entry_path, "r") as f:
        return {name: f[name][...] for name in store.spec.field_names}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> ShardedStore:
    return build(tmp_path_factory.mktemp("clean") / "store", N)


def test_killed_writer_leaves_complete_shards_readable_and_resume_matches(
    tmp_path: Path, clean: ShardedStore
) -> None:
    path = tmp_path / "store"
    _kill_mid_shard(path, hold_at=2 * SHARD + 1)  # two samples into shard 2

    killed = ShardedStore.open(path)
    assert killed.complete_shards() == [0, 1]
    assert killed.partial_shards() == [2]
    assert [s.index for s in killed.pending(N)] == [2, 3]
    killed.validate(deep=True)
    ds = SegmentationDataset(path)
    assert len(ds) == 2 * SHARD
    image, label = ds[2 * SHARD - 1]
    expected = sample_batch(2 * SHARD - 1, 2 * SHARD)
    assert np.array_equal(
        image.permute(1, 2, 0).mul(255).round().byte().numpy(), expected["image"][0]
    )
    assert np.array_equal(label.numpy(), expected["label"][0])
    before = {i: _sha(killed.shard_path(i)) for i in (0, 1)}

    resumed = build(path, N)
    assert resumed.complete_shards() == [0, 1, 2, 3]
    assert resumed.partial_shards() == []
    assert {i: _sha(resumed.shard_path(i)) for i in (0, 1)} == before  # untouched
    assert len(resumed.remove_tmp()) == 1
    got, want = _datasets(resumed), _datasets(clean)
    for name in clean.spec.field_names:
        assert got[name].dtype == want[name].dtype, name
        assert np.array_equal(got[name], want[name]), name
    for i in range(4):  # shards are byte-identical too
        assert _sha(resumed.shard_path(i)) == _sha(clean.shard_path(i))
    assert resumed.manifest().equals(clean.manifest())


def test_kill_in_first_shard_leaves_an_empty_readable_store(tmp_path: Path) -> None:
    path = tmp_path / "store"
    _kill_mid_shard(path, hold_at=0)
    store = ShardedStore.open(path)
    assert store.complete_shards() == []
    assert store.partial_shards() == [0]
    assert len(SegmentationDataset(path)) == 0
    assert len(store.manifest()) == 0
