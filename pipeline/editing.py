"""``datasetgan edit``: one semantic edit of a generated sample (a seed) or a saved W+ code, with
everything a user looks at written to a folder:

    DIR/source.png, DIR/edited.png     RGB images
    DIR/edited_labels.png              the interpreter's labels of the edited image (palette PNG)
    DIR/vector/                        the editing vector (apply it with `datasetgan apply-edit`)
    DIR/edit.json                      losses, region size, classes changed, seconds
    DIR/edit.png                       source | edited | source labels | target | edited labels | change

The target mask is a class-index or palette PNG of the interpreter's label size. It is checked
before any optimisation: size, class ids, and that it changes something.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, model_validator

from datasetgan.editing import EditConfig, EditError, EditingVector, edit
from datasetgan.editing.allocator import fix_mmap_threshold
from datasetgan.editing.edit import render
from datasetgan.interpreter import load_interpreter
from datasetgan.models.imaging import overlay, to_uint8, write_columns
from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds
from datasetgan.pipeline.params import Checkpoint, Params
from datasetgan.storage import default_palette


class EditParams(Params):
    """One edit: the source (a seed, or a W+ code in a .npy file), the target mask, the optimiser."""

    generator: Checkpoint
    interpreter: Path
    target: Path
    out: Path
    seed: int | None = Field(None, ge=0)
    w_plus: Path | None = None
    truncation: float = Field(0.7, ge=0.0, le=1.0)
    steps: int = Field(100, ge=1, le=10_000)
    lr: float = Field(0.01, gt=0.0)
    space: Literal["w+", "w"] = "w+"
    dilate: int = Field(2, ge=0, le=64)

    @model_validator(mode="after")
    def _source(self) -> EditParams:
        if (self.seed is None) == (self.w_plus is None):
            raise ValueError("give exactly one source: --seed S or --w-plus FILE.npy")
        for what, path in (
            ("target", self.target),
            ("w_plus", self.w_plus),
            ("interpreter", self.interpreter),
        ):
            if path is not None and not path.exists():
                raise ValueError(f"{what} {path}: not found")
        return self


def read_target(path: Path) -> torch.Tensor:
    """A class-index ('L') or palette ('P') PNG -> int64 [H, W] (EditError for anything else)."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P"):
                raise EditError(path, f"PNG mode {img.mode!r} holds colours, not class ids",
                                "an 8-bit grey or palette PNG whose values are class ids")  # fmt: skip
            return torch.from_numpy(np.asarray(img, dtype=np.int64).copy())
    except OSError as exc:
        raise EditError(path, f"not a readable image ({exc})", "a PNG") from exc


def source_code(p: EditParams, generator: Any) -> torch.Tensor:
    """The source W+ code [1, L, D]."""
    if p.seed is not None:
        return w_plus_from_seeds(generator, [p.seed], truncation=p.truncation)
    assert p.w_plus is not None
    code = torch.from_numpy(np.load(p.w_plus).astype(np.float32))
    if code.ndim == 2:
        code = code[None]
    if tuple(code.shape) != (1, generator.n_latent, generator.w_dim):
        raise EditError(p.w_plus, f"holds shape {tuple(code.shape)}",
                        f"[{generator.n_latent}, {generator.w_dim}] or [1, {generator.n_latent}, {generator.w_dim}]")  # fmt: skip
    return code


