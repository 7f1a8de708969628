"""`datasetgan` command line: one command per flow, plus model inspection and the demo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows import commands
from flows import render as render_lib

app = typer.Typer(
    name="datasetgan",
    help="StyleGAN2 + a few annotations -> labelled segmentation datasets in HDF5.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()


FLOW_COMMANDS = (
    "sample",
    "train-interpreter",
    "generate",
    "build",
    "train-encoder",
    "embed",
    "serve",
)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    from models.runtime import tune_cpu_allocator

    if ctx.invoked_subcommand not in FLOW_COMMANDS:  # flows log through Prefect's handlers
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
        )
    tune_cpu_allocator()


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


@app.command()
def info(
    checkpoint: Annotated[
        Path, typer.Argument(help="generator checkpoint (folder, .pt, .safetensors)")
    ],
) -> None:
    """Show a generator's configuration, feature taps and parameter count."""
    from models.errors import ModelError

    try:
        summary = render_lib.describe_generator(checkpoint)
    except ModelError as exc:
        raise _fail(str(exc)) from exc
    table = Table(title=f"{checkpoint}", show_header=False)
    for key, value in summary["config"].items():
        table.add_row(key, str(value))
    console.print(table)
    taps = Table(title=f"feature taps ({summary['feature_channels']} channels in all)")
    for col in ("tap", "module", "resolution", "channels"):
        taps.add_column(col, justify="right" if col != "module" else "left")
    for i, tap in enumerate(summary["taps"]):
        taps.add_row(str(i), tap.name, f"{tap.resolution}x{tap.resolution}", str(tap.channels))
    console.print(taps)


@app.command()
def render(
    checkpoint: Annotated[Path, typer.Argument(help="generator checkpoint")],
    seeds: Annotated[str, typer.Option(help="seeds: '0-15', '1,5,9'")] = "0-15",
    truncation: Annotated[float, typer.Option(help="psi: 1 = none, 0.7 = typical")] = 1.0,
    noise_mode: Annotated[str, typer.Option(help="const | random | none")] = "const",
    out: Annotated[Path, typer.Option(help="PNG grid to write")] = Path("render.png"),
    batch: Annotated[int, typer.Option(min=1, help="images per forward pass")] = 8,
    cols: Annotated[int, typer.Option(min=0, help="grid columns (0 = square)")] = 0,
) -> None:
    """Render seeds to a PNG grid."""
    from models.errors import ModelError

    try:
        path = render_lib.render_grid(
            checkpoint,
            render_lib.parse_seeds(seeds),
            out=out,
            truncation=truncation,
            noise_mode=noise_mode,
            batch=batch,
            cols=cols or None,
            console=console,
        )
    except (ModelError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"wrote {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="output folder (re-run to resume)")] = Path("runs/demo"),
    generator: Annotated[
        Path | None, typer.Option(help="generator (default: the shipped assets/default/generator)")
    ] = None,
    encoder: Annotated[
        Path | None, typer.Option(help="encoder (default: the shipped assets/default/encoder)")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="empty --out first instead of resuming it")
    ] = False,
    logs: Annotated[bool, typer.Option("--logs", help="show Prefect's run logs, no bar")] = False,
) -> None:
    """Run the whole mission on the shipped default models and write a report with measured quality."""
    from flows.cli_support import flow_errors
    from flows.demo import DemoConfig, run_demo, shown

    if not logs:  # the steps print one line each; the flows' and HTTP client's INFO logs stay quiet
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.WARNING)

    changes = {k: v for k, v in (("generator", generator), ("encoder", encoder)) if v is not None}
    cfg = DemoConfig(out=out, **changes)
    for what, path in (("generator", cfg.generator), ("encoder", cfg.encoder)):
        if not path.exists():
            raise _fail(f"{what} {path}: not found; expected the shipped model (see docs/demo.md)")
    try:
        with shown(not logs):
            report = run_demo(cfg, say=console.print, fresh=fresh)
    except flow_errors() as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from exc
    console.print(f"[bold green]report:[/] {report}")


@app.command("train-gan")
def train_gan_cmd(
    out: Annotated[
        Path, typer.Option(help="training folder (checkpoint.pt, samples/, generator/)")
    ] = Path("runs/gan-toyfaces"),
    iterations: Annotated[
        int, typer.Option(min=1, help="total steps; re-running continues to this")
    ] = 20_000,
    images: Annotated[
        Path | None, typer.Option(help="train on this image folder instead of the toy domain")
    ] = None,
    n_images: Annotated[int, typer.Option(min=2, help="toy-domain renders to train on")] = 10_000,
) -> None:
    """Train (or resume) a small StyleGAN2 (the default model's architecture, flows/gan.py)."""
    from flows.gan import train_toy_gan

    try:
        folder = train_toy_gan(out, iterations=iterations, n_images=n_images, images_dir=images)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"generator (G_ema) in {folder}; sample grids in {out / 'samples'}")


app.command("sample")(commands.sample)
app.command("train-interpreter")(commands.train_interpreter)
app.command("generate")(commands.generate)
app.command("build")(commands.build_cmd)
app.command("train-encoder")(commands.train_encoder)
app.command("embed")(commands.embed)
app.command("serve")(commands.serve)


if __name__ == "__main__":
    app()
