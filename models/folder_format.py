"""The one reader and writer of the saved-model folder: a JSON config beside safetensors weights
(diffusers' layout). Generators and encoders use ``config.json`` + ``model.safetensors``; the
interpreter names its files ``interpreter.json`` + ``interpreter.safetensors``.

The JSON holds ``format`` (what kind of model), ``version`` (of that format) and the model's own
keys. Readers refuse another format, a newer version, invalid JSON or unreadable weights, each
with the error class of the caller's package and a message that names the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class ModelFolder:
    """A folder holding one saved model; ``error`` is the exception class its readers raise."""

    path: Path
    format: str
    version: int
    error: type[Exception]
    config_name: str = CONFIG_FILE
    weights_name: str = WEIGHTS_FILE

    @property
    def config_path(self) -> Path:
        return self.path / self.config_name

    @property
    def weights_path(self) -> Path:
        return self.path / self.weights_name

    def write(
        self,
        config: Mapping[str, Any],
        state: Mapping[str, torch.Tensor],
        *,
        sort_keys: bool = True,
        weights_metadata: Mapping[str, str] | None = None,
    ) -> Path:
        """Write the weights, then the JSON (``format``, ``version`` and ``config``'s keys), each
        through a temporary name and a rename; returns the folder. Both files are made readable by
        everyone (safetensors writes 0600, which breaks shared volumes)."""
        self.path.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        tmp = self.weights_path.with_name(self.weights_name + ".tmp")
        save_file(tensors, str(tmp), metadata=dict(weights_metadata or {}) or None)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.weights_path)
        meta = {"format": self.format, "version": self.version, **config}
        tmp = self.config_path.with_name(self.config_name + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")
        os.replace(tmp, self.config_path)
        return self.path

    def read_config(self) -> dict[str, Any]:
        """The JSON, checked to be this format at a version this package reads."""
        for p in (self.config_path, self.weights_path):
            if not p.is_file():
                raise self.error(
                    f"{self.path}: missing {p.name}; expected {self.config_name} and "
                    f"{self.weights_name} (a saved {self.format} folder)"
                )
        try:
            meta = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.error(f"{self.config_path}: not valid JSON ({exc})") from exc
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        if found != self.format:
            raise self.error(f"{self.config_path}: format {found!r}, expected {self.format!r}")
        version = meta.get("version")
        if not isinstance(version, int) or version > self.version:
            raise self.error(
                f"{self.config_path}: format version {version!r}, this package reads "
                f"<= {self.version} (a newer file? upgrade datasetgan-pipeline)"
            )
        return dict(meta)

    def read_weights(self, *, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        try:
            return load_file(str(self.weights_path), device=str(device))
        except (SafetensorError, OSError) as exc:
            raise self.error(f"{self.weights_path}: unreadable safetensors file ({exc})") from exc
