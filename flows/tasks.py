"""Prefect tasks: thin wrappers over flows.plans / flows.work / flows.summary.

Retries are for I/O only: a task is retried (twice) when it failed with an ``OSError`` (a full or
flaky disk, a network filesystem hiccup); a wrong parameter or a bug fails at once.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from datasetgan.pipeline import embed as embed_work
from datasetgan.pipeline import generate as work
from datasetgan.pipeline import interpreting, plans, summary
from datasetgan.pipeline.params import (
    BuildParams,
    EmbedParams,
    GenerateParams,
    SampleParams,
    TrainEncoderParams,
    TrainInterpreterParams,
)
from datasetgan.storage import ShardSlot


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task failed with an OSError."""
    return isinstance(getattr(state, "data", None), OSError)


IO = {
    "retries": 2,
    "retry_delay_seconds": 2,
    "retry_condition_fn": retry_on_io,
    "cache_policy": NO_CACHE,
}


@task(name="plan-samples", **IO)  # type: ignore[call-overload]
def plan_samples(params: SampleParams) -> plans.StorePlan:
    return plans.plan_samples(params)


@task(name="plan-dataset", **IO)  # type: ignore[call-overload]
def plan_dataset(params: GenerateParams) -> plans.StorePlan:
    return plans.plan_dataset(params)


@task(name="plan-build", **IO)  # type: ignore[call-overload]
def plan_build(params: BuildParams) -> plans.StorePlan:
    return plans.plan_build(params)


@task(name="render-shard", task_run_name="shard-{slot.index}", **IO)  # type: ignore[call-overload]
def render_shard(
    store: str, slot: ShardSlot, recipe: work.Recipe, png_dir: str | None = None
) -> work.ShardStats:
    """Render, label and write one shard; returns timings and class pixel counts."""
    return work.generate_shard(store, slot, recipe, png_dir)


@task(name="summarize", **IO)  # type: ignore[call-overload]
def summarize(
    plan: plans.StorePlan, stats: list[work.ShardStats], wall_s: float, workers: int
) -> summary.Summary:
    return summary.summarize(plan, stats, wall_s, workers)


@task(name="check-annotations", **IO)  # type: ignore[call-overload]
def check_annotations(params: TrainInterpreterParams) -> dict[str, Any]:
    return interpreting.check_annotations(params)


@task(name="fit-interpreter", cache_policy=NO_CACHE)
def fit_interpreter(params: TrainInterpreterParams) -> dict[str, Any]:
    """Train and save (compute: no retries)."""
    return interpreting.fit(params)


@task(name="review-interpreter", **IO)  # type: ignore[call-overload]
def review_interpreter(params: TrainInterpreterParams, report: dict[str, Any]) -> dict[str, Any]:
    return interpreting.review(params, report)


@task(name="plan-embeddings", **IO)  # type: ignore[call-overload]
def plan_embeddings(params: EmbedParams) -> embed_work.EmbedPlan:
    return embed_work.plan_embeddings(params)


@task(name="embed-shard", task_run_name="shard-{slot.index}", **IO)  # type: ignore[call-overload]
def embed_shard(
    store: str, slot: ShardSlot, files: list[str], recipe: embed_work.EmbedRecipe
) -> work.ShardStats:
    """Embed one shard of files and write its rows."""
    return embed_work.embed_shard(store, slot, files, recipe)


@task(name="summarize-embeddings", **IO)  # type: ignore[call-overload]
def summarize_embeddings(
    plan: embed_work.EmbedPlan, stats: list[work.ShardStats], wall_s: float
) -> summary.Summary:
    return embed_work.summarize_embeddings(plan, stats, wall_s)


@task(name="fit-encoder", cache_policy=NO_CACHE)
def fit_encoder(params: TrainEncoderParams) -> dict[str, Any]:
    """Train (or resume) the encoder (compute: no retries; it checkpoints, so re-running resumes)."""
    return embed_work.fit_encoder(params)
