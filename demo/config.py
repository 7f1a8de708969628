"""A demo run's settings (:class:`DemoConfig`), where the shipped default models are, and what a
run keeps of its steps (:class:`StepLog`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasetgan.assets import DEFAULT_MODELS
from datasetgan.demo.errors import DemoError

# The shipped default models (JSON config + safetensors), installed as datasetgan.assets.
GENERATOR_DIR = DEFAULT_MODELS / "generator"
ENCODER_DIR = DEFAULT_MODELS / "encoder"
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
            raise DemoError(
                "DemoConfig.n_annotate",
                f"got {self.n_annotate}",
                f"1..n_candidates ({self.n_candidates})",
            )
        if self.shard_size % self.batch_size:
            raise DemoError(
                "DemoConfig.shard_size",
                f"got {self.shard_size}",
                f"a multiple of batch_size {self.batch_size}",
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class StepLog:
    """What the report needs from the run: each step's results and seconds, and which were reused."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
