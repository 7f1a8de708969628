"""What the embedding flows' tasks do, as plain functions: plan an embeddings store over a folder of
images, embed one shard of files (encoder, optional refinement, optional interpreter labels), train
an encoder. Row i of the store is file i of the sorted listing, readable or not.

Shapes: N files, R generator resolution, L/D W+ code, K classes.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasetgan.interpreter import Interpreter, load_interpreter
from datasetgan.models.embedding import (
    EmbeddingModels,
    embed_files,
    load_embedding_models,
)
from datasetgan.models.encoders import EncoderConfig
from datasetgan.models.encoders.train_run import TrainProgress, train_encoder
from datasetgan.models.encoders.training import TrainConfig
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.imaging import list_files
from datasetgan.models.precision import check_precision
from datasetgan.models.runtime import tune_cpu_allocator
from datasetgan.pipeline import progress
from datasetgan.pipeline.cache import cached, file_stamp
from datasetgan.pipeline.errors import InputError
from datasetgan.pipeline.params import EmbedParams, TrainEncoderParams
from datasetgan.pipeline.recipes import EmbedRecipe, open_store
from datasetgan.pipeline.stats import ShardStats, shard_rows, timings
from datasetgan.pipeline.summary import Summary, preview_path
from datasetgan.storage import EmbeddingStatus, ShardedStore, ShardSlot, embeddings_spec

METRICS = ("mse_before", "lpips_before", "mse_after", "lpips_after")


@dataclass
class EmbedModels:
    models: EmbeddingModels
    interpreter: Interpreter | None
    fingerprints: dict[str, str]


@dataclass(frozen=True)
class EmbedPlan:
    """An embeddings store, its recipe, and the shards still to write with their files."""

    store: str
    recipe: EmbedRecipe
    slots: list[ShardSlot]
    files: list[list[str]]  # the files of each pending slot
    n_files: int
    class_names: list[str] = field(default_factory=list)
    palette: list[list[int]] = field(default_factory=list)


def load_embed_models(recipe: EmbedRecipe) -> EmbedModels:
    """Encoder, generator, LPIPS (and interpreter), once per process (:mod:`.cache`); refuses an
    interpreter trained on another generator, and a precision this machine cannot run."""
    check_precision(recipe.precision, "cpu")

    def load() -> EmbedModels:
        m = load_embedding_models(recipe.encoder, recipe.generator, lpips_trunk=recipe.lpips_trunk)
        interp = (
            load_interpreter(recipe.interpreter, generator=m.generator)
            if recipe.interpreter
            else None
        )
        prints = {
            "generator": state_dict_sha256(m.generator),
            "encoder": state_dict_sha256(m.encoder),
        }
        if interp is not None:
            prints["interpreter"] = interp.fingerprint
        return EmbedModels(m, interp, prints)

    key = (
        "embed",
        file_stamp(recipe.encoder),
        file_stamp(recipe.generator),
        file_stamp(recipe.interpreter),
        recipe.lpips_trunk,
    )
    return cached(key, load)


def _digest(files: list[str]) -> str:
    return hashlib.sha256("\n".join(files).encode()).hexdigest()


def plan_embeddings(p: EmbedParams) -> EmbedPlan:
    """List the images (sorted), create or reopen the store; the listing must not have changed."""
    files = list_files(p.images)
    if not files:
        raise InputError(f"images {p.images}", "no files", "a folder of images")
    recipe = EmbedRecipe(
        encoder=str(p.encoder.resolve()),
        generator=str(p.generator.resolve()) if p.generator else None,
        interpreter=str(p.interpreter.resolve()) if p.interpreter else None,
        images=str(p.images.resolve()), n_files=len(files), files_sha256=_digest(files),
        refine=p.refine, refine_steps=p.refine_steps, batch_size=p.batch_size,
        lpips_trunk=p.lpips_trunk, threads=p.threads, precision=p.precision,
    )  # fmt: skip
    m = load_embed_models(recipe)
    g, interp = m.models.generator, m.interpreter
    names = list(interp.class_names) if interp is not None else []
    shape = interp.output_shape if interp is not None else None
    spec = embeddings_spec(
        n_latent=g.n_latent,
        w_dim=g.w_dim,
        class_names=names,
        label_shape=shape,
        shard_size=p.shard_size,
    )
    store = open_store(p.out, recipe, m.fingerprints, spec)
    pending = store.pending(len(files))
    return EmbedPlan(
        store=str(store.path), recipe=recipe, slots=pending, n_files=len(files),
        files=[files[s.start : s.stop] for s in pending], class_names=names,
        palette=[list(c) for c in store.spec.palette],
    )  # fmt: skip


def embed_shard(
    store_path: str, slot: ShardSlot, files: list[str], recipe: EmbedRecipe
) -> ShardStats:
    """Embed one shard's files and write its rows (failed files: status, error text, zero codes)."""
    start, started, cpu = time.perf_counter(), time.time(), time.process_time()
    tune_cpu_allocator()
    torch.set_num_threads(recipe.threads)
    store = ShardedStore.open(store_path)
    m = load_embed_models(recipe)
    out = embed_files(
        files,
        m.models.encoder,
        m.models.generator,
        config=recipe.embed_config(),
        lpips=m.models.lpips,
    )
    arrays = rows(store, files, out)
    if m.interpreter is not None and out.indices:
        _label(m, out.ws, arrays["label"], out.indices, recipe.precision)
    t2 = time.perf_counter()
    store.write_shard(slot, arrays)
    k = len(store.spec.class_names)
    counts = np.bincount(arrays["label"].ravel(), minlength=k).tolist() if k else []
    stats = ShardStats(
        slot.index, slot.n_samples, class_pixels=counts, pid=os.getpid(), started=started
    )
    stats.compute_s, stats.write_s = t2 - start, time.perf_counter() - t2
    stats.wall_s, stats.finished = time.perf_counter() - start, time.time()
    stats.cpu_s = time.process_time() - cpu
    return stats


