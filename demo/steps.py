"""The demo's steps: the pipeline through its Prefect flows (1-5) as a user runs it, the extra
annotation counts of the curve through the same steps without Prefect (``pipeline.runs``), then
the measurements (libraries only). Each takes the run's :class:`DemoConfig` and returns a small
JSON-able result; :data:`STEPS` is their order."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasetgan import toyfaces
from datasetgan.demo.comparison import SegJob, run_jobs, summarize
from datasetgan.demo.config import DemoConfig
from datasetgan.demo.evaluation import embedding_quality, interpreter_vs_oracle
from datasetgan.pipeline import progress
from datasetgan.storage import read_fields

Step = Callable[[DemoConfig], dict[str, Any]]


def lpips_trunk() -> str:
    """'imagenet' when torchvision's VGG16 ImageNet file is in the torch hub cache, else 'none'
    (refinement then uses MSE only; the report says so). Never a random trunk."""
    from datasetgan.models.weight_paths import default_trunk_path

    return "imagenet" if default_trunk_path().is_file() else "none"


# -- where things go ---------------------------------------------------------------------------------
def annotations_dir(cfg: DemoConfig, n: int) -> Path:
    """The masks of the first ``n`` candidates (an annotation folder train-interpreter reads)."""
    return cfg.out / "candidates" / f"annotations-{n}"


def interpreter_dir(cfg: DemoConfig, n: int) -> Path:
    return (
        cfg.out / "interpreter" if n == cfg.n_annotate else cfg.out / "curve" / f"interpreter-{n}"
    )


def dataset_dir(cfg: DemoConfig, n: int) -> Path:
    return cfg.out / "dataset" if n == cfg.n_annotate else cfg.out / "curve" / f"dataset-{n}"


def _render(cfg: DemoConfig, seed: int) -> dict[str, Any]:
    return {"seed": seed, "truncation": cfg.truncation, "batch_size": cfg.batch_size,
            "threads": cfg.threads.render}  # fmt: skip


def _runner(cfg: DemoConfig) -> dict[str, Any]:
    return {"kind": "local", "workers": cfg.workers}


def _shard(n: int, cfg: DemoConfig) -> int:
    return -(-n // cfg.batch_size) * cfg.batch_size


# -- pipeline steps (flows) ------------------------------------------------------------------------
def step_sample(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.generation import sample_for_annotation
    from datasetgan.pipeline.params import SampleParams

    params = SampleParams.model_validate({
        "generator": cfg.generator, "out": cfg.out / "candidates", "n": cfg.n_candidates,
        "render": _render(cfg, cfg.sample_seed), "shard_size": _shard(cfg.n_candidates // 2, cfg),
        "class_names": list(toyfaces.CLASS_NAMES), "runner": _runner(cfg),
    })  # fmt: skip
    result = sample_for_annotation(params)
    return {"store": result["store"], "images": str(cfg.out / "candidates" / "images")}


def step_annotate(cfg: DemoConfig) -> dict[str, Any]:
    """The oracle paints the masks of the first max(annotation_counts) candidates (the stand-in for
    a person); the first n of them make the annotation folder of each count n."""
    images = cfg.out / "candidates" / "images"
    chosen = sorted(images.glob("*.png"))[: max(cfg.annotation_counts)]
    painted = cfg.out / "candidates" / "oracle"
    toyfaces.data.oracle_annotate_folder(images, painted, only=[f.name for f in chosen])
    for n in cfg.annotation_counts:
        folder = annotations_dir(cfg, n)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        shutil.copy2(painted / toyfaces.data.CLASS_FILE, folder)
        for f in chosen[:n]:
            shutil.copy2(painted / f.name, folder / f.name)
    return {"ids": [int(f.stem) for f in chosen], "counts": list(cfg.annotation_counts)}


def _interpreter_params(cfg: DemoConfig, n: int) -> Any:
    from datasetgan.pipeline.params import TrainInterpreterParams

    return TrainInterpreterParams.model_validate({
        "generator": cfg.generator, "annotations": annotations_dir(cfg, n),
        "samples": cfg.out / "candidates" / "samples", "out": interpreter_dir(cfg, n),
        "members": cfg.interpreter_members, "max_steps": cfg.interpreter_steps,
        "batch_size": cfg.interpreter_batch_size, "val_fraction": cfg.interpreter_val_fraction,
        "threads": cfg.threads.interpreter, "precision": cfg.precision,
    })  # fmt: skip


def _generate_params(cfg: DemoConfig, n: int) -> Any:
    from datasetgan.pipeline.params import GenerateParams

    return GenerateParams.model_validate({
        "generator": cfg.generator, "interpreter": interpreter_dir(cfg, n), "out": dataset_dir(cfg, n),
        "n": cfg.n_generate, "render": _render(cfg, cfg.dataset_seed), "shard_size": cfg.shard_size,
        "uncertainty_maps": n == cfg.n_annotate, "runner": _runner(cfg),
    })  # fmt: skip


def _nan_if_none(value: float | None) -> float:
    """A validation figure, NaN when nothing was held out (``interpreter_val_fraction`` 0)."""
    return float("nan") if value is None else float(value)


def step_interpreter(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.training import train_interpreter

    result = train_interpreter(_interpreter_params(cfg, cfg.n_annotate))
    return {"interpreter": result["interpreter"], "val_miou": _nan_if_none(result["val_miou"]),
            "steps": int(result["steps"])}  # fmt: skip


def step_generate(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.generation import generate_dataset

    result = generate_dataset(_generate_params(cfg, cfg.n_annotate))
    return {"store": result["store"], "n": cfg.n_generate}


def step_curve(cfg: DemoConfig) -> dict[str, Any]:
    """The other annotation counts: interpreter and dataset each, without Prefect."""
    from datasetgan.pipeline import runs

    out: dict[str, Any] = {}
    for n in cfg.annotation_counts:
        if n == cfg.n_annotate:
            continue
        trained = runs.train_interpreter(_interpreter_params(cfg, n))
        generated = runs.generate(_generate_params(cfg, n))
        out[str(n)] = {"val_miou": _nan_if_none(trained["val_miou"]), "store": generated["store"]}
    return out


def step_handsoff(cfg: DemoConfig) -> dict[str, Any]:
    """HandsOff: the interpreter from the (a) baseline's first real renders with their exact masks,
    through inversion (the shipped encoder, then ``handsoff_refine_steps`` of optimisation), then a
    dataset, without Prefect."""
    from datasetgan.pipeline import runs
    from datasetgan.pipeline.params import TrainInterpreterParams

    real = cfg.out / "handsoff" / "real"
    seeds = range(cfg.real_train_first_seed, cfg.real_train_first_seed + cfg.n_annotate)
    if len(list((real / "images").glob("*.png"))) != cfg.n_annotate:
        toyfaces.write_png_folder(real, seeds)
    interp = cfg.out / "handsoff" / "interpreter"
    # inversion as HandsOff does it: the encoder, then optimisation (16 images: long refinement is
    # cheap, and the interpreter follows the reconstruction error; DemoConfig.handsoff_refine_steps)
    steps = cfg.handsoff_refine_steps
    refine = {"refine": "optimize", "refine_steps": steps, "lpips_trunk": lpips_trunk()}
    refine = refine if steps else {}
    trained = runs.train_interpreter(TrainInterpreterParams.model_validate({
        "generator": cfg.generator, "real_images": real / "images", "real_masks": real / "labels",
        "classes": list(toyfaces.CLASS_NAMES), "encoder": cfg.encoder, "out": interp, "members": cfg.interpreter_members,
        "max_steps": cfg.interpreter_steps, "batch_size": cfg.interpreter_batch_size,
        "val_fraction": cfg.interpreter_val_fraction, "threads": cfg.threads.interpreter, **refine,
        "max_pixel_error": cfg.handsoff_max_pixel_error, "precision": cfg.precision,
    }))  # fmt: skip
    params = _generate_params(cfg, cfg.n_annotate).model_copy(
        update={
            "interpreter": interp,
            "out": cfg.out / "handsoff" / "dataset",
            "uncertainty_maps": False,
        }
    )
    generated = runs.generate(params)
    report = json.loads((interp / "report.json").read_text(encoding="utf-8"))
    used = [r for r in report["real_images"] if r["id"] is not None]
    mse = [r["mse"] for r in used]
    left_out = [r["left_out"] for r in used if r.get("left_out") is not None]
    return {"val_miou": _nan_if_none(trained["val_miou"]), "store": generated["store"],
            "median_mse": float(np.median(mse)) if mse else float("nan"),
            "left_out": float(np.mean(left_out)) if left_out else 0.0}  # fmt: skip


def step_embed(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.embedding import embed_dataset
    from datasetgan.pipeline.params import EmbedParams

    real = cfg.out / "real"
    seeds = range(cfg.embed_first_seed, cfg.embed_first_seed + cfg.n_embed)
    if len(list((real / "images").glob("*.png"))) != cfg.n_embed:
        toyfaces.write_png_folder(real, seeds)
    trunk = lpips_trunk()
    params = EmbedParams.model_validate({
        "encoder": cfg.encoder, "generator": cfg.generator, "images": real / "images",
        "out": cfg.out / "embeddings", "interpreter": cfg.out / "interpreter",
        "refine": "optimize" if cfg.refine_steps else "none", "refine_steps": cfg.refine_steps,
        "batch_size": cfg.batch_size, "shard_size": _shard(min(cfg.n_embed, 64), cfg),
        "lpips_trunk": trunk, "threads": cfg.threads.embed,
    })  # fmt: skip
    result = embed_dataset(params)
    return {"store": result["store"], "lpips_trunk": trunk, "n": cfg.n_embed}


# -- measurements (libraries) ----------------------------------------------------------------------
def step_interpreter_quality(cfg: DemoConfig) -> dict[str, Any]:
    """(d): agreement of the interpreter's labels with the oracle annotator's on held-out generated
    samples (another seed than the annotated candidates), on one disjoint set per seed."""
    torch.set_num_threads(cfg.workers)
    per_seed = []
    for k in range(len(cfg.seeds)):
        start = k * cfg.n_eval_generated
        rows = read_fields(cfg.out / "dataset", ("image", "label", "score"), start=start,
                           stop=start + cfg.n_eval_generated)  # fmt: skip
        q = interpreter_vs_oracle(
            rows["image"], rows["label"], rows["score"], drop=cfg.drop_uncertain
        )
        per_seed.append(q.to_dict())
    return {"per_seed": per_seed} | _spread([q["all"]["miou"] for q in per_seed])


def _spread(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def segnet_jobs(cfg: DemoConfig) -> list[SegJob]:
    """(a), (b) for every annotation count and (c) for the main one, once per seed."""
    cache = str(cfg.out / "real")
    jobs = []
    for n in cfg.annotation_counts:
        store = str(dataset_dir(cfg, n))
        for seed in cfg.seeds:
            job = functools.partial(SegJob, n_annotated=n, seed=seed, steps=cfg.segnet_steps,
                                    cache=cache, precision=cfg.precision)  # fmt: skip
            first = cfg.real_train_first_seed + 10_000 * seed
            jobs.append(job("real", real_first_seed=first))
            jobs.append(job("generated", store=store))
            if n == cfg.n_annotate:
                jobs.append(job("generated_drop", store=store, drop=cfg.drop_uncertain))
                jobs.append(job("handsoff", store=str(cfg.out / "handsoff" / "dataset")))
    return jobs


def step_segnet(cfg: DemoConfig) -> dict[str, Any]:
    """(a), (b), (c) and the curve: every segnet run, ``workers`` processes at a time."""
    from datasetgan.toyfaces.data import render_cached

    cache = cfg.out / "real"
    render_cached(cfg.test_first_seed, cfg.n_real_test, cache)  # once, before the workers
    for seed in cfg.seeds:
        render_cached(cfg.real_train_first_seed + 10_000 * seed, max(cfg.annotation_counts), cache)
    jobs = segnet_jobs(cfg)
    results = run_jobs(
        jobs, test_first_seed=cfg.test_first_seed, n_test=cfg.n_real_test, workers=cfg.workers,
        done=lambda k, total: progress.report("segnet runs", k, total),
    )  # fmt: skip
    return {"runs": results, "rows": summarize(results)}


def step_embedding_quality(cfg: DemoConfig) -> dict[str, Any]:
    return embedding_quality(cfg.out / "embeddings").to_dict()


def step_edit(cfg: DemoConfig) -> dict[str, Any]:
    """Editing through labels (EditGAN): for each kind of ``demo.edits.RULES``, the first generated
    sample (z seeds ``edit_first_seed``+, 64 searched) whose interpreter labels the rule applies to
    is edited for ``edit_steps`` steps; judged on the oracle's labels of the edited image. Writes
    ``figures/editing.png`` (a row per kind: source | edited | oracle before | oracle after)."""
    from datasetgan.demo.edits import RULES, score_edit
    from datasetgan.editing.edit import EditConfig, edit, render
    from datasetgan.interpreter import load_interpreter
    from datasetgan.models.imaging import overlay, to_uint8, write_columns
    from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds

    torch.set_num_threads(cfg.workers)
    g = load_generator(cfg.generator).eval()
    interp = load_interpreter(interpreter_dir(cfg, cfg.n_annotate), generator=g)
    seeds = list(range(cfg.edit_first_seed, cfg.edit_first_seed + 64))
    ws = w_plus_from_seeds(g, seeds, truncation=cfg.truncation)
    images, labels = render(g, interp, ws)
    palette = np.asarray(toyfaces.PALETTE, dtype=np.uint8)
    kinds: dict[str, Any] = {}
    rows: list[list[np.ndarray]] = []
    for rule in RULES:
        k = next((i for i in range(len(seeds)) if rule.applies(labels[i])), None)
        if k is None:
            kinds[rule.name] = {"title": rule.title, "seed": None}
            continue
        target = rule.target(labels[k])
        result = edit(g, interp, ws[k : k + 1], target, config=EditConfig(steps=cfg.edit_steps))
        iou, outside, oracle_after = score_edit(result.image, images[k : k + 1], target, labels[k])
        source, edited = to_uint8(images[k : k + 1])[0], to_uint8(result.image)[0]
        oracle_before = toyfaces.oracle_annotate(source)
        rows.append([source, edited, overlay(source, oracle_before, palette),
                     overlay(edited, oracle_after, palette)])  # fmt: skip
        kinds[rule.name] = {"title": rule.title, "seed": seeds[k], "iou_in_region": iou,
                            "change_outside": outside, "seconds": result.seconds,
                            "changed_pixels": int((target != labels[k]).sum())}  # fmt: skip
    figure = None
    if rows:
        # tiles 3x larger (nearest): the 64 px edits are small changes
        columns = [np.stack([row[c] for row in rows]).repeat(3, 1).repeat(3, 2) for c in range(4)]
        figure = str(write_columns(cfg.out / "figures" / "editing.png", columns))
    return {"kinds": kinds, "figure": figure, "steps": cfg.edit_steps}


STEPS: tuple[tuple[str, str, Step], ...] = (
    ("sample", "1. sample candidates", step_sample),
    ("annotate", "2. oracle-annotate", step_annotate),
    ("interpreter", "3. train the interpreter", step_interpreter),
    ("generate", "4. generate the dataset", step_generate),
    ("curve", "5. the other annotation counts (no Prefect)", step_curve),
    ("handsoff", "6. HandsOff: the interpreter from 16 real renders (no Prefect)", step_handsoff),
    ("embed", "7. embed real images", step_embed),
    ("interpreter_quality", "8a. interpreter vs annotator", step_interpreter_quality),
    ("segnet", "8b. segnets: real vs generated", step_segnet),
    ("embedding_quality", "8c. real-image labels", step_embedding_quality),
    ("edit", "9. edit through labels", step_edit),
)


def annotated_pairs(cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """The main run's annotated candidates: images [n, H, W, 3] and their masks [n, H, W]."""
    from PIL import Image

    masks_dir = annotations_dir(cfg, cfg.n_annotate)
    files = sorted(masks_dir.glob("*.png"))
    images_dir = cfg.out / "candidates" / "images"
    images = np.stack([np.asarray(Image.open(images_dir / f.name).convert("RGB")) for f in files])
    masks = np.stack([np.asarray(Image.open(f)) for f in files])
    return images, masks
