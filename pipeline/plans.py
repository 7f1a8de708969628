"""Before any rendering: load the models, check them against the parameters and the store, create or
reopen the store, and list the shards still to write (plain functions; the flows' first step).

Shapes: N samples, S shard size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasetgan.pipeline.errors import RecipeError
from datasetgan.pipeline.generate import load_models, store_spec
from datasetgan.pipeline.params import (
    ApplyEditParams,
    BuildParams,
    GenerateParams,
    RenderSpec,
    SampleParams,
)
from datasetgan.pipeline.recipes import EditSpec, Recipe, open_store
from datasetgan.storage import ShardedStore, ShardSlot


@dataclass(frozen=True)
class StorePlan:
    """A store and the shards a run still has to write (small: paths and numbers)."""

    store: str
    recipe: Recipe
    slots: list[ShardSlot]
    n_target: int
    samples_before: int
    class_names: list[str] = field(default_factory=list)
    palette: list[list[int]] = field(default_factory=list)
    drop_uncertain: float = 0.0

    @property
    def skipped_shards(self) -> int:
        return -(-self.n_target // ShardedStore.open(self.store).spec.shard_size) - len(self.slots)


def plan_samples(p: SampleParams) -> StorePlan:
    """sample_for_annotation: an unlabelled samples store at ``out/samples``."""
    recipe = Recipe(kind="samples", generator=str(p.generator.resolve()), render=p.render)
    models = load_models(recipe)
    spec = store_spec(recipe, models, shard_size=p.shard_size, class_names=p.class_names)
    store = open_store(p.out / "samples", recipe, models.fingerprints, spec)
    return _plan(store, recipe, p.n)


def plan_dataset(p: GenerateParams) -> StorePlan:
    """generate_dataset: a labelled store at ``out``; resumes when ``out`` holds the same recipe."""
    recipe = Recipe(
        kind="dataset",
        generator=str(p.generator.resolve()),
        interpreter=str(p.interpreter.resolve()),
        render=p.render,
        uncertainty_maps=p.uncertainty_maps,
    )
    models = load_models(recipe)
    spec = store_spec(recipe, models, shard_size=p.shard_size, compression=p.compression)
    store = open_store(p.out, recipe, models.fingerprints, spec)
    return _plan(store, recipe, p.n, drop_uncertain=p.drop_uncertain)


def plan_edits(p: ApplyEditParams) -> StorePlan:
    """apply_edit: a samples store at ``out`` of the sources with the vector applied; every sample
    is edited on its own (batch size 1), so a shard's results do not depend on its neighbours."""
    from datasetgan.editing import load_vector
    from datasetgan.models.stylegan2 import load_generator
    from datasetgan.storage import EmbeddingStatus, read_fields

    rows: list[int] = []
    if p.store is not None:
        status = read_fields(p.store, ("status",))["status"]
        rows = [int(i) for i in np.flatnonzero(status == int(EmbeddingStatus.OK))]
        if not rows:
            raise RecipeError(f"store {p.store}", "no row embedded without error", "at least one")
    edit = EditSpec(vector=str(p.vector.resolve()), scale=p.scale, refine_steps=p.refine_steps,
                    seeds=list(p.seeds or []), store=str(p.store.resolve()) if p.store else None,
                    rows=rows)  # fmt: skip
    render = RenderSpec(truncation=p.truncation, batch_size=1, threads=p.threads)
    recipe = Recipe(kind="edited", generator=str(p.generator.resolve()),
                    interpreter=str(p.interpreter.resolve()), render=render, edit=edit)  # fmt: skip
    # another generator's vector: refused first (the interpreter would refuse it too, less plainly)
    vector = load_vector(p.vector)
    vector.check(load_generator(recipe.generator))
    models = load_models(recipe)
    if models.interpreter is not None:  # always, for an "edited" recipe
        vector.check_classes(models.interpreter)
    spec = store_spec(recipe, models, shard_size=p.shard_size)
    store = open_store(p.out, recipe, models.fingerprints, spec)
    return _plan(store, recipe, len(edit.seeds or edit.rows))


def plan_build(p: BuildParams) -> StorePlan:
    """build_dataset: ``n`` new samples after the last complete shard (plus any shard missing
    before it, e.g. from a killed run), with the recipe the store records."""
    store = ShardedStore.open(p.store)
    recipe = Recipe.from_store(store)
    if recipe.kind != "dataset":
        raise RecipeError(
            f"store {p.store}",
            f"holds {recipe.kind!r} (images for annotation)",
            "a labelled store made by `datasetgan generate`",
        )
    load_models(recipe)  # refuses changed or mismatched files before any work
    done = store.complete_shards()
    total = (done[-1] + 1 if done else 0) * store.spec.shard_size + p.n
    return _plan(store, recipe, total, drop_uncertain=p.drop_uncertain)


def _plan(store: ShardedStore, recipe: Recipe, n: int, drop_uncertain: float = 0.0) -> StorePlan:
    pending = store.pending(n)
    shards = len(store.plan(n))
    before = sum(r.n_samples for r in store.validate().records if r.index < shards)
    return StorePlan(
        store=str(store.path),
        recipe=recipe,
        slots=pending,
        n_target=n,
        samples_before=before,
        class_names=list(store.spec.class_names),
        palette=[list(c) for c in store.spec.palette],
        drop_uncertain=drop_uncertain,
    )


def annotation_folder(out: Path, class_names: list[str] | None) -> Path:
    """``out/annotations``: where annotators put masks (with ``classes.txt`` when classes are known)."""
    folder = out / "annotations"
    folder.mkdir(parents=True, exist_ok=True)
    if class_names:
        (folder / "classes.txt").write_text("\n".join(class_names) + "\n", encoding="utf-8")
    return folder


def remember_drop(plan: StorePlan, fraction: float | None) -> StorePlan:
    """Record ``fraction`` as the store's ``drop_uncertain`` (None: keep the store's value); returns
    ``plan`` carrying the value in force, for the summary."""
    store = ShardedStore.open(plan.store)
    if fraction is not None and fraction != store.drop_uncertain:
        store.set_drop_uncertain(fraction)
    return dataclasses.replace(plan, drop_uncertain=store.drop_uncertain)