def rows(store: ShardedStore, files: list[str], out: Any) -> dict[str, np.ndarray]:
    """Arrays of every field for ``files`` in order; failed files keep zeros, NaN and their error."""
    n, spec = len(files), store.spec
    arrays: dict[str, Any] = {
        "w_plus": np.zeros((n, *spec.field("w_plus").shape), np.float32),
        "source": list(files),
        "status": np.full(n, int(EmbeddingStatus.OK), np.uint8),
        "error": [""] * n,
        **{name: np.full(n, np.nan, np.float32) for name in METRICS},
    }
    if "label" in spec.field_names:
        arrays["label"] = np.zeros((n, *spec.field("label").shape), np.int64)
    idx = np.asarray(out.indices, dtype=np.int64)
    if len(idx):
        arrays["w_plus"][idx] = out.ws
        for name in METRICS:
            arrays[name][idx] = getattr(out, name)
    for i, failure in zip(out.failure_indices, out.failures, strict=True):
        arrays["status"][i] = int(EmbeddingStatus.READ_ERROR)
        arrays["error"][i] = str(failure.reason)
    return arrays


@torch.no_grad()
def _label(
    m: EmbedModels, ws: np.ndarray, labels: np.ndarray, indices: list[int], precision: str
) -> None:
    assert m.interpreter is not None
    g = m.models.generator
    for s in range(0, len(indices), 8):
        codes = torch.from_numpy(ws[s : s + 8]).to(g.w_avg)
        _, result = m.interpreter.render_and_label(g, codes, precision=precision)  # type: ignore[arg-type]
        labels[indices[s : s + 8]] = result.labels.cpu().numpy()


