"""The flow commands of `datasetgan` (registered in flows.cli): each builds the flow's parameters
(errors before any work; the flow module, which loads torch and Prefect, is imported only once
they are valid), runs the flow in this process with a progress bar, prints its result.
No server is needed: Prefect starts a temporary one (or uses PREFECT_API_URL when set)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datasetgan.flows.cli_support import Logs, build, run, runner_options

Seed = Annotated[int, typer.Option(min=0, help="dataset seed: sample i uses derive_seed(seed, i)")]
Truncation = Annotated[float, typer.Option(help="psi in [0, 1]: 1 = none")]
Batch = Annotated[int, typer.Option(min=1, help="samples per forward pass (fixed per store)")]
Threads = Annotated[int, typer.Option(min=1, help="torch threads per shard task (fixed per store)")]
Precision = Annotated[
    str, typer.Option(help="fp32 (exact) | bf16 (generator in bfloat16: CPUs with BF16/AMX, CUDA)")
]
Classes = Annotated[
    str | None, typer.Option(help="class list: a classes.txt/.json file or 'bg,hair,skin'")
]
DropUncertain = Annotated[float, typer.Option(help="fraction of most uncertain to drop")]


def parse_classes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    if Path(text).is_file():
        from datasetgan.interpreter import read_class_names

        return list(read_class_names(text))
    return [c.strip() for c in text.split(",") if c.strip()]


def _build_params(store: Path, n: int, drop_uncertain: float, runner: dict[str, Any] | None) -> Any:
    """BuildParams of `build` and `serve` (the scheduled build)."""
    from datasetgan.pipeline.params import BuildParams

    return build(BuildParams, store=store, n=n, drop_uncertain=drop_uncertain, runner=runner)


def _ints(text: str | None) -> list[int] | None:
    return None if text is None else [int(v) for v in text.split(",")]


@runner_options()
def sample(
    generator: Annotated[Path, typer.Argument(help="generator checkpoint")],
    out: Annotated[Path, typer.Option(help="output folder")],
    n: Annotated[int, typer.Option(help="number of samples")],
    seed: Seed = 0,
    truncation: Truncation = 0.7,
    batch_size: Batch = 8,
    shard_size: Annotated[int, typer.Option(help="samples per shard")] = 64,
    threads: Threads = 1,
    precision: Precision = "fp32",
    classes: Classes = None,
    runner: dict[str, Any] | None = None,
    logs: bool = False,
) -> None:
    """Draw N samples for annotation: a samples store, PNGs, and the folder masks go into."""
    from datasetgan.pipeline.params import SampleParams

    render = {"seed": seed, "truncation": truncation, "batch_size": batch_size, "threads": threads,
              "precision": precision}  # fmt: skip
    params = build(
        SampleParams, generator=generator, out=out, n=n, render=render, shard_size=shard_size,
        class_names=parse_classes(classes), runner=runner,
    )  # fmt: skip
    from datasetgan.flows.generation import sample_for_annotation

    run(sample_for_annotation, params, logs=logs)


def train_interpreter(
    generator: Annotated[Path, typer.Argument(help="generator checkpoint")],
    out: Annotated[Path, typer.Option(help="interpreter folder to write")],
    annotations: Annotated[
        Path | None, typer.Option(help="folder of masks <sample id>.png + classes")
    ] = None,
    samples: Annotated[
        Path | None, typer.Option(help="samples store the annotated images came from")
    ] = None,
    real_images: Annotated[
        Path | None, typer.Option(help="folder of annotated real images (HandsOff)")
    ] = None,
    real_masks: Annotated[
        Path | None, typer.Option(help="their masks, named like the images")
    ] = None,
    encoder: Annotated[
        Path | None, typer.Option(help="encoder that inverts the real images")
    ] = None,
    classes: Classes = None,
    refine: Annotated[str, typer.Option(help="none | optimize (the real images' codes)")] = "none",
    refine_steps: Annotated[int, typer.Option(help="optimisation steps per real image")] = 100,
    latent_pull: Annotated[
        float, typer.Option(help="pull of refinement towards the encoder's code")
    ] = 0.0,
    max_pixel_error: Annotated[
        float | None,
        typer.Option(help="leave out real-mask pixels whose reconstruction differs by more (0-1)"),
    ] = None,
    lpips_trunk: Annotated[
        str, typer.Option(help="none | imagenet | <.pth> (refinement, metrics)")
    ] = "none",
    members: Annotated[int, typer.Option(help="ensemble members")] = 10,
    max_steps: Annotated[int, typer.Option(help="most training steps")] = 3000,
    eval_every: Annotated[int, typer.Option(help="steps between validations")] = 100,
    batch_size: Annotated[int, typer.Option(help="pixels per member and step")] = 64,
    pixels_per_image: Annotated[int, typer.Option(help="training pixels per image")] = 2048,
    val_fraction: Annotated[float, typer.Option(help="annotated images held out")] = 0.2,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-3,
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads (0 = default)")] = 0,
    precision: Annotated[
        str, typer.Option(help="training matmuls: fp32 | bf16 (CPUs with BF16/AMX, CUDA)")
    ] = "fp32",
    suggest: Annotated[int, typer.Option(help="suggest this many samples to annotate next")] = 0,
    logs: Logs = False,
) -> None:
    """Train the interpreter on annotated generated samples, annotated real images, or both."""
    values: dict[str, Any] = dict(locals())
    values.pop("logs")
    values["classes"] = parse_classes(classes)
    from datasetgan.pipeline.params import TrainInterpreterParams

    params = build(TrainInterpreterParams, **values)
    from datasetgan.flows.training import train_interpreter as flow_fn

    run(flow_fn, params, logs=logs)


@runner_options()
def generate(
    generator: Annotated[Path, typer.Argument(help="generator checkpoint")],
    interpreter: Annotated[Path, typer.Argument(help="interpreter folder")],
    out: Annotated[Path, typer.Option(help="store folder (re-run to resume)")],
    n: Annotated[int, typer.Option(help="number of samples")],
    shard_size: Annotated[int, typer.Option(help="samples per shard")] = 256,
    seed: Seed = 0,
    truncation: Truncation = 0.7,
    batch_size: Batch = 8,
    threads: Threads = 1,
    precision: Precision = "fp32",
    drop_uncertain: DropUncertain = 0.0,
    uncertainty_maps: Annotated[bool, typer.Option(help="store per-pixel uncertainty")] = False,
    classes: Classes = None,
    compression: Annotated[
        str,
        typer.Option(
            help="gzip (any HDF5 reader; images stay raw) | zstd (needs hdf5plugin) | none"
        ),
    ] = "gzip",
    runner: dict[str, Any] | None = None,
    logs: bool = False,
) -> None:
    """Generate a labelled dataset (resumable, deterministic whatever the shard/worker count)."""
    from datasetgan.pipeline.params import GenerateParams

    render = {"seed": seed, "truncation": truncation, "batch_size": batch_size, "threads": threads,
              "precision": precision}  # fmt: skip
    params = build(
        GenerateParams, generator=generator, interpreter=interpreter, out=out, n=n, render=render,
        shard_size=shard_size, drop_uncertain=drop_uncertain, uncertainty_maps=uncertainty_maps,
        class_names=parse_classes(classes), compression=compression,
        runner=runner,
    )  # fmt: skip
    from datasetgan.flows.generation import generate_dataset

    run(generate_dataset, params, logs=logs)


@runner_options()
def build_cmd(
    store: Annotated[Path, typer.Argument(help="store made by `datasetgan generate`")],
    n: Annotated[int, typer.Option(help="new samples (a multiple of the shard size)")],
    drop_uncertain: DropUncertain = 0.0,
    runner: dict[str, Any] | None = None,
    logs: bool = False,
) -> None:
    """Append N new samples (the next seed range) to a store: what the scheduled build runs."""
    params = _build_params(store, n, drop_uncertain, runner)
    from datasetgan.flows.generation import build_dataset

    run(build_dataset, params, logs=logs)


@runner_options(logs=False)
def serve(
    store: Annotated[Path, typer.Argument(help="store the scheduled build appends to")],
    n: Annotated[int, typer.Option(help="samples per scheduled build (whole shards)")],
    cron: Annotated[str, typer.Option(help="schedule (cron, UTC)")] = "0 2 * * *",
    drop_uncertain: DropUncertain = 0.0,
    start_server: Annotated[
        bool, typer.Option(help="start a local Prefect server when PREFECT_API_URL is unset")
    ] = True,
    runner: dict[str, Any] | None = None,
) -> None:
    """Serve the flows here, with build_dataset on a cron schedule (Ctrl+C stops)."""
    params = _build_params(store, n, drop_uncertain, runner)
    from datasetgan.flows.serving import run_server_and_serve

    run_server_and_serve(params, cron, start_server=start_server)


def train_encoder(
    generator: Annotated[Path, typer.Argument(help="generator checkpoint")],
    out: Annotated[Path, typer.Option(help="training folder (re-run to resume)")],
    images: Annotated[Path | None, typer.Option(help="folder of real images")] = None,
    source: Annotated[str, typer.Option(help="samples | images | mixed")] = "samples",
    kind: Annotated[str, typer.Option(help="psp | e4e")] = "e4e",
    input_size: Annotated[int, typer.Option(help="encoder input size (power of two)")] = 256,
    units: Annotated[str | None, typer.Option(help="blocks per stage, e.g. 3,4,14,3")] = None,
    widths: Annotated[str | None, typer.Option(help="stage widths, e.g. 64,128,256,512")] = None,
    se_reduction: Annotated[int | None, typer.Option(help="SE reduction (default 16)")] = None,
    head_width: Annotated[
        int | None, typer.Option(help="map-to-style conv channels (default: W dim, as released)")
    ] = None,
    iterations: Annotated[
        int, typer.Option(help="> 1: a ReStyle encoder refining its code in this many passes")
    ] = 1,
    init: Annotated[
        Path | None, typer.Option(help="encoder folder / pSp file to fine-tune")
    ] = None,
    steps: Annotated[int, typer.Option(help="training steps")] = 2000,
    batch_size: Annotated[int, typer.Option(help="images per step")] = 8,
    learning_rate: Annotated[float, typer.Option(help="Adam learning rate")] = 1e-4,
    lpips_lambda: Annotated[float, typer.Option(help="LPIPS loss weight")] = 0.8,
    lpips_trunk: Annotated[str, typer.Option(help="imagenet | <vgg16 .pth> | random")] = "imagenet",
    checkpoint_every: Annotated[int, typer.Option(help="steps between checkpoints")] = 500,
    seed: Annotated[int, typer.Option(help="training seed")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads (0 = default)")] = 0,
    logs: Logs = False,
) -> None:
    """Train (or resume) a pSp/e4e encoder that maps images to the generator's W+."""
    from datasetgan.pipeline.params import TrainEncoderParams

    params = build(
        TrainEncoderParams, generator=generator, out=out, images=images, source=source,
        encoder={"kind": kind, "input_size": input_size, "units": _ints(units),
                 "widths": _ints(widths), "se_reduction": se_reduction, "iterations": iterations,
                 "head_width": head_width},
        init=init, steps=steps,
        batch_size=batch_size, learning_rate=learning_rate, lpips_lambda=lpips_lambda,
        lpips_trunk=lpips_trunk, checkpoint_every=checkpoint_every, seed=seed, threads=threads,
    )  # fmt: skip
    from datasetgan.flows.embedding import train_encoder as flow_fn

    run(flow_fn, params, logs=logs)


