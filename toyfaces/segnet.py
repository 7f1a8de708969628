"""A compact U-Net for the downstream check: train on any (image, label) Dataset, score mIoU.

The DatasetGAN paper's measure of a synthetic dataset is a segmentation network trained on it and
evaluated on real images with ground truth. `train_segnet` reads any `torch.utils.data.Dataset` that
yields (image float32 [3, H, W] in [0, 1], label int64 [H, W]) - `storage.SegmentationDataset` or
`toyfaces.ToyFaces(..., image_range="unit")` - with label -1 ignored. Training runs a fixed number of
steps (so its cost does not depend on the dataset's size), every random step from one explicit
`torch.Generator`; parameters are initialised from the config's seed without touching the global RNG.

Shapes: N batch, C channels, H/W image size (divisible by 2 ** (len(widths) - 1)), K classes.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from datasetgan.interpreter.validation import IoU, confusion_matrix, iou_from_confusion
from datasetgan.models.errors import ModelError
from datasetgan.models.folder_format import ModelFolder
from datasetgan.models.precision import Precision, check_precision, compute_precision
from datasetgan.models.torch_files import torch_load_safe
from datasetgan.toyfaces.dilated import DilatedNet, DilatedNetConfig
from datasetgan.toyfaces.domain import K

IGNORE = -1
SEGNET_FORMAT = "datasetgan-pipeline/toyfaces-segnet"


class SegNetFormatError(ModelError):
    """A saved segmentation net that is missing, of another format, or does not fit its config."""


@dataclass(frozen=True)
class SegNetConfig:
    """U-Net shape: `widths[i]` channels at 1/2**i resolution (the last one is the bottleneck)."""

    n_classes: int = K
    in_channels: int = 3
    widths: tuple[int, ...] = (8, 16, 32, 48)

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise ValueError(f"got widths {self.widths}, expected at least 2 positive widths")
        if self.n_classes < 2:
            raise ValueError(f"got n_classes {self.n_classes}, expected at least 2")


@dataclass(frozen=True)
class SegTrainConfig:
    """Training: `steps` Adam steps on batches of `batch_size`, cosine-decayed learning rate.

    Augmentation per sample: horizontal flip (`flip`), a random shift of up to `shift` pixels (edges
    replicated), a per-channel gain of 1 +- `colour_jitter`, and, for half the samples, a Gaussian
    blur of sigma up to `blur` pixels and Gaussian noise of std up to `noise` (generator-like
    degradations; both 0 = off).
    """

    steps: int = 400
    batch_size: int = 8
    lr: float = 4e-3
    weight_decay: float = 1e-4
    flip: bool = True
    shift: int = 3
    colour_jitter: float = 0.05
    blur: float = 0.0
    noise: float = 0.0
    class_weighting: str = "inv_sqrt"
    seed: int = 0
    log_every: int = 50
    # "bf16": training steps run the net under a bfloat16 autocast (CPUs with AVX-512 BF16/AMX,
    # CUDA; ~1.35x faster on 2 AMX cores); weights, loss, AdamW and evaluation stay float32
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        if self.class_weighting not in ("none", "inv_sqrt"):
            raise ValueError(
                f"got class_weighting {self.class_weighting!r}, expected 'none' or 'inv_sqrt'"
            )
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"got steps {self.steps}, batch_size {self.batch_size}; expected >= 1")


@dataclass(frozen=True)
class SegProgress:
    """What the progress callback receives every `log_every` steps and at the end."""

    step: int
    total: int
    loss: float
    seconds: float


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SegNet(nn.Module):
    """U-Net: image [N, C, H, W] in [0, 1] -> logits [N, K, H, W]."""

    def __init__(self, config: SegNetConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG
            self.down = nn.ModuleList(
                [_block(config.in_channels, w[0])]
                + [_block(a, b) for a, b in itertools.pairwise(w)]
            )
            self.up = nn.ModuleList([_block(w[i + 1] + w[i], w[i]) for i in range(len(w) - 1)])
            self.head = nn.Conv2d(w[0], config.n_classes, 1)
        self.reset_parameters(torch.Generator().manual_seed(seed))

    def reset_parameters(self, rng: torch.Generator) -> None:
        """He-uniform convolutions, unit BatchNorm, zero biases; draws only from `rng`."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu", generator=rng)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def encode(self, image: Tensor) -> list[Tensor]:
        """The encoder's activations, one [N, widths[i], H / 2**i, W / 2**i] per level."""
        levels = len(self.config.widths)
        if image.ndim != 4 or image.shape[1] != self.config.in_channels:
            raise ValueError(
                f"got image {tuple(image.shape)}, expected [N, {self.config.in_channels}, H, W]"
            )
        if image.shape[-1] % 2 ** (levels - 1) or image.shape[-2] % 2 ** (levels - 1):
            raise ValueError(
                f"got H, W {tuple(image.shape[-2:])}, expected multiples of {2 ** (levels - 1)}"
            )
        x = image * 2.0 - 1.0
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        return skips

    def features(self, image: Tensor) -> Tensor:
        """[N, sum(widths)]: every encoder level, averaged over space (a fixed embedding of the
        image, e.g. for KID)."""
        return torch.cat([level.mean((2, 3)) for level in self.encode(image)], 1)

    def forward(self, image: Tensor) -> Tensor:
        skips = self.encode(image)
        x = skips[-1]
        for i in range(len(self.config.widths) - 2, -1, -1):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat([_dense_grad(x), skips[i]], 1))
        return self.head(x)


