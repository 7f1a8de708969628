"""Flows for real images: train_encoder (generator + images -> encoder) and embed_dataset (a folder of
images -> embeddings store with W+ codes, reconstruction metrics and, optionally, labels)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from datasetgan.flows import tasks
from datasetgan.flows.artifacts import artifact_key, publish_markdown, publish_table
from datasetgan.flows.generation import collect
from datasetgan.flows.runners import check_runner, task_runner
from datasetgan.pipeline.embed import EmbedPlan
from datasetgan.pipeline.params import EmbedParams, TrainEncoderParams
from datasetgan.pipeline.stats import ShardStats


@flow(name="train_encoder")
def train_encoder(params: TrainEncoderParams) -> dict[str, Any]:
    """Train (or resume, from ``out/train_state.pt``) a pSp/e4e encoder for the generator."""
    # 1. Train; the library checkpoints every `checkpoint_every` steps, so a re-run resumes.
    result = tasks.fit_encoder(params)
    get_run_logger().info("encoder in %s after %d steps", result["encoder"], result["steps"])
    # 2. Publish the losses and the latest preview grid.
    key = artifact_key("encoder", params.out)
    rows = [
        {"metric": "steps", "value": result["steps"]},
        {"metric": "resumed from", "value": result["resumed_from"]},
    ]
    rows += [{"metric": f"loss: {k}", "value": round(v, 6)} for k, v in result["losses"].items()]
    publish_table(key, rows, f"Encoder training: {params.out}")
    grid = Path(result["grid"]) if result["grid"] else None
    publish_markdown(
        f"{key}-report", "Encoder training", [f"- encoder: `{result['encoder']}`"], grid
    )
    return result


@flow(name="embed-shards", validate_parameters=False)
def embed_shards(plan: EmbedPlan) -> list[ShardStats]:
    """Every pending shard of ``plan`` as one task (see flows.generation.collect)."""
    futures = [
        tasks.embed_shard.submit(plan.store, slot, files, plan.recipe)
        for slot, files in zip(plan.slots, plan.files, strict=True)
    ]
    return collect(futures, plan.store)


@flow(name="embed_dataset")
def embed_dataset(params: EmbedParams) -> dict[str, Any]:
    """A folder of images -> embeddings store; re-running resumes (complete shards are kept)."""
    start = time.perf_counter()
    # 1. Check the runner; list the images; load the models; create or reopen the store.
    check_runner(params.runner)
    plan = tasks.plan_embeddings(params)
    get_run_logger().info(
        "%d files, %d shards to write in %s", plan.n_files, len(plan.slots), plan.store
    )
    # 2. Embed every pending shard (unreadable files get a row with their error).
    stats = []
    if plan.slots:
        stats = embed_shards.with_options(task_runner=task_runner(params.runner))(plan)
    # 3. Publish counts, metrics and the preview (input | reconstruction | labels).
    summary = tasks.summarize_embeddings(plan, stats, time.perf_counter() - start)
    key = artifact_key("embeddings", Path(plan.store))
    publish_table(key, summary.rows, f"Embeddings: {plan.store}")
    publish_markdown(f"{key}-report", "Embedded images", summary.lines, summary.preview)
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}
