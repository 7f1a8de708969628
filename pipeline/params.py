"""Flow parameters: pydantic models checked before any work, with messages that say what, where, expected.

Cheap checks (ranges, files present, shard size a multiple of the batch) happen here, when a model is
built (from the CLI, from a deployment's parameters, or in Python). Reading the annotation masks
(ids, readability, class ids, size against the samples) is cheap too and happens here, every bad
mask named at once. Checks that need the models (the generator's fingerprint against the
interpreter's and a store's, a store's recorded recipe) are the first step of each run
(`pipeline.plans`, `pipeline.interpreting.check_annotations`), still before any rendering.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

NoiseMode = Literal["const", "none"]
Precision = Literal["fp32", "bf16"]
Codec = Literal["zstd", "gzip", "none"]
STORE_SPEC = "store.json"


class Params(BaseModel):
    """Base: unknown fields are an error (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunnerSpec(Params):
    """Where shard tasks run.

    kind="local": threads of the flow's process, ``workers`` shards at a time.
    kind="dask": a Dask cluster: ``address`` (e.g. tcp://dask-scheduler:8786), or without one a
    LocalCluster of ``workers`` processes with one thread each. Workers of a cluster at an address
    report to the Prefect API, so they need a Prefect server they can reach (PREFECT_API_URL).
    """

    kind: Literal["local", "dask"] = "local"
    workers: int = Field(1, ge=1, le=256)
    address: str | None = None

    @model_validator(mode="after")
    def _address_needs_dask(self) -> RunnerSpec:
        if self.address and self.kind != "dask":
            raise ValueError(
                f"runner.address: got {self.address!r} with kind={self.kind!r}; expected kind='dask'"
            )
        return self


class RenderSpec(Params):
    """How sample i is drawn and rendered; with the generator it makes sample i a pure function of
    (seed, i). Recorded in the store: resumes and appends must use the same values."""

    seed: int = Field(
        0, ge=0, lt=2**63, description="dataset seed; sample i uses derive_seed(seed, i)"
    )
    truncation: float = Field(0.7, ge=0.0, le=1.0, description="psi: 1 = none")
    batch_size: int = Field(
        8, ge=1, le=4096, description="samples per forward pass (fixed per store)"
    )
    threads: int = Field(1, ge=1, le=256, description="torch threads inside each shard task")
    noise_mode: NoiseMode = "const"
    precision: Precision = Field(
        "fp32", description="fp32 (exact) | bf16 (generator in bfloat16, labeller fp32)"
    )


def _existing(path: Path, what: str, expected: str) -> Path:
    if not path.exists():
        raise ValueError(f"{what} {path}: no such file or folder; expected {expected}")
    return path


def _checkpoint(path: Path) -> Path:
    return _existing(path, "generator", "a checkpoint (folder, .pt or .safetensors)")


Checkpoint = Annotated[Path, AfterValidator(_checkpoint)]
"""A generator checkpoint that exists (checked when parameters are built)."""


def _store_dir(path: Path, what: str) -> Path:
    if not (path / STORE_SPEC).is_file():
        raise ValueError(
            f"{what} {path}: not a store (no {STORE_SPEC}); expected a folder written by "
            "`datasetgan sample` or `datasetgan generate`"
        )
    return path


def interpreter_classes(folder: Path) -> list[str]:
    """Class names recorded in a saved interpreter, read without loading its weights; ValueError
    (a parameter error) when the folder is not a saved interpreter."""
    from datasetgan.interpreter.errors import InterpreterFormatError
    from datasetgan.interpreter.model import read_interpreter_config

    try:
        names = read_interpreter_config(folder)["class_names"]
    except (InterpreterFormatError, KeyError, TypeError) as exc:
        raise ValueError(
            f"interpreter {folder}: {exc}; expected a folder written by `datasetgan train-interpreter`"
        ) from None
    return [str(n) for n in names]


def _check_lpips_trunk(trunk: str, *, choices: str, why: str) -> None:
    """Refuse, before any model loads, an LPIPS trunk whose VGG16 file is not on this machine."""
    if trunk in ("none", "random"):
        return
    from datasetgan.models.weight_paths import VGG16_FILE, default_trunk_path

    path = default_trunk_path() if trunk == "imagenet" else Path(trunk)
    if not path.is_file():
        raise ValueError(
            f"lpips_trunk {trunk!r} (--lpips-trunk; {why}): no VGG16 file at {path}; expected one "
            f"of {choices}. For 'imagenet', put torchvision's {VGG16_FILE} there (TORCH_HOME moves "
            "it): nothing is downloaded at run time"
        )


def _check_shard_multiple(shard_size: int, batch_size: int) -> None:
    if shard_size % batch_size:
        raise ValueError(
            f"shard_size {shard_size} is not a multiple of batch_size {batch_size}; expected a "
            "multiple, so that every batch lies inside one shard (sample i is always rendered in "
            "batch i // batch_size, which keeps stores identical whatever the shard or worker count)"
        )


class SampleParams(Params):
    """sample_for_annotation: N samples from a seed -> samples store + PNGs for annotators."""

    generator: Checkpoint
    out: Path = Field(description="output folder: samples/ (store), images/ (PNG), preview PNG")
    n: int = Field(ge=1, le=1_000_000)
    render: RenderSpec = RenderSpec()
    shard_size: int = Field(64, ge=1)
    class_names: list[str] | None = Field(
        None, description="classes annotators will use (recorded)"
    )
    runner: RunnerSpec = RunnerSpec()

    @model_validator(mode="after")
    def _multiple(self) -> SampleParams:
        _check_shard_multiple(self.shard_size, self.render.batch_size)
        return self


class TrainInterpreterParams(Params):
    """train_interpreter: annotated generated samples (masks + the samples store they were drawn
    from), annotated real images (images + masks + an encoder to invert them, HandsOff), or both
    -> interpreter."""

    generator: Checkpoint
    annotations: Path | None = Field(
        None, description="folder of PNG masks named by sample id + classes.txt/json"
    )
    samples: Path | None = Field(
        None, description="the samples store the annotated images came from"
    )
    real_images: Path | None = Field(None, description="folder of real images (HandsOff)")
    real_masks: Path | None = Field(None, description="their masks, named like the images")
    encoder: Path | None = Field(None, description="encoder folder or pSp/e4e file to invert them")
    classes: list[str] | None = Field(None, description="class list of the real masks")
    refine: Literal["none", "optimize"] = "none"
    refine_steps: int = Field(100, ge=1)
    latent_pull: float = Field(
        0.0, ge=0.0, description="pull of refinement towards the encoder's code"
    )
    max_pixel_error: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="leave out real-mask pixels whose reconstruction differs by more "
        "(mean |difference| over RGB, images in [0, 1])",
    )
    lpips_trunk: str = Field(
        "none", description="LPIPS of refinement and metrics: none | imagenet | <.pth>"
    )
    out: Path = Field(description="interpreter folder to write")
    members: int = Field(10, ge=1, le=64)
    max_steps: int = Field(3000, ge=1)
    eval_every: int = Field(100, ge=1)
    batch_size: int = Field(64, ge=2)
    pixels_per_image: int = Field(2048, ge=1)
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    learning_rate: float = Field(1e-3, gt=0.0)
    seed: int = Field(0, ge=0)
    threads: int = Field(0, ge=0, description="torch threads (0 = torch's default)")
    precision: Precision = Field(
        "fp32", description="of the training steps' matmuls: fp32 | bf16 (weights stay fp32)"
    )
    suggest: int = Field(0, ge=0, description="rank this many unannotated samples to annotate next")

    @field_validator("annotations", "real_images", "real_masks")
    @classmethod
    def _folder(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_dir():
            raise ValueError(f"{v}: not a folder; expected images or PNG masks")
        return v

    @field_validator("samples")
    @classmethod
    def _samples_store(cls, v: Path | None) -> Path | None:
        return None if v is None else _store_dir(v, "samples")

    @model_validator(mode="after")
    def _masks(self) -> TrainInterpreterParams:
        """Every mask read and checked (against the samples store, or against its real image),
        before any model loads; all bad masks in one error."""
        generated = (self.annotations, self.samples)
        real = (self.real_images, self.real_masks, self.encoder)
        if any(v is not None for v in generated) and None in generated:
            raise ValueError("give both --annotations and --samples (annotated generated samples)")
        if any(v is not None for v in real) and None in real:
            raise ValueError(
                "give --real-images, --real-masks and --encoder together (annotated real images)"
            )
        if None in generated and None in real:
            raise ValueError(
                "nothing to train on: give --annotations/--samples, --real-images/--real-masks/--encoder, or both"
            )
        if self.max_pixel_error is not None and self.real_images is None:
            raise ValueError(
                "--max-pixel-error leaves out real-mask pixels: it needs --real-images/--real-masks"
            )
        if self.annotations is not None and self.samples is not None:
            check_masks(self.annotations, self.samples)
        if self.real_images is not None and self.real_masks is not None:
            _existing(self.encoder or Path(), "encoder", "an encoder folder or a pSp/e4e .pt file")
            check_real_masks(self.real_images, self.real_masks, self.real_class_names())
            _check_lpips_trunk(self.lpips_trunk, choices="'none', 'imagenet' or a VGG16 .pth path",
                               why="for the real images' refinement and metrics")  # fmt: skip
        return self

    def real_class_names(self) -> list[str]:
        """--classes, else classes.json / classes.txt beside the real masks."""
        from datasetgan.interpreter.annotations import CLASS_FILES, read_class_names

        if self.classes:
            return list(self.classes)
        assert self.real_masks is not None
        for name in CLASS_FILES:
            if (self.real_masks / name).is_file():
                return list(read_class_names(self.real_masks / name))
        raise ValueError(
            f"real masks {self.real_masks}: no class list; expected --classes or classes.json beside them"
        )


def check_real_masks(images: Path, masks: Path, class_names: list[str]) -> None:
    """AnnotationError (a ValueError) naming every real image without a usable mask."""
    from datasetgan.interpreter.real import pair_real_images

    pair_real_images(images, masks, n_classes=len(class_names))


def check_masks(annotations: Path, samples: Path) -> None:
    """AnnotationError (a ValueError) naming every mask of ``annotations`` that cannot be used with
    the samples store ``samples``."""
    from datasetgan.interpreter.annotations import (
        AnnotationError,
        latents_from_store,
        load_annotations,
        pair_latents,
    )
    from datasetgan.pipeline.recipes import UNLABELLED
    from datasetgan.storage import ShardedStore

    spec = ShardedStore.open(samples).spec
    height, width = spec.field("image").shape[:2]
    ann = load_annotations(annotations, shape=(height, width))
    pair_latents(ann, latents_from_store(samples, ann.ids))
    drawn_for = list(spec.class_names)
    if drawn_for and drawn_for != list(UNLABELLED) and drawn_for != list(ann.class_names):
        raise AnnotationError(
            f"annotations {annotations}: classes {list(ann.class_names)} disagree with the classes "
            f"the samples were drawn for ({drawn_for}, in {samples}); expected the same list"
        )


class GenerateParams(Params):
    """generate_dataset: generator + interpreter + N -> labelled samples store (resumable)."""

    generator: Checkpoint
    interpreter: Path
    out: Path = Field(description="store folder; re-running with the same values resumes it")
    n: int = Field(ge=1, le=100_000_000)
    render: RenderSpec = RenderSpec()
    shard_size: int = Field(256, ge=1)
    drop_uncertain: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction of most uncertain to drop"
    )
    uncertainty_maps: bool = Field(False, description="also store per-pixel uncertainty (float16)")
    class_names: list[str] | None = Field(
        None, description="if given, must equal the interpreter's"
    )
    compression: Codec = "gzip"
    runner: RunnerSpec = RunnerSpec()

    @model_validator(mode="after")
    def _consistent(self) -> GenerateParams:
        _check_shard_multiple(self.shard_size, self.render.batch_size)
        names = interpreter_classes(self.interpreter)
        if self.class_names is not None and list(self.class_names) != names:
            raise ValueError(
                f"class_names {self.class_names} disagree with interpreter {self.interpreter} "
                f"({names}); expected the interpreter's classes, in its order"
            )
        return self


