"""LPIPS (VGG16, v0.1) in plain PyTorch: no torchvision, no lpips import, no downloads.

- The trunk is VGG16's convolutional part up to relu5_3; its parameter names match torchvision's
  ``vgg16().features`` state dict (``features.0.weight`` ... ``features.28.bias``), so the ImageNet file
  ``vgg16-397923af.pth`` loads directly. Its ``classifier.*`` entries are not used (stated, not silent).
- The five taps are relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (after ``features.3/8/15/22/29``).
- Inputs go through LPIPS's ScalingLayer, each tap is unit-normalised over channels, squared
  differences are weighted by the calibrated v0.1 linear heads (read from the installed ``lpips``
  package's ``weights/v0.1/vgg.pth``; the package is never imported), averaged over space and summed.

Every key of both weight files is accounted for: missing, unexpected or mis-shaped keys raise
:class:`LPIPSWeightsError`; nothing is left at its random initialisation unless ``trunk="random"``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from datasetgan.models.errors import ModelError
from datasetgan.models.torch_files import torch_load_safe
from datasetgan.models.weight_paths import VGG16_FILE, default_trunk_path

# torchvision's vgg16 "D" layout up to relu5_3: ints are conv widths, "M" is a 2x2 max pool.
_VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
)  # fmt: skip
TAP_INDICES = (3, 8, 15, 22, 29)  # features.N whose output (a ReLU) is tapped
TAP_CHANNELS = (64, 128, 256, 512, 512)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_HEAD_KEY = re.compile(r"^lin(\d+)\.model\.(\d+)\.weight$")
INPUT_RANGES = {"signed": (-1.0, 1.0), "unit": (0.0, 1.0)}
CHECKS = ("range", "none")


class LPIPSError(ModelError):
    """Base class of LPIPS errors (a model library error: ``except ModelError`` catches it)."""


class LPIPSWeightsError(LPIPSError):
    """A weight file is missing, or its keys/shapes do not match the network."""


class LPIPSInputError(LPIPSError, ValueError):
    """Inputs of the wrong shape, dtype or value range."""


def default_heads_path() -> Path:
    """The installed lpips package's calibrated v0.1 VGG heads (the package is not imported)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise LPIPSWeightsError(
            "LPIPS heads: the 'lpips' package (which ships weights/v0.1/vgg.pth) is not installed; "
            "install it with `pip install --no-deps lpips==0.1.4` or pass heads=<path to vgg.pth>"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / "vgg.pth"


