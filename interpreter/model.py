"""The :class:`Interpreter`: a trained ensemble bound to one generator's taps, plus save and load.

Saved as a folder: ``interpreter.json`` (format, version, class names, tap layout, feature and
ensemble configs, the generator's and the interpreter's sha256 fingerprints) and
``interpreter.safetensors`` (the ensemble's weights and BatchNorm statistics).

Shapes: N images, C channels, H/W output, K classes, M members, L/D W+ code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from datasetgan.interpreter.config import EnsembleConfig, FeatureConfig
from datasetgan.interpreter.differentiable import DEFAULT_TILE_PIXELS as DIFFERENTIABLE_TILE_PIXELS
from datasetgan.interpreter.differentiable import Box, soft_labels
from datasetgan.interpreter.ensemble import FoldedEnsemble, PixelEnsemble
from datasetgan.interpreter.errors import GeneratorMismatchError, InterpreterFormatError
from datasetgan.interpreter.features import FeatureBuffer
from datasetgan.interpreter.fused import DEFAULT_TILE_PIXELS, FusedLabeller
from datasetgan.interpreter.labelling import label_buffer
from datasetgan.interpreter.predict import LabelResult
from datasetgan.interpreter.resample import Tap, TapGrid
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.folder_format import ModelFolder
from datasetgan.models.precision import Precision, compute_precision
from datasetgan.models.stylegan2 import Generator, SynthesisOutput
from datasetgan.models.stylegan2.generator import NoiseMode

FORMAT_NAME = "datasetgan-pipeline/interpreter"
FORMAT_VERSION = 1
CONFIG_FILE = "interpreter.json"
WEIGHTS_FILE = "interpreter.safetensors"
LabelMethod = Literal["fused", "buffer"]


class Interpreter:
    """An ensemble of pixel classifiers for the taps of one generator (identified by fingerprint).

    Label with :meth:`label` (features or a ``SynthesisOutput``) or :meth:`render_and_label` (W+ codes
    and the generator, checked against the fingerprint once).
    """

    def __init__(
        self,
        ensemble: PixelEnsemble,
        *,
        class_names: Sequence[str],
        taps: Sequence[Sequence[object]],
        resolution: int,
        generator_fingerprint: str,
        features: FeatureConfig = FeatureConfig(),
    ) -> None:
        self.grid = TapGrid.build(taps, resolution, features)
        if ensemble.in_channels != self.grid.channels or ensemble.n_classes != len(class_names):
            raise ValueError(
                f"ensemble: got C={ensemble.in_channels}, K={ensemble.n_classes}; expected "
                f"C={self.grid.channels} (the taps') and K={len(class_names)} (the class names')"
            )
        self.ensemble = ensemble.eval()
        self.class_names = tuple(class_names)
        self.resolution = resolution
        self.features = features
        self.generator_fingerprint = generator_fingerprint
        self._fused: tuple[tuple[int, ...], FusedLabeller] | None = None
        self._folded: tuple[tuple[int, ...], FoldedEnsemble, TapGrid] | None = None
        self._bound: tuple[int, tuple[int, ...]] | None = None  # (id, weight versions) checked
        self._buffer: FeatureBuffer | None = None

    # -- description ------------------------------------------------------------------------------
    @property
    def taps(self) -> tuple[Tap, ...]:
        return self.grid.taps

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_members(self) -> int:
        return self.ensemble.n_members

    @property
    def output_shape(self) -> tuple[int, int]:
        """(H, W) of the labels."""
        return self.grid.height, self.grid.width

    @property
    def fingerprint(self) -> str:
        """sha256 of the ensemble's weights (what stores record as the interpreter's fingerprint)."""
        return state_dict_sha256(self.ensemble)

    # -- labelling --------------------------------------------------------------------------------
    def label(
        self,
        features: Sequence[torch.Tensor] | SynthesisOutput,
        *,
        method: LabelMethod = "fused",
        maps: Sequence[str] = (),
        tile_pixels: int | None = None,
    ) -> LabelResult:
        """Label N rendered samples from their taps (one [N, C_t, R_t, R_t] per tap, or the generator's
        output). ``method="fused"`` never builds the feature buffer; ``"buffer"`` does (exact reference).
        ``maps`` may ask for ``"probs"`` [N, K, H, W] and ``"uncertainty"`` [N, H, W]. ``tile_pixels``:
        pixels labelled at once (default: 4096 on CPUs, one 512 px image on GPUs)."""
        feats = features.features if isinstance(features, SynthesisOutput) else features
        if method == "fused":
            return self._fused_labeller().label(feats, maps=maps, tile_pixels=tile_pixels)
        if method == "buffer":
            n = self.grid.check_features(feats)
            if self._buffer is None or self._buffer.shape[0] < n:
                self._buffer = self.feature_buffer(max(n, 1))  # reused by later calls
            buf = self._buffer.fill(feats)
            tile = DEFAULT_TILE_PIXELS if tile_pixels is None else tile_pixels
            return label_buffer(buf, self.ensemble.fold(), maps=maps, tile_pixels=tile)
        raise ValueError(f"method: got {method!r}, expected 'fused' or 'buffer'")

    def soft_labels(
        self,
        features: Sequence[torch.Tensor],
        *,
        tile_pixels: int = DIFFERENTIABLE_TILE_PIXELS,
        checkpoint: bool = True,
        box: Box | None = None,
    ) -> torch.Tensor:
        """Mean member probabilities [N, K, H, W] with gradients to the taps (never the buffer),
        or of the window ``box`` = (y0, y1, x0, x1) only; see :mod:`interpreter.differentiable`."""
        stamp = _versions(self.ensemble)
        if self._folded is None or self._folded[0] != stamp:
            with torch.no_grad():
                self._folded = (stamp, self.ensemble.fold(), self.grid.to(self.ensemble.w1.device))
        _, folded, grid = self._folded
        return soft_labels(
            features, folded, grid, tile_pixels=tile_pixels, checkpoint=checkpoint, box=box
        )

    def label_buffer(
        self,
        buffer: torch.Tensor,
        *,
        maps: Sequence[str] = (),
        tile_pixels: int = DEFAULT_TILE_PIXELS,
    ) -> LabelResult:
        """Label a feature buffer [N, C, H, W] (e.g. from :meth:`feature_buffer`)."""
        return label_buffer(buffer, self.ensemble.fold(), maps=maps, tile_pixels=tile_pixels)

    @torch.no_grad()
    def render_and_label(
        self,
        generator: Generator,
        ws: torch.Tensor,
        *,
        noise_mode: NoiseMode = "const",
        rng: torch.Generator | None = None,
        maps: Sequence[str] = (),
        tile_pixels: int | None = None,
        precision: Precision = "fp32",
    ) -> tuple[torch.Tensor, LabelResult]:
        """Render W+ codes [N, L, D] and label them: (image [N, 3, H_g, W_g], :class:`LabelResult`).
        ``precision="bf16"`` renders in bfloat16 and projects the bf16 taps onto the first layer in
        bf16, accumulated in fp32 (see ``models.precision``)."""
        self.bind(generator)
        with compute_precision(precision, ws.device):
            out = generator.synthesize(ws, noise_mode=noise_mode, rng=rng, taps="all")
        return out.image, self.label(out.features, maps=maps, tile_pixels=tile_pixels)

    def feature_buffer(
        self, batch_size: int, *, dtype: torch.dtype = torch.float32
    ) -> FeatureBuffer:
        """A preallocated [batch_size, C, H, W] buffer for this interpreter's taps and geometry."""
        device = self.ensemble.w1.device
        assert isinstance(device, torch.device)
        return FeatureBuffer(
            self.taps,
            resolution=self.resolution,
            batch_size=batch_size,
            config=self.features,
            dtype=dtype,
            device=device,
        )

    def bind(self, generator: Generator) -> None:
        """Refuse a generator whose fingerprint differs from the one this interpreter was trained on.
        The check (a sha256 of its weights) is redone only when the generator's weights change."""
        stamp = (id(generator), _versions(generator))
        if self._bound == stamp:
            return
        check_generator(
            generator, self.generator_fingerprint, taps=self.taps, resolution=self.resolution
        )
        self._bound = stamp

    def _fused_labeller(self) -> FusedLabeller:
        stamp = _versions(self.ensemble)
        if self._fused is None or self._fused[0] != stamp:
            grid = self.grid.to(self.ensemble.w1.device)
            self._fused = (stamp, FusedLabeller(self.ensemble.fold(), grid))
        return self._fused[1]

    # -- persistence ------------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "class_names": list(self.class_names),
            "resolution": self.resolution,
            "taps": [list(t) for t in self.taps],
            "n_channels": self.grid.channels,
            "features": self.features.to_dict(),
            "ensemble": self.ensemble.config.to_dict(),
            "generator_fingerprint": self.generator_fingerprint,
            "interpreter_fingerprint": self.fingerprint,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``path/interpreter.json`` and ``path/interpreter.safetensors``; returns the folder."""
        config = {k: v for k, v in self.config_dict().items() if k not in ("format", "version")}
        return _folder(Path(path)).write(
            config,
            self.ensemble.state_dict(),
            sort_keys=False,
            weights_metadata={"format": FORMAT_NAME},
        )


def _versions(module: torch.nn.Module) -> tuple[int, ...]:
    """In-place modification counters of a module's tensors: they change whenever the weights do."""
    return tuple(t._version for t in module.state_dict(keep_vars=True).values())