@runner_options()
def embed(
    encoder: Annotated[Path, typer.Argument(help="encoder folder or pSp/e4e .pt")],
    images: Annotated[Path, typer.Argument(help="folder of images (recursive)")],
    out: Annotated[Path, typer.Option(help="embeddings store folder (re-run to resume)")],
    generator: Annotated[Path | None, typer.Option(help="generator (needed with a folder)")] = None,
    interpreter: Annotated[Path | None, typer.Option(help="also store its labels")] = None,
    refine: Annotated[str, typer.Option(help="none | optimize")] = "none",
    refine_steps: Annotated[int, typer.Option(help="optimisation steps per image")] = 100,
    batch_size: Annotated[int, typer.Option(help="images per batch (fixed per store)")] = 8,
    shard_size: Annotated[int, typer.Option(help="images per shard")] = 64,
    lpips_trunk: Annotated[
        str, typer.Option(help="imagenet | <.pth> | random | none")
    ] = "imagenet",
    threads: Threads = 1,
    precision: Precision = "fp32",
    runner: dict[str, Any] | None = None,
    logs: bool = False,
) -> None:
    """Embed a folder of real images into W+ (codes, metrics, optional labels) in a store."""
    from datasetgan.pipeline.params import EmbedParams

    params = build(
        EmbedParams, encoder=encoder, images=images, out=out, generator=generator,
        interpreter=interpreter, refine=refine, refine_steps=refine_steps, batch_size=batch_size,
        shard_size=shard_size, lpips_trunk=lpips_trunk, threads=threads, precision=precision,
        runner=runner,
    )  # fmt: skip
    from datasetgan.flows.embedding import embed_dataset

    run(embed_dataset, params, logs=logs)


