"""The commands that run no flow and touch the stores or masks directly: the annotation studio,
mask import, export to other formats, and store inspection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from datasetgan.flows import commands
from datasetgan.flows.cli_support import console


def annotate(
    run_folder: Annotated[Path, typer.Argument(help="folder written by `datasetgan sample`")],
    interpreter: Annotated[
        Path | None, typer.Option(help="rank samples by its uncertainty and pre-label them")
    ] = None,
    generator: Annotated[
        Path | None, typer.Option(help="generator (default: the one the samples store names)")
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(help="class list, if the folder has none: a file or 'bg,hair,skin'"),
    ] = None,
    host: Annotated[
        str, typer.Option(help="address to bind (non-loopback needs a token)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8765,
    token: Annotated[
        str | None, typer.Option(help="access token (made and printed for a non-loopback host)")
    ] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="do not open a browser")] = False,
    retrain_steps: Annotated[int, typer.Option(min=1, help="steps of 'Retrain now'")] = 1500,
) -> None:
    """Paint label masks in the browser: most uncertain samples first, pre-labelled, retrain from the page."""
    from datasetgan.annotate.server import serve
    from datasetgan.annotate.studio import Studio

    names = commands.parse_classes(classes)
    studio = Studio.open(run_folder, interpreter=interpreter, generator=generator,
                         classes=names, train_steps=retrain_steps)  # fmt: skip
    serve(studio, host=host, port=port, token=token, open_browser=not no_browser, say=console.print)


def import_masks_cmd(
    format: Annotated[str, typer.Argument(help="labelme | cvat | png")],
    src: Annotated[Path, typer.Argument(help="the other tool's export (folder)")],
    out: Annotated[Path, typer.Option(help="annotation folder to write (e.g. RUN/annotations)")],
    classes: Annotated[
        str | None,
        typer.Option(help="class list: a file or 'bg,hair,skin' (default: the source's)"),
    ] = None,
) -> None:
    """Convert masks from labelme, CVAT (Segmentation mask 1.1) or colour/index PNGs."""
    from datasetgan.annotate.importers import import_masks

    written = import_masks(format, src, out, classes=commands.parse_classes(classes))
    console.print(f"{len(written)} masks written to {out} (+ classes.json)")


def export(
    store: Annotated[Path, typer.Argument(help="a samples store (datasetgan generate)")],
    format: Annotated[str, typer.Option("--format", help="mmseg | hf | webdataset | png")],
    out: Annotated[Path, typer.Option(help="folder to write (re-run to resume)")],
    drop_uncertain: Annotated[
        float | None,
        typer.Option(help="leave out this most-uncertain fraction (default: the store's)"),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="e.g. train=0.9,val=0.1 (default: all train)")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the split")] = 0,
    shard_size: Annotated[int, typer.Option(min=1, help="samples per parquet / tar file")] = 1000,
) -> None:
    """Write a store as mmsegmentation folders, Hugging Face parquet, WebDataset tars or PNGs."""
    from datasetgan.flows.cli_support import bar
    from datasetgan.pipeline import progress
    from datasetgan.storage.export import Split, export_store

    with bar(True):
        result = export_store(
            store, out, fmt=format, drop_uncertain=drop_uncertain, split=Split.parse(split),
            seed=seed, shard_size=shard_size,
            progress=lambda done, total: progress.report("samples exported", done, total),
        )  # fmt: skip
    splits = ", ".join(f"{k} {v}" for k, v in result.per_split.items())
    console.print(f"{result.n_samples} samples ({splits}; drop_uncertain {result.drop_uncertain:g}) "
                  f"-> {out} ({result.files_written} files written, {result.files_kept} kept)")  # fmt: skip


def inspect(
    store: Annotated[Path, typer.Argument(help="a samples or embeddings store")],
    json_out: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
    picture: Annotated[
        Path | None,
        typer.Option(help="class shares + score histogram PNG (default: <store>-inspect.png)"),
    ] = None,
) -> None:
    """Counts, classes, scores, provenance and shard states of a store, and a picture of them."""
    from datasetgan.storage import ShardedStore
    from datasetgan.storage.inspect import inspect_picture, inspect_store

    report = inspect_store(store)
    palette = [list(c) for c in ShardedStore.open(store).spec.palette]
    path = inspect_picture(report, picture or store.with_name(f"{store.name}-inspect.png"), palette)
    if json_out:
        print(json.dumps(report | {"picture": str(path)}, indent=2))
        return
    table = Table(
        title=f"{report['store']} ({report['kind']}, schema {report['schema_version']})",
        show_header=False,
    )
    for key in ("samples", "shard_size", "compression", "drop_uncertain"):
        table.add_row(key, str(report[key]))
    prov = report["provenance"]
    for role, digest in prov["fingerprints"].items():
        table.add_row(f"{role} sha256", digest[:16] + "...")
    table.add_row("created", f"{prov['created']} (package {prov['package_version']})")
    recipe = prov["recipe"] if isinstance(prov["recipe"], dict) else {}
    render = recipe.get("render") or {}
    if isinstance(render, dict) and "seed" in render:
        table.add_row(
            "render",
            f"seed {render['seed']}, truncation {render.get('truncation')}, batch "
            f"{render.get('batch_size')}, precision {render.get('precision', 'fp32')}",
        )
    elif "precision" in recipe:  # an embeddings store
        table.add_row("precision", str(recipe["precision"]))
    for name, share in zip(report["classes"], report.get("class_shares", []), strict=False):
        table.add_row(f"class {name}", f"{share:.2%} of pixels")
    states: dict[str, int] = {}
    for shard in report["shards"]:
        states[shard["state"]] = states.get(shard["state"], 0) + 1
    table.add_row("shards", ", ".join(f"{n} {s}" for s, n in states.items()))
    for shard in report["shards"]:
        if shard["state"] not in ("complete",):
            table.add_row(
                "  ! " + shard["file"],
                shard["state"] + (f": {shard['problem']}" if "problem" in shard else ""),
            )
    console.print(table)
    console.print(f"picture: {path}")


def edit(
    generator: Annotated[Path, typer.Argument(help="generator checkpoint")],
    interpreter: Annotated[Path, typer.Argument(help="interpreter folder")],
    target: Annotated[Path, typer.Option(help="the wanted label map: class-index or palette PNG")],
    out: Annotated[Path, typer.Option(help="folder for the images, labels, vector and report")],
    seed: Annotated[int | None, typer.Option(help="edit the sample of this seed")] = None,
    w_plus: Annotated[Path | None, typer.Option(help="or a W+ code [L, D] in a .npy file")] = None,
    steps: Annotated[int, typer.Option(help="optimisation steps")] = 100,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 0.01,
    space: Annotated[str, typer.Option(help="w+ (one offset per layer) | w (one shared)")] = "w+",
    truncation: Annotated[float, typer.Option(help="psi of a --seed source")] = 0.7,
) -> None:
    """Edit a sample through its labels (EditGAN): optimise dW+ so the labels match --target."""
    from datasetgan.flows.cli_support import build
    from datasetgan.pipeline.editing import EditParams, run_edit

    params = build(EditParams, generator=generator, interpreter=interpreter, target=target,
                   out=out, seed=seed, w_plus=w_plus, steps=steps, lr=lr, space=space,
                   truncation=truncation)  # fmt: skip
    report = run_edit(params)
    console.print(
        f"edited in {report['seconds']:.1f} s: labels match the target on "
        f"{report['labels_match_target_in_region']:.1%} of the {report['region_pixels']} region pixels; "
        f"{out}/edited.png, vector in {out}/vector, picture {report['picture']}"
    )
