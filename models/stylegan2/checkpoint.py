"""Loading and saving generators safely.

Formats read by :func:`load_generator`:

* the project's own: a folder with ``config.json`` + ``model.safetensors`` (written by :func:`save_generator`);
* rosinality/stylegan2-pytorch ``.pt`` (``g_ema`` state dict, optional ``latent_avg``, ``args``);
  pSp / e4e checkpoints (``state_dict`` with ``decoder.*``, ``latent_avg``);
* NVIDIA stylegan2-ada-pytorch generator state dicts (``torch.save(G_ema.state_dict())``).

Every torch file is read with ``torch.load(weights_only=True)`` and a small allow-list
(``argparse.Namespace``); a pickle that needs arbitrary code is refused, never executed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from datasetgan.models.errors import CheckpointError, ConfigError
from datasetgan.models.folder_format import ModelFolder
from datasetgan.models.stylegan2.ada import ada_to_rosinality, is_ada_state_dict
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import Generator
from datasetgan.models.torch_files import torch_load_safe

log = logging.getLogger(__name__)

FORMAT_NAME = "datasetgan-pipeline/generator"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0


def _folder(path: Path, weights_name: str = WEIGHTS_FILE) -> ModelFolder:
    return ModelFolder(
        path, FORMAT_NAME, FORMAT_VERSION, CheckpointError, weights_name=weights_name
    )


def save_generator(generator: Generator, path: str | Path) -> Path:
    """Write ``path/config.json`` and ``path/model.safetensors``; returns the folder."""
    config = {"config": generator.config.to_dict()}
    return _folder(Path(path)).write(config, generator.state_dict())


def load_generator(path: str | Path, *, device: torch.device | str = "cpu") -> Generator:
    """Load a generator from any supported format (see module docstring), in eval mode."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder, expected a generator checkpoint")
    if path.is_dir():
        generator = _load_own(_folder(path))
    elif path.name == CONFIG_FILE:
        generator = _load_own(_folder(path.parent))
    elif path.suffix == ".safetensors":
        generator = _load_own(_folder(path.parent, path.name))
    else:
        generator = _load_torch_file(path)
    return generator.to(device).eval()


def _load_own(folder: ModelFolder) -> Generator:
    meta = folder.read_config()
    try:
        config = GeneratorConfig.from_dict(meta["config"])
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder.config_path}: bad generator config ({exc})") from exc
    generator = Generator(config)
    _load_checked(generator, folder.read_weights(), source=str(folder.weights_path))
    return generator


def _load_torch_file(path: Path) -> Generator:
    obj = torch_load_safe(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, expected a dict of tensors")
    latent_avg = obj.get("latent_avg")
    if "g_ema" in obj:
        state = obj["g_ema"]
    elif "state_dict" in obj and any(k.startswith("decoder.") for k in obj["state_dict"]):
        state = {
            k[len("decoder.") :]: v
            for k, v in obj["state_dict"].items()
            if k.startswith("decoder.")
        }
    elif "G_ema" in obj and isinstance(obj["G_ema"], dict):
        state = obj["G_ema"]
    else:
        state = obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no generator state dict found (keys: {sorted(obj)[:6]})")
    if is_ada_state_dict(state):
        try:
            state = ada_to_rosinality(state, source=str(path))
        except KeyError as exc:
            raise CheckpointError(f"{path}: ADA generator state dict is missing key {exc}") from exc
    return generator_from_rosinality_state_dict(state, latent_avg=latent_avg, source=str(path))


def generator_from_rosinality_state_dict(
    state: dict[str, torch.Tensor],
    *,
    latent_avg: torch.Tensor | None = None,
    source: str = "<state dict>",
) -> Generator:
    """Build a :class:`Generator` from a rosinality ``Generator`` state dict, inferring the config.

    ``latent_avg`` ([D], [1, D] or [L, D]) sets ``w_avg``; when neither it nor a ``w_avg`` key is
    present, mean W is estimated from 10,000 samples with a fixed seed (logged).
    """
    config = infer_config(state, source=source)
    generator = Generator(config)
    state = dict(state)
    if "w_avg" not in state:
        if latent_avg is not None:
            state["w_avg"] = latent_avg.reshape(-1, config.w_dim)[0].float()
        else:
            state["w_avg"] = generator.estimate_w_avg(W_AVG_SAMPLES, seed=W_AVG_SEED).clone()
            _load_checked(generator, state, source=source)
            generator.estimate_w_avg(W_AVG_SAMPLES, seed=W_AVG_SEED)
            log.info(
                "%s: no latent_avg stored; estimated mean W from %d samples (seed %d)",
                source,
                W_AVG_SAMPLES,
                W_AVG_SEED,
            )
            return generator
    _load_checked(generator, state, source=source)
    return generator


def infer_config(
    state: dict[str, torch.Tensor], *, source: str = "<state dict>"
) -> GeneratorConfig:
    """Resolution, w_dim, n_mlp and channel table of a rosinality-layout state dict."""
    for key in ("style.1.weight", "input.input", "to_rgb1.conv.weight"):
        if key not in state:
            raise CheckpointError(
                f"{source}: missing key {key!r}, expected a rosinality Generator state dict"
            )
    w_dim = int(state["style.1.weight"].shape[1])
    n_mlp = len([k for k in state if k.startswith("style.") and k.endswith(".weight")])
    n_rgb = len([k for k in state if k.startswith("to_rgbs.") and k.endswith(".conv.weight")])
    resolution = 2 ** (n_rgb + 2)
    table = [int(state["input.input"].shape[1])]
    for k in range(n_rgb):
        key = f"convs.{2 * k}.conv.weight"
        if key not in state:
            raise CheckpointError(
                f"{source}: missing key {key!r} (to_rgbs suggest {resolution} px)"
            )
        table.append(int(state[key].shape[1]))
    try:
        for multiplier in (2, 1):
            candidate = GeneratorConfig(
                resolution=resolution, w_dim=w_dim, n_mlp=n_mlp, channel_multiplier=multiplier
            )
            if list(candidate.channel_table.values()) == table:
                return candidate
        return GeneratorConfig(
            resolution=resolution, w_dim=w_dim, n_mlp=n_mlp, channels=tuple(table)
        )
    except ConfigError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc


def _load_checked(generator: Generator, state: dict[str, torch.Tensor], *, source: str) -> None:
    """load_state_dict with errors that name the first offending keys and shapes."""
    expected = generator.state_dict()
    # blur/upsample kernels are fixed buffers; older files may omit them
    optional = {k for k in expected if k.endswith(".kernel")}
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        raise CheckpointError(
            f"{source}: {'; '.join(parts)} for a {generator.resolution} px generator"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}"
            )
    merged = {k: state.get(k, v) for k, v in expected.items()}
    generator.load_state_dict(merged, strict=True)
