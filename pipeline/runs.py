"""Every step of the workflow as one plain call, without Prefect: for notebooks, scripts and tests.

    from datasetgan.pipeline import runs
    from datasetgan.pipeline.params import GenerateParams

    result = runs.generate(GenerateParams(generator=g, interpreter=i, out=out, n=1024))

Each function takes the same parameter model as its flow (``datasetgan.flows``), does the same
work in this process (``runner.workers`` shards at a time on threads, whatever ``runner.kind``),
and returns the same result dictionary. Stores are byte-identical to the flow's (sample i depends
only on the recipe and i) and resumable the same way. What the flows add is orchestration: task
runners (threads, Dask), retries on I/O, the Prefect UI, artifacts and schedules.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from datasetgan.pipeline import embed as embed_steps
from datasetgan.pipeline import interpreting, plans, progress
from datasetgan.pipeline.generate import generate_shard
from datasetgan.pipeline.params import (
    BuildParams,
    EmbedParams,
    GenerateParams,
    SampleParams,
    TrainEncoderParams,
    TrainInterpreterParams,
)
from datasetgan.pipeline.plans import StorePlan
from datasetgan.pipeline.stats import ShardStats
from datasetgan.pipeline.summary import summarize


def _shards(plan: StorePlan, workers: int, png_dir: str | None = None) -> list[ShardStats]:
    """Every open shard of ``plan``, ``workers`` at a time (threads, as the flows' local runner:
    torch releases the GIL); stats in slot order. A failing shard raises after the running ones
    finish; finished shards stay in the store for a rerun to keep."""
    if workers <= 1 or len(plan.slots) <= 1:
        stats = []
        for k, slot in enumerate(plan.slots, start=1):
            stats.append(generate_shard(plan.store, slot, plan.recipe, png_dir))
            progress.report("shards", k, len(plan.slots))
        return stats
    done: dict[int, ShardStats] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shard") as pool:
        futures = {pool.submit(generate_shard, plan.store, slot, plan.recipe, png_dir): i
                   for i, slot in enumerate(plan.slots)}  # fmt: skip
        try:
            for k, future in enumerate(as_completed(futures), start=1):
                done[futures[future]] = future.result()
                progress.report("shards", k, len(plan.slots))
        except BaseException:
            for future in futures:
                future.cancel()  # shards not started yet stay open for a rerun
            raise
    return [done[i] for i in range(len(plan.slots))]


def sample(params: SampleParams) -> dict[str, Any]:
    """sample_for_annotation: ``out/samples`` (store), ``out/images`` (PNG), ``out/annotations``."""
    start = time.perf_counter()
    plan = plans.plan_samples(params)
    stats = _shards(plan, params.runner.workers, png_dir=str(params.out / "images"))
    folder = plans.annotation_folder(params.out, params.class_names)
    summary = summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    return summary.numbers | {
        "store": plan.store,
        "annotations": str(folder),
        "preview": str(summary.preview),
    }


def generate(params: GenerateParams) -> dict[str, Any]:
    """generate_dataset: a labelled store at ``out`` (re-running resumes)."""
    start = time.perf_counter()
    plan = plans.plan_dataset(params)
    stats = _shards(plan, params.runner.workers)
    plan = plans.remember_drop(plan, params.drop_uncertain)
    summary = summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}


def build(params: BuildParams) -> dict[str, Any]:
    """build_dataset: append ``n`` samples (the next seed range) to a generated store."""
    start = time.perf_counter()
    plan = plans.plan_build(params)
    stats = _shards(plan, params.runner.workers)
    plan = plans.remember_drop(plan, params.drop_uncertain or None)
    summary = summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}


def train_interpreter(params: TrainInterpreterParams) -> dict[str, Any]:
    """train_interpreter: check the annotations, train and save the ensemble, preview, suggest."""
    interpreting.check_annotations(params)
    report = interpreting.fit(params)
    review = interpreting.review(params, report)
    return interpreting.result(params, report, review)


def embed(params: EmbedParams) -> dict[str, Any]:
    """embed_dataset: a folder of images -> embeddings store (re-running resumes)."""
    start = time.perf_counter()
    plan = embed_steps.plan_embeddings(params)
    stats = []
    for k, (slot, files) in enumerate(zip(plan.slots, plan.files, strict=True), start=1):
        stats.append(embed_steps.embed_shard(plan.store, slot, files, plan.recipe))
        progress.report("shards", k, len(plan.slots))
    summary = embed_steps.summarize_embeddings(plan, stats, time.perf_counter() - start)
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}


def train_encoder(params: TrainEncoderParams) -> dict[str, Any]:
    """train_encoder: train (or resume) a pSp/e4e encoder in ``out``."""
    return embed_steps.fit_encoder(params)
