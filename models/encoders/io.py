"""Encoder files: the project's own format and the released pSp / e4e checkpoint layout.

* Own format (:func:`save_encoder` / :func:`load_encoder`): a folder with ``config.json``
  (format name, version, :class:`EncoderConfig`, free metadata) and ``model.safetensors``
  (the encoder's state dict plus ``latent_avg``).
* pSp / e4e layout (:func:`load_psp_checkpoint` / :func:`save_psp_checkpoint`): one torch file holding
  ``{"state_dict": {"encoder.*", "decoder.*"}, "opts": dict, "latent_avg": [L, D]}``. It is read
  with ``torch.load(weights_only=True)`` (allow-list: ``argparse.Namespace``); the encoder config is
  inferred from the keys, the generator from the ``decoder.*`` keys (rosinality layout).

Everything returned is in eval mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from datasetgan.models.encoders.config import EncoderConfig
from datasetgan.models.encoders.errors import EncoderCheckpointError, EncoderConfigError
from datasetgan.models.encoders.networks import Encoder, build_encoder
from datasetgan.models.folder_format import ModelFolder
from datasetgan.models.stylegan2.generator import Generator

FORMAT_NAME = "datasetgan-pipeline/encoder"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
LATENT_AVG_KEY = "latent_avg"
ENCODER_TYPES = {"GradualStyleEncoder": "psp", "Encoder4Editing": "e4e"}


class PSPCheckpoint(NamedTuple):
    """What a pSp / e4e file holds: ``encoder, generator = load_psp_checkpoint(path)``."""

    encoder: Encoder
    generator: Generator


def save_encoder(
    encoder: Encoder, path: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``path/config.json`` + ``path/model.safetensors``; returns the folder."""
    state = {**encoder.state_dict(), LATENT_AVG_KEY: encoder.latent_avg}
    config = {"config": encoder.config.to_dict(), "metadata": dict(metadata or {})}
    return _folder(Path(path)).write(config, state)


def _folder(path: Path) -> ModelFolder:
    return ModelFolder(path, FORMAT_NAME, FORMAT_VERSION, EncoderCheckpointError)


def read_encoder_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metadata`` dict saved next to an encoder (e.g. the generator's fingerprint)."""
    return dict(_read_meta(Path(path)).get("metadata", {}))


def _read_meta(folder: Path) -> dict[str, Any]:
    return _folder(folder).read_config()


def load_encoder(path: str | os.PathLike[str], *, device: torch.device | str = "cpu") -> Encoder:
    """Load an encoder written by :func:`save_encoder`, in eval mode."""
    folder = Path(path)
    meta = _read_meta(folder)
    try:
        config = EncoderConfig.from_dict(meta["config"])
    except (KeyError, TypeError, EncoderConfigError) as exc:
        raise EncoderCheckpointError(f"{folder / CONFIG_FILE}: bad encoder config ({exc})") from exc
    state = _folder(folder).read_weights()
    if LATENT_AVG_KEY not in state:
        raise EncoderCheckpointError(f"{folder / WEIGHTS_FILE}: missing {LATENT_AVG_KEY!r}")
    latent_avg = state.pop(LATENT_AVG_KEY)
    encoder = build_encoder(config)
    load_encoder_state(encoder, state, source=str(folder / WEIGHTS_FILE))
    encoder.set_latent_avg(latent_avg)
    return encoder.to(device).eval()


def load_encoder_state(encoder: Encoder, state: Mapping[str, Tensor], *, source: str) -> None:
    """Strict load that names the first missing / unexpected / mis-shaped keys."""
    expected = encoder.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise EncoderCheckpointError(
            f"{source}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]} for a "
            f"{encoder.config.kind} encoder with {encoder.n_styles} styles"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise EncoderCheckpointError(
                f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}"
            )
    encoder.load_state_dict(dict(state), strict=True)


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Run-length encoding: ``[64, 64, 128] -> [(64, 2), (128, 1)]``."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1] = (v, runs[-1][1] + 1)
        else:
            runs.append((v, 1))
    return runs


def _scan_keys(state: Mapping[str, Tensor], source: str) -> dict[str, Any]:
    try:
        n_styles = len({k.split(".")[1] for k in state if k.startswith("styles.")})
        n_blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
        se_key = "body.0.res_layer.5.fc1.weight"
        return {
            "n_styles": n_styles,
            "style_dim": int(state["styles.0.linear.weight"].shape[0]),
            "head_width": int(state["styles.0.linear.weight"].shape[1]),
            "input_nc": int(state["input_layer.0.weight"].shape[1]),
            "widths": [
                int(state[f"body.{i}.res_layer.1.weight"].shape[0]) for i in range(n_blocks)
            ],
            "se_channels": int(state[se_key].shape[0]) if se_key in state else None,
            "head_convs": [
                len(
                    [
                        k
                        for k in state
                        if k.startswith(f"styles.{i}.convs.") and k.endswith(".weight")
                    ]
                )
                for i in range(n_styles)
            ],
        }
    except KeyError as exc:
        raise EncoderCheckpointError(f"{source}: missing encoder key {exc}") from exc


def infer_encoder_config(
    state: Mapping[str, Tensor], *, kind: str, offset: str, source: str = "<state dict>"
) -> EncoderConfig:
    """Rebuild an :class:`EncoderConfig` from pSp / e4e ``encoder.*`` keys (prefix removed).

    Stages are split where the block width changes (true of every released body, whose widths are
    64/128/256/512); files written by :func:`save_psp_checkpoint` carry their config in ``opts``.
    """
    found = _scan_keys(state, source)
    stages = _runs(found["widths"])
    if len(stages) != 4 or found["n_styles"] == 0:
        raise EncoderCheckpointError(
            f"{source}: found {len(stages)} body stages and {found['n_styles']} style heads, expected "
            "4 stages of distinct widths and >= 1 head (a pSp GradualStyleEncoder / e4e layout)"
        )
    heads, se = found["head_convs"], found["se_channels"]
    base = heads[0]
    try:
        return EncoderConfig(
            kind=kind,
            n_styles=found["n_styles"],
            style_dim=found["style_dim"],
            input_size=16 * 2**base,
            input_nc=found["input_nc"],
            units=tuple(n for _, n in stages),  # type: ignore[arg-type]
            widths=tuple(w for w, _ in stages),  # type: ignore[arg-type]
            unit="ir" if se is None else "ir_se",
            se_reduction=16 if se is None else stages[0][0] // se,
            coarse_ind=max(1, heads.count(base)),
            middle_ind=max(1, heads.count(base)) + heads.count(base + 1),
            offset=offset,
            head_width=None if found["head_width"] == found["style_dim"] else found["head_width"],
        )
    except EncoderConfigError as exc:
        raise EncoderCheckpointError(
            f"{source}: inferred an invalid encoder config ({exc})"
        ) from exc
