"""Editing vectors: the dW+ of an edit, kept to apply to other samples (EditGAN's real-time edits).

A vector records the classes its edit changed (from -> to, with pixel counts), its source, losses,
latent space, and the fingerprints of the generator and interpreter it was made with. It is saved
as ``config.json`` + ``model.safetensors`` and refuses a generator it was not made for.

``apply_edit`` adds ``scale`` x dW+ to every code. With ``refine_steps`` each result is then refined
like an edit (EditGAN's default is 30 steps): the region is the pixels whose label moved the way the
vector's recorded changes go (from one of its "from" classes to the paired "to" class, source ->
edited; dilated), and the target there is the edited image's labels, so refinement keeps the change
and pulls back what leaked outside it. When no pixel moved that way, the region falls back to the
pixels where either image holds a class the vector changes.

Shapes: N codes, L w vectors, D w dimension, H/W label size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from datasetgan.editing.edit import EditConfig, EditResult, EditWeights, _optimise, dilate, render
from datasetgan.editing.errors import EditError
from datasetgan.interpreter import Interpreter
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.folder_format import ModelFolder
from datasetgan.models.stylegan2 import Generator

VECTOR_FORMAT = "datasetgan-pipeline/editing-vector"


@dataclass
class EditingVector:
    """delta [1, L, D]; ``changes``: [{"from", "to", "pixels"}] by class name."""

    delta: torch.Tensor
    changes: list[dict[str, Any]]
    class_names: list[str]
    generator_fingerprint: str
    interpreter_fingerprint: str
    space: str = "w+"
    source: dict[str, Any] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_edit(cls, result: EditResult, source_labels: torch.Tensor, target: torch.Tensor,
                  generator: Generator, interpreter: Interpreter, *, space: str = "w+",
                  source: dict[str, Any] | None = None) -> EditingVector:  # fmt: skip
        """The vector of an edit: its delta, and the class changes the target asked for."""
        names = list(interpreter.class_names)
        moved = source_labels.long() != target.long()
        pairs = torch.stack([source_labels.long()[moved], target.long()[moved]], 1)
        uniq, counts = torch.unique(pairs, dim=0, return_counts=True)
        changes = [{"from": names[int(a)], "to": names[int(b)], "pixels": int(n)}
                   for (a, b), n in zip(uniq.tolist(), counts.tolist(), strict=True)]  # fmt: skip
        return cls(result.delta.clone(), changes, names, state_dict_sha256(generator),
                   interpreter.fingerprint, space, dict(source or {}), dict(result.losses))  # fmt: skip

    def class_pairs(self) -> list[tuple[int, int]]:
        """The recorded changes as (from, to) class ids of ``class_names``."""
        ids = {name: k for k, name in enumerate(self.class_names)}
        return [(ids[c["from"]], ids[c["to"]]) for c in self.changes
                if c["from"] in ids and c["to"] in ids]  # fmt: skip

    def check_classes(self, interpreter: Interpreter) -> None:
        """Refuse an interpreter whose classes differ from the vector's (its class ids would not
        mean the vector's classes)."""
        if list(self.class_names) != list(interpreter.class_names):
            raise EditError("editing vector", f"made with classes {self.class_names}, this "
                            f"interpreter has {list(interpreter.class_names)}",
                            "an interpreter with the vector's classes")  # fmt: skip

    def check(self, generator: Generator) -> None:
        actual = state_dict_sha256(generator)
        if actual != self.generator_fingerprint:
            raise EditError("editing vector", f"made for generator {self.generator_fingerprint[:16]}..., "
                            f"this one is {actual[:16]}...", "the generator the vector was made with")  # fmt: skip

    def save(self, folder: str | Path) -> Path:
        config = {"changes": self.changes, "class_names": self.class_names, "space": self.space,
                  "generator_fingerprint": self.generator_fingerprint,
                  "interpreter_fingerprint": self.interpreter_fingerprint,
                  "source": self.source, "losses": self.losses, "shape": list(self.delta.shape)}  # fmt: skip
        return _folder(folder).write(config, {"delta": self.delta})


