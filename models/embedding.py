"""Embed real images into W+: encoder -> optional refinement -> codes + reconstruction metrics.

Policy: files are read with :mod:`storage.images` at the generator's resolution R (EXIF-upright,
any mode -> RGB, ``fit`` = centre-crop by default); tensors given directly are brought to R x R with
:func:`models.encoders.fit_input` (centre square, antialiased bilinear). The encoder sees its own
input size (same policy), always in eval mode and without gradients. Metrics are per image, on
images in [-1, 1] compared at <= ``metrics_size`` px: MSE, and LPIPS when a model is given (NaN
otherwise), for the encoder's code ("before") and the returned code ("after"; equal to "before" when
``refine="none"``). Refinement never makes the reconstruction loss worse (it keeps the best step).

Writing the HDF5 store is not done here (``storage`` owns it); this module returns arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from datasetgan.models.encoders.errors import EncoderConfigError
from datasetgan.models.encoders.generator_access import w_avg_of
from datasetgan.models.encoders.io import load_encoder
from datasetgan.models.encoders.losses import lpips_per_image, mse_per_image, to_loss_size
from datasetgan.models.encoders.networks import Encoder
from datasetgan.models.encoders.preprocess import fit_input
from datasetgan.models.encoders.psp_format import load_psp_checkpoint
from datasetgan.models.encoders.restyle import encode_images
from datasetgan.models.imaging import (
    ImageFailure,
    ImageReadConfig,
    read_images,
    to_signed_float,
    to_uint8,
)
from datasetgan.models.lpips import LPIPS, load_lpips
from datasetgan.models.projector import RefineConfig, refine_latents
from datasetgan.models.stylegan2.checkpoint import load_generator
from datasetgan.models.stylegan2.generator import Generator

REFINE_MODES = ("none", "optimize")
KEEP_IMAGES = ("none", "reconstructions")


@dataclass(frozen=True)
class EmbedConfig:
    """How to embed: refinement mode and schedule, batch size, file reading, metric size."""

    refine: str = "none"
    refine_config: RefineConfig = field(default_factory=RefineConfig)
    batch_size: int = 8
    fit: str = "center_crop"
    background: str = "white"
    metrics_size: int = 256
    keep_images: str = "none"

    def __post_init__(self) -> None:
        if self.refine not in REFINE_MODES:
            raise EncoderConfigError(
                f"EmbedConfig.refine: got {self.refine!r}, expected one of {REFINE_MODES}"
            )
        if self.keep_images not in KEEP_IMAGES:
            raise EncoderConfigError(
                f"EmbedConfig.keep_images: got {self.keep_images!r}, expected one of {KEEP_IMAGES}"
            )
        if self.batch_size < 1 or self.metrics_size < 16:
            raise EncoderConfigError(
                f"EmbedConfig: got batch_size={self.batch_size}, metrics_size={self.metrics_size}, "
                "expected >= 1 and >= 16"
            )


class Embedding(NamedTuple):
    """Result of :func:`embed_images` (tensors on the generator's device)."""

    ws: Tensor  # [N, L, D] returned codes
    ws_encoder: Tensor  # [N, L, D] the encoder's codes
    mse_before: Tensor  # [N]
    lpips_before: Tensor  # [N] (NaN without an LPIPS model)
    mse_after: Tensor  # [N]
    lpips_after: Tensor  # [N]
    reconstructions: Tensor | None  # [N, 3, R, R] of the returned codes, if kept
    noise: list[Tensor] | None = (
        None  # optimised noise maps [N, 1, R_l, R_l] (refine noise="optimize")
    )


@dataclass
class EmbeddingModels:
    encoder: Encoder
    generator: Generator
    lpips: LPIPS | None


def load_embedding_models(
    encoder_path: str | os.PathLike[str],
    generator_path: str | os.PathLike[str] | None = None,
    *,
    lpips_trunk: str | os.PathLike[str] = "imagenet",
    device: torch.device | str = "cpu",
) -> EmbeddingModels:
    """Encoder (a saved folder, or a pSp / e4e file that also holds the generator), generator, LPIPS.

    ``generator_path`` overrides the generator of a pSp file and is required for an encoder folder.
    ``lpips_trunk="none"`` skips LPIPS (metrics NaN, refinement must use ``lpips_lambda=0``).
    """
    path = Path(encoder_path)
    if path.is_dir():
        if generator_path is None:
            raise EncoderConfigError(f"{path} is an encoder folder; pass generator_path as well")
        encoder, generator = (
            load_encoder(path, device=device),
            load_generator(Path(generator_path), device=device),
        )
    else:
        encoder, generator = load_psp_checkpoint(path, device=device)
        if generator_path is not None:
            generator = load_generator(Path(generator_path), device=device)
    lpips = None if lpips_trunk == "none" else load_lpips(trunk=lpips_trunk, device=device)
    return EmbeddingModels(encoder.eval(), generator.eval(), lpips)


def _metrics(
    generator: Generator,
    ws: Tensor,
    targets: Tensor,
    lpips: LPIPS | None,
    size: int,
    noise: list[Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        recon = generator.synthesize(ws, noise_mode="const", noise=noise, taps="none").image
        a, b = to_loss_size(recon, size), to_loss_size(targets, size)
        mse = mse_per_image(a, b)
        lp = lpips_per_image(lpips, a, b) if lpips is not None else torch.full_like(mse, math.nan)
    return mse, lp, recon


def embed_images(
    images: Tensor,
    encoder: Encoder,
    generator: Generator,
    *,
    config: EmbedConfig,
    lpips: LPIPS | None = None,
    rng: torch.Generator | None = None,
) -> Embedding:
    """Embed ``images [N, 3, H, W]`` (range [-1, 1]) into W+ ``[N, L, D]`` with metrics."""
    targets = fit_input(images.to(w_avg_of(generator)), generator.resolution)
    encoder.eval()
    with torch.no_grad():
        ws0 = encode_images(encoder, generator, targets)
    mse0, lp0, recon = _metrics(generator, ws0, targets, lpips, config.metrics_size)
    ws, mse1, lp1, noise = ws0, mse0, lp0, None
    if config.refine == "optimize":
        result = refine_latents(
            generator, targets, ws0, config=config.refine_config, lpips=lpips, rng=rng
        )
        ws, noise = result.ws, result.noise
        mse1, lp1, recon = _metrics(generator, ws, targets, lpips, config.metrics_size, noise)
    keep = recon if config.keep_images == "reconstructions" else None
    return Embedding(ws, ws0, mse0, lp0, mse1, lp1, keep, noise)


@dataclass
class FileEmbeddings:
    """Result of :func:`embed_files` as numpy arrays, rows in the order of ``paths``.

    ``indices[i]`` / ``failure_indices[j]`` are positions in the list given to :func:`embed_files`.
    """

    paths: list[str]
    indices: list[int]
    ws: np.ndarray  # float32 [N, L, D]
    ws_encoder: np.ndarray  # float32 [N, L, D]
    mse_before: np.ndarray  # float32 [N]
    lpips_before: np.ndarray
    mse_after: np.ndarray
    lpips_after: np.ndarray
    failures: list[ImageFailure] = field(default_factory=list)
    failure_indices: list[int] = field(default_factory=list)
    inputs: np.ndarray | None = None  # uint8 [N, R, R, 3] when keep_images="reconstructions"
    reconstructions: np.ndarray | None = None  # uint8 [N, R, R, 3]
    noise: list[np.ndarray] | None = None  # float32 [N, 1, R_l, R_l] per layer (noise="optimize")


def embed_files(
    paths: Sequence[str | os.PathLike[str]],
    encoder: Encoder,
    generator: Generator,
    *,
    config: EmbedConfig,
    lpips: LPIPS | None = None,
    rng: torch.Generator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FileEmbeddings:
    """Read and embed files in batches; unreadable files are returned as failures, never raised.

    ``progress(done, total)`` is called after each batch.
    """
    read_cfg = ImageReadConfig(
        size=generator.resolution, fit=config.fit, background=config.background
    )
    parts: list[tuple[list[int], np.ndarray, Embedding]] = []
    out = _empty(generator)
    for start in range(0, len(paths), config.batch_size):
        chunk = list(paths[start : start + config.batch_size])
        batch = read_images(chunk, read_cfg)
        out.failures += batch.failures
        out.failure_indices += [start + i for i in batch.failure_indices]
        if batch.paths:
            out.paths += batch.paths
            x = torch.from_numpy(to_signed_float(batch.images))
            emb = embed_images(x, encoder, generator, config=config, lpips=lpips, rng=rng)
            parts.append(([start + i for i in batch.indices], batch.images, emb))
        if progress is not None:
            progress(min(start + config.batch_size, len(paths)), len(paths))
    return _collect(out, parts, keep=config.keep_images == "reconstructions")


def _empty(generator: Generator) -> FileEmbeddings:
    shape = (0, generator.n_latent, generator.w_dim)
    zeros = np.zeros(0, np.float32)
    return FileEmbeddings(
        [], [], np.zeros(shape, np.float32), np.zeros(shape, np.float32), zeros, zeros, zeros, zeros
    )


def _collect(
    out: FileEmbeddings, parts: list[tuple[list[int], np.ndarray, Embedding]], *, keep: bool
) -> FileEmbeddings:
    if not parts:
        return out

    def cat(name: str) -> np.ndarray:
        return np.concatenate(
            [getattr(e, name).detach().cpu().float().numpy() for _, _, e in parts]
        )

    out.indices = [i for idx, _, _ in parts for i in idx]
    out.ws, out.ws_encoder = cat("ws"), cat("ws_encoder")
    out.mse_before, out.lpips_before = cat("mse_before"), cat("lpips_before")
    out.mse_after, out.lpips_after = cat("mse_after"), cat("lpips_after")
    noises = [e.noise for _, _, e in parts]
    if all(n is not None for n in noises):
        layers = zip(*[n for n in noises if n is not None], strict=True)
        out.noise = [
            np.concatenate([t.detach().cpu().float().numpy() for t in layer]) for layer in layers
        ]
    if keep:
        out.inputs = np.concatenate([imgs for _, imgs, _ in parts])
        recon = [e.reconstructions for _, _, e in parts]
        out.reconstructions = np.concatenate([to_uint8(r) for r in recon if r is not None])
    return out
