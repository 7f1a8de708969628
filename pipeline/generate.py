"""Generator samples, shard by shard (no Prefect): load the models once per process, render and label
aligned batches, write the shard. The flows call these through thin tasks; :mod:`.runs` calls them
in a loop; the benchmarks call them directly to measure Prefect's overhead.

Determinism: sample i is rendered in batch i // B (B = the recipe's batch size; a store's shard
size is a multiple of B) with the full batch always computed, and every shard task runs torch with
the recipe's thread count. CPU kernels give results that differ in the last bits with the batch
composition and with the thread count (measured: stored uint8 pixels change at 64 px between 1 and
2 threads), so both are fixed by the recipe; sample i then depends only on (recipe, i), whichever
worker, shard size or runner produced it.

Shapes: B batch, H/W image, L/D W+ code, K classes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datasetgan.interpreter import Interpreter, load_interpreter
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.imaging import to_uint8
from datasetgan.models.precision import check_precision, compute_precision
from datasetgan.models.runtime import tune_cpu_allocator
from datasetgan.models.stylegan2 import Generator, derive_seed, load_generator, w_plus_from_seeds
from datasetgan.pipeline.cache import cached, file_stamp
from datasetgan.pipeline.errors import ModelMismatchError
from datasetgan.pipeline.recipes import UNLABELLED, Recipe
from datasetgan.pipeline.stats import ShardStats
from datasetgan.storage import Compression, ShardedStore, ShardSlot, StoreSpec, samples_spec


@dataclass
class Models:
    generator: Generator
    interpreter: Interpreter | None
    fingerprints: dict[str, str]


def load_models(recipe: Recipe) -> Models:
    """The recipe's generator (and interpreter), loaded once per process (:mod:`.cache`). Refuses an
    interpreter trained on another generator, and a precision this machine cannot run."""
    check_precision(recipe.render.precision, "cpu")

    def load() -> Models:
        g = load_generator(recipe.generator)
        interp = load_interpreter(recipe.interpreter, generator=g) if recipe.interpreter else None
        prints = {"generator": state_dict_sha256(g)}
        if interp is not None:
            prints["interpreter"] = interp.fingerprint
        return Models(g, interp, prints)

    return cached(("generate", file_stamp(recipe.generator), file_stamp(recipe.interpreter)), load)


def store_spec(
    recipe: Recipe,
    models: Models,
    *,
    shard_size: int,
    class_names: list[str] | None = None,
    compression: str = "gzip",
) -> StoreSpec:
    """The samples store these models produce (labels at the image size)."""
    g, interp = models.generator, models.interpreter
    if interp is not None and interp.output_shape != (g.resolution, g.resolution):
        raise ModelMismatchError(
            f"interpreter {recipe.interpreter}",
            f"labels are {interp.output_shape}, images {g.resolution}x{g.resolution}",
            "equal sizes (a samples store holds both)",
        )
    names = list(interp.class_names) if interp is not None else list(class_names or UNLABELLED)
    return samples_spec(
        height=g.resolution,
        width=g.resolution,
        n_latent=g.n_latent,
        w_dim=g.w_dim,
        class_names=names,
        uncertainty=recipe.uncertainty_maps,
        shard_size=shard_size,
        compression=Compression(compression),  # type: ignore[arg-type]
    )


@torch.no_grad()
def render_batch(
    models: Models, recipe: Recipe, batch: int, fields: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """All B samples of batch ``batch`` (samples batch*B .. batch*B+B-1), as stored arrays [B, ...]."""
    g, interp, spec = models.generator, models.interpreter, recipe.render
    b = spec.batch_size
    if recipe.kind == "edited":
        from datasetgan.pipeline.editing import edit_batch

        n = len(recipe.edit.seeds or recipe.edit.rows) if recipe.edit else 0
        return edit_batch(models, recipe, range(batch * b, min((batch + 1) * b, n)), fields)
    seeds = [derive_seed(spec.seed, i) for i in range(batch * b, (batch + 1) * b)]
    ws = w_plus_from_seeds(g, seeds, truncation=spec.truncation)
    out: dict[str, np.ndarray] = {"w_plus": ws.numpy(), "seed": np.asarray(seeds, dtype=np.int64)}
    res = g.resolution
    if interp is None:
        with compute_precision(spec.precision, ws.device):
            image = g.synthesize(ws, noise_mode=spec.noise_mode, taps="none").image
        out["label"] = np.zeros((b, res, res), dtype=np.uint8)
        out["score"] = np.full(b, np.nan, dtype=np.float32)
    else:
        maps = ("uncertainty",) if "uncertainty" in fields else ()
        image, result = interp.render_and_label(
            g, ws, noise_mode=spec.noise_mode, maps=maps, precision=spec.precision
        )
        out["label"] = result.labels.numpy()
        out["score"] = result.score.numpy()
        if result.uncertainty is not None:
            out["uncertainty"] = result.uncertainty.numpy().astype(np.float16)
    out["image"] = to_uint8(image)
    return out


def generate_shard(
    store_path: str, slot: ShardSlot, recipe: Recipe, png_dir: str | None = None
) -> ShardStats:
    """Render, label and write one shard (and, with ``png_dir``, one PNG per image for annotators)."""
    start, started, cpu = time.perf_counter(), time.time(), time.process_time()
    tune_cpu_allocator()
    torch.set_num_threads(recipe.render.threads)
    store = ShardedStore.open(store_path)
    models = load_models(recipe)
    _check_fingerprints(store, models)
    k = len(store.spec.class_names)
    stats = ShardStats(
        slot.index, slot.n_samples, class_pixels=[0] * k, pid=os.getpid(), started=started
    )
    b = recipe.render.batch_size
    writer = store.writer(slot)
    try:
        for batch in range(slot.start // b, -(-slot.stop // b)):
            t0 = time.perf_counter()
            arrays = render_batch(models, recipe, batch, store.spec.field_names)
            lo, hi = max(slot.start - batch * b, 0), min(slot.stop - batch * b, b)
            arrays = {k: v[lo:hi] for k, v in arrays.items()}
            counts = np.bincount(arrays["label"].ravel(), minlength=len(stats.class_pixels))
            stats.class_pixels = [int(x) for x in np.add(stats.class_pixels, counts)]
            if png_dir is not None:
                _write_pngs(Path(png_dir), batch * b + lo, arrays["image"])
            t1 = time.perf_counter()
            writer.append(arrays)
            stats.compute_s += t1 - t0
            stats.write_s += time.perf_counter() - t1
        t2 = time.perf_counter()
        writer.commit()
        stats.write_s += time.perf_counter() - t2
    except BaseException:
        writer.abort()
        raise
    stats.wall_s, stats.finished = time.perf_counter() - start, time.time()
    stats.cpu_s = time.process_time() - cpu
    return stats


def _check_fingerprints(store: ShardedStore, models: Models) -> None:
    recorded = dict(store.provenance.fingerprints)
    for role, digest in models.fingerprints.items():
        if recorded.get(role) != digest:
            raise ModelMismatchError(
                f"store {store.path}",
                f"its {role} fingerprint is {str(recorded.get(role))[:16]}..., the loaded {role} "
                f"has {digest[:16]}...",
                "the files the store was started with",
            )


def _write_pngs(folder: Path, first: int, images: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(images):
        path = folder / f"{first + k:08d}.png"
        tmp = path.with_name(path.name + ".tmp")
        Image.fromarray(image).save(tmp, format="PNG")
        os.replace(tmp, path)