def check_generator(
    generator: Generator,
    fingerprint: str,
    *,
    taps: Sequence[Tap] | None = None,
    resolution: int | None = None,
) -> None:
    """Raise :class:`GeneratorMismatchError` unless ``generator`` has the given weights fingerprint."""
    if taps is not None and tuple(Tap(*t) for t in generator.tap_layout) != tuple(taps):
        raise GeneratorMismatchError(
            f"generator taps {[tuple(t) for t in generator.tap_layout]} differ from the interpreter's "
            f"{[tuple(t) for t in taps]}; expected the generator the interpreter was trained on"
        )
    if resolution is not None and generator.resolution != resolution:
        raise GeneratorMismatchError(
            f"generator resolution {generator.resolution}, expected {resolution}"
        )
    actual = state_dict_sha256(generator)
    if actual != fingerprint:
        raise GeneratorMismatchError(
            f"generator fingerprint {actual[:16]}... differs from the interpreter's {fingerprint[:16]}...; "
            "expected the generator the interpreter was trained on (labels from other weights are meaningless)"
        )


def load_interpreter(
    path: str | Path, *, generator: Generator | None = None, device: torch.device | str = "cpu"
) -> Interpreter:
    """Load a saved interpreter; with ``generator``, refuse it unless it is the one trained on."""
    folder = Path(path)
    saved = _folder(folder)
    meta = saved.read_config()
    state = saved.read_weights(device=device)
    try:
        ensemble = PixelEnsemble(
            int(meta["n_channels"]),
            len(meta["class_names"]),
            config=EnsembleConfig.from_dict(meta["ensemble"]),
        ).to(device)
        ensemble.load_state_dict(state, strict=True)
        interp = Interpreter(
            ensemble,
            class_names=meta["class_names"],
            taps=[tuple(t) for t in meta["taps"]],
            resolution=int(meta["resolution"]),
            generator_fingerprint=str(meta["generator_fingerprint"]),
            features=FeatureConfig.from_dict(meta["features"]),
        )
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InterpreterFormatError(
            f"{folder}: config and weights do not form an interpreter ({exc}); expected files written by Interpreter.save"
        ) from exc
    if generator is not None:
        interp.bind(generator)
    return interp


def read_interpreter_config(path: str | Path) -> dict[str, Any]:
    """A saved interpreter's JSON (class names, taps, fingerprints), checked, without its weights."""
    return _folder(Path(path)).read_config()


def _folder(path: Path) -> ModelFolder:
    return ModelFolder(
        path,
        FORMAT_NAME,
        FORMAT_VERSION,
        InterpreterFormatError,
        config_name=CONFIG_FILE,
        weights_name=WEIGHTS_FILE,
    )
