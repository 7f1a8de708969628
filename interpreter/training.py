"""Training the ensemble from annotated samples.

1. read the masks and pair them with their W+ codes; refuse anything inconsistent;
2. split whole annotated images into training and validation images (seeded);
3. re-render each image and gather features only at sampled pixels (class-balanced for training,
   uniform for validation) from the native-resolution taps - never the full buffer;
4. train all M members at once (stacked weights), each on its own class-balanced stream of pixels
   drawn with its own seed; every ``eval_every`` steps score the validation pixels, keep each
   member's best weights by validation loss and stop when no member improved for ``patience``
   evaluations;
5. report per-class IoU of the ensemble on the full validation images (fused labeller).

Shapes: M members, B pixels per member and step, C channels, K classes, N images.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from datasetgan.interpreter.annotations import (
    AnnotationSet,
    latents_from_store,
    load_annotations,
    pair_latents,
)
from datasetgan.interpreter.config import AnnotationConfig, EnsembleConfig, FeatureConfig
from datasetgan.interpreter.ensemble import PixelEnsemble
from datasetgan.interpreter.errors import AnnotationError, TrainingError
from datasetgan.interpreter.model import Interpreter
from datasetgan.interpreter.pools import BalancedSampler, PixelPool, SampleMode, build_pool
from datasetgan.interpreter.predict import summarize_members
from datasetgan.interpreter.resample import TapGrid
from datasetgan.interpreter.validation import (
    ValidationScores,
    confusion_matrix,
    score_images,
    scores_from_confusion,
)
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.precision import Precision, check_precision, compute_precision
from datasetgan.models.stylegan2 import Generator, derive_seed

log = logging.getLogger("interpreter")
PoolDtype = Literal["float32", "float16", "bfloat16"]
_SEED_INIT, _SEED_SPLIT, _SEED_PIXELS, _SEED_MEMBERS = 1, 2, 3, 4


@dataclass(frozen=True)
class TrainConfig:
    """Everything training needs besides the data (all small values; JSON-able via ``to_dict``)."""

    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    annotations: AnnotationConfig = field(default_factory=AnnotationConfig)
    seed: int = 0
    pixels_per_image: int = 2048  # class-balanced training pixels sampled per training image
    val_fraction: float = 0.2  # share of annotated images held out (whole images)
    val_pixels_per_image: int = (
        1024  # uniform validation pixels per held-out image (early stopping)
    )
    batch_size: int = 64  # pixels per member and step
    learning_rate: float = 1e-3
    max_steps: int = 3000
    eval_every: int = 100
    patience: int = 5  # evaluations without improvement before a member stops improving its best
    pool_dtype: PoolDtype = "float32"
    noise_mode: Literal["const", "none"] = "const"
    input_norm: Literal["none", "standardize"] = (
        "none"  # "standardize": per-channel, folded into w1/b1
    )
    # "bf16": the members' matmuls of training steps run in bfloat16 (CPUs with AVX-512 BF16/AMX,
    # CUDA) on a bfloat16 pixel pool (pool_dtype is then ignored); weights, BatchNorm, loss, Adam
    # and validation stay float32
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(
                f"TrainConfig.val_fraction: got {self.val_fraction}, expected a fraction in [0, 1)"
            )
        for name in (
            "pixels_per_image",
            "val_pixels_per_image",
            "max_steps",
            "eval_every",
            "patience",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}: got {getattr(self, name)}, expected >= 1")
        if self.batch_size < 2:
            raise ValueError(
                f"TrainConfig.batch_size: got {self.batch_size}, expected >= 2 (BatchNorm)"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainProgress:
    """What a progress callback receives. phase: "render" (image i of n), "train", "done"."""

    phase: str
    step: int = 0
    max_steps: int = 0
    images_done: int = 0
    images_total: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_miou: float | None = None


@dataclass
class TrainReport:
    """Outcome of training; ``to_dict()`` is JSON-able. IoUs are None for classes absent from both
    the validation masks and the predictions."""

    class_names: tuple[str, ...]
    train_ids: tuple[int, ...]
    val_ids: tuple[int, ...]
    steps: int = 0
    stopped_early: bool = False
    best_steps: list[int] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    pool_pixels: int = 0
    val_pixels: int = 0
    val_iou: dict[str, float | None] = field(default_factory=dict)
    val_miou: float | None = None
    val_pixel_accuracy: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Progress = Callable[[TrainProgress], None]


def train_interpreter(
    generator: Generator,
    annotations: AnnotationSet | str | Path,
    latents: Mapping[int, torch.Tensor] | str | Path,
    config: TrainConfig = TrainConfig(),
    *,
    progress: Progress | None = None,
) -> tuple[Interpreter, TrainReport]:
    """Train an :class:`Interpreter` on annotated samples of ``generator``.

    annotations: an :class:`AnnotationSet` or a folder of masks + class list; latents: sample id ->
    W+ code [L, D], or the path of a samples store holding them.
    """
    start = time.perf_counter()
    check_precision(config.precision, generator.w_avg.device)
    ann, grid, ws = _prepare(generator, annotations, latents, config)
    train_idx, val_idx = split_images(len(ann), config.val_fraction, config.seed)
    report = TrainReport(
        ann.class_names, tuple(ann.ids[i] for i in train_idx), tuple(ann.ids[i] for i in val_idx)
    )
    train_pool, val_pool = _pools(generator, ws, ann, grid, train_idx, val_idx, config, progress)
    report.pool_pixels, report.val_pixels = len(train_pool), len(val_pool) if val_pool else 0
    ensemble = _new_ensemble(grid.channels, len(ann.class_names), config)
    with torch.enable_grad():
        _fit(ensemble, train_pool, val_pool, config, report, progress)
    del train_pool, val_pool
    interp = Interpreter(
        ensemble,
        class_names=ann.class_names,
        taps=generator.tap_layout,
        resolution=generator.resolution,
        generator_fingerprint=state_dict_sha256(generator),
        features=config.features,
    )
    if val_idx:
        scores = score_images(
            interp,
            generator,
            ws[val_idx],
            [ann.items[i].mask for i in val_idx],
            noise_mode=config.noise_mode,
        )
        _fill_validation(report, scores, ann.class_names)
    report.seconds = time.perf_counter() - start
    if progress is not None:
        progress(TrainProgress("done", report.steps, config.max_steps, val_miou=report.val_miou))
    return interp, report


def _prepare(
    generator: Generator,
    annotations: AnnotationSet | str | Path,
    latents: Mapping[int, torch.Tensor] | str | Path,
    config: TrainConfig,
) -> tuple[AnnotationSet, TapGrid, torch.Tensor]:
    """Read and check the annotations; pair them with their W+ codes [N, L, D]."""
    ann = (
        annotations
        if isinstance(annotations, AnnotationSet)
        else load_annotations(annotations, config=config.annotations)
    )
    lat = latents if isinstance(latents, Mapping) else latents_from_store(latents, ann.ids)
    grid = TapGrid.build(generator.tap_layout, generator.resolution, config.features)
    ann.check_shape((grid.height, grid.width))
    ws = pair_latents(ann, lat)
    if tuple(ws.shape[1:]) != (generator.n_latent, generator.w_dim):
        raise AnnotationError(
            f"latents: got W+ codes {tuple(ws.shape[1:])}, expected "
            f"[{generator.n_latent}, {generator.w_dim}] (the generator's)"
        )
    return ann, grid, ws.to(generator.w_avg.device)


def split_images(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of n annotated images into (training, validation) indices, each sorted.

    At least one training image; at least one validation image when n >= 2 and val_fraction > 0.
    """
    if n < 1:
        raise AnnotationError("no annotations: expected at least one annotated sample")
    n_val = round(n * val_fraction)
    n_val = max(1, n_val) if (n >= 2 and val_fraction > 0) else 0
    n_val = min(n_val, n - 1)
    perm = torch.randperm(
        n, generator=torch.Generator().manual_seed(derive_seed(seed, _SEED_SPLIT))
    ).tolist()
    return sorted(perm[n_val:]), sorted(perm[:n_val])


