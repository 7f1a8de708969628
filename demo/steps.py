"""The demo's steps: the pipeline through its Prefect flows (1-5), as a user runs it, then the
measurements (6, libraries only). Each takes the run's :class:`DemoConfig` and returns a small
JSON-able result; :data:`STEPS` is their order."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from datasetgan import toyfaces
from datasetgan.demo.config import DemoConfig
from datasetgan.demo.evaluation import (
    embedding_quality,
    generated_dataset,
    interpreter_vs_oracle,
    real_dataset,
    segnet_quality,
    tensors_dataset,
)
from datasetgan.pipeline import progress
from datasetgan.storage import read_fields
from datasetgan.toyfaces.segnet import SegProgress, SegTrainConfig

Step = Callable[[DemoConfig], dict[str, Any]]


def lpips_trunk() -> str:
    """'imagenet' when torchvision's VGG16 ImageNet file is in the torch hub cache, else 'none'
    (refinement then uses MSE only; the report says so). Never a random trunk."""
    from datasetgan.models.lpips import default_trunk_path

    return "imagenet" if default_trunk_path().is_file() else "none"


# -- pipeline steps (flows) ------------------------------------------------------------------------
def _render(cfg: DemoConfig, seed: int) -> dict[str, Any]:
    return {"seed": seed, "truncation": cfg.truncation, "batch_size": cfg.batch_size,
            "threads": cfg.threads.render}  # fmt: skip


def step_sample(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.generation import sample_for_annotation
    from datasetgan.pipeline.params import SampleParams

    params = SampleParams.model_validate(
        {
            "generator": cfg.generator,
            "out": cfg.out / "candidates",
            "n": cfg.n_candidates,
            "render": _render(cfg, cfg.sample_seed),
            "shard_size": _shard(cfg.n_candidates, cfg),
            "class_names": list(toyfaces.CLASS_NAMES),
        }
    )
    result = sample_for_annotation(params)
    return {"store": result["store"], "images": str(cfg.out / "candidates" / "images")}


def _shard(n: int, cfg: DemoConfig) -> int:
    return -(-n // cfg.batch_size) * cfg.batch_size


def step_annotate(cfg: DemoConfig) -> dict[str, Any]:
    """Copy the first n_annotate candidates aside and let the oracle paint their masks."""
    images = cfg.out / "candidates" / "images"
    chosen = sorted(images.glob("*.png"))[: cfg.n_annotate]
    folder = cfg.out / "to_annotate"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for f in chosen:
        shutil.copy2(f, folder / f.name)
    masks = cfg.out / "candidates" / "annotations"
    toyfaces.data.oracle_annotate_folder(folder, masks)
    return {"annotations": str(masks), "ids": [int(f.stem) for f in chosen]}


def step_interpreter(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.training import train_interpreter
    from datasetgan.pipeline.params import TrainInterpreterParams

    params = TrainInterpreterParams.model_validate(
        {
            "generator": cfg.generator,
            "annotations": cfg.out / "candidates" / "annotations",
            "samples": cfg.out / "candidates" / "samples",
            "out": cfg.out / "interpreter",
            "members": cfg.interpreter_members,
            "max_steps": cfg.interpreter_steps,
            "threads": cfg.threads.interpreter,
        }
    )
    result = train_interpreter(params)
    return {"interpreter": result["interpreter"], "val_miou": float(result["val_miou"]),
            "steps": int(result["steps"])}  # fmt: skip


def step_generate(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.generation import generate_dataset
    from datasetgan.pipeline.params import GenerateParams

    params = GenerateParams.model_validate(
        {
            "generator": cfg.generator,
            "interpreter": cfg.out / "interpreter",
            "out": cfg.out / "dataset",
            "n": cfg.n_generate,
            "render": _render(cfg, cfg.dataset_seed),
            "shard_size": cfg.shard_size,
            "uncertainty_maps": True,
        }
    )
    result = generate_dataset(params)
    return {"store": result["store"], "n": cfg.n_generate}


def step_embed(cfg: DemoConfig) -> dict[str, Any]:
    from datasetgan.flows.embedding import embed_dataset
    from datasetgan.pipeline.params import EmbedParams

    real = cfg.out / "real"
    seeds = range(cfg.embed_first_seed, cfg.embed_first_seed + cfg.n_embed)
    if len(list((real / "images").glob("*.png"))) != cfg.n_embed:
        toyfaces.write_png_folder(real, seeds)
    trunk = lpips_trunk()
    params = EmbedParams.model_validate(
        {
            "encoder": cfg.encoder,
            "generator": cfg.generator,
            "images": real / "images",
            "out": cfg.out / "embeddings",
            "interpreter": cfg.out / "interpreter",
            "refine": "optimize" if cfg.refine_steps else "none",
            "refine_steps": cfg.refine_steps,
            "batch_size": cfg.batch_size,
            "shard_size": _shard(min(cfg.n_embed, 64), cfg),
            "lpips_trunk": trunk,
            "threads": cfg.threads.embed,
        }
    )
    result = embed_dataset(params)
    return {"store": result["store"], "lpips_trunk": trunk, "n": cfg.n_embed}


# -- measurements (libraries) ----------------------------------------------------------------------
def step_interpreter_quality(cfg: DemoConfig) -> dict[str, Any]:
    """Interpreter labels vs the oracle on held-out generated samples (never annotated: another seed)."""
    torch.set_num_threads(cfg.threads.segnet)
    rows = read_fields(cfg.out / "dataset", ("image", "label", "score"), stop=cfg.n_eval_generated)
    q = interpreter_vs_oracle(rows["image"], rows["label"], rows["score"], drop=cfg.drop_uncertain)
    return q.to_dict()


def annotated_pairs(cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    files = sorted((cfg.out / "to_annotate").glob("*.png"))
    masks_dir = cfg.out / "candidates" / "annotations"
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    masks = np.stack([np.asarray(Image.open(masks_dir / f.name)) for f in files])
    return images, masks


def _seg_progress(name: str) -> Callable[[SegProgress], None]:
    def report(p: SegProgress) -> None:
        progress.report(f"segnet steps: {name}", p.step, p.total)

    return report


def step_segnet(cfg: DemoConfig) -> dict[str, Any]:
    """The paper's comparison: the same small U-Net trained on the generated store (all, and without
    the most uncertain share) and on the 16 annotated images, tested on real images, exact masks."""
    torch.set_num_threads(cfg.threads.segnet)
    seeds = range(cfg.test_first_seed, cfg.test_first_seed + cfg.n_real_test)
    test = real_dataset(seeds)
    store = cfg.out / "dataset"
    sets = {
        "generated": generated_dataset(store),
        f"generated, {cfg.drop_uncertain:.0%} most uncertain dropped": generated_dataset(
            store, drop_uncertain=cfg.drop_uncertain
        ),
        f"{cfg.n_annotate} annotated": tensors_dataset(*annotated_pairs(cfg)),
    }
    config = SegTrainConfig(steps=cfg.segnet_steps)
    results = {}
    for key, (name, train) in zip(
        ("generated", "generated_drop", "annotated"), sets.items(), strict=True
    ):
        results[key] = segnet_quality(
            name, train, test, config=config, progress=_seg_progress(key)
        ).to_dict()
    return results


def step_embedding_quality(cfg: DemoConfig) -> dict[str, Any]:
    return embedding_quality(cfg.out / "embeddings").to_dict()


STEPS: tuple[tuple[str, str, Step], ...] = (
    ("sample", "1. sample candidates", step_sample),
    ("annotate", "2. oracle-annotate", step_annotate),
    ("interpreter", "3. train the interpreter", step_interpreter),
    ("generate", "4. generate the dataset", step_generate),
    ("embed", "5. embed real images", step_embed),
    ("interpreter_quality", "6a. interpreter vs oracle", step_interpreter_quality),
    ("segnet", "6b. segnet: generated vs annotated", step_segnet),
    ("embedding_quality", "6c. real-image labels", step_embedding_quality),
)
