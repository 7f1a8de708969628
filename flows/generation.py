"""Flows that render samples into stores: sample_for_annotation, generate_dataset, build_dataset.

Each is a short sequence of shard-sized tasks that pass paths and small values; the shard tasks run
on the runner the parameters name (threads, or a Dask cluster through a ``render-shards`` subflow).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed

from datasetgan.flows import tasks
from datasetgan.flows.artifacts import (
    ProgressArtifact,
    artifact_key,
    publish_markdown,
    publish_table,
)
from datasetgan.flows.runners import check_runner, task_runner
from datasetgan.pipeline import plans, progress
from datasetgan.pipeline.errors import ShardsFailedError, is_user_error
from datasetgan.pipeline.params import BuildParams, GenerateParams, RunnerSpec, SampleParams
from datasetgan.pipeline.plans import StorePlan, annotation_folder
from datasetgan.pipeline.stats import ShardStats
from datasetgan.pipeline.summary import Summary


@flow(name="render-shards", validate_parameters=False)
def render_shards(plan: StorePlan, png_dir: str | None = None) -> list[ShardStats]:
    """Every pending shard of ``plan`` as one task (see :func:`collect`)."""
    futures = [
        tasks.render_shard.submit(plan.store, slot, plan.recipe, png_dir) for slot in plan.slots
    ]
    return collect(futures, plan.store)


def collect(futures: list[PrefectFuture[ShardStats]], store: str) -> list[ShardStats]:
    """Follow shard tasks as they finish (progress artifact, progress sink, log); fail at the end
    naming every failed shard (the shards that landed stay: re-running resumes after them)."""
    logger = get_run_logger()
    bar = ProgressArtifact(artifact_key("shards", Path(store)), len(futures), f"shards of {store}")
    done: list[ShardStats] = []
    errors: list[Exception] = []
    for k, future in enumerate(as_completed(futures), start=1):
        try:
            stats = future.result()
            done.append(stats)
            logger.info(
                "shard %d: %d samples in %.2f s", stats.index, stats.n_samples, stats.wall_s
            )
        except Exception as exc:  # every shard is followed to its end before anything is raised
            errors.append(exc)
            logger.error("shard failed: %s", exc)
        bar.update(k)
        progress.report("shards", k, len(futures))
    bugs = [e for e in errors if not is_user_error(e)]
    if bugs:
        raise bugs[0]  # not an input problem: its traceback is what helps
    messages = sorted({str(e) for e in errors})
    if len(messages) == 1:
        raise errors[0]  # one cause (a missing file, say): the user sees it as it was raised
    if errors:
        raise ShardsFailedError(
            f"store {store}",
            f"{len(errors)} of {len(futures)} shards failed: {'; '.join(messages[:3])}",
            "every shard to finish (re-run to resume: the shards that landed are kept)",
        )
    return sorted(done, key=lambda s: s.index)


def run_shards(plan: StorePlan, runner: RunnerSpec, png_dir: str | None = None) -> list[ShardStats]:
    """Run ``render_shards`` on the task runner ``runner`` describes (nothing to do: no subflow)."""
    if not plan.slots:
        return []
    progress.report("shards", 0, len(plan.slots))
    return render_shards.with_options(task_runner=task_runner(runner))(plan, png_dir)


def publish(
    kind: str, plan: StorePlan, summary: Summary, title: str, extra: Sequence[str] = ()
) -> None:
    """The run's table and markdown artifacts."""
    key = artifact_key(kind, Path(plan.store))
    publish_table(key, summary.rows, f"{title}: {plan.store}")
    publish_markdown(f"{key}-report", title, [*summary.lines, *extra], summary.preview)


@flow(name="sample_for_annotation")
def sample_for_annotation(params: SampleParams) -> dict[str, Any]:
    """N samples from a seed -> ``out/samples`` (store with W+ codes) + ``out/images`` (PNG)."""
    start = time.perf_counter()
    # 1. Check the runner; load the generator; create or reopen the samples store.
    check_runner(params.runner)
    plan = tasks.plan_samples(params)
    # 2. Render every pending shard; each also writes its images as PNG for the annotators.
    stats = run_shards(plan, params.runner, png_dir=str(params.out / "images"))
    # 3. Make the annotation folder; publish the preview grid and the summary.
    folder = annotation_folder(params.out, params.class_names)
    summary = tasks.summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    how = [
        f"- images to annotate: `{params.out / 'images'}` (file name = sample id)",
        f"- put masks in `{folder}` as `<sample id>.png` (8-bit class indices or palette PNG) with a class list",
    ]
    publish("samples", plan, summary, "Samples for annotation", how)
    get_run_logger().info("samples in %s; masks go to %s", plan.store, folder)
    return summary.numbers | {
        "store": plan.store,
        "annotations": str(folder),
        "preview": str(summary.preview),
    }


@flow(name="generate_dataset")
def generate_dataset(params: GenerateParams) -> dict[str, Any]:
    """Generator + interpreter -> labelled samples store; re-running resumes (complete shards are kept)."""
    start = time.perf_counter()
    # 1. Check the runner; load and cross-check the models; create or reopen the store.
    check_runner(params.runner)
    plan = tasks.plan_dataset(params)
    get_run_logger().info(
        "%d of %d shards to write in %s",
        len(plan.slots),
        -(-params.n // params.shard_size),
        plan.store,
    )
    # 2. Render, label and write every pending shard.
    stats = run_shards(plan, params.runner)
    # 3. Record the uncertainty drop in the store (readers default to it), preview, publish.
    plan = plans.remember_drop(plan, params.drop_uncertain)
    summary = tasks.summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    publish("dataset", plan, summary, "Generated dataset")
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}


@flow(name="build_dataset")
def build_dataset(params: BuildParams) -> dict[str, Any]:
    """Append N new samples (the next seed range) to a store made by generate_dataset (scheduled)."""
    start = time.perf_counter()
    # 1. Check the runner; read the store's recipe; plan the next shards.
    check_runner(params.runner)
    plan = tasks.plan_build(params)
    get_run_logger().info("appending %d shards to %s", len(plan.slots), plan.store)
    # 2. Render, label and write them (each entry rebuild keeps the store's drop_uncertain).
    stats = run_shards(plan, params.runner)
    # 3. Keep the store's drop (a non-zero --drop-uncertain replaces it); publish the summary.
    plan = plans.remember_drop(plan, params.drop_uncertain or None)
    summary = tasks.summarize(plan, stats, time.perf_counter() - start, params.runner.workers)
    publish("dataset", plan, summary, "Dataset build")
    return summary.numbers | {"store": plan.store, "preview": str(summary.preview)}