def _pools(
    generator: Generator,
    ws: torch.Tensor,
    ann: AnnotationSet,
    grid: TapGrid,
    train_idx: list[int],
    val_idx: list[int],
    config: TrainConfig,
    progress: Progress | None,
) -> tuple[PixelPool, PixelPool | None]:
    total = len(train_idx) + len(val_idx)
    # bf16 training reads its pool in bfloat16 (what its matmuls take; half the gather traffic)
    dtype = torch.bfloat16 if config.precision == "bf16" else getattr(torch, config.pool_dtype)
    rngs = [
        torch.Generator().manual_seed(derive_seed(derive_seed(config.seed, _SEED_PIXELS), i))
        for i in range(len(ann))
    ]

    def pool(indices: list[int], per_image: int, mode: SampleMode, done: int) -> PixelPool:
        def tick(k: int) -> None:
            if progress is not None:
                progress(TrainProgress("render", images_done=done + k + 1, images_total=total))

        return build_pool(
            generator, ws[indices], [ann.items[i].mask for i in indices], grid, per_image=per_image,
            mode=mode, rngs=[rngs[i] for i in indices], dtype=dtype, noise_mode=config.noise_mode, on_image=tick,
        )  # fmt: skip

    train_pool = pool(train_idx, config.pixels_per_image, "balanced", 0)
    if len(train_pool) == 0:
        raise TrainingError(
            "no annotated pixels in the training images; expected masks with class ids"
        )
    val_pool = (
        pool(val_idx, config.val_pixels_per_image, "uniform", len(train_idx)) if val_idx else None
    )
    return train_pool, val_pool


