"""apply_edit: an editing vector applied to many sources, written as a samples store (thin wiring
over :mod:`datasetgan.pipeline.plans` and the shard work the dataset flows use)."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, task

from datasetgan.flows import tasks
from datasetgan.flows.generation import publish, run_shards
from datasetgan.pipeline import plans
from datasetgan.pipeline.params import ApplyEditParams


@task(name="plan-edits", **tasks.IO)  # type: ignore[call-overload]
def plan_edits(params: ApplyEditParams) -> plans.StorePlan:
    return plans.plan_edits(params)


@flow(name="apply_edit")
def apply_edit(params: ApplyEditParams) -> dict[str, Any]:
    """Edit every source with the vector (shard by shard, resumable) into ``out``."""
    start = time.perf_counter()
    # 1. Load and check the models and the vector, open or resume the store, list pending shards.
    plan = plan_edits(params)
    # 2. Edit, label and write every pending shard (on the runner the parameters name).
    stats = run_shards(plan, params.runner)
    # 3. Summarise and publish.
    summary = tasks.summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    publish("edits", plan, summary, "Edited samples")
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}
