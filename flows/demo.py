"""`datasetgan demo`: the whole mission on the shipped default models, with measured quality.

1. sample candidates with the generator (``sample_for_annotation`` flow: samples store + PNGs);
2. oracle-annotate 16 of them (``toyfaces.oracle_annotate_folder``: the stand-in for a person);
3. train the interpreter on those 16 (``train_interpreter`` flow);
4. generate labelled pairs into an HDF5 samples store (``generate_dataset`` flow);
5. embed real procedural images into W+ (``embed_dataset`` flow, labels from the interpreter);
6. measure (libraries, no flow): interpreter vs oracle on held-out generated samples, a small segnet
   trained on the generated store vs on the 16 annotated images (tested on real images with exact
   masks), dropping the most uncertain samples, real-image labels vs exact masks;
7. write ``report.md`` and its PNGs.

Every step writes ``<out>/steps/<name>.json`` (its results and seconds) when it finishes; a re-run
skips finished steps (and the flows resume their stores), so an interrupted demo continues.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import toyfaces
from flows import progress
from flows.demo_assets import ENCODER_DIR, GENERATOR_DIR
from flows.demo_eval import (
    embedding_quality,
    generated_dataset,
    interpreter_vs_oracle,
    read_store,
    real_dataset,
    save_json,
    segnet_quality,
    tensors_dataset,
)
from toyfaces.segnet import SegProgress, SegTrainConfig

VGG16_FILE = "vgg16-397923af.pth"
RUN_FILE = "demo_run.json"


@dataclass(frozen=True)
class Threads:
    """torch threads per step (measured on a busy 2-core machine: 1 thread beat 2 for the small
    segnet convolutions and for 64 px rendering in batches of 8; see docs/demo.md)."""

    render: int = 1
    interpreter: int = 1
    embed: int = 1
    segnet: int = 1


@dataclass(frozen=True)
class DemoConfig:
    """Sizes, seeds and threads of a demo run (defaults: the README's command)."""

    out: Path = Path("runs/demo")
    generator: Path = GENERATOR_DIR
    encoder: Path = ENCODER_DIR
    n_candidates: int = 32
    n_annotate: int = 16
    n_generate: int = 512
    n_eval_generated: int = 256  # held-out generated samples scored against the oracle
    n_embed: int = 128
    n_real_test: int = 200
    truncation: float = 0.7
    batch_size: int = 8
    shard_size: int = 128
    interpreter_members: int = 10
    interpreter_steps: int = 3000
    refine_steps: int = 50
    segnet_steps: int = 400
    drop_uncertain: float = 0.1
    sample_seed: int = 1  # candidates: sample i uses derive_seed(1, i)
    dataset_seed: int = 2  # the generated dataset (disjoint from the candidates)
    embed_first_seed: int = 600_000  # real images to embed (GAN training uses >= 1,000,000)
    test_first_seed: int = 200_000  # real images with exact masks for the segnet test
    threads: Threads = field(default_factory=Threads)

    def __post_init__(self) -> None:
        if not 1 <= self.n_annotate <= self.n_candidates:
            raise ValueError(
                f"n_annotate: got {self.n_annotate}, expected 1..n_candidates ({self.n_candidates})"
            )
        if self.shard_size % self.batch_size:
            raise ValueError(
                f"shard_size: got {self.shard_size}, expected a multiple of batch_size {self.batch_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class StepLog:
    """What the report needs from the run: each step's results and seconds, and which were reused."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


Step = Callable[[DemoConfig], dict[str, Any]]


def lpips_trunk() -> str:
    """'imagenet' when torchvision's VGG16 ImageNet file is in the torch hub cache, else 'none'
    (refinement then uses MSE only; the report says so). Never a random trunk."""
    return "imagenet" if (torch.hub.get_dir() and _hub_file().is_file()) else "none"


def _hub_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


# -- pipeline steps (flows) ------------------------------------------------------------------------
def _render(cfg: DemoConfig, seed: int) -> dict[str, Any]:
    return {"seed": seed, "truncation": cfg.truncation, "batch_size": cfg.batch_size,
            "threads": cfg.threads.render}  # fmt: skip


def step_sample(cfg: DemoConfig) -> dict[str, Any]:
    from flows.generation import sample_for_annotation
    from flows.params import SampleParams

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
    from flows.params import TrainInterpreterParams
    from flows.training import train_interpreter

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
    from flows.generation import generate_dataset
    from flows.params import GenerateParams

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
    from flows.embedding import embed_dataset
    from flows.params import EmbedParams

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
    rows = read_store(cfg.out / "dataset", ("image", "label", "score"), cfg.n_eval_generated)
    q = interpreter_vs_oracle(rows["image"], rows["label"], rows["score"], drop=cfg.drop_uncertain)
    return q.to_dict()


def _annotated(cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
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
        f"{cfg.n_annotate} annotated": tensors_dataset(*_annotated(cfg)),
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


def step_report(cfg: DemoConfig, log: StepLog) -> dict[str, Any]:
    from flows.demo_report import write_report

    return {"report": str(write_report(cfg, log))}


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


def run_demo(
    cfg: DemoConfig,
    *,
    say: Callable[[str], None] = print,
    only: Sequence[str] | None = None,
    report: bool = True,
    fresh: bool = False,
) -> Path:
    """Run (or resume) every step (or the ``only`` ones, in order), then write the report; returns
    the report's path (or the step results' folder with ``report=False``). A folder left by a run
    with other models or settings is refused, or with ``fresh=True`` emptied first."""
    # absolute paths: the flows link their previews by file URI, and stores record model paths
    cfg = replace(
        cfg, out=cfg.out.resolve(), generator=cfg.generator.resolve(), encoder=cfg.encoder.resolve()
    )
    check_previous(cfg, fresh=fresh)
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_json(cfg.out / RUN_FILE, run_identity(cfg))
    log = StepLog()
    steps = [s for s in STEPS if only is None or s[0] in only]
    total = len(steps) + int(report)
    for k, (key, title, fn) in enumerate(steps):
        progress.report("demo steps", k, total)
        log.results[key] = _run_step(cfg, key, title, fn, log, say)
    if not report:
        return cfg.out / "steps"
    say("7. report ...")
    path = Path(step_report(cfg, log)["report"])
    progress.report("demo steps", total, total)
    return path


def run_identity(cfg: DemoConfig) -> dict[str, Any]:
    """What a run's results depend on: its settings and the sha256 of every model file."""
    from storage import sha256_file

    files = sorted(p for d in (cfg.generator, cfg.encoder) for p in _files(d))
    return {"config": cfg.to_dict(), "models": {str(p): sha256_file(p) for p in files}}


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def check_previous(cfg: DemoConfig, *, fresh: bool) -> None:
    """Resume only a run made with the same models and settings; ``fresh`` empties the folder."""
    import json

    path = cfg.out / RUN_FILE
    if fresh and cfg.out.exists():
        shutil.rmtree(cfg.out)
    if not path.is_file():
        if cfg.out.is_dir() and any(cfg.out.iterdir()):
            raise ValueError(
                f"out {cfg.out}: not empty and not a demo folder (no {RUN_FILE}); expected a new or "
                "empty folder, or a demo folder to resume"
            )
        return
    before, now = json.loads(path.read_text(encoding="utf-8")), run_identity(cfg)
    if before != now:
        changed = [k for k in now["config"] if before.get("config", {}).get(k) != now["config"][k]]
        if before.get("models") != now["models"]:
            changed.append("model files")
        raise ValueError(
            f"out {cfg.out}: made by a run with other {', '.join(changed)}; expected the same to "
            "resume (use --fresh to start over in this folder, or another --out)"
        )


def _run_step(
    cfg: DemoConfig, key: str, title: str, fn: Step, log: StepLog, say: Callable[[str], None]
) -> dict[str, Any]:
    import json

    path = cfg.out / "steps" / f"{key}.json"
    if path.is_file():
        log.reused.append(key)
        say(f"{title}: done before, skipped")
        return dict(json.loads(path.read_text(encoding="utf-8")))
    say(f"{title} ...")
    t0 = time.perf_counter()
    result = fn(cfg) | {"seconds": time.perf_counter() - t0}
    save_json(path, result)
    say(f"{title}: {result['seconds']:.1f} s")
    return result


@contextmanager
def shown(enabled: bool) -> Iterator[None]:
    """The CLI's rich progress bar (flows' progress lines, segnet steps, demo steps)."""
    from flows.cli_support import bar

    with bar(enabled):
        yield


def small(cfg: DemoConfig, **changes: Any) -> DemoConfig:
    """A copy with other sizes (tests, benchmarks)."""
    return replace(cfg, **changes)
