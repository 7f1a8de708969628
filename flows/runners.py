"""Task runners for shard tasks: threads of the flow's process, or a Dask cluster (prefect-dask)."""

from __future__ import annotations

from typing import Any

from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.params import RunnerSpec


def task_runner(spec: RunnerSpec) -> TaskRunner[Any]:
    """``local``: a thread pool of ``workers``; ``dask``: the cluster at ``address``, or a LocalCluster
    of ``workers`` processes with one thread each (torch threads are set per task by the recipe)."""
    if spec.kind == "local":
        return ThreadPoolTaskRunner(max_workers=spec.workers)
    from prefect_dask import DaskTaskRunner

    if spec.address:
        return DaskTaskRunner(address=spec.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": spec.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def check_runner(spec: RunnerSpec) -> None:
    """Refuse a Dask runner without a Prefect server: every worker process would start its own
    temporary server and the flow would never see their task runs."""
    if spec.kind == "dask" and not PREFECT_API_URL.value():
        raise ValueError(
            "runner kind 'dask' needs a Prefect server, but PREFECT_API_URL is not set; expected a "
            "server (`prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api, or "
            "docker compose up) that the Dask workers report to"
        )