class BuildParams(Params):
    """build_dataset: append N new samples (the next seed range) to a store made by generate_dataset."""

    store: Path
    n: int = Field(ge=1, le=100_000_000, description="new samples; a multiple of the shard size")
    drop_uncertain: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction of most uncertain to drop"
    )
    runner: RunnerSpec = RunnerSpec()

    @field_validator("store")
    @classmethod
    def _store_exists(cls, v: Path) -> Path:
        return _store_dir(v, "store")

    @model_validator(mode="after")
    def _whole_shards(self) -> BuildParams:
        try:
            size = int(
                json.loads((self.store / STORE_SPEC).read_text("utf-8"))["spec"]["shard_size"]
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"store {self.store}: unreadable {STORE_SPEC} ({exc})") from exc
        if self.n % size:
            raise ValueError(
                f"n {self.n} is not a multiple of the store's shard size {size}; expected whole "
                "shards (a short last shard can never be completed by a later append)"
            )
        return self


class EncoderSpec(Params):
    """A fresh encoder's architecture (L and D come from the generator). ``units``/``widths``
    None = the released IR-SE-50 layout; small values make test-sized encoders."""

    kind: Literal["psp", "e4e"] = "e4e"
    input_size: int = Field(256, ge=32, description="power of two")
    units: tuple[int, int, int, int] | None = None
    widths: tuple[int, int, int, int] | None = None
    se_reduction: int | None = Field(None, ge=1, description="None = 16 (released)")
    head_width: int | None = Field(
        None, ge=1, description="map-to-style conv channels; None = W dim (released)"
    )
    iterations: int = Field(
        1, ge=1, le=20, description="> 1: a ReStyle encoder with this many passes"
    )