class VGG16Trunk(nn.Module):
    """VGG16 convolutions up to relu5_3; ``forward(x [N,3,H,W]) -> 5 taps [N,C_k,H/2^k,W/2^k]``."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                assert isinstance(item, int)
                layers += [nn.Conv2d(in_ch, item, kernel_size=3, padding=1), nn.ReLU()]
                in_ch = item
        self.features = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAP_INDICES:
                taps.append(x)
        return taps


def _unit_normalise(x: Tensor, eps: float = 1e-10) -> Tensor:
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """Learned perceptual distance. Build with :func:`load_lpips`; the bare constructor is random.

    ``forward(a, b) -> [N]`` for ``a, b [N, 3, H, W]`` (H, W >= 16) in the ``input_range`` given.
    All parameters are frozen; gradients flow to the inputs only.
    """

    shift: Tensor
    scale: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.trunk = VGG16Trunk()
        self.heads = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in TAP_CHANNELS])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        """LPIPS has no train-time behaviour; it stays in eval mode whatever is asked."""
        return super().train(False)

    def forward(
        self, a: Tensor, b: Tensor, *, input_range: str = "signed", check: str = "range"
    ) -> Tensor:
        """Distance ``[N]``. ``check="range"`` refuses values far outside ``input_range`` (e.g. 0..255
        images); ``check="none"`` skips that scan (for training losses on raw generator output)."""
        if check not in CHECKS:
            raise LPIPSInputError(f"LPIPS: check={check!r}, expected one of {CHECKS}")
        _check_inputs(a, b, input_range, scan_values=check == "range")
        return self.distance(
            self.features(a, input_range=input_range), self.features(b, input_range=input_range)
        )

    def features(self, x: Tensor, *, input_range: str = "signed") -> list[Tensor]:
        """The five unit-normalised taps of ``x [N, 3, H, W]`` (no checks; see :meth:`forward`).

        Computing a fixed image's features once and reusing them with :meth:`distance` halves the
        trunk work of optimisation against fixed targets.
        """
        if input_range == "unit":
            x = x * 2 - 1
        x = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        return [_unit_normalise(t) for t in self.trunk(x)]

    def distance(self, feats_a: list[Tensor], feats_b: list[Tensor]) -> Tensor:
        """LPIPS ``[N]`` between two lists of :meth:`features` (batch sizes equal or one of them 1)."""
        total: Tensor | None = None
        for fa, fb, head in zip(feats_a, feats_b, self.heads, strict=True):
            term = F.conv2d((fa - fb).pow(2), head).mean(dim=(1, 2, 3))
            total = term if total is None else total + term
        assert total is not None
        return total


def _check_inputs(a: Tensor, b: Tensor, input_range: str, *, scan_values: bool) -> None:
    if input_range not in INPUT_RANGES:
        raise LPIPSInputError(
            f"LPIPS: input_range={input_range!r}, expected one of {tuple(INPUT_RANGES)}"
        )
    if a.shape != b.shape:
        raise LPIPSInputError(
            f"LPIPS: got shapes {tuple(a.shape)} and {tuple(b.shape)}, expected equal"
        )
    if a.ndim != 4 or a.shape[1] != 3 or a.shape[2] < 16 or a.shape[3] < 16:
        raise LPIPSInputError(f"LPIPS: got shape {tuple(a.shape)}, expected [N, 3, H>=16, W>=16]")
    if not (a.is_floating_point() and b.is_floating_point()):
        raise LPIPSInputError(f"LPIPS: got dtypes {a.dtype}/{b.dtype}, expected floating point")
    if not scan_values:
        return
    lo, hi = INPUT_RANGES[input_range]
    with torch.no_grad():
        for name, t in (("a", a), ("b", b)):
            t_min, t_max = float(t.min()), float(t.max())
            if t_min < lo - 1.0 or t_max > hi + 1.0:
                raise LPIPSInputError(
                    f"LPIPS: input {name} spans [{t_min:.3g}, {t_max:.3g}], expected about "
                    f"[{lo:g}, {hi:g}] for input_range={input_range!r} (0..255 images must be rescaled)"
                )


def _load_file(path: Path, what: str, hint: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise LPIPSWeightsError(f"LPIPS {what}: no file at {path}; {hint}")
    state = torch_load_safe(path, error=LPIPSWeightsError)
    if not isinstance(state, Mapping):
        raise LPIPSWeightsError(
            f"LPIPS {what}: {path} holds {type(state).__name__}, expected a state dict"
        )
    return dict(state)


def trunk_state_from(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Pick the trunk's keys from a torchvision vgg16 state dict, accounting for every key.

    ``features.*`` keys must match the trunk exactly; ``classifier.*`` keys (the fully connected
    head LPIPS never uses) are the only extras accepted. Anything else raises.
    """
    expected = {k: v.shape for k, v in VGG16Trunk().state_dict().items()}
    picked = {k: v for k, v in state.items() if k in expected}
    unexpected = sorted(k for k in state if k not in expected and not k.startswith("classifier."))
    missing = sorted(k for k in expected if k not in picked)
    if missing or unexpected:
        raise LPIPSWeightsError(
            f"LPIPS trunk {source}: missing keys {missing[:6]}, unexpected keys {unexpected[:6]}; "
            "expected torchvision vgg16 keys (features.0.weight ... features.28.bias [+ classifier.*])"
        )
    bad = [k for k, v in picked.items() if tuple(v.shape) != tuple(expected[k])]
    if bad:
        k = bad[0]
        raise LPIPSWeightsError(
            f"LPIPS trunk {source}: {k} has shape {tuple(picked[k].shape)}, expected {tuple(expected[k])}"
        )
    return picked