def _new_ensemble(channels: int, n_classes: int, config: TrainConfig) -> PixelEnsemble:
    base = derive_seed(config.seed, _SEED_INIT)
    rngs = [
        torch.Generator().manual_seed(derive_seed(base, m))
        for m in range(config.ensemble.n_members)
    ]
    ensemble = PixelEnsemble(channels, n_classes, config=config.ensemble)
    ensemble.reset_parameters(rngs)
    return ensemble


def _fit(
    ensemble: PixelEnsemble,
    pool: PixelPool,
    val_pool: PixelPool | None,
    config: TrainConfig,
    report: TrainReport,
    progress: Progress | None,
) -> None:
    """Train all members together; keep each member's best weights by validation loss."""
    base = derive_seed(config.seed, _SEED_MEMBERS)
    rngs = [torch.Generator().manual_seed(derive_seed(base, m)) for m in range(ensemble.n_members)]
    sampler = BalancedSampler(pool.labels.cpu(), rngs)
    opt = torch.optim.Adam(ensemble.parameters(), lr=config.learning_rate, fused=True)
    keeper = _BestKeeper(ensemble, config.patience)
    norm = _channel_stats(pool.features) if config.input_norm == "standardize" else None
    running: list[float] = []
    for step in range(1, config.max_steps + 1):
        index = sampler.draw(config.batch_size)
        running.append(_train_step(ensemble, opt, pool, index, norm, config.precision))
        if step % config.eval_every and step != config.max_steps:
            continue
        entry: dict[str, Any] = {"step": step, "train_loss": sum(running) / len(running)}
        running = []
        if val_pool is not None:
            member_loss, miou = _validate(ensemble, val_pool, norm)
            keeper.update(step, member_loss)
            entry.update(
                val_loss=float(member_loss.mean()), val_miou=miou, improving_members=keeper.active
            )
        report.history.append(entry)
        report.steps = step
        log.info("interpreter training: %s", entry)
        if progress is not None:
            progress(TrainProgress("train", step, config.max_steps, train_loss=entry["train_loss"],
                                   val_loss=entry.get("val_loss"), val_miou=entry.get("val_miou")))  # fmt: skip
        if val_pool is not None and keeper.active == 0:
            report.stopped_early = step < config.max_steps
            break
    if val_pool is not None:
        keeper.restore()
        report.best_steps = list(keeper.best_step)
    if norm is not None:
        _fold_input_norm(ensemble, *norm)
    ensemble.eval()


Norm = tuple[torch.Tensor, torch.Tensor]


@torch.no_grad()
def _channel_stats(features: torch.Tensor, chunk: int = 8192) -> Norm:
    """Per-channel (mean [C], std [C]) of a pool's features (float64 accumulation)."""
    total = torch.zeros(features.shape[1], dtype=torch.float64, device=features.device)
    squares = torch.zeros_like(total)
    for s in range(0, features.shape[0], chunk):
        x = features[s : s + chunk].double()
        total += x.sum(0)
        squares += (x * x).sum(0)
    n = max(1, features.shape[0])
    mean = total / n
    std = (squares / n - mean * mean).clamp_(min=0).sqrt_()
    floor = 0.01 * float(std.median()) if std.numel() else 0.0  # near-constant channels: no blow-up
    return mean.float(), std.clamp(min=max(floor, 1e-6)).float()


