"""A demo run's settings (:class:`DemoConfig`), where the shipped default models are, and what a
run keeps of its steps (:class:`StepLog`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from datasetgan.assets import DEFAULT_MODELS
from datasetgan.demo.errors import DemoError

# The shipped default models (JSON config + safetensors), installed as datasetgan.assets.
GENERATOR_DIR = DEFAULT_MODELS / "generator"
ENCODER_DIR = DEFAULT_MODELS / "encoder"
RUN_FILE = "demo_run.json"
PRECISION_CHOICES = ("auto", "fp32", "bf16")  # DemoConfig.precision, `datasetgan demo --precision`
# Settings added after runs were made whose steps already existed: what a folder without them in
# its demo_run.json ran with. Resuming such a folder with another value is refused like any change.
IMPLIED_BY_OLDER_RUNS: dict[str, object] = {
    "interpreter_val_fraction": 0.2,
    "interpreter_batch_size": 64,
    "handsoff_max_pixel_error": None,
    "handsoff_refine_steps": 30,
    "precision": "fp32",
}


@dataclass(frozen=True)
class Threads:
    """torch threads per step. Steps that split their work (shards, segnet runs) run ``workers``
    parts at a time, each with these threads; the 2-core default is 2 workers of 1 thread."""

    render: int = 1
    interpreter: int = 2
    embed: int = 2
    segnet: int = 1


@dataclass(frozen=True)
class DemoConfig:
    """Sizes, seeds and threads of a demo run (defaults: the README's command).

    The comparison (report section "The fair comparison"): for each annotation count n of
    ``annotation_counts`` the same segnet is trained (a) on n real renders with exact masks and
    (b) on the ``n_generate`` pairs generated after n candidates were annotated, once per seed of
    ``seeds``; seed s sets the segnet's initialisation, augmentation and batch order, and for (a)
    which n real renders it gets (seeds ``real_train_first_seed + 10_000 s ...``). Everything is
    tested on the same ``n_real_test`` real renders with exact masks.
    """

    out: Path = Path("runs/demo")
    generator: Path = GENERATOR_DIR
    encoder: Path = ENCODER_DIR
    n_candidates: int = 32
    annotation_counts: tuple[int, ...] = (8, 16, 32)
    n_annotate: int = 16  # the main run's annotations (the interpreter the flows train)
    n_generate: int = 512
    n_eval_generated: int = 128  # held-out generated samples per seed, scored against the oracle
    n_embed: int = 32
    n_real_test: int = 300
    seeds: tuple[int, ...] = (0, 1, 2)
    truncation: float = 0.7
    batch_size: int = 8
    shard_size: int = 64
    workers: int = 2
    interpreter_members: int = 10
    interpreter_steps: int = 2000
    # pixels per member and step; 64 (DatasetGAN's) left the interpreters undertrained in 2000 steps
    interpreter_batch_size: int = 512
    # 0: every interpreter trains on all its annotated images for interpreter_steps, as DatasetGAN
    # does ((d) measures it on held-out generated samples instead); 0.2 held 3 of 16 out for early
    # stopping
    interpreter_val_fraction: float = 0.0
    refine_steps: int = 30  # the embedding step's refinement of the real images it embeds
    # HandsOff's inversion of its 16 real renders: the encoder, then this many refinement steps.
    # benchmarks/handsoff.py on the step-25,000 models (interpreter vs oracle; every mask pixel /
    # within 0.03): 30 steps, MSE 0.056: 0.327 / 0.381; 100, 0.036: 0.365 / 0.435; 300, 0.020:
    # 0.436 / 0.458; 1000, 0.012: 0.447 / 0.446. Downstream (the demo's HandsOff row): 30 steps
    # 0.289 +- 0.005, 300 steps 0.352 +- 0.009
    handsoff_refine_steps: int = 300
    # HandsOff: real-mask pixels whose reconstruction differs by more than this (mean |RGB|, images
    # in [0, 1]) train nothing (train-interpreter --max-pixel-error); None: every pixel trains.
    # benchmarks/handsoff.py on the step-25,000 models, 30 refinement steps: 0.327 (all) -> 0.381
    # interpreter-oracle mIoU at 0.03, the best of 0.01-0.2 (300 steps: 0.436 -> 0.458);
    # downstream at 30 steps (the demo's HandsOff row) 0.289 against 0.288
    handsoff_max_pixel_error: float | None = 0.03
    segnet_steps: int = 400
    edit_steps: int = 30  # each editing example (EditGAN's default refinement length)
    drop_uncertain: float = 0.1
    sample_seed: int = 1  # candidates: sample i uses derive_seed(1, i)
    dataset_seed: int = 2  # the generated datasets (disjoint from the candidates)
    embed_first_seed: int = 600_000  # real images to embed (GAN training uses >= 1,000,000)
    real_train_first_seed: int = 700_000  # (a)'s real renders with exact masks
    test_first_seed: int = 200_000  # real images with exact masks for the segnet test
    edit_first_seed: int = 800_000  # generated samples searched for editing examples
    # of the training steps (every interpreter and every segnet run, the same everywhere): "bf16"
    # runs their matmuls / convolutions in bfloat16 (CPUs with AVX-512 BF16/AMX); "auto" is bf16
    # where the CPU has it, else fp32, and run_demo records which (resolve_precision).
    # benchmarks/precision.py --training measures speed and quality of both
    precision: str = "auto"
    threads: Threads = field(default_factory=Threads)

    def __post_init__(self) -> None:
        if self.n_annotate not in self.annotation_counts:
            raise DemoError("DemoConfig.n_annotate", f"got {self.n_annotate}",
                            f"one of annotation_counts {self.annotation_counts}")  # fmt: skip
        if max(self.annotation_counts) > self.n_candidates or min(self.annotation_counts) < 2:
            raise DemoError("DemoConfig.annotation_counts", f"got {self.annotation_counts}",
                            f"counts in 2..n_candidates ({self.n_candidates})")  # fmt: skip
        if self.shard_size % self.batch_size:
            raise DemoError(
                "DemoConfig.shard_size",
                f"got {self.shard_size}",
                f"a multiple of batch_size {self.batch_size}",
            )
        if self.precision not in PRECISION_CHOICES:
            raise DemoError("DemoConfig.precision", f"got {self.precision!r}", "auto, fp32 or bf16")
        if len(self.seeds) * self.n_eval_generated > self.n_generate:
            raise DemoError("DemoConfig.n_eval_generated", f"got {self.n_eval_generated}",
                            f"at most n_generate / len(seeds) = {self.n_generate // len(self.seeds)}")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON values (paths as strings, tuples as lists): what ``demo_run.json`` records."""
        return {
            k: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
            for k, v in asdict(self).items()
        }


@dataclass
class StepLog:
    """What the report needs from the run: each step's results and seconds, and which were reused."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def resolve_precision(cfg: DemoConfig) -> DemoConfig:
    """``cfg`` with ``precision="auto"`` made "bf16" where this CPU runs bfloat16 natively, else
    "fp32" (what a run records and its resumption compares)."""
    from datasetgan.models.precision import bf16_supported

    if cfg.precision != "auto":
        return cfg
    return replace(cfg, precision="bf16" if bf16_supported("cpu") else "fp32")
