"""``train_encoder``: a whole, resumable encoder training run writing into one folder.

Folder layout (``out_dir``):

- ``train_state.pt``   resumable state (written every ``checkpoint_every`` steps and at the end,
  atomically; read back with ``torch.load(weights_only=True)``)
- ``encoder/``         the encoder in the project's format (``config.json`` + ``model.safetensors``),
  metadata: generator fingerprint, steps, training config
- ``history.json``     logged loss terms, one entry per ``log_every`` steps
- ``grids/step_XXXXXX.png``  preview rows ``input | reconstruction`` on a fixed batch

Progress goes to ``logging`` and to an optional callback; nothing here imports prefect.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from datasetgan.models.encoders.config import EncoderConfig
from datasetgan.models.encoders.data import ImageFolderSource, sample_batch
from datasetgan.models.encoders.errors import EncoderCheckpointError, EncoderConfigError
from datasetgan.models.encoders.generator_access import device_of, w_avg_of
from datasetgan.models.encoders.grid import save_image_grid
from datasetgan.models.encoders.io import load_encoder, read_encoder_metadata, save_encoder
from datasetgan.models.encoders.networks import Encoder, build_encoder
from datasetgan.models.encoders.psp_format import load_psp_checkpoint
from datasetgan.models.encoders.training import EncoderTrainer, TrainConfig
from datasetgan.models.errors import ModelError
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.imaging import ImageReadConfig
from datasetgan.models.lpips import load_lpips
from datasetgan.models.stylegan2.checkpoint import load_generator, torch_load_safe
from datasetgan.models.stylegan2.generator import Generator

log = logging.getLogger(__name__)
STATE_FILE = "train_state.pt"
ENCODER_DIR = "encoder"
RESUME_MODES = ("auto", "never")
# TrainConfig fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "grid_every", "log_every")


@dataclass(frozen=True)
class TrainProgress:
    """What a progress callback receives every ``log_every`` steps and at the end."""

    step: int
    total: int
    losses: dict[str, float]
    seconds: float


@dataclass
class TrainResult:
    encoder_dir: Path
    steps: int
    resumed_from: int | None
    history: list[dict[str, float]] = field(default_factory=list)
    grids: list[Path] = field(default_factory=list)


def _initial_encoder(init: EncoderConfig | str | os.PathLike[str], generator: Generator) -> Encoder:
    """A fresh encoder (mean-W offset from the generator) or one loaded from a folder / pSp file."""
    if isinstance(init, EncoderConfig):
        encoder = build_encoder(init, seed=0)
        encoder.set_latent_avg(w_avg_of(generator))
        return encoder.to(device_of(generator))
    path = Path(init)
    encoder = load_encoder(path) if path.is_dir() else load_psp_checkpoint(path).encoder
    return encoder.to(device_of(generator))


def _check_resumable(
    state: dict[str, Any], trainer: EncoderTrainer, path: Path, generator_sha256: str
) -> None:
    saved_gen = state.get("generator_sha256") or _folder_generator(path.parent)
    if saved_gen is not None and saved_gen != generator_sha256:
        raise EncoderConfigError(
            f"{path}: trained against another generator (sha256 {saved_gen[:12]}...), not the one "
            f"given ({generator_sha256[:12]}...); resuming would mix them. Use a new out_dir "
            "(or delete this one) to train for this generator"
        )
    saved_enc = state.get("encoder_config")
    if saved_enc != trainer.encoder.config.to_dict():
        raise EncoderConfigError(
            f"{path}: encoder config differs from the one being trained; use a new out_dir"
        )
    saved = dict(state.get("train_config", {}))
    now = trainer.config.to_dict()
    diff = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
    if diff:
        raise EncoderConfigError(
            f"{path}: training config changed in {diff} since the checkpoint; only "
            f"{RESUMABLE_CHANGES} may change on resume (or pass resume='never' with a new out_dir)"
        )


def _folder_generator(out: Path) -> str | None:
    """The generator fingerprint in ``out``'s encoder folder (states saved before it was kept in
    the state itself), or None."""
    try:
        value = read_encoder_metadata(out / ENCODER_DIR).get("generator_sha256")
    except (ModelError, OSError, ValueError):  # no (readable) encoder folder yet
        return None
    return str(value) if value else None


def _save_state(
    trainer: EncoderTrainer, out: Path, history: list[dict[str, float]], meta: dict[str, Any]
) -> None:
    tmp = out / (STATE_FILE + ".tmp")
    extra = {"history": history, "generator_sha256": meta["generator_sha256"]}
    torch.save(trainer.state_dict() | extra, tmp)
    os.replace(tmp, out / STATE_FILE)
    save_encoder(trainer.encoder, out / ENCODER_DIR, metadata=meta | {"steps": trainer.step_done})
    (out / "history.json").write_text(json.dumps(history, indent=1) + "\n")


def _preview(trainer: EncoderTrainer, out: Path, step: int) -> Path:
    """Grid ``input | reconstruction`` on a fixed batch (its own RNG: the run's draws are unchanged)."""
    cfg = trainer.config
    rng = torch.Generator().manual_seed(cfg.seed + 7919)
    if trainer.images is not None and cfg.source != "samples":
        images = trainer.images.batch(cfg.grid_images, rng=rng).images
    else:
        images = sample_batch(
            trainer.generator, cfg.grid_images, rng=rng, truncation=cfg.truncation
        ).images
    trainer.encoder.eval()
    with torch.no_grad():
        recon = trainer.generator.synthesize(
            trainer.encode(images), noise_mode="const", taps="none"
        ).image
    trainer.encoder.train()
    return save_image_grid([images, recon], out / "grids" / f"step_{step:06d}.png")


def _load_resume(
    trainer: EncoderTrainer, out: Path, resume: str, generator_sha256: str
) -> tuple[int | None, list[dict[str, float]]]:
    path = out / STATE_FILE
    if resume not in RESUME_MODES:
        raise EncoderConfigError(
            f"train_encoder: resume={resume!r}, expected one of {RESUME_MODES}"
        )
    if not path.is_file():
        return None, []
    if resume == "never":
        raise EncoderCheckpointError(f"{path} exists and resume='never'; choose an empty out_dir")
    state = torch_load_safe(path)
    _check_resumable(state, trainer, path, generator_sha256)
    trainer.load_state_dict(state)
    log.info("resuming encoder training from step %d (%s)", trainer.step_done, path)
    return trainer.step_done, list(state.get("history", []))


def train_encoder(
    generator: Generator | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    encoder: EncoderConfig | str | os.PathLike[str],
    config: TrainConfig,
    image_paths: Sequence[str | os.PathLike[str]] | None = None,
    fit: str = "center_crop",
    lpips_trunk: str | os.PathLike[str] = "imagenet",
    resume: str = "auto",
    device: torch.device | str = "cpu",
    progress: Callable[[TrainProgress], None] | None = None,
) -> TrainResult:
    """Train (or resume training) an encoder for ``generator``; returns where the encoder is.

    ``encoder``: an :class:`EncoderConfig` (fresh, offset = generator mean W) or a saved encoder
    folder / pSp-e4e file to fine-tune. ``image_paths``: real images (needed unless
    ``config.source == "samples"``), read at the generator's resolution with ``fit``.
    ``lpips_trunk``: see :func:`models.lpips.load_lpips`; unused when ``lpips_lambda == 0``.
    """
    gen = (
        generator
        if isinstance(generator, Generator)
        else load_generator(Path(generator), device=device)
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = None
    if image_paths:
        read_cfg = ImageReadConfig(size=gen.resolution, fit=fit)
        images = ImageFolderSource(image_paths, read_cfg, device=device_of(gen))
    lpips = (
        load_lpips(trunk=lpips_trunk, device=device_of(gen)) if config.lpips_lambda > 0 else None
    )
    trainer = EncoderTrainer(
        _initial_encoder(encoder, gen), gen, config, lpips=lpips, images=images
    )
    fingerprint = state_dict_sha256(gen)
    meta = {"generator_sha256": fingerprint, "train_config": config.to_dict()}
    resumed_from, history = _load_resume(trainer, out, resume, fingerprint)
    return _run(trainer, out, history, meta, resumed_from, progress)


def _run(
    trainer: EncoderTrainer,
    out: Path,
    history: list[dict[str, float]],
    meta: dict[str, Any],
    resumed_from: int | None,
    progress: Callable[[TrainProgress], None] | None,
) -> TrainResult:
    cfg, start = trainer.config, time.perf_counter()
    result = TrainResult(out / ENCODER_DIR, trainer.step_done, resumed_from, history)
    logs: dict[str, float] = {}
    while trainer.step_done < cfg.steps:
        logs = trainer.step()
        step = trainer.step_done
        if step % cfg.log_every == 0 or step == cfg.steps:
            history.append({"step": float(step), **logs})
            log.info("encoder step %d/%d %s", step, cfg.steps, _fmt(logs))
            if progress is not None:
                progress(TrainProgress(step, cfg.steps, logs, time.perf_counter() - start))
        if step % cfg.grid_every == 0 or step == cfg.steps:
            result.grids.append(_preview(trainer, out, step))
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            _save_state(trainer, out, history, meta)
    if not (out / ENCODER_DIR).is_dir():
        _save_state(trainer, out, history, meta)
    trainer.encoder.eval()
    result.steps = trainer.step_done
    return result


def _fmt(logs: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in logs.items())