class TrainEncoderParams(Params):
    """train_encoder: generator (+ real images) -> encoder folder (resumable training)."""

    generator: Checkpoint
    out: Path = Field(description="training folder: train_state.pt, encoder/, grids/, history.json")
    images: Path | None = Field(None, description="folder of real images (source images/mixed)")
    encoder: EncoderSpec = EncoderSpec()
    init: Path | None = Field(None, description="saved encoder folder or pSp/e4e file to fine-tune")
    source: Literal["samples", "images", "mixed"] = "samples"
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(8, ge=2)
    learning_rate: float = Field(1e-4, gt=0.0)
    lpips_lambda: float = Field(0.8, ge=0.0)
    lpips_trunk: str = Field(
        "imagenet", description="'imagenet', a vgg16 .pth path, or 'random' (tests)"
    )
    seed: int = Field(0, ge=0)
    checkpoint_every: int = Field(500, ge=1)
    threads: int = Field(0, ge=0, description="torch threads (0 = torch's default)")

    @model_validator(mode="after")
    def _images_when_needed(self) -> TrainEncoderParams:
        if self.source != "samples" and (self.images is None or not self.images.is_dir()):
            raise ValueError(
                f"images {self.images}: not a folder, but source={self.source!r} reads real images; "
                "expected a folder of images (or source='samples')"
            )
        if self.init is not None:
            _existing(self.init, "init", "a saved encoder folder or a pSp/e4e .pt file")
        if self.lpips_lambda > 0:
            _check_lpips_trunk(
                self.lpips_trunk,
                choices="'imagenet', a VGG16 .pth path, 'random' (tests), or lpips_lambda 0",
                why=f"for the LPIPS loss, lpips_lambda {self.lpips_lambda}",
            )
        return self