def load_vector(folder: str | Path) -> EditingVector:
    """An editing vector saved by :meth:`EditingVector.save` (EditError if it is not one)."""
    files = _folder(folder)
    meta = files.read_config()
    try:
        delta = files.read_weights()["delta"]
        return EditingVector(delta, list(meta["changes"]), list(meta["class_names"]),
                             str(meta["generator_fingerprint"]), str(meta["interpreter_fingerprint"]),
                             str(meta.get("space", "w+")), dict(meta.get("source", {})),
                             dict(meta.get("losses", {})))  # fmt: skip
    except (KeyError, TypeError) as exc:
        raise EditError(
            folder, f"not an editing vector ({exc})", "a folder written by `datasetgan edit`"
        ) from exc


def _folder(folder: str | Path) -> ModelFolder:
    return ModelFolder(Path(folder), VECTOR_FORMAT, 1, EditError)


def change_region(
    source_labels: torch.Tensor,
    edited_labels: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    pixels: int,
) -> torch.Tensor:
    """The refinement region [H, W] of one transferred edit: the pixels whose class moved along one of
    ``pairs`` ((from, to) class ids) between ``source_labels`` and ``edited_labels`` [H, W], dilated
    by ``pixels``. When none moved that way: the pixels where either map holds a class of ``pairs``,
    dilated (a label like background covers most of an image, so it is only the fallback)."""
    src, edited = source_labels.long(), edited_labels.long()
    moved = torch.zeros(src.shape, dtype=torch.bool)
    for a, b in pairs:
        moved |= (src == a) & (edited == b)
    if moved.any():
        return dilate(moved, pixels)
    ids = torch.tensor(sorted({k for pair in pairs for k in pair}), dtype=torch.long)
    return dilate(torch.isin(src, ids) | torch.isin(edited, ids), pixels)


def apply_edit(
    vector: EditingVector,
    generator: Generator,
    interpreter: Interpreter,
    w_plus: torch.Tensor,
    *,
    scale: float = 1.0,
    refine_steps: int = 0,
    config: EditConfig = EditConfig(),
    weights: EditWeights = EditWeights(),
    lpips: Any = None,
) -> list[EditResult]:
    """Apply ``vector`` to each code of ``w_plus`` [N, L, D]; one result per code (see the module
    docstring for the refinement)."""
    vector.check(generator)
    if w_plus.ndim != 3 or tuple(w_plus.shape[1:]) != (generator.n_latent, generator.w_dim):
        raise EditError(
            "w_plus", f"got {tuple(w_plus.shape)}", f"[N, {generator.n_latent}, {generator.w_dim}]"
        )
    vector.check_classes(interpreter)
    pairs = vector.class_pairs()
    results = []
    for i in range(w_plus.shape[0]):
        source = w_plus[i : i + 1]
        delta = (vector.delta * scale).expand_as(source).contiguous()
        results.append(
            _one(generator, interpreter, source, delta, pairs, refine_steps, config, weights, lpips)
        )
    return results


def _one(
    generator: Generator, interpreter: Interpreter, source: torch.Tensor, delta: torch.Tensor,
    pairs: list[tuple[int, int]], refine_steps: int, config: EditConfig, weights: EditWeights,
    lpips: Any,
) -> EditResult:  # fmt: skip
    import time
    from dataclasses import replace

    start = time.perf_counter()
    source_image, source_labels = render(generator, interpreter, source)
    edited = source + delta
    image, labels = render(generator, interpreter, edited)
    region = change_region(source_labels[0], labels[0], pairs, config.dilate)
    if refine_steps <= 0:
        return EditResult(edited, delta, image, labels[0], region, {}, time.perf_counter() - start)
    refine = replace(config, steps=refine_steps, space="w+")
    return _optimise(generator, interpreter, source, labels[0], region, source_image, refine,
                     weights, lpips, delta, start)  # fmt: skip