class _DenseGrad(torch.autograd.Function):
    """Identity whose backward hands on its gradient densely laid out (in the input's memory
    format). Behind ``torch.cat`` the gradient is a channel slice of the concatenation's, and
    upsample_bilinear2d's backward takes a ~6x slower path on such strided gradients on CPU."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.channels_last = x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        return grad.contiguous(memory_format=fmt)


def _dense_grad(x: Tensor) -> Tensor:
    return _DenseGrad.apply(x) if x.requires_grad else x


Net = SegNet | DilatedNet  # what train_segnet makes


def save_segnet(model: SegNet, folder: str | Path) -> Path:
    """``folder``/config.json + model.safetensors (the project's model-folder format; U-Nets)."""
    c = model.config
    config = {"n_classes": c.n_classes, "in_channels": c.in_channels, "widths": list(c.widths)}
    return _folder(folder).write(config, model.state_dict())


def load_segnet(folder: str | Path) -> SegNet:
    """A net saved by :func:`save_segnet`, in eval mode; SegNetFormatError if it is not one."""
    files = _folder(folder)
    meta = files.read_config()
    try:
        config = SegNetConfig(meta["n_classes"], meta["in_channels"], tuple(meta["widths"]))
        model = SegNet(config)
        model.load_state_dict(files.read_weights())
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise SegNetFormatError(
            f"{files.path}: not a segmentation net this package reads ({exc})"
        ) from exc
    return model.eval()


def _folder(folder: str | Path) -> ModelFolder:
    return ModelFolder(Path(folder), SEGNET_FORMAT, 1, SegNetFormatError)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_all(dataset: Dataset[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Every item of `dataset` stacked: images float32 [N, 3, H, W], labels int64 [N, H, W]."""
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError("got an empty dataset, expected at least one (image, label) pair")
    items = [dataset[i] for i in range(n)]
    images = torch.stack([it[0] for it in items]).to(torch.float32)
    labels = torch.stack([it[1] for it in items]).to(torch.int64)
    if images.ndim != 4 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(
            f"got images {tuple(images.shape)}, labels {tuple(labels.shape)}; expected [N,3,H,W], [N,H,W]"
        )
    return images, labels


def class_weights(labels: Tensor, n_classes: int, mode: str) -> Tensor:
    """[K] loss weights: 1 ("none"), or frequency ** -0.5 normalised to mean 1 over the classes
    present ("inv_sqrt"; absent classes get 0)."""
    if mode == "none":
        return torch.ones(n_classes)
    valid = labels[(labels >= 0) & (labels < n_classes)]
    freq = torch.bincount(valid, minlength=n_classes).to(torch.float32) / max(valid.numel(), 1)
    w = torch.where(freq > 0, freq.clamp_min(1e-6).rsqrt(), torch.zeros_like(freq))
    return w / w[freq > 0].mean()


def augment(
    images: Tensor, labels: Tensor, config: SegTrainConfig, rng: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Flip, shift and colour-jitter a batch (images [N, 3, H, W], labels [N, H, W])."""
    n, _, h, w = images.shape
    if config.flip:
        flip = torch.rand(n, generator=rng) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        labels = torch.where(flip[:, None, None], labels.flip(-1), labels)
    if config.shift > 0:
        s = config.shift
        pad_i = F.pad(images, (s, s, s, s), mode="replicate")
        pad_l = F.pad(labels[:, None].float(), (s, s, s, s), mode="replicate")[:, 0].long()
        dy, dx = torch.randint(0, 2 * s + 1, (2, n), generator=rng)
        images = torch.stack([pad_i[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
        labels = torch.stack([pad_l[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    if config.colour_jitter > 0:
        gain = 1.0 + (torch.rand(n, 3, 1, 1, generator=rng) * 2 - 1) * config.colour_jitter
        images = (images * gain).clamp(0.0, 1.0)
    if config.blur > 0 or config.noise > 0:
        images = degrade(images, blur=config.blur, noise=config.noise, rng=rng)
    return images, labels


def degrade(images: Tensor, *, blur: float, noise: float, rng: torch.Generator) -> Tensor:
    """Half the images of [N, 3, H, W] in [0, 1], drawn from ``rng``: blurred with a sigma in
    [0, blur] pixels and given Gaussian noise of a std in [0, noise]."""
    n = images.shape[0]
    chosen = (torch.rand(n, generator=rng) < 0.5).float()
    sigma = torch.rand(n, generator=rng) * blur * chosen + 1e-3
    std = torch.rand(n, generator=rng) * noise * chosen
    taps = torch.arange(-3, 4, dtype=images.dtype)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))  # [N, 7]
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(3, 0)  # [N*3, 7]
    x = images.reshape(1, n * 3, *images.shape[2:])
    x = F.conv2d(F.pad(x, (3, 3, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=n * 3)
    x = F.conv2d(F.pad(x, (0, 0, 3, 3), mode="replicate"), kernel[:, None, :, None], groups=n * 3)
    x = (
        x.reshape(images.shape)
        + torch.randn(images.shape, generator=rng) * std[:, None, None, None]
    )
    return x.clamp(0.0, 1.0)


def train_segnet(
    dataset: Dataset[tuple[Tensor, Tensor]],
    *,
    config: SegTrainConfig = SegTrainConfig(),
    model_config: SegNetConfig | DilatedNetConfig = SegNetConfig(),
    progress: Callable[[SegProgress], None] | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 500,
) -> Net:
    """Train a fresh net (a U-Net, or the dilated net for a `DilatedNetConfig`) on `dataset` (held
    in memory) for `config.steps` steps; returns it in
    eval mode. With ``checkpoint`` (a file), the run saves its whole state there every
    ``checkpoint_every`` steps and a rerun continues from it, ending where an unbroken run would."""
    images, labels = load_all(dataset)
    check_precision(config.precision, images.device)
    run = _SegRun(
        model_config, config, class_weights(labels, model_config.n_classes, config.class_weighting)
    )
    if checkpoint is not None and checkpoint.is_file():
        run.load(checkpoint)
    n, start = images.shape[0], time.perf_counter()
    run.model.train()
    while run.step < config.steps:
        if run.pos + min(config.batch_size, n) > len(run.order):
            run.order, run.pos = torch.randperm(n, generator=run.rng), 0
        idx = run.order[run.pos : run.pos + config.batch_size]
        run.pos += len(idx)
        x, y = augment(images[idx], labels[idx], config, run.rng)
        loss = run.update(x.contiguous(memory_format=torch.channels_last), y)
        if checkpoint is not None and (
            run.step % checkpoint_every == 0 or run.step == config.steps
        ):
            run.save(checkpoint)
        if progress is not None and (run.step % config.log_every == 0 or run.step == config.steps):
            progress(SegProgress(run.step, config.steps, loss, time.perf_counter() - start))
    return _with_memory_format(run.model, torch.contiguous_format).eval()


def _with_memory_format(model: Net, memory_format: torch.memory_format) -> Net:
    """``model`` with its 4-d parameters in ``memory_format`` (in place; what ``Module.to(
    memory_format=...)`` does, which torch's type stubs do not declare)."""
    for p in model.parameters():
        if p.ndim == 4:
            p.data = p.data.contiguous(memory_format=memory_format)
    return model


def warmup_fraction(steps: int) -> float:
    """OneCycleLR's ``pct_start``: 10 % of the run, but at least 1.5 steps (torch divides by zero
    when the warm-up ends exactly on step 1, e.g. 10 % of 10 steps)."""
    return max(0.1, 1.5 / steps) if steps >= 2 else 0.1


class _SegRun:
    """One training run's state: model, optimiser, schedule, RNG, step and batch order."""

    def __init__(
        self, model_config: SegNetConfig | DilatedNetConfig, config: SegTrainConfig, weight: Tensor
    ) -> None:
        self.model: Net = (
            DilatedNet(model_config, seed=config.seed)
            if isinstance(model_config, DilatedNetConfig)
            else SegNet(model_config, seed=config.seed)
        )
        # channels-last (NHWC) training: oneDNN's narrow convolutions run ~1.3x faster there
        _with_memory_format(self.model, torch.channels_last)
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt,
            max_lr=config.lr,
            total_steps=config.steps,
            pct_start=warmup_fraction(config.steps),
        )
        self.config, self.weight, self.step, self.pos = config, weight, 0, 0
        self.order = torch.empty(0, dtype=torch.int64)

    def update(self, x: Tensor, y: Tensor) -> float:
        with compute_precision(self.config.precision, x.device):
            logits = self.model(x).float()
        loss = F.cross_entropy(logits, y, weight=self.weight, ignore_index=IGNORE)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step += 1
        return float(loss.detach())

    def save(self, path: Path) -> None:
        state = {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                 "sched": self.sched.state_dict(), "rng": self.rng.get_state(),
                 "step": self.step, "pos": self.pos, "order": self.order}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path.with_suffix(".tmp"))
        os.replace(path.with_suffix(".tmp"), path)

    def load(self, path: Path) -> None:
        state = torch_load_safe(path, error=SegNetFormatError)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.rng.set_state(state["rng"])
        self.step, self.pos, self.order = int(state["step"]), int(state["pos"]), state["order"]


@torch.no_grad()
def predict(model: Net, images: Tensor, *, batch_size: int = 64) -> Tensor:
    """images float32 [N, 3, H, W] in [0, 1] -> labels int64 [N, H, W] (argmax)."""
    model.eval()
    out = [
        model(images[i : i + batch_size]).argmax(1) for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.zeros((0, *images.shape[2:]), dtype=torch.int64)


def evaluate_segnet(
    model: Net, dataset: Dataset[tuple[Tensor, Tensor]], *, batch_size: int = 64
) -> IoU:
    """Per-class IoU and mIoU of `model` on every item of `dataset` (label -1 ignored)."""
    images, labels = load_all(dataset)
    k = model.config.n_classes
    conf = torch.zeros((k, k), dtype=torch.int64)
    for i in range(0, images.shape[0], batch_size):
        pred = predict(model, images[i : i + batch_size], batch_size=batch_size)
        conf += confusion_matrix(pred, labels[i : i + batch_size], k)
    return iou_from_confusion(conf)
