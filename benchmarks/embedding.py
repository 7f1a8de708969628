"""Embedding figures: reconstruction quality on generator samples with known W+, and throughput.

    .venv/bin/python benchmarks/embedding.py                       # tiny random generator, trains an encoder
    .venv/bin/python benchmarks/embedding.py --generator G.pt --encoder e4e_ffhq_encode.pt

Prints, for held-out generator samples (z from seeds, const noise):
  - MSE (images in [-1, 1]), LPIPS and W+ MSE of the encoder alone and after refinement with
    25 / 50 / 100 ... steps (separate runs: the lr schedule spans the run);
  - encoder images/s (the benchmark's encoder, and the released IR-SE-50 pSp architecture at 256 px),
    refinement steps/s, at the stated batch sizes and thread count.
LPIPS uses the ImageNet VGG16 trunk when ``vgg16-397923af.pth`` is in torch's hub cache, otherwise a
random trunk (labelled ``LPIPS*``: a feature distance, not the calibrated metric).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from datasetgan.models.encoders import (
    EncoderConfig,
    build_encoder,
    fit_input,
    load_encoder,
    load_psp_checkpoint,
)
from datasetgan.models.encoders.training import EncoderTrainer, TrainConfig
from datasetgan.models.lpips import LPIPS, default_trunk_path, load_lpips
from datasetgan.models.projector import RefineConfig, refine_latents
from datasetgan.models.stylegan2.checkpoint import load_generator
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import Generator
from datasetgan.models.stylegan2.sampling import z_from_seeds


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--generator", help="generator checkpoint (default: tiny random 32 px generator)"
    )
    p.add_argument(
        "--encoder", help="encoder folder or pSp/e4e file (default: train a tiny one here)"
    )
    p.add_argument(
        "--kind", default="e4e", choices=["psp", "e4e"], help="kind of the encoder trained here"
    )
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--n", type=int, default=8, help="held-out samples")
    p.add_argument("--refine-steps", default="25,50,100")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument(
        "--skip-released", action="store_true", help="skip the IR-SE-50 throughput figure"
    )
    return p.parse_args()


def _lpips() -> tuple[LPIPS, str]:
    if default_trunk_path().is_file():
        return load_lpips(), "LPIPS"
    return load_lpips(trunk="random"), "LPIPS*"


def _tiny_generator() -> Generator:
    g = Generator(
        GeneratorConfig(resolution=32, w_dim=64, n_mlp=2, channel_base=512, channel_max=32), seed=1
    )
    g.estimate_w_avg(2000, seed=0)
    return g.eval()


def _encoder(args: argparse.Namespace, gen: Generator, lpips: LPIPS) -> torch.nn.Module:
    if args.encoder:
        path = Path(args.encoder)
        return load_encoder(path) if path.is_dir() else load_psp_checkpoint(path).encoder
    cfg = EncoderConfig(
        kind=args.kind, n_styles=gen.n_latent, style_dim=gen.w_dim, input_size=32,
        units=(1, 2, 2, 1), widths=(16, 24, 32, 48), se_reduction=4,
    )  # fmt: skip
    enc = build_encoder(cfg, seed=0)
    enc.set_latent_avg(gen.w_avg)
    train = TrainConfig(steps=args.train_steps, batch_size=8, lr=1e-3, lpips_lambda=0.5, seed=0)
    trainer = EncoderTrainer(enc, gen, train, lpips=lpips)
    t0 = time.perf_counter()
    for _ in range(train.steps):
        logs = trainer.step()
    dt = time.perf_counter() - t0
    print(f"trained a tiny {args.kind} encoder: {train.steps} steps x batch 8 in {dt:.1f} s "
          f"({train.steps / dt:.2f} steps/s), last loss {logs['loss']:.4f}")  # fmt: skip
    return enc.eval()


def _held_out(gen: Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        w = gen.mapping(z_from_seeds(range(10_000, 10_000 + n), gen.w_dim))
        ws = w.unsqueeze(1).expand(-1, gen.n_latent, -1).contiguous()
        return ws, gen.synthesize(ws, noise_mode="const", taps="none").image


def _row(
    name: str,
    gen: Generator,
    ws: torch.Tensor,
    ws_true: torch.Tensor,
    x: torch.Tensor,
    lpips: LPIPS,
) -> str:
    with torch.no_grad():
        y = gen.synthesize(ws, noise_mode="const", taps="none").image
        mse = (y - x).pow(2).mean().item()
        lp = lpips(y, x, check="none").mean().item()
        w_err = (ws - ws_true).pow(2).mean().item()
    return f"{name:<22} {mse:>10.5f} {lp:>10.5f} {w_err:>10.5f}"


def _throughput(fn, n_items: int, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_items * repeats / (time.perf_counter() - t0)


def main() -> None:
    args = _args()
    torch.set_num_threads(args.threads)
    gen = load_generator(Path(args.generator)) if args.generator else _tiny_generator()
    lpips, lp_name = _lpips()
    enc = _encoder(args, gen, lpips)
    ws_true, x = _held_out(gen, args.n)
    with torch.no_grad():
        ws_enc = enc(fit_input(x, enc.config.input_size))
    print(f"\ngenerator {gen.resolution} px, L={gen.n_latent}, D={gen.w_dim}; {args.n} held-out samples; "
          f"threads={args.threads}")  # fmt: skip
    print(f"{'code':<22} {'MSE':>10} {lp_name:>10} {'W+ MSE':>10}")
    print(_row("mean W", gen, gen.w_avg.expand_as(ws_true), ws_true, x, lpips))
    print(_row("encoder", gen, ws_enc, ws_true, x, lpips))
    for steps in (int(s) for s in args.refine_steps.split(",")):
        cfg = RefineConfig(steps=steps, lr=0.05)
        t0 = time.perf_counter()
        res = refine_latents(gen, x, ws_enc, config=cfg, lpips=lpips)
        rate = steps / (time.perf_counter() - t0)
        print(
            _row(f"refined {steps} steps", gen, res.ws, ws_true, x, lpips)
            + f"   ({rate:.2f} steps/s, batch {args.n})"
        )
    with torch.no_grad():
        enc_rate = _throughput(lambda: enc(fit_input(x, enc.config.input_size)), args.n)
    print(
        f"\nencoder ({enc.config.kind}, {enc.config.input_size} px): {enc_rate:.1f} images/s at batch {args.n}"
    )
    if not args.skip_released:
        _released_scale(lpips)


def _released_scale(lpips: LPIPS) -> None:
    """Throughput at the released scale (random weights: speed only)."""
    big = build_encoder(EncoderConfig.released("e4e", 14)).eval()
    imgs = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        rate = _throughput(lambda: big(imgs), 2, repeats=2)
    print(
        f"released IR-SE-50 e4e architecture (256 px in, 14 styles): {rate:.2f} images/s at batch 2"
    )
    gen = Generator(GeneratorConfig(resolution=256), seed=0).eval()  # rosinality's 256 px config
    with torch.no_grad():
        ws = gen.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)))
        target = gen.synthesize(ws, taps="none").image
    start = ws.unsqueeze(1).expand(-1, gen.n_latent, -1) + 0.1
    cfg = RefineConfig(steps=3, lr=0.05)
    t0 = time.perf_counter()
    refine_latents(gen, target, start.contiguous(), config=cfg, lpips=lpips)
    rate = cfg.steps / (time.perf_counter() - t0)
    print(
        f"refinement, 256 px rosinality generator + LPIPS at 256 px: {rate:.2f} steps/s at batch 1"
    )


if __name__ == "__main__":
    main()
