"""Against a real `prefect server start` (SQLite): generation on a Dask LocalCluster of 2 worker
processes equals the single-process store; `prefect deploy --all` with prefect.yaml, and a worker
that runs the build deployment; `datasetgan serve` running the scheduled build."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from datasetgan.flows.server import LocalServer
from tests.flows.helpers import (
    REPO,
    assert_same_store,
    cli,
    random_interpreter,
    store_arrays,
    tiny_generator,
)

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("prefect-server")) as s:
        yield s


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("assets")
    g = tiny_generator(root / "g", resolution=32)
    return g, random_interpreter(g, root / "interp")


def _generate(
    server: LocalServer, assets: tuple[Path, Path], out: Path, *extra: str
) -> dict[str, str]:
    """`datasetgan generate`, run from the store's parent folder (not the checkout)."""
    args = ["generate", str(assets[0]), str(assets[1]), "--out", str(out), "--n", "32"]
    args += ["--shard-size", "4", "--batch-size", "4", *extra]
    result = cli(*args, env=server.env(), cwd=out.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.__dict__


def _table(server: LocalServer, key: str) -> dict[str, object]:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list[object]:
        async with PrefectClient(server.api_url) as client:
            flt = ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            return await client.read_artifacts(artifact_filter=flt)  # type: ignore[return-value]

    import asyncio

    artifacts = asyncio.run(read())
    return {row["metric"]: row["value"] for row in json.loads(artifacts[0].data)}  # type: ignore[attr-defined]


def test_dask_two_worker_processes_equal_single_process(
    server: LocalServer, assets: tuple[Path, Path], tmp_path: Path
) -> None:
    _generate(server, assets, tmp_path / "one")
    _generate(server, assets, tmp_path / "dask", "--dask", "--workers", "2")
    assert_same_store(tmp_path / "one", tmp_path / "dask")
    assert store_arrays(tmp_path / "dask")["sample"].tolist() == list(range(32))
    assert _table(server, "dataset-dask")["worker processes used"] == 2


def test_deploy_all_and_worker_runs_the_build(
    server: LocalServer, assets: tuple[Path, Path], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _generate(server, assets, store)
    env = server.env() | {"DATASETGAN_PROJECT_DIR": str(REPO)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "prefect", *args]
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)

    assert run("work-pool", "create", "datasetgan", "--type", "process").returncode == 0
    deployed = run("--no-prompt", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    inspect = run("deployment", "inspect", "build_dataset/nightly-build")
    assert "'cron': '0 2 * * *'" in inspect.stdout and "'limit': 1" in inspect.stdout
    for name in (
        "sample_for_annotation/on-demand",
        "train_interpreter/on-demand",
        "generate_dataset/on-demand",
    ):
        assert run("deployment", "inspect", name).returncode == 0, name
    params = json.dumps({"params": {"store": str(store), "n": 8}})
    started = run("deployment", "run", "build_dataset/nightly-build", "--params", params)
    assert started.returncode == 0, started.stdout + started.stderr
    worker = run("worker", "start", "--pool", "datasetgan", "--run-once")
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    assert store_arrays(store)["sample"].tolist() == list(range(40))


@pytest.mark.slow
@pytest.mark.skipif(
    sqlalchemy.__version__ >= "2.1",
    reason=f"SQLAlchemy {sqlalchemy.__version__}: Prefect 3.8.8's scheduler fails on it "
    "('Can't evaluate bulk DML statement'); pin sqlalchemy<2.1",
)
def test_serve_runs_the_scheduled_build(
    server: LocalServer, assets: tuple[Path, Path], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _generate(server, assets, store)
    cmd = [
        sys.executable,
        "-m",
        "datasetgan.flows.cli",
        "serve",
        str(store),
        "--n",
        "8",
        "--cron",
        "* * * * *",
    ]
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=server.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(store_arrays(store)["sample"]) < 40:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(2)
    finally:
        _stop(proc)
        log.close()
    assert len(store_arrays(store)["sample"]) >= 40, (tmp_path / "serve.log").read_text()[-3000:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt `datasetgan serve` (and the flow runs it started), then make sure they are gone."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
