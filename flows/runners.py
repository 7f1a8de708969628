"""Task runners for shard tasks: threads of the flow's process, or a Dask cluster (prefect-dask)."""

from __future__ import annotations

from typing import Any

from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from datasetgan.flows.errors import RunnerError
from datasetgan.pipeline.params import RunnerSpec


def task_runner(spec: RunnerSpec) -> TaskRunner[Any]:
    """``local``: a thread pool of ``workers``; ``dask``: the cluster at ``address``, or a LocalCluster
    of ``workers`` processes with one thread each (torch threads are set per task by the recipe).

    LocalCluster workers report their task runs to the API this process uses, even the temporary
    server of a run without one (its address is handed to them): they never start servers of their own.
    """
    if spec.kind == "local":
        return ThreadPoolTaskRunner(max_workers=spec.workers)
    from prefect_dask import DaskTaskRunner

    if spec.address:
        return DaskTaskRunner(address=spec.address)
    with get_client(sync_client=True) as client:
        api_url = str(client.api_url)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": spec.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": ":0",  # a free port: never clash with another cluster
            "env": {"PREFECT_API_URL": api_url},
        }
    )


def check_runner(spec: RunnerSpec) -> None:
    """Refuse a remote Dask cluster without a Prefect server: its workers could not reach the
    temporary server of this process, and the flow would never see their task runs."""
    if spec.kind == "dask" and spec.address and not PREFECT_API_URL.value():
        raise RunnerError(
            f"runner address {spec.address!r}",
            "its Dask workers need a Prefect server they can reach, but PREFECT_API_URL is not set",
            "a server (`prefect server start` or docker compose up) and "
            "PREFECT_API_URL=http://<host>:4200/api here and on the workers",
        )
