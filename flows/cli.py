"""`datasetgan` command line: one command per flow, plus model inspection and the demo."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from datasetgan.flows import commands, tools
from datasetgan.flows.cli_support import (
    Commands,
    Logs,
    console,
    fail,
    flow_console,
    set_verbose,
    verbose_flag,
)

app = typer.Typer(
    cls=Commands,
    name="datasetgan",
    help="StyleGAN2 + a few annotations -> labelled segmentation datasets in HDF5.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


FLOW_COMMANDS = (
    "apply-edit",
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="debug logging; tracebacks of user errors")
    ] = False,
) -> None:
    """Logging for commands that run no flow (flows log through Prefect's handlers); the allocator."""
    from datasetgan.models.runtime import tune_cpu_allocator

    set_verbose(verbose)
    if ctx.invoked_subcommand not in FLOW_COMMANDS:
        logging.basicConfig(
            level=logging.DEBUG if verbose else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
        )
    tune_cpu_allocator()


@app.command()
def info(
    checkpoint: Annotated[
        Path, typer.Argument(help="generator checkpoint (folder, .pt, .safetensors)")
    ],
) -> None:
    """Show a generator's configuration, feature taps and parameter count."""
    from datasetgan.pipeline.render import describe_generator

    summary = describe_generator(checkpoint)
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
    from datasetgan.pipeline.render import render_grid
    from datasetgan.pipeline.seeds import parse_seeds

    path = render_grid(
        checkpoint,
        parse_seeds(seeds),
        out=out,
        truncation=truncation,
        noise_mode=noise_mode,
        batch=batch,
        cols=cols or None,
        console=console,
    )
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
    precision: Annotated[
        str,
        typer.Option(
            help="training steps of interpreters and segnets: auto (bf16 where the CPU has "
            "BF16/AMX) | fp32 | bf16"
        ),
    ] = "auto",
    logs: Logs = False,
) -> None:
    """Run the whole mission on the shipped default models and write a report with measured quality."""
    from datasetgan.demo.config import PRECISION_CHOICES, DemoConfig
    from datasetgan.demo.run import run_demo

    if not logs:  # the steps print one line each; the flows' and HTTP client's INFO logs stay quiet
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.WARNING)
    shipped = DemoConfig()
    if precision not in PRECISION_CHOICES:
        raise fail(f"--precision: got {precision!r}; expected auto, fp32 or bf16")
    cfg = DemoConfig(
        out=out,
        generator=generator or shipped.generator,
        encoder=encoder or shipped.encoder,
        precision=precision,
    )
    for what, path in (("generator", cfg.generator), ("encoder", cfg.encoder)):
        if not path.exists():
            raise fail(f"{what} {path}: not found; expected the shipped model (see docs/demo.md)")
    with flow_console(logs=logs, verbose=verbose_flag()):
        report = run_demo(cfg, say=console.print, fresh=fresh)
    console.print(f"[bold green]report:[/] {report}")


@app.command("train-gan")
def train_gan_cmd(
    out: Annotated[
        Path, typer.Option(help="training folder (checkpoint.pt, samples/, snapshots/, generator/)")
    ] = Path("runs/gan-v2"),
    iterations: Annotated[
        int, typer.Option(min=1, help="total steps; re-running continues to this")
    ] = 40_000,
    images: Annotated[
        Path | None, typer.Option(help="train on this image folder instead of the toy domain")
    ] = None,
    n_images: Annotated[int, typer.Option(min=2, help="toy-domain renders to train on")] = 30_000,
    fidelity: Annotated[
        bool, typer.Option(help="score every checkpoint (KID on the toy domain) into metrics.jsonl")
    ] = False,
    threads: Annotated[int, typer.Option(min=0, help="torch threads (0 = torch's default)")] = 0,
    device: Annotated[
        str, typer.Option(help="torch device: cpu, cuda, cuda:1 (a checkpoint resumes on any)")
    ] = "cpu",
) -> None:
    """Train (or resume) a small StyleGAN2 (the default model's architecture, demo/gan.py)."""
    from datasetgan.demo.gan import train_toy_gan

    folder = train_toy_gan(
        out, iterations=iterations, n_images=n_images, images_dir=images, fidelity=fidelity,
        threads=threads, device=device,
    )  # fmt: skip
    console.print(f"generator (G_ema) in {folder}; sample grids in {out / 'samples'}")


app.command("sample")(commands.sample)
app.command("annotate")(tools.annotate)
app.command("import-masks")(tools.import_masks_cmd)
app.command("export")(tools.export)
app.command("inspect")(tools.inspect)
app.command("edit")(tools.edit)
app.command("apply-edit")(commands.apply_edit)
app.command("train-interpreter")(commands.train_interpreter)
app.command("generate")(commands.generate)
app.command("build")(commands.build_cmd)
app.command("train-encoder")(commands.train_encoder)
app.command("embed")(commands.embed)
app.command("serve")(commands.serve)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``kill``, a job scheduler, a container stop) unwinds like Ctrl-C: finally blocks
    and atexit hooks run, so the temporary Prefect server this process started is stopped instead
    of being left running, and stores close cleanly (their shards resume on the next run)."""
    raise SystemExit(128 + signum)


def main() -> None:
    """The ``datasetgan`` console script."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app()


if __name__ == "__main__":
    main()