class EmbedParams(Params):
    """embed_dataset: a folder of real images -> embeddings store (W+ codes, metrics, labels)."""

    encoder: Path = Field(description="encoder folder (train_encoder's out/encoder) or pSp/e4e .pt")
    generator: Path | None = Field(None, description="required with an encoder folder")
    images: Path = Field(description="folder of images (recursive, sorted)")
    out: Path = Field(description="embeddings store folder; re-running resumes it")
    interpreter: Path | None = Field(None, description="also store the interpreter's labels")
    refine: Literal["none", "optimize"] = "none"
    refine_steps: int = Field(100, ge=0)
    batch_size: int = Field(8, ge=1)
    shard_size: int = Field(64, ge=1)
    lpips_trunk: str = Field("imagenet", description="'imagenet', a .pth path, 'random' or 'none'")
    threads: int = Field(1, ge=1, le=256, description="torch threads inside each shard task")
    precision: Precision = Field("fp32", description="of the labels' rendering: fp32 | bf16")
    runner: RunnerSpec = RunnerSpec()

    @model_validator(mode="after")
    def _consistent(self) -> EmbedParams:
        _existing(self.encoder, "encoder", "an encoder folder or a pSp/e4e .pt file")
        if self.encoder.is_dir() and self.generator is None:
            raise ValueError(f"encoder {self.encoder} is a folder; expected generator= as well")
        if self.generator is not None:
            _existing(self.generator, "generator", "a checkpoint (folder, .pt or .safetensors)")
        if not self.images.is_dir():
            raise ValueError(f"images {self.images}: not a folder; expected a folder of images")
        if self.interpreter is not None:
            interpreter_classes(self.interpreter)
        _check_shard_multiple(self.shard_size, self.batch_size)
        why = (
            "for refinement's loss and the metrics" if self.refine != "none" else "for the metrics"
        )
        _check_lpips_trunk(
            self.lpips_trunk, choices="'imagenet', a VGG16 .pth path, 'random' or 'none'", why=why
        )
        return self


class ApplyEditParams(Params):
    """apply_edit: an editing vector applied to generated seeds or to an embeddings store's codes,
    the edited images and their labels written to a samples store (resumable, like generate)."""

    vector: Path
    generator: Checkpoint
    interpreter: Path
    out: Path = Field(
        description="samples store folder; re-running with the same values resumes it"
    )
    seeds: list[int] | None = None
    store: Path | None = None
    scale: float = 1.0
    refine_steps: int = Field(0, ge=0, le=1000)
    truncation: float = Field(0.7, ge=0.0, le=1.0)
    shard_size: int = Field(16, ge=1)
    threads: int = Field(1, ge=1, le=256)
    runner: RunnerSpec = RunnerSpec()

    @model_validator(mode="after")
    def _sources(self) -> ApplyEditParams:
        if (self.seeds is None) == (self.store is None):
            raise ValueError("give exactly one source: --seeds (e.g. 0-49) or --store EMBEDDINGS")
        if self.seeds is not None and (not self.seeds or min(self.seeds) < 0):
            raise ValueError(f"seeds: got {self.seeds[:5]}, expected non-negative seeds")
        for what, path in (("vector", self.vector), ("interpreter", self.interpreter)):
            if not (path / "config.json").is_file() and not (path / "interpreter.json").is_file():
                raise ValueError(f"{what} {path}: not a saved {what} folder")
        if self.store is not None:
            _store_dir(self.store, "store")
        return self
