"""Key mapping between NVIDIA stylegan2-ada-pytorch generator state dicts and rosinality's layout.

ADA ``G_ema.state_dict()`` keys: ``mapping.fc{i}.*``, ``mapping.w_avg``, ``synthesis.b{R}.const``,
``synthesis.b{R}.conv0/conv1.{weight,bias,affine.*,noise_const,noise_strength}``,
``synthesis.b{R}.torgb.*``. Conversions are direct copies with reshapes; conv weights are rescaled
by sqrt(fan_in) because rosinality applies 1/sqrt(fan_in) at run time while ADA relies on
demodulation alone, which makes the two generators compute the same function.
"""

from __future__ import annotations

import math

import torch

from datasetgan.models.errors import CheckpointError

Tensor = torch.Tensor


def is_ada_state_dict(state: dict[str, Tensor]) -> bool:
    return "mapping.fc0.weight" in state and any(k.startswith("synthesis.b4.") for k in state)


def _conv_pairs(log_size: int) -> list[tuple[str, str, int]]:
    """(rosinality prefix, ADA prefix, noise index) of every styled conv."""
    pairs = [("conv1", "synthesis.b4.conv1", 0)]
    for k, log_res in enumerate(range(3, log_size + 1)):
        res = 2**log_res
        pairs.append((f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1))
        pairs.append((f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2))
    return pairs


def _rgb_pairs(log_size: int) -> list[tuple[str, str]]:
    pairs = [("to_rgb1", "synthesis.b4.torgb")]
    pairs += [
        (f"to_rgbs.{k}", f"synthesis.b{2**lr}.torgb") for k, lr in enumerate(range(3, log_size + 1))
    ]
    return pairs


def _ada_log_size(state: dict[str, Tensor], source: str) -> int:
    blocks = sorted({int(k.split(".")[1][1:]) for k in state if k.startswith("synthesis.b")})
    res = blocks[-1]
    if any(k.startswith(f"synthesis.b{r}.skip") for r in blocks for k in state):
        raise CheckpointError(
            f"{source}: ADA 'resnet' synthesis architecture, expected 'skip' (the default)"
        )
    missing_rgb = [r for r in blocks if f"synthesis.b{r}.torgb.weight" not in state]
    if missing_rgb:
        raise CheckpointError(
            f"{source}: no torgb in blocks {missing_rgb} ('orig' architecture), expected 'skip' (the default)"
        )
    if "mapping.embed.weight" in state:
        raise CheckpointError(
            f"{source}: conditional generator (mapping.embed), expected an unconditional one"
        )
    return int(math.log2(res))


def ada_to_rosinality(
    state: dict[str, Tensor], *, source: str = "<state dict>"
) -> dict[str, Tensor]:
    """Convert an ADA generator state dict to rosinality keys (plus ``w_avg``)."""
    log_size = _ada_log_size(state, source)
    out: dict[str, Tensor] = {}
    n_mlp = len([k for k in state if k.startswith("mapping.fc") and k.endswith(".weight")])
    for i in range(n_mlp):
        out[f"style.{i + 1}.weight"] = state[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = state[f"mapping.fc{i}.bias"]
    out["input.input"] = state["synthesis.b4.const"].unsqueeze(0)
    for ros, ada, noise_idx in _conv_pairs(log_size):
        weight = state[f"{ada}.weight"]
        fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
        out[f"{ros}.conv.weight"] = (weight * math.sqrt(fan_in)).unsqueeze(0)
        out[f"{ros}.conv.modulation.weight"] = state[f"{ada}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = state[f"{ada}.affine.bias"]
        out[f"{ros}.noise.weight"] = state[f"{ada}.noise_strength"].reshape(1)
        out[f"{ros}.activate.bias"] = state[f"{ada}.bias"]
        out[f"noises.noise_{noise_idx}"] = state[f"{ada}.noise_const"][None, None]
    for ros, ada in _rgb_pairs(log_size):
        out[f"{ros}.conv.weight"] = state[f"{ada}.weight"].unsqueeze(0)
        out[f"{ros}.conv.modulation.weight"] = state[f"{ada}.affine.weight"]
        out[f"{ros}.conv.modulation.bias"] = state[f"{ada}.affine.bias"]
        out[f"{ros}.bias"] = state[f"{ada}.bias"].reshape(1, 3, 1, 1)
    if "mapping.w_avg" in state:
        out["w_avg"] = state["mapping.w_avg"]
    return out


def rosinality_to_ada(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`ada_to_rosinality` (blur-kernel buffers are not emitted)."""
    n_rgb = len([k for k in state if k.startswith("to_rgbs.") and k.endswith(".conv.weight")])
    log_size = n_rgb + 2
    out: dict[str, Tensor] = {}
    n_mlp = len([k for k in state if k.startswith("style.") and k.endswith(".weight")])
    for i in range(n_mlp):
        out[f"mapping.fc{i}.weight"] = state[f"style.{i + 1}.weight"]
        out[f"mapping.fc{i}.bias"] = state[f"style.{i + 1}.bias"]
    out["synthesis.b4.const"] = state["input.input"][0]
    for ros, ada, noise_idx in _conv_pairs(log_size):
        weight = state[f"{ros}.conv.weight"][0]
        fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
        out[f"{ada}.weight"] = weight / math.sqrt(fan_in)
        out[f"{ada}.affine.weight"] = state[f"{ros}.conv.modulation.weight"]
        out[f"{ada}.affine.bias"] = state[f"{ros}.conv.modulation.bias"]
        out[f"{ada}.noise_strength"] = state[f"{ros}.noise.weight"].reshape(())
        out[f"{ada}.bias"] = state[f"{ros}.activate.bias"]
        out[f"{ada}.noise_const"] = state[f"noises.noise_{noise_idx}"][0, 0]
    for ros, ada in _rgb_pairs(log_size):
        out[f"{ada}.weight"] = state[f"{ros}.conv.weight"][0]
        out[f"{ada}.affine.weight"] = state[f"{ros}.conv.modulation.weight"]
        out[f"{ada}.affine.bias"] = state[f"{ros}.conv.modulation.bias"]
        out[f"{ada}.bias"] = state[f"{ros}.bias"].reshape(3)
    if "w_avg" in state:
        out["mapping.w_avg"] = state["w_avg"]
    return out
