"""A generation killed mid-run (SIGKILL, the whole process group) and run again resumes: nothing
lost, nothing duplicated, the store equal to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasetgan.flows.generation import generate_dataset
from datasetgan.pipeline.params import GenerateParams
from datasetgan.storage import ShardedStore
from tests.flows.helpers import (
    REPO,
    assert_same_store,
    random_interpreter,
    store_arrays,
    tiny_generator,
)

N, SHARD = 64, 4


def _args(g: Path, interp: Path, out: Path) -> list[str]:
    return [
        str(g),
        str(interp),
        "--out",
        str(out),
        "--n",
        str(N),
        "--shard-size",
        str(SHARD),
        "--batch-size",
        "4",
    ]


@pytest.mark.slow
def test_killed_generation_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    g = tiny_generator(tmp_path / "g", resolution=32)
    interp = random_interpreter(g, tmp_path / "interp")
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "datasetgan.flows.cli",
        "generate",
        *_args(g, interp, out),
        "--logs",
    ]
    log = open(tmp_path / "killed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    # 1. Kill the run (and its temporary Prefect server) once a few shards have landed.
    deadline = time.monotonic() + 300
    shards = out / "shards"
    while time.monotonic() < deadline and proc.poll() is None:
        if shards.is_dir() and len(list(shards.glob("shard-*.h5"))) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    landed = ShardedStore.open(out).complete_shards()
    assert 3 <= len(landed) < N // SHARD, (tmp_path / "killed.log").read_text()[-2000:]
    # 2. Run it again: it resumes after the shards that landed.
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    # 3. Nothing lost or duplicated; equal to an uninterrupted run.
    ids = store_arrays(out)["sample"].tolist()
    assert ids == list(range(N))
    params = {
        "generator": g,
        "interpreter": interp,
        "out": tmp_path / "ref",
        "n": N,
        "shard_size": SHARD,
    }
    generate_dataset(GenerateParams.model_validate(params | {"render": {"batch_size": 4}}))
    assert_same_store(out, tmp_path / "ref")
