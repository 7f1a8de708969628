"""Read and write checkpoints in the released pSp / e4e layout.

Layout: ``{"state_dict": {"encoder.<key>": ..., "decoder.<rosinality g_ema key>": ...},
"opts": {...}, "latent_avg": [L, D] or [D]}``; training files may also hold ``optimizer``,
``global_step``, ``discriminator_state_dict``..., which are ignored here. ``opts["encoder_type"]``
names the encoder (``GradualStyleEncoder`` or ``Encoder4Editing``; others are refused);
``opts["start_from_latent_avg"]`` (default True) says whether ``latent_avg`` is added to its output.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from datasetgan.models.encoders.config import EncoderConfig
from datasetgan.models.encoders.errors import EncoderCheckpointError, EncoderConfigError
from datasetgan.models.encoders.generator_access import w_avg_of
from datasetgan.models.encoders.io import (
    ENCODER_TYPES,
    PSPCheckpoint,
    infer_encoder_config,
    load_encoder_state,
)
from datasetgan.models.encoders.networks import Encoder, build_encoder
from datasetgan.models.stylegan2.checkpoint import (
    generator_from_rosinality_state_dict,
    torch_load_safe,
)
from datasetgan.models.stylegan2.generator import Generator

OWN_CONFIG_OPT = "datasetgan_encoder_config"
_PREFIXES = ("encoder.", "decoder.")


def _opts_dict(raw: Any, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, argparse.Namespace):
        return vars(raw)
    if isinstance(raw, Mapping):
        return dict(raw)
    raise EncoderCheckpointError(f"{source}: 'opts' is a {type(raw).__name__}, expected a dict")


def _split_state(state: Any, source: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    if not isinstance(state, Mapping):
        raise EncoderCheckpointError(f"{source}: no 'state_dict' mapping, expected the pSp layout")
    odd = sorted(k for k in state if not k.startswith(_PREFIXES))
    if odd:
        raise EncoderCheckpointError(
            f"{source}: state_dict keys {odd[:5]} are neither encoder.* nor decoder.*"
        )
    enc = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    dec = {k[len("decoder.") :]: v for k, v in state.items() if k.startswith("decoder.")}
    if not enc or not dec:
        raise EncoderCheckpointError(
            f"{source}: found {len(enc)} encoder.* and {len(dec)} decoder.* keys, expected both"
        )
    return enc, dec


def _encoder_kind(opts: Mapping[str, Any], source: str) -> str:
    name = opts.get("encoder_type", "GradualStyleEncoder")
    if name not in ENCODER_TYPES:
        raise EncoderCheckpointError(
            f"{source}: encoder_type {name!r} is not supported, expected one of {tuple(ENCODER_TYPES)}"
        )
    return ENCODER_TYPES[name]


def _config_for(
    enc_state: Mapping[str, Tensor], opts: Mapping[str, Any], source: str
) -> EncoderConfig:
    offset = "latent_avg" if opts.get("start_from_latent_avg", True) else "none"
    if OWN_CONFIG_OPT in opts:
        try:
            return EncoderConfig.from_dict(dict(opts[OWN_CONFIG_OPT]))
        except (TypeError, EncoderConfigError) as exc:
            raise EncoderCheckpointError(f"{source}: bad {OWN_CONFIG_OPT} in opts ({exc})") from exc
    return infer_encoder_config(
        enc_state, kind=_encoder_kind(opts, source), offset=offset, source=source
    )


def load_psp_checkpoint(
    path: str | os.PathLike[str], *, device: torch.device | str = "cpu"
) -> PSPCheckpoint:
    """Load a pSp / e4e checkpoint (e.g. ``e4e_ffhq_encode.pt``) -> ``(encoder, generator)``, both eval.

    Refuses unsafe pickles, unknown encoder types, and key layouts that do not match exactly.
    Without a stored ``latent_avg``, the generator's mean W (stored or estimated) is used.
    """
    source = str(path)
    if not Path(path).is_file():
        raise EncoderCheckpointError(
            f"{source}: no such file, expected a pSp / e4e checkpoint (.pt)"
        )
    obj = torch_load_safe(Path(path))
    if not isinstance(obj, Mapping) or "state_dict" not in obj:
        keys = sorted(obj)[:6] if isinstance(obj, Mapping) else type(obj).__name__
        raise EncoderCheckpointError(f"{source}: holds {keys}, expected a dict with 'state_dict'")
    opts = _opts_dict(obj.get("opts"), source)
    enc_state, dec_state = _split_state(obj["state_dict"], source)
    config = _config_for(enc_state, opts, source)
    latent_avg = obj.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, Tensor):
        raise EncoderCheckpointError(f"{source}: latent_avg is a {type(latent_avg).__name__}")
    generator = generator_from_rosinality_state_dict(
        dec_state, latent_avg=latent_avg, source=source
    )
    if generator.n_latent != config.n_styles or generator.w_dim != config.style_dim:
        raise EncoderCheckpointError(
            f"{source}: encoder gives [{config.n_styles}, {config.style_dim}] codes, generator expects "
            f"[{generator.n_latent}, {generator.w_dim}]"
        )
    encoder = build_encoder(config)
    load_encoder_state(encoder, enc_state, source=source)
    encoder.set_latent_avg(latent_avg if latent_avg is not None else w_avg_of(generator))
    return PSPCheckpoint(encoder.to(device).eval(), generator.to(device).eval())


def psp_state(encoder: Encoder, generator: Generator) -> dict[str, Tensor]:
    """The pSp ``state_dict``: ``encoder.*`` + ``decoder.*`` (rosinality keys; ``w_avg`` left out)."""
    state = {f"encoder.{k}": v.detach().cpu() for k, v in encoder.state_dict().items()}
    for k, v in generator.state_dict().items():
        if k != "w_avg":
            state[f"decoder.{k}"] = v.detach().cpu()
    return state


def psp_opts(encoder: Encoder, generator: Generator) -> dict[str, Any]:
    """``opts`` a released loader understands, plus our full encoder config."""
    cfg = encoder.config
    return {
        "encoder_type": "GradualStyleEncoder" if cfg.kind == "psp" else "Encoder4Editing",
        "output_size": generator.resolution,
        "stylegan_size": generator.resolution,
        "input_nc": cfg.input_nc,
        "start_from_latent_avg": cfg.offset == "latent_avg",
        "learn_in_w": False,
        OWN_CONFIG_OPT: cfg.to_dict(),
    }


def save_psp_checkpoint(
    path: str | os.PathLike[str],
    encoder: Encoder,
    generator: Generator,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``encoder`` + ``generator`` in the released pSp / e4e layout (readable by their code).

    ``extra`` adds top-level entries (e.g. ``global_step``, ``optimizer``); they must be plain
    tensors / numbers / strings / containers so that ``weights_only`` loading accepts them.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "state_dict": psp_state(encoder, generator),
        "opts": psp_opts(encoder, generator),
        "latent_avg": encoder.latent_avg.detach().cpu().clone(),
    }
    payload.update(extra or {})
    tmp = out.with_name(out.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, out)
    return out
