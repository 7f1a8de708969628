"""docker-compose.yml, prefect.yaml and the Dockerfile, parsed and cross-checked (no Docker engine
here): the services Prefect's self-hosting guide describes, wired to each other and to the flows."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from typing import Any

import prefect
import pytest
import yaml
from prefect import Flow

from datasetgan.pipeline.params import BuildParams
from tests.flows.helpers import REPO


def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml("docker-compose.yml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _yaml("prefect.yaml")


def test_postgres_and_server(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose["volumes"]
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    name, _, mount = pg["volumes"][0].partition(":")
    assert name in volumes and mount == "/var/lib/postgresql/data"
    server = services["prefect-server"]
    assert server["image"] == f"prefecthq/prefect:{prefect.__version__}-python3.11"
    assert server["command"].startswith("prefect server start") and "0.0.0.0" in server["command"]
    env = pg["environment"]
    url = f"postgresql+asyncpg://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}"
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"] == url
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "4200:4200" in server["ports"] and "api/health" in " ".join(
        server["healthcheck"]["test"]
    )


def test_worker_and_dask_share_the_image_api_and_volume(
    compose: dict[str, Any], deploy: dict[str, Any]
) -> None:
    services = compose["services"]
    pool = deploy["definitions"]["work_pools"]["process_pool"]["name"]
    ours = [services[s] for s in ("worker", "dask-scheduler", "dask-worker")]
    assert {s["image"] for s in ours} == {"datasetgan-pipeline:latest"}
    assert (
        all(s["build"]["dockerfile"] == "Dockerfile" for s in ours)
        and (REPO / "Dockerfile").is_file()
    )
    assert all(
        s["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api" for s in ours
    )
    assert all("datasets:/data" in s["volumes"] for s in ours) and "datasets" in compose["volumes"]
    assert services["worker"]["command"] == f"prefect worker start --pool {pool} --type process"
    assert services["worker"]["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert services["dask-scheduler"]["command"].startswith(
        "dask scheduler --host 0.0.0.0 --port 8786"
    )
    worker = services["dask-worker"]
    assert (
        worker["command"].startswith("dask worker tcp://dask-scheduler:8786")
        and "--nthreads 1" in worker["command"]
    )
    assert worker["deploy"]["replicas"] >= 2


def test_deployments_name_real_flows(deploy: dict[str, Any], compose: dict[str, Any]) -> None:
    names = set()
    for d in deploy["deployments"]:
        path, _, attr = d["entrypoint"].partition(":")
        spec = importlib.util.spec_from_file_location(f"_entry_{attr}", REPO / path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        flow = getattr(module, attr)
        assert isinstance(flow, Flow) and d["work_pool"]["name"] == "datasetgan"
        names.add(f"{flow.name}/{d['name']}")
    assert names == {
        "sample_for_annotation/on-demand",
        "train_interpreter/on-demand",
        "generate_dataset/on-demand",
        "build_dataset/nightly-build",
    }
    nightly = next(d for d in deploy["deployments"] if d["name"] == "nightly-build")
    assert nightly["schedules"][0]["cron"] == "0 2 * * *" and nightly["concurrency_limit"] == 1
    params = nightly["parameters"]["params"]
    assert set(params) <= set(BuildParams.model_fields)
    assert (
        params["store"].startswith("/data/")
        and params["runner"]["address"] == "tcp://dask-scheduler:8786"
    )


def test_dockerfile_and_project_dir(deploy: dict[str, Any], compose: dict[str, Any]) -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert '"torch==2.13.0"' in text and "download.pytorch.org/whl/cpu" in text
    assert "DATASETGAN_PROJECT_DIR=/opt/datasetgan" in text and "WORKDIR /opt/datasetgan" in text
    step = deploy["pull"][0]["prefect.deployments.steps.set_working_directory"]
    assert step["directory"] == "{{ $DATASETGAN_PROJECT_DIR }}"
    assert (
        compose["services"]["worker"]["environment"]["DATASETGAN_PROJECT_DIR"] == "/opt/datasetgan"
    )
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignored and ".git" in ignored


def _compose_commands() -> list[list[str]]:
    """Real Compose implementations on this machine: the docker CLI plugin, docker-compose (v1)."""
    found = []
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        found.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    return found


def test_compose_implementation_accepts_the_file() -> None:
    commands = _compose_commands()
    if not commands:
        pytest.skip(
            "no docker compose / docker-compose here (Debian: apt-get install docker-compose)"
        )
    for cmd in commands:
        result = subprocess.run([*cmd, "config", "-q"], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(cmd)}: {result.stderr}"
