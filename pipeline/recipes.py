"""Recipes: everything besides i that determines row i of a store, recorded as the store's
``config_json`` when it is created. A resume or an append reopens the store with :func:`open_store`,
which refuses a recipe that differs from the recorded one and names every differing value.

Two kinds: :class:`Recipe` (generator samples, labelled or not) and :class:`EmbedRecipe` (a folder
of real images encoded into W+).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field

from datasetgan.models.embedding import EmbedConfig
from datasetgan.models.projector import RefineConfig
from datasetgan.pipeline.errors import RecipeError
from datasetgan.pipeline.params import Params, RenderSpec
from datasetgan.storage import Provenance, ShardedStore, StoreSpec

EMBED_FORMAT = "datasetgan-pipeline/embed-recipe"
RECIPE_FORMAT = "datasetgan-pipeline/recipe"
UNLABELLED = ("unlabelled",)


class StoredRecipe(Params):
    """A recipe recorded as a store's ``config_json``; resumes and appends must use the same one."""

    format: str

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_store(cls: type[R], store: ShardedStore) -> R:
        """The recipe recorded in a store; RecipeError if the store was not made by this pipeline."""
        expected = cls.model_fields["format"].default
        try:
            data = json.loads(store.provenance.config_json)
            found = data.get("format") if isinstance(data, dict) else None
            if found != expected:
                raise ValueError(f"format {found!r}, expected {expected!r}")
            return cls.model_validate(data)
        except ValueError as exc:  # json and pydantic errors are ValueErrors
            raise RecipeError(
                f"store {store.path}",
                f"its config_json is not a recipe of this kind ({exc})",
                "a store written by `datasetgan sample`, `generate` or `embed`",
            ) from exc

    def differences(self, other: StoredRecipe) -> list[str]:
        """Human-readable 'field: ours vs theirs' for every value that differs."""
        a, b = _flat(self.model_dump()), _flat(other.model_dump())
        return [
            f"{k}: {a.get(k)!r} vs {b.get(k)!r}"
            for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)
        ]


R = TypeVar("R", bound=StoredRecipe)


class EditSpec(Params):
    """Where the sources of an ``edited`` store come from and how the vector is applied: sample i
    edits ``seeds[i]`` (rendered with the recipe's truncation) or row ``rows[i]`` of the embeddings
    ``store``."""

    vector: str
    scale: float = 1.0
    refine_steps: int = 0
    seeds: list[int] = Field(default_factory=list)
    store: str | None = None
    rows: list[int] = Field(default_factory=list)


class Recipe(StoredRecipe):
    """Everything that determines sample i besides i.

    kind "samples": images for annotators (label 0, score NaN); "dataset": labelled by the
    interpreter; "edited": an editing vector applied to given sources (``edit``), then labelled.
    """

    format: str = RECIPE_FORMAT
    kind: Literal["samples", "dataset", "edited"]
    generator: str
    interpreter: str | None = None
    render: RenderSpec = RenderSpec()
    uncertainty_maps: bool = False
    edit: EditSpec | None = None


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def open_store(
    path: Path, recipe: StoredRecipe, fingerprints: dict[str, str], spec: StoreSpec
) -> ShardedStore:
    """Create the store, or reopen it to resume/append: the recorded recipe must match exactly."""
    if (path / "store.json").is_file():
        recorded = type(recipe).from_store(ShardedStore.open(path))
        diff = recorded.differences(recipe)
        if diff:
            raise RecipeError(
                f"store {path}",
                f"built with another recipe ({'; '.join(diff)} [stored vs asked])",
                "the same values to resume or append, or a new output folder",
            )
    provenance = Provenance(fingerprints=fingerprints, config_json=recipe.to_json())
    return ShardedStore.create(path, spec, provenance=provenance, exist_ok=True)


class EmbedRecipe(StoredRecipe):
    """Everything that determines row i besides file i (recorded in the store)."""

    format: str = EMBED_FORMAT
    encoder: str
    generator: str | None = None
    interpreter: str | None = None
    images: str
    n_files: int
    files_sha256: str
    refine: str = "none"
    refine_steps: int = 100
    batch_size: int = 8
    lpips_trunk: str = "imagenet"
    threads: int = 1
    precision: str = "fp32"

    def embed_config(self, keep_images: str = "none") -> EmbedConfig:
        lpips = 0.0 if self.lpips_trunk == "none" else 1.0
        refine = RefineConfig(steps=self.refine_steps, lpips_lambda=lpips)
        return EmbedConfig(
            refine=self.refine,
            refine_config=refine,
            batch_size=self.batch_size,
            keep_images=keep_images,
        )
