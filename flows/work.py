"""What one shard task does, as plain functions (no Prefect): load the models once per process,
render and label aligned batches, write the shard. The flows call these through thin tasks; the
benchmarks call them directly to measure Prefect's overhead.

Determinism: sample i is rendered in batch i // B (B = the recipe's batch size; a store's shard
size is a multiple of B) with the full batch always computed, and every shard task runs torch with
the recipe's thread count. CPU kernels give results that differ in the last bits with the batch
composition and with the thread count (measured: stored uint8 pixels change at 64 px between 1 and
2 threads), so both are fixed by the recipe; sample i then depends only on (recipe, i), whichever
worker, shard size or runner produced it.

Shapes: B batch, H/W image, L/D W+ code, K classes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from PIL import Image

from flows.params import Params, RenderSpec
from flows.preview import to_uint8
from interpreter import Interpreter, load_interpreter
from models.fingerprint import state_dict_sha256
from models.runtime import tune_cpu_allocator
from models.stylegan2 import Generator, derive_seed, load_generator, w_plus_from_seeds
from storage import Compression, Provenance, ShardedStore, ShardSlot, StoreSpec, samples_spec

RECIPE_FORMAT = "datasetgan-pipeline/recipe"
UNLABELLED = ("unlabelled",)


class StoredRecipe(Params):
    """A recipe recorded as a store's ``config_json``; resumes and appends must use the same one."""

    format: str

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_store(cls: type[R], store: ShardedStore) -> R:
        """The recipe recorded in a store; ValueError if the store was not made by this flow."""
        expected = cls.model_fields["format"].default
        try:
            data = json.loads(store.provenance.config_json)
            if data.get("format") != expected:
                raise ValueError(f"format {data.get('format')!r}, expected {expected!r}")
            return cls.model_validate(data)
        except ValueError as exc:
            raise ValueError(
                f"store {store.path}: its config_json is not a flow recipe ({exc}); expected a store "
                "written by `datasetgan sample`, `generate` or `embed`"
            ) from exc

    def differences(self, other: StoredRecipe) -> list[str]:
        """Human-readable 'field: ours vs theirs' for every value that differs."""
        a, b = _flat(self.model_dump()), _flat(other.model_dump())
        return [
            f"{k}: {a.get(k)!r} vs {b.get(k)!r}"
            for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)
        ]


R = TypeVar("R", bound=StoredRecipe)


class Recipe(StoredRecipe):
    """Everything that determines sample i besides i.

    kind "samples": images for annotators (label 0, score NaN); "dataset": labelled by the interpreter.
    """

    format: str = RECIPE_FORMAT
    kind: Literal["samples", "dataset"]
    generator: str
    interpreter: str | None = None
    render: RenderSpec = RenderSpec()
    uncertainty_maps: bool = False


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


@dataclass
class Models:
    generator: Generator
    interpreter: Interpreter | None
    fingerprints: dict[str, str]


@dataclass
class ShardStats:
    """What a shard task returns (small): timings in seconds and label pixels per class."""

    index: int
    n_samples: int
    compute_s: float = 0.0
    write_s: float = 0.0
    wall_s: float = 0.0
    class_pixels: list[int] = field(default_factory=list)
    pid: int = 0
    started: float = 0.0  # epoch seconds, to measure the span of a run's shard phase
    finished: float = 0.0
    cpu_s: float = 0.0  # CPU time of the worker process during the task (contention check)


_cache: dict[tuple[Any, ...], Models] = {}
_cache_lock = threading.Lock()


def file_stamp(path: str | None) -> tuple[str, int] | None:
    if path is None:
        return None
    p = Path(path)
    files = [p, *sorted(p.iterdir())] if p.is_dir() else [p]
    return str(p.resolve()), max(f.stat().st_mtime_ns for f in files)


def load_models(recipe: Recipe) -> Models:
    """The recipe's generator (and interpreter), loaded once per process and reused by later tasks;
    reloaded when a file changes. Refuses an interpreter trained on another generator."""
    key = (file_stamp(recipe.generator), file_stamp(recipe.interpreter))
    with _cache_lock:
        if key not in _cache:
            g = load_generator(recipe.generator)
            interp = (
                load_interpreter(recipe.interpreter, generator=g) if recipe.interpreter else None
            )
            prints = {"generator": state_dict_sha256(g)}
            if interp is not None:
                prints["interpreter"] = interp.fingerprint
            _cache.clear()
            _cache[key] = Models(g, interp, prints)
        return _cache[key]


def store_spec(
    recipe: Recipe,
    models: Models,
    *,
    shard_size: int,
    class_names: list[str] | None = None,
    compression: str = "zstd",
) -> StoreSpec:
    """The samples store these models produce (labels at the image size)."""
    g, interp = models.generator, models.interpreter
    if interp is not None and interp.output_shape != (g.resolution, g.resolution):
        raise ValueError(
            f"interpreter {recipe.interpreter}: labels are {interp.output_shape}, images "
            f"{g.resolution}x{g.resolution}; expected equal sizes (a samples store holds both)"
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


def open_store(
    path: Path, recipe: StoredRecipe, fingerprints: dict[str, str], spec: StoreSpec
) -> ShardedStore:
    """Create the store, or reopen it to resume/append: the recorded recipe must match exactly."""
    if (path / "store.json").is_file():
        recorded = type(recipe).from_store(ShardedStore.open(path))
        diff = recorded.differences(recipe)
        if diff:
            raise ValueError(
                f"store {path} was built with another recipe ({'; '.join(diff)} [stored vs asked]); "
                "expected the same values to resume or append, or a new output folder"
            )
    provenance = Provenance(fingerprints=fingerprints, config_json=recipe.to_json())
    return ShardedStore.create(path, spec, provenance=provenance, exist_ok=True)


@torch.no_grad()
def render_batch(
    models: Models, recipe: Recipe, batch: int, fields: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """All B samples of batch ``batch`` (samples batch*B .. batch*B+B-1), as stored arrays [B, ...]."""
    g, interp, spec = models.generator, models.interpreter, recipe.render
    b = spec.batch_size
    seeds = [derive_seed(spec.seed, i) for i in range(batch * b, (batch + 1) * b)]
    ws = w_plus_from_seeds(g, seeds, truncation=spec.truncation)
    out: dict[str, np.ndarray] = {"w_plus": ws.numpy(), "seed": np.asarray(seeds, dtype=np.int64)}
    res = g.resolution
    if interp is None:
        image = g.synthesize(ws, noise_mode=spec.noise_mode, taps="none").image
        out["label"] = np.zeros((b, res, res), dtype=np.uint8)
        out["score"] = np.full(b, np.nan, dtype=np.float32)
    else:
        maps = ("uncertainty",) if "uncertainty" in fields else ()
        image, result = interp.render_and_label(g, ws, noise_mode=spec.noise_mode, maps=maps)
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
            raise ValueError(
                f"store {store.path}: its {role} fingerprint is {str(recorded.get(role))[:16]}..., the "
                f"loaded {role} has {digest[:16]}...; expected the files the store was started with"
            )


def _write_pngs(folder: Path, first: int, images: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(images):
        path = folder / f"{first + k:08d}.png"
        tmp = path.with_name(path.name + ".tmp")
        Image.fromarray(image).save(tmp, format="PNG")
        os.replace(tmp, path)