def heads_state_from(state: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """Map the lpips package's ``lin{k}.model.{1|0}.weight`` keys onto ``heads.{k}``, every key used.

    The released file stores the 1x1 convs behind a Dropout (``model.1``); a file saved without
    dropout uses ``model.0``. Both are accepted; any other key, a duplicate or a gap raises.
    """
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        m = _HEAD_KEY.match(key)
        if m is None or m.group(2) not in ("0", "1") or int(m.group(1)) >= len(TAP_CHANNELS):
            raise LPIPSWeightsError(
                f"LPIPS heads {source}: unexpected key {key!r}; expected lin0..lin4.model.1.weight"
            )
        k = int(m.group(1))
        name = f"heads.{k}"
        if name in out:
            raise LPIPSWeightsError(f"LPIPS heads {source}: two entries for lin{k}")
        want = (1, TAP_CHANNELS[k], 1, 1)
        if tuple(value.shape) != want:
            raise LPIPSWeightsError(
                f"LPIPS heads {source}: {key} has shape {tuple(value.shape)}, expected {want}"
            )
        out[name] = value
    missing = [f"lin{k}" for k in range(len(TAP_CHANNELS)) if f"heads.{k}" not in out]
    if missing:
        raise LPIPSWeightsError(f"LPIPS heads {source}: missing {missing}")
    return out


def load_lpips(
    *,
    trunk: str | os.PathLike[str] = "imagenet",
    heads: str | os.PathLike[str] | None = None,
    rng: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> LPIPS:
    """Build LPIPS-VGG v0.1 with every weight loaded from local files.

    ``trunk``: ``"imagenet"`` reads ``vgg16-397923af.pth`` from torch's hub cache
    (:func:`default_trunk_path`); a path reads that file; ``"random"`` keeps a random trunk
    (tests only; the distance is then not the calibrated LPIPS) drawn from ``rng`` (default seed 0).
    ``heads``: the calibrated v0.1 linear layers; default the installed lpips package's file.
    """
    model = LPIPS()
    if trunk == "random":
        _randomise_trunk(model.trunk, rng if rng is not None else torch.Generator().manual_seed(0))
        trunk_state = model.trunk.state_dict()
    else:
        path = default_trunk_path() if trunk == "imagenet" else Path(trunk)
        hint = (
            f"put torchvision's ImageNet VGG16 weights ({VGG16_FILE}) there, at {default_trunk_path()} "
            "(set TORCH_HOME to move it), or pass trunk=<path>; nothing is downloaded at run time"
        )
        trunk_state = trunk_state_from(_load_file(path, "trunk", hint), str(path))
    heads_path = default_heads_path() if heads is None else Path(heads)
    heads_state = heads_state_from(
        _load_file(heads_path, "heads", "expected the lpips package's weights/v0.1/vgg.pth"),
        str(heads_path),
    )
    full = {f"trunk.{k}": v for k, v in trunk_state.items()} | heads_state
    result = model.load_state_dict(full, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.to(device=device, dtype=dtype)


def _randomise_trunk(trunk: VGG16Trunk, rng: torch.Generator) -> None:
    """He-normal convs, zero biases (a random but well-scaled trunk), drawn from ``rng``."""
    with torch.no_grad():
        for layer in trunk.features:
            if isinstance(layer, nn.Conv2d):
                fan_in = layer.weight[0].numel()
                layer.weight.copy_(
                    torch.randn(layer.weight.shape, generator=rng) * (2 / fan_in) ** 0.5
                )
                assert layer.bias is not None
                layer.bias.zero_()