@torch.no_grad()
def _fold_input_norm(ensemble: PixelEnsemble, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make the first layer take raw features: w1 <- w1 / std, b1 <- b1 - (w1 / std) . mean."""
    w1, b1 = ensemble.w1, ensemble.b1
    w1.div_(std.to(w1))
    b1.sub_(torch.einsum("mhc,c->mh", w1, mean.to(w1)))


def _inputs(features: torch.Tensor, norm: Norm | None, dtype: torch.dtype) -> torch.Tensor:
    x = features.to(dtype)
    return x if norm is None else (x - norm[0]) / norm[1]


def _train_step(
    ensemble: PixelEnsemble,
    opt: torch.optim.Optimizer,
    pool: PixelPool,
    index: torch.Tensor,
    norm: Norm | None,
    precision: Precision = "fp32",
) -> float:
    ensemble.train()
    m, b = index.shape
    flat = index.reshape(-1).to(pool.features.device)
    dtype = torch.bfloat16 if precision == "bf16" else ensemble.w1.dtype
    x = _inputs(pool.features.index_select(0, flat), norm, dtype).view(m, b, -1)
    y = pool.labels.index_select(0, flat)
    with compute_precision(precision, x.device):
        logits = ensemble(x).float()
    loss = F.cross_entropy(logits.reshape(m * b, -1), y, reduction="none").view(m, b).mean(1)
    opt.zero_grad(set_to_none=True)
    loss.sum().backward()  # members share no weights: each gets its own gradient
    opt.step()
    return float(loss.detach().mean())


@torch.no_grad()
def _validate(
    ensemble: PixelEnsemble, pool: PixelPool, norm: Norm | None, chunk: int = 4096
) -> tuple[torch.Tensor, float | None]:
    """(mean NLL per member [M], ensemble mIoU) on the validation pixels (eval statistics)."""
    folded = ensemble.eval().fold()
    k = ensemble.n_classes
    nll = torch.zeros(ensemble.n_members, dtype=torch.float64)
    confusion = torch.zeros(k, k, dtype=torch.int64)
    w1t = folded.w1.t()
    for s in range(0, len(pool), chunk):
        x = _inputs(pool.features[s : s + chunk], norm, folded.w1.dtype)
        y = pool.labels[s : s + chunk]
        logp = folded.head(torch.addmm(folded.b1, x, w1t))  # [M, K, P]
        nll -= (
            logp.gather(1, y.view(1, 1, -1).expand(logp.shape[0], 1, -1))
            .squeeze(1)
            .sum(1)
            .double()
            .cpu()
        )
        labels = summarize_members(logp)[0]
        confusion += confusion_matrix(labels, y, k)
    return (nll / max(1, len(pool))).float(), scores_from_confusion(confusion).miou


class _BestKeeper:
    """Best weights of every member by validation loss, and patience bookkeeping."""

    def __init__(self, ensemble: PixelEnsemble, patience: int) -> None:
        self.ensemble, self.patience = ensemble, patience
        m = ensemble.n_members
        self.best = {k: v.detach().clone() for k, v in ensemble.state_dict().items()}
        self.best_loss = [float("inf")] * m
        self.best_step = [0] * m
        self.stale = [0] * m

    @property
    def active(self) -> int:
        """Members that improved within the last ``patience`` evaluations."""
        return sum(1 for s in self.stale if s < self.patience)

    @torch.no_grad()
    def update(self, step: int, member_loss: torch.Tensor) -> None:
        state = self.ensemble.state_dict()
        for m, loss in enumerate(member_loss.tolist()):
            if loss < self.best_loss[m]:
                self.best_loss[m], self.best_step[m], self.stale[m] = loss, step, 0
                for k, v in state.items():
                    self.best[k][m].copy_(v[m])
            else:
                self.stale[m] += 1

    @torch.no_grad()
    def restore(self) -> None:
        for k, v in self.ensemble.state_dict().items():
            v.copy_(self.best[k])


def _fill_validation(report: TrainReport, scores: ValidationScores, names: tuple[str, ...]) -> None:
    report.val_iou = dict(zip(names, scores.iou, strict=True))
    report.val_miou = scores.miou
    report.val_pixel_accuracy = scores.pixel_accuracy
