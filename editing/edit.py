"""Edit a label map, get the image that matches it (EditGAN, Ling et al. 2021).

One W+ code renders both the image and, through the interpreter, its labels. An edit optimises an
offset dW+ so that

    loss = ce   * CE(interpreter's probabilities, target)            inside the region
         + l1   * |image - source image|                              outside the region
         + lpips* LPIPS(image * outside, source * outside)            (when an LPIPS net is given)
         + pull * |dW+|^2

The probabilities come from :meth:`Interpreter.soft_labels`, which never builds the concatenated
feature buffer (EditGAN's own tool keeps it, with gradients, and runs out of memory on a 24 GB GPU).
The region defaults to the pixels whose class the target changes, dilated by ``dilate`` pixels.
``space="w+"`` gives every layer its own offset; ``"w"`` one offset shared by all layers.

Shapes: L w vectors, D w dimension, H/W image and label size, K classes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from datasetgan.editing.errors import EditError
from datasetgan.interpreter import Interpreter
from datasetgan.models.stylegan2 import Generator

Space = Literal["w+", "w"]


@dataclass(frozen=True)
class EditWeights:
    """Weights of the loss terms (see the module docstring); images in [-1, 1]."""

    ce: float = 1.0
    l1: float = 3.0
    lpips: float = 1.0
    pull: float = 0.01


@dataclass(frozen=True)
class EditConfig:
    steps: int = 100
    lr: float = 0.01
    space: Space = "w+"
    dilate: int = 2  # pixels added around the changed ones to make the default region
    tile_pixels: int = 4096

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0 or self.dilate < 0:
            raise EditError("EditConfig", f"steps {self.steps}, lr {self.lr}, dilate {self.dilate}",
                            "steps >= 0, lr > 0, dilate >= 0")  # fmt: skip
        if self.space not in ("w+", "w"):
            raise EditError("EditConfig.space", f"got {self.space!r}", "'w+' or 'w'")


@dataclass
class EditResult:
    """w_plus [1, L, D] (source + delta), delta [1, L, D], image [1, 3, H, W] in [-1, 1], labels
    [H, W] (the interpreter's, of the edited image), region [H, W] bool, the final losses, seconds."""

    w_plus: torch.Tensor
    delta: torch.Tensor
    image: torch.Tensor
    labels: torch.Tensor
    region: torch.Tensor
    losses: dict[str, float]
    seconds: float
    history: list[float] = field(default_factory=list)


def dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """A bool mask [H, W] grown by ``pixels`` (a square structuring element)."""
    if pixels <= 0:
        return mask.clone()
    k = 2 * pixels + 1
    grown = F.max_pool2d(mask[None, None].float(), k, stride=1, padding=pixels)
    return grown[0, 0] > 0


@torch.no_grad()
def render(
    generator: Generator, interpreter: Interpreter, w_plus: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(image [N, 3, H, W], labels [N, H, W]) of W+ codes [N, L, D], constant noise."""
    image, result = interpreter.render_and_label(generator, w_plus)
    return image, result.labels


def check_target(
    target: torch.Tensor, interpreter: Interpreter, source_labels: torch.Tensor
) -> None:
    """Refuse a target of the wrong size, with unknown classes, or that changes nothing."""
    h, w = interpreter.output_shape
    if tuple(target.shape) != (h, w):
        raise EditError(
            "target mask",
            f"got {tuple(target.shape)[::-1]} (WxH)",
            f"{w}x{h}, the interpreter's labels",
        )
    bad = torch.unique(target[(target < 0) | (target >= interpreter.n_classes)]).tolist()
    if bad:
        raise EditError("target mask", f"class id(s) {bad[:10]}", f"0..{interpreter.n_classes - 1}")
    if torch.equal(target.long(), source_labels.long()):
        raise EditError("target mask", "changes nothing (equal to the source's labels)",
                        "a label map that differs from the source's somewhere")  # fmt: skip


def edit(
    generator: Generator,
    interpreter: Interpreter,
    w_plus: torch.Tensor,
    target_mask: torch.Tensor,
    *,
    region: torch.Tensor | None = None,
    config: EditConfig = EditConfig(),
    weights: EditWeights = EditWeights(),
    lpips: Any = None,
    init_delta: torch.Tensor | None = None,
) -> EditResult:
    """Optimise dW+ so the image's labels match ``target_mask`` [H, W] inside the region and the image
    stays the source's outside it; see the module docstring. ``init_delta`` starts from an offset
    (an editing vector being refined)."""
    if (
        w_plus.ndim != 3
        or w_plus.shape[0] != 1
        or tuple(w_plus.shape[1:]) != (generator.n_latent, generator.w_dim)
    ):
        raise EditError(
            "w_plus", f"got {tuple(w_plus.shape)}", f"[1, {generator.n_latent}, {generator.w_dim}]"
        )
    start = time.perf_counter()
    source_image, source_labels = render(generator, interpreter, w_plus)
    target = torch.as_tensor(target_mask).long()
    check_target(target, interpreter, source_labels[0])
    if region is None:
        region = dilate(target != source_labels[0], config.dilate)
    return _optimise(generator, interpreter, w_plus, target, region.bool(), source_image, config,
                     weights, lpips, init_delta, start)  # fmt: skip


def _optimise(
    generator: Generator, interpreter: Interpreter, w_plus: torch.Tensor, target: torch.Tensor,
    region: torch.Tensor, source_image: torch.Tensor, config: EditConfig, weights: EditWeights,
    lpips: Any, init_delta: torch.Tensor | None, start: float,
) -> EditResult:  # fmt: skip
    shape = (1, 1, generator.w_dim) if config.space == "w" else tuple(w_plus.shape)
    delta = torch.zeros(shape) if init_delta is None else init_delta.detach().clone().reshape(shape)
    delta.requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=config.lr)
    outside = (~region).float()[None, None]  # [1, 1, H, W] in label space
    keep = _to_image(outside, source_image.shape[-2:])
    source_feats = (
        None if lpips is None or weights.lpips == 0 else lpips.features(source_image * keep)
    )
    history: list[float] = []
    losses: dict[str, torch.Tensor] = {}
    # the label loss reads the region only: label its bounding box, not every pixel
    box = region_box(region)
    y0, y1, x0, x1 = box
    target_box, region_in_box = target[y0:y1, x0:x1], region[y0:y1, x0:x1]
    with frozen(generator), torch.enable_grad():  # also when the caller runs under no_grad
        for _ in range(config.steps):
            ws = w_plus + delta.expand_as(w_plus)
            out = generator.synthesize(ws, noise_mode="const", taps="all")
            probs = interpreter.soft_labels(
                out.features, tile_pixels=config.tile_pixels, box=box
            )  # [1, K, y1 - y0, x1 - x0]
            losses = _losses(out.image, probs, target_box, region_in_box, keep, source_image,
                             delta, weights, lpips, source_feats)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt.step()
            history.append(float(losses["total"].detach()))
    final = (w_plus + delta.detach().expand_as(w_plus)).contiguous()
    image, labels = render(generator, interpreter, final)
    floats = {k: float(v.detach()) for k, v in losses.items()}
    return EditResult(final, (final - w_plus).detach(), image, labels[0], region, floats,
                      time.perf_counter() - start, history)  # fmt: skip


def region_box(region: torch.Tensor) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the bounding box of the True pixels of ``region`` [H, W] (the whole map
    when none is True)."""
    h, w = region.shape
    ys, xs = torch.nonzero(region, as_tuple=True)
    if ys.numel() == 0:
        return 0, h, 0, w
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """No gradients into ``module``'s parameters while the block runs; their flags are restored."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def _to_image(mask: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return (
        mask
        if tuple(mask.shape[-2:]) == tuple(size)
        else F.interpolate(mask, size=tuple(size), mode="nearest")
    )


def _losses(
    image: torch.Tensor, probs: torch.Tensor, target: torch.Tensor, region: torch.Tensor,
    keep: torch.Tensor, source: torch.Tensor, delta: torch.Tensor, weights: EditWeights,
    lpips: Any, source_feats: Any,
) -> dict[str, torch.Tensor]:  # fmt: skip
    logp = probs.clamp_min(1e-8).log()[0]  # [K, H, W]
    picked = logp.gather(0, target[None])[0]  # [H, W]
    ce = -picked[region].mean() if region.any() else picked.sum() * 0
    l1 = ((image - source).abs() * keep).sum() / (keep.sum() * 3).clamp_min(1)
    terms = {"ce": ce, "l1": l1, "pull": delta.square().mean()}
    if source_feats is not None:
        terms["lpips"] = lpips.distance(lpips.features(image * keep), source_feats).mean()
    total = weights.ce * ce + weights.l1 * l1 + weights.pull * terms["pull"]
    if "lpips" in terms:
        total = total + weights.lpips * terms["lpips"]
    return terms | {"total": total}
