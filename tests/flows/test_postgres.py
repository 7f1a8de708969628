"""The Prefect server on a real PostgreSQL (what docker-compose.yml runs): a private cluster in a
temporary folder, `prefect server start` on postgresql+asyncpg, a flow run recorded in its tables.
Installs Debian's postgresql package when it is missing and this is a root Debian box; else skips."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from datasetgan.flows.server import LocalServer, free_port
from tests.flows.helpers import cli, tiny_generator

pytestmark = pytest.mark.server


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _install_postgres() -> Path | None:
    if _pg_bin() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
            subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
    return _pg_bin()


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """initdb and postgres refuse to run as root: run them as the 'postgres' user then."""
    cmd = ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    bin_dir = _install_postgres()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed and cannot be (needs root and apt-get on Debian)")
    root = Path(
        tempfile.mkdtemp(prefix="datasetgan-pg-")
    )  # pytest's tmp is not reachable by postgres
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        for p in (root, data):
            shutil.chown(p, "postgres")
    port = free_port()
    init = run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"])
    if init.returncode:
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    start = run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ]
    )
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        psql = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        for sql in (
            "CREATE USER prefect PASSWORD 'prefect'",
            "CREATE DATABASE prefect OWNER prefect",
        ):
            made = run([*psql, "-c", sql])
            assert made.returncode == 0, made.stderr
        yield f"postgresql+asyncpg://prefect:prefect@127.0.0.1:{port}/prefect"
    finally:
        run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def test_server_on_postgres_records_a_flow_run(postgres: str, tmp_path: Path) -> None:
    g = tiny_generator(tmp_path / "g")
    with LocalServer(tmp_path / "home", database_url=postgres) as server:
        result = cli(
            "sample",
            str(g),
            "--out",
            str(tmp_path / "ann"),
            "--n",
            "8",
            "--shard-size",
            "8",
            env=server.env(),
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    port = postgres.rsplit(":", 1)[1].split("/")[0]
    psql = str(_pg_bin() / "psql")  # type: ignore[operator]
    query = "SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id ORDER BY f.name"
    rows = subprocess.run(
        [psql, "-h", "127.0.0.1", "-p", port, "-U", "prefect", "-d", "prefect", "-At", "-c", query],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PGPASSWORD="prefect"),
    )  # fmt: skip
    assert rows.returncode == 0, rows.stderr
    assert (
        "render-shards|COMPLETED" in rows.stdout
        and "sample_for_annotation|COMPLETED" in rows.stdout
    )
