"""`datasetgan serve`: serve the flows from this process (prefect.serve), with build_dataset on a cron
schedule that appends to one store. Scheduling needs a Prefect server; without PREFECT_API_URL one is
started as a child process (SQLite under PREFECT_HOME) and stopped on exit."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from prefect import serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

from datasetgan.flows.errors import ServerError
from datasetgan.flows.generation import build_dataset, generate_dataset, sample_for_annotation
from datasetgan.flows.server import LocalServer
from datasetgan.flows.training import train_interpreter
from datasetgan.pipeline.params import BuildParams

BUILD_DEPLOYMENT = "scheduled-build"


def deployments(build: BuildParams, cron: str) -> list[RunnerDeployment]:
    """build_dataset on ``cron`` with ``build`` as its parameters; the other flows on demand."""
    params: dict[str, Any] = {"params": build.model_dump(mode="json")}
    scheduled = build_dataset.to_deployment(
        name=BUILD_DEPLOYMENT,
        cron=cron,
        parameters=params,
        concurrency_limit=1,  # two builds of one store would plan the same shards
        description=f"append {build.n} samples to {build.store} ({cron})",
        entrypoint_type=EntrypointType.MODULE_PATH,  # works from any directory
    )
    on_demand = [
        f.to_deployment(
            name="on-demand",
            description=f"{f.name}, run with parameters",
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for f in (sample_for_annotation, train_interpreter, generate_dataset)
    ]
    return cast(list[RunnerDeployment], [scheduled, *on_demand])  # sync calls: deployments


def run_server_and_serve(build: BuildParams, cron: str, *, start_server: bool) -> None:
    """Serve until interrupted; start a local server first when there is none to talk to."""
    with ExitStack() as stack:
        if start_server and not PREFECT_API_URL.value():
            server = stack.enter_context(LocalServer(Path(PREFECT_HOME.value()) / "serve"))
            os.environ["PREFECT_API_URL"] = server.api_url  # flow runs are child processes
            stack.enter_context(temporary_settings({PREFECT_API_URL: server.api_url}))
            print(
                f"Prefect server at {server.api_url.removesuffix('/api')} (UI); log {server.log_path}"
            )
        elif not PREFECT_API_URL.value():
            raise ServerError(
                "datasetgan serve",
                "scheduled runs need a Prefect server, but PREFECT_API_URL is not set",
                "`prefect server start` and PREFECT_API_URL=http://127.0.0.1:4200/api, or --start-server",
            )
        serve(*deployments(build, cron))
