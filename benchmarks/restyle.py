"""ReStyle vs the single-pass encoder: reconstruction error per pass and time per image.

    .venv/bin/python benchmarks/restyle.py                      # shipped generator, ~15 min here
    .venv/bin/python benchmarks/restyle.py --steps 100 --n 16   # quick look

Both encoders have the shipped default encoder's body (e4e, widths 16-128, 64 px input) and are
trained here by the same recipe (generator samples, batch 8, the same steps, lr 1e-3, the same
seed); the ReStyle one takes 6 input channels and runs ``--iterations`` passes from the mean code,
with a loss after every pass. Trained encoders are kept in ``--work`` and reused by a rerun.

Held-out images: generator samples of seeds 10,000+ (W known, constant noise). Printed per encoder
and per pass: image MSE (images in [-1, 1]), W+ MSE against the true code, LPIPS when the VGG16 file
is in torch's hub cache; then encoder time per image (batch 16, the passes' generator renders
included), and the training time of each encoder.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from datasetgan.demo.config import GENERATOR_DIR
from datasetgan.models.encoders import (
    EncoderConfig,
    build_encoder,
    load_encoder,
    restyle,
    save_encoder,
)
from datasetgan.models.encoders.networks import Encoder
from datasetgan.models.encoders.preprocess import fit_input
from datasetgan.models.encoders.training import EncoderTrainer, TrainConfig
from datasetgan.models.lpips import default_trunk_path, load_lpips
from datasetgan.models.stylegan2 import Generator, load_generator, w_plus_from_seeds


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--generator", type=Path, default=GENERATOR_DIR)
    p.add_argument("--steps", type=int, default=600, help="training steps of each encoder")
    p.add_argument("--iterations", type=int, default=3, help="ReStyle passes")
    p.add_argument("--n", type=int, default=64, help="held-out samples")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path("runs/bench-restyle"))
    return p.parse_args()


def _body(gen: Generator) -> EncoderConfig:
    return EncoderConfig(
        kind="e4e", n_styles=gen.n_latent, style_dim=gen.w_dim, input_size=64,
        units=(1, 1, 1, 1), widths=(16, 32, 64, 128),
    )  # fmt: skip


def _trained(name: str, cfg: EncoderConfig, gen: Generator, steps: int, work: Path) -> Encoder:
    folder = work / f"{name}-{steps}"
    if (folder / "config.json").is_file():
        print(f"{name}: reusing {folder}", flush=True)
        return load_encoder(folder).eval()
    enc = build_encoder(cfg, seed=0)
    enc.set_latent_avg(gen.w_avg)
    train = TrainConfig(steps=steps, batch_size=8, lr=1e-3, lpips_lambda=0.0, seed=0)
    trainer = EncoderTrainer(enc, gen, train)
    t0 = time.perf_counter()
    for i in range(steps):
        logs = trainer.step()
        if (i + 1) % max(1, steps // 5) == 0:
            print(f"  {name} step {i + 1}/{steps} loss {logs['loss']:.4f}", flush=True)
    seconds = time.perf_counter() - t0
    print(f"{name}: trained {steps} steps in {seconds:.0f} s", flush=True)
    save_encoder(enc, folder, metadata={"train_seconds": f"{seconds:.1f}"})
    return enc.eval()


def _held_out(gen: Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W+ [n, L, D] of seeds 10,000+, their images) with constant noise."""
    ws = w_plus_from_seeds(gen, range(10_000, 10_000 + n))
    with torch.no_grad():
        return ws, gen.synthesize(ws, noise_mode="const", taps="none").image


def _errors(gen: Generator, ws: torch.Tensor, ws_true: torch.Tensor, x: torch.Tensor,
            lpips: torch.nn.Module | None) -> str:  # fmt: skip
    with torch.no_grad():
        y = gen.synthesize(ws, noise_mode="const", taps="none").image
        mse = (y - x).pow(2).mean().item()
        w_err = (ws - ws_true).pow(2).mean().item()
        lp = f"{lpips(y, x, check='none').mean().item():.4f}" if lpips is not None else "-"
    return f"{mse:.5f} | {lp} | {w_err:.5f}"


def _ms_per_image(fn, x: torch.Tensor, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    fn(x[:2])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            fn(x)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / len(x)


def main() -> None:
    args = _args()
    torch.set_num_threads(args.threads)
    gen = load_generator(args.generator).eval()
    single_cfg = _body(gen)
    single = _trained("single-pass", single_cfg, gen, args.steps, args.work)
    multi_cfg = EncoderConfig.restyle(single_cfg, args.iterations)
    multi = _trained(f"restyle-{args.iterations}", multi_cfg, gen, args.steps, args.work)
    lpips = load_lpips() if default_trunk_path().is_file() else None
    ws_true, x = _held_out(gen, args.n)

    print(f"\n{args.n} held-out generator samples (seeds 10,000+), {args.threads} threads\n")
    print("| encoder | pass | image MSE | LPIPS | W+ MSE |\n|---|---:|---:|---:|---:|")
    with torch.no_grad():
        w1 = single(fit_input(x, single_cfg.input_size))
    print(f"| single pass (e4e) | 1 | {_errors(gen, w1, ws_true, x, lpips)} |")
    for t, w in enumerate(restyle.encode(multi, gen, x), start=1):
        print(f"| ReStyle-e4e | {t} | {_errors(gen, w, ws_true, x, lpips)} |")
    batch = x[:16]
    one = _ms_per_image(lambda b: single(fit_input(b, single_cfg.input_size)), batch)
    many = _ms_per_image(lambda b: restyle.encode(multi, gen, b), batch)
    print(f"\nms per image (batch 16): single pass {one:.1f}, ReStyle {args.iterations} passes "
          f"{many:.1f} ({many / one:.1f}x)")  # fmt: skip
    if lpips is None:
        print("LPIPS: no VGG16 file in torch's hub cache here; image and W+ MSE only")


if __name__ == "__main__":
    main()
