"""A generation killed mid-run (SIGKILL, the whole process group) and run again resumes: nothing
lost, nothing duplicated, the store equal to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

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


def _start_and_wait_for_shards(
    cmd: list[str], out: Path, log: IO[bytes], shards: int
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group; return once ``shards`` shards of ``out`` landed (or
    it exited, or 300 s passed)."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "shards").glob("shard-*.h5"))) >= shards:
            break
        time.sleep(0.05)
    return proc


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
    # 1. Kill the run (and its temporary Prefect server) once a few shards have landed.
    proc = _start_and_wait_for_shards(cmd, out, log, 3)
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


def _children_running(pid: int, needle: str) -> list[int]:
    """PIDs of the live child processes of ``pid`` whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, ... after "(comm)"
        if int(fields[1]) == pid and fields[0] != "Z" and needle in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child processes from /proc")
def test_sigterm_stops_the_temporary_server(tmp_path: Path) -> None:
    """``kill PID`` (SIGTERM) of a running command exits 143 and stops the temporary Prefect
    server it started, instead of leaving it running; the shards that landed stay whole."""
    g = tiny_generator(tmp_path / "g", resolution=32)
    interp = random_interpreter(g, tmp_path / "interp")
    out = tmp_path / "ds"
    args = _args(g, interp, out)
    args[args.index("--n") + 1] = "4096"  # still running when it is killed
    cmd = [sys.executable, "-m", "datasetgan.flows.cli", "generate", *args]
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    proc = _start_and_wait_for_shards(cmd, out, log, 2)
    try:
        servers = _children_running(proc.pid, "uvicorn")
        assert len(servers) == 1, (tmp_path / "run.log").read_text()[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 15
        while _alive(servers[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(servers[0]), "the temporary Prefect server outlived the killed command"
        assert len(ShardedStore.open(out).complete_shards()) >= 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