def run_edit(p: EditParams) -> dict[str, Any]:
    """Load the models, check the target, edit, and write the folder (see the module docstring)."""
    fix_mmap_threshold()  # tile buffers go back to the OS (editing/allocator.py)
    g = load_generator(p.generator)
    interp = load_interpreter(p.interpreter, generator=g)
    ws = source_code(p, g)
    target = read_target(p.target)
    source_image, source_labels = render(g, interp, ws)
    config = EditConfig(steps=p.steps, lr=p.lr, space=p.space, dilate=p.dilate)
    result = edit(g, interp, ws, target, config=config)
    vector = EditingVector.from_edit(result, source_labels[0], target, g, interp, space=p.space,
                                     source={"seed": p.seed} if p.seed is not None else {"w_plus": str(p.w_plus)})  # fmt: skip
    p.out.mkdir(parents=True, exist_ok=True)
    vector.save(p.out / "vector")
    palette = np.asarray(default_palette(interp.n_classes), dtype=np.uint8)
    images = {"source": to_uint8(source_image)[0], "edited": to_uint8(result.image)[0]}
    for name, image in images.items():
        Image.fromarray(image).save(p.out / f"{name}.png")
    _palette_png(result.labels.numpy(), palette).save(p.out / "edited_labels.png")
    picture = _picture(p.out / "edit.png", images, source_labels[0].numpy(), target.numpy(),
                       result.labels.numpy(), result.region.numpy(), palette)  # fmt: skip
    inside = result.region
    agree = (
        float((result.labels[inside] == target[inside]).float().mean())
        if inside.any()
        else float("nan")
    )
    report = {"losses": result.losses, "region_pixels": int(inside.sum()), "steps": p.steps,
              "seconds": result.seconds, "changes": vector.changes,
              "labels_match_target_in_region": agree, "picture": str(picture)}  # fmt: skip
    (p.out / "edit.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _palette_png(labels: np.ndarray, palette: np.ndarray) -> Image.Image:
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    table = np.zeros((256, 3), np.uint8)
    table[: len(palette)] = palette
    img.putpalette(table.ravel().tolist())
    return img


def _picture(path: Path, images: dict[str, np.ndarray], source: np.ndarray, target: np.ndarray,
             edited: np.ndarray, region: np.ndarray, palette: np.ndarray) -> Path:  # fmt: skip
    """source | edited | source labels | target | edited labels | change (the region in red over
    the edited image)."""
    h, w = source.shape

    def fit(image: np.ndarray) -> np.ndarray:
        if image.shape[:2] == (h, w):
            return image
        return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))

    change = overlay(
        fit(images["edited"]),
        region.astype(np.int64),
        np.array([[0, 0, 0], [255, 0, 0]], np.uint8),
        0.4,
    )
    change[~region] = fit(images["edited"])[~region]
    columns = [fit(images["source"]), fit(images["edited"]), palette[source], palette[target],
               palette[edited], change]  # fmt: skip
    scale = max(1, 128 // max(h, 1))
    big = [c[None].repeat(scale, 1).repeat(scale, 2) for c in columns]
    return write_columns(path, big)


# -- apply-edit: the shard work of a store of edited samples ------------------------------------------
def source_codes(
    spec: Any, generator: Any, truncation: float, indices: range
) -> tuple[torch.Tensor, np.ndarray]:
    """W+ codes [n, L, D] and "seed" values [n] of samples ``indices`` of an ``edited`` recipe's
    sources (a seed list, or rows of an embeddings store; their seed field is -1)."""
    from datasetgan.storage import read_fields

    if spec.seeds:
        seeds = [spec.seeds[i] for i in indices]
        return w_plus_from_seeds(generator, seeds, truncation=truncation), np.asarray(
            seeds, np.int64
        )
    rows = [spec.rows[i] for i in indices]
    codes = read_fields(spec.store, ("w_plus",))["w_plus"][rows]
    return torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float32)), np.full(
        len(rows), -1, np.int64
    )


def edit_batch(
    models: Any, recipe: Any, indices: range, fields: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The stored arrays of samples ``indices`` of an ``edited`` store: each source code gets the
    vector (and its refinement), then the edited image is rendered and labelled."""
    from datasetgan.editing import apply_edit, load_vector

    spec = recipe.edit
    if spec.refine_steps:
        fix_mmap_threshold()  # refinement runs edit steps (editing/allocator.py)
    g, interp = models.generator, models.interpreter
    vector = load_vector(spec.vector)
    ws, seeds = source_codes(spec, g, recipe.render.truncation, indices)
    results = apply_edit(vector, g, interp, ws, scale=spec.scale, refine_steps=spec.refine_steps)
    edited = torch.cat([r.w_plus for r in results]).detach()
    maps = ("uncertainty",) if "uncertainty" in fields else ()
    with torch.no_grad():
        image, labelled = interp.render_and_label(g, edited, maps=maps)
    out = {"image": to_uint8(image), "label": labelled.labels.numpy(), "w_plus": edited.numpy(),
           "seed": seeds, "score": labelled.score.numpy()}  # fmt: skip
    if labelled.uncertainty is not None:
        out["uncertainty"] = labelled.uncertainty.numpy().astype(np.float16)
    return out