__all__ = [
    "apply_edit",
    "build_cmd",
    "embed",
    "generate",
    "sample",
    "serve",
    "train_encoder",
    "train_interpreter",
]


@runner_options()
def apply_edit(
    vector: Annotated[
        Path, typer.Argument(help="editing vector folder (datasetgan edit: DIR/vector)")
    ],
    generator: Annotated[Path, typer.Argument(help="generator checkpoint (the vector's)")],
    interpreter: Annotated[Path, typer.Argument(help="interpreter folder")],
    out: Annotated[Path, typer.Option(help="samples store folder (re-run to resume)")],
    seeds: Annotated[str | None, typer.Option(help="generated sources, e.g. 0-49")] = None,
    store: Annotated[
        Path | None, typer.Option(help="or an embeddings store of real images")
    ] = None,
    refine_steps: Annotated[int, typer.Option(help="refinement steps per image (EditGAN: 30)")] = 0,
    scale: Annotated[float, typer.Option(help="strength of the edit")] = 1.0,
    truncation: Truncation = 0.7,
    shard_size: Annotated[int, typer.Option(help="samples per shard")] = 16,
    threads: Threads = 1,
    runner: dict[str, Any] | None = None,
    logs: bool = False,
) -> None:
    """Apply an editing vector to generated seeds or embedded real images, into a samples store."""
    from datasetgan.pipeline.params import ApplyEditParams
    from datasetgan.pipeline.seeds import parse_seeds

    params = build(
        ApplyEditParams, vector=vector, generator=generator, interpreter=interpreter, out=out,
        seeds=parse_seeds(seeds) if seeds is not None else None, store=store, scale=scale,
        refine_steps=refine_steps, truncation=truncation, shard_size=shard_size, threads=threads,
        runner=runner,
    )  # fmt: skip
    from datasetgan.flows.editing import apply_edit as flow_fn

    run(flow_fn, params, logs=logs)