def fit_encoder(p: TrainEncoderParams) -> dict[str, Any]:
    """Train (or resume) an encoder in ``p.out``; returns a small JSON-able report."""
    from datasetgan.models.stylegan2 import load_generator

    tune_cpu_allocator()
    if p.threads:
        torch.set_num_threads(p.threads)
    g = load_generator(p.generator)
    spec = p.encoder
    arch = {
        k: v
        for k, v in spec.model_dump(exclude={"kind", "input_size", "iterations"}).items()
        if v is not None
    }
    if spec.iterations > 1:  # ReStyle: the image and the current reconstruction in, a residual out
        arch |= {"iterations": spec.iterations, "input_nc": 6, "offset": "none"}
    init: EncoderConfig | str = (
        str(p.init)
        if p.init
        else EncoderConfig(
            kind=spec.kind,
            n_styles=g.n_latent,
            style_dim=g.w_dim,
            input_size=spec.input_size,
            **arch,
        )
    )
    config = TrainConfig(
        steps=p.steps, batch_size=p.batch_size, lr=p.learning_rate, source=p.source,
        lpips_lambda=p.lpips_lambda, seed=p.seed, checkpoint_every=p.checkpoint_every,
        grid_every=max(1, p.checkpoint_every), log_every=max(1, min(50, p.steps)),
    )  # fmt: skip
    paths = list_files(p.images) if p.images is not None and p.source != "samples" else None
    result = train_encoder(
        g,
        p.out,
        encoder=init,
        config=config,
        image_paths=paths,
        lpips_trunk=p.lpips_trunk,
        progress=_progress,
    )
    last = result.history[-1] if result.history else {}
    return {
        "encoder": str(result.encoder_dir), "steps": result.steps, "resumed_from": result.resumed_from,
        "losses": {k: float(v) for k, v in last.items() if k != "step"},
        "grid": str(result.grids[-1]) if result.grids else None,
    }  # fmt: skip


def _progress(event: TrainProgress) -> None:
    progress.report("encoder training steps", event.step, event.total)


def summarize_embeddings(plan: EmbedPlan, stats: list[ShardStats], wall_s: float) -> Summary:
    """Rows (files, failures, metric medians, timings) and a preview: input | reconstruction
    (| label overlay) of the first readable files."""
    store = ShardedStore.open(plan.store)
    store.validate()
    m = store.manifest()
    ok = m[m["status"] == int(EmbeddingStatus.OK)]
    numbers = {
        "files_in_store": len(m),
        "embedded": len(ok),
        "failed": len(m) - len(ok),
        "files_written": sum(s.n_samples for s in stats),
    }
    s = Summary(numbers=numbers)
    s.rows = [{"metric": k.replace("_", " "), "value": v} for k, v in numbers.items()]
    s.rows += [{"metric": f"median {name}", "value": _median(ok[name])} for name in METRICS]
    s.rows += shard_rows(stats, wall_s, 1)
    s.numbers |= timings(stats)
    failed = m[m["status"] != int(EmbeddingStatus.OK)].head(5)
    s.lines = [f"- store: `{plan.store}` ({len(m)} files, {len(ok)} embedded)"]
    s.lines += [f"- could not embed `{r.source}`: {r.error}" for r in failed.itertuples()]
    s.preview = _embed_preview(plan, list(ok["source"][:4])) if len(ok) else None
    return s


def _median(values: Any) -> float | str:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return round(float(np.median(v)), 6) if v.size else "n/a"


def _embed_preview(plan: EmbedPlan, files: list[str]) -> Path:
    from datasetgan.models.imaging import overlay, to_uint8, write_columns

    m = load_embed_models(plan.recipe)
    out = embed_files(
        files,
        m.models.encoder,
        m.models.generator,
        config=plan.recipe.embed_config("reconstructions"),
        lpips=m.models.lpips,
    )
    assert out.inputs is not None and out.reconstructions is not None
    columns = [out.inputs, out.reconstructions]
    if m.interpreter is not None:
        with torch.no_grad():
            image, result = m.interpreter.render_and_label(
                m.models.generator,
                torch.from_numpy(out.ws),
                precision=plan.recipe.precision,  # type: ignore[arg-type]
            )
        pal = np.asarray(plan.palette, dtype=np.uint8)
        columns.append(
            np.stack(
                [
                    overlay(a, b, pal)
                    for a, b in zip(to_uint8(image), result.labels.numpy(), strict=True)
                ]
            )
        )
    return write_columns(preview_path(Path(plan.store)), columns)
