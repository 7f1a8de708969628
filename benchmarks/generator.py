"""Generator throughput on this CPU: ours vs rosinality's code vs the machine's convolution limit.

    python benchmarks/generator.py --rosinality DIR [--resolution 256] [--batch 8] [--repeats 5]
                                   [--threads 2] [--allocator tuned|glibc] [--bf16]

Everything runs in ONE process, alternating batch by batch, with the same weights (full
configuration: 512-d W, 8 mapping layers, channel_multiplier 2, every parameter perturbed so noise
strengths and biases are not zero), the same W+ codes and the same threads:

  ours        ``Generator.synthesize(ws, taps="none")``, what ``datasetgan`` runs on CPU
  ours bf16   the same at ``--precision bf16`` (with --bf16; CPUs with BF16/AMX)
  rosinality  rosinality's own ``Generator`` (model.py of a stylegan2-pytorch checkout; its CUDA
              extension build is skipped, its CPU code paths run as they ship)
  limit       only the convolutions of the same synthesis (every modulated conv's 3x3, transposed 3x3
              and to-RGB 1x1) run as plain ``F.conv2d`` / ``F.conv_transpose2d`` on tensors of the same
              shapes, each in its faster memory format: what this machine needs for the convolution
              arithmetic alone. Blur, noise, bias, activation, modulation, demodulation and the
              to-RGB skip path are the overhead a faster generator would shave.

Printed: images/s (median over --repeats), seconds per batch, setup seconds (building the model and
loading the weights), ours as a multiple of rosinality, ours as a fraction of the limit
(limit seconds / our seconds), and max |ours - rosinality| of the images. ``--allocator tuned``
(default) applies models.runtime.tune_cpu_allocator to the whole process, so rosinality runs with it
too (it only helps them); ``glibc`` leaves malloc as is for every side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from datasetgan.models.stylegan2 import Generator, GeneratorConfig
from datasetgan.models.stylegan2.layers import StyledConv, ToRGB


def import_rosinality(path: str):  # type: ignore[no-untyped-def]
    """rosinality's model.py from a checkout; their op/ package compiles CUDA at import, which the
    CPU path never uses, so that build is skipped."""
    import torch.utils.cpp_extension as cpp

    cpp.load = lambda *a, **k: None  # type: ignore[assignment]
    if not (Path(path) / "model.py").is_file():
        raise SystemExit(f"--rosinality {path}: no model.py there (a stylegan2-pytorch checkout?)")
    sys.path.insert(0, path)
    import model  # type: ignore[import-not-found]

    return model


def build_ours(resolution: int) -> Generator:
    g = Generator(GeneratorConfig(resolution=resolution), seed=0).eval()
    with torch.no_grad():
        rng = torch.Generator().manual_seed(1)
        for p in g.parameters():
            p.add_(torch.randn(p.shape, generator=rng) * 0.1)
    g.estimate_w_avg(1000)
    return g


def plain_conv_plan(g: Generator, batch: int) -> list[Callable[[], torch.Tensor]]:
    """One closure per modulated convolution of ``g``'s synthesis: the same conv, unmodulated, on a
    random input of the layer's input shape, in whichever memory format runs it faster."""
    plans: list[Callable[[], torch.Tensor]] = []
    res = 4
    for name, module in g.named_modules():
        if isinstance(module, StyledConv):
            conv = module.conv
            weight = conv.weight[0].detach() * conv.scale
            x = torch.randn(batch, conv.in_channels, res, res)
            if conv.upsample:
                res *= 2
                w_t = weight.transpose(0, 1).contiguous()
                variants = [
                    (lambda x=x, w=w_t: F.conv_transpose2d(x, w, stride=2)),
                    (
                        lambda x=x.contiguous(memory_format=torch.channels_last), w=w_t: (
                            F.conv_transpose2d(x, w, stride=2)
                        )
                    ),
                ]
            else:
                pad = conv.padding
                variants = [
                    (lambda x=x, w=weight, p=pad: F.conv2d(x, w, padding=p)),
                    (
                        lambda x=x.contiguous(memory_format=torch.channels_last), w=weight, p=pad: (
                            F.conv2d(x, w, padding=p)
                        )
                    ),
                ]
            plans.append(_faster(variants))
        elif isinstance(module, ToRGB):
            weight = module.conv.weight[0].detach() * module.conv.scale
            rgb_res = 4 if name == "to_rgb1" else 2 ** (int(name.split(".")[1]) + 3)
            x = torch.randn(batch, module.conv.in_channels, rgb_res, rgb_res)
            variants = [
                (lambda x=x, w=weight: F.conv2d(x, w)),
                (
                    lambda x=x.contiguous(memory_format=torch.channels_last), w=weight: F.conv2d(
                        x, w
                    )
                ),
            ]
            plans.append(_faster(variants))
    return plans


def _faster(variants: list[Callable[[], torch.Tensor]]) -> Callable[[], torch.Tensor]:
    best, best_t = variants[0], float("inf")
    for v in variants:
        v()  # primitive creation
        t0 = time.perf_counter()
        v()
        t = time.perf_counter() - t0
        if t < best_t:
            best, best_t = v, t
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rosinality", default=None, help="checkout of rosinality/stylegan2-pytorch"
    )
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--allocator", choices=("tuned", "glibc"), default="tuned")
    parser.add_argument("--bf16", action="store_true", help="also time ours at precision bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    if args.allocator == "tuned":
        from datasetgan.models.runtime import tune_cpu_allocator

        tune_cpu_allocator()

    setup: dict[str, float] = {}
    t0 = time.perf_counter()
    ours = build_ours(args.resolution)
    setup["ours"] = time.perf_counter() - t0
    rng = torch.Generator().manual_seed(2)
    z = torch.randn(args.batch, ours.w_dim, generator=rng)
    ws = ours.mapping(z, truncation=0.7)[:, None].expand(-1, ours.n_latent, -1).contiguous()

    def run_ours() -> torch.Tensor:
        return ours.synthesize(ws, taps="none").image

    runners: dict[str, Callable[[], torch.Tensor | None]] = {"ours": run_ours}
    if args.bf16:
        from datasetgan.models.precision import compute_precision

        def run_ours_bf16() -> torch.Tensor:
            with compute_precision("bf16", "cpu"):
                return ours.synthesize(ws, taps="none").image

        runners["ours bf16"] = run_ours_bf16
    if args.rosinality:
        model = import_rosinality(args.rosinality)
        t0 = time.perf_counter()
        theirs = model.Generator(args.resolution, 512, 8, channel_multiplier=2).eval()
        missing, unexpected = theirs.load_state_dict(
            {k: v for k, v in ours.state_dict().items() if k != "w_avg"}, strict=False
        )
        if missing or unexpected:
            raise SystemExit(f"weights do not map: missing {missing}, unexpected {unexpected}")
        setup["rosinality"] = time.perf_counter() - t0

        def run_theirs() -> torch.Tensor:
            return theirs([ws], input_is_latent=True, randomize_noise=False)[0]

        runners["rosinality"] = run_theirs
    t0 = time.perf_counter()
    plans = plain_conv_plan(ours, args.batch)
    setup["limit"] = time.perf_counter() - t0

    def run_limit() -> None:
        for p in plans:
            p()

    runners["limit"] = run_limit

    images = {name: run() for name, run in runners.items()}  # warm-up (primitive creation)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(s) for name, s in seconds.items()}
    # ratios of runs next to each other: this host's speed drifts by tens of % over seconds
    paired = {
        name: statistics.median(a / b for a, b in zip(s, seconds["ours"], strict=True))
        for name, s in seconds.items()
    }

    print(
        f"generator {args.resolution}px full config, batch {args.batch}, {args.threads} threads, "
        f"fp32, allocator {args.allocator}, one process alternating, median of {args.repeats}"
    )
    print(f"{'':<11} {'images/s':>9} {'s/batch':>8} {'setup s':>8}")
    for name in runners:
        print(
            f"{name:<11} {args.batch / med[name]:>9.3f} {med[name]:>8.3f} {setup.get(name, 0.0):>8.2f}"
        )
    print(
        f"ours at {paired['limit']:.2f} of the machine's convolution limit "
        f"(median of paired limit/ours time ratios; ratio of medians {med['limit'] / med['ours']:.2f})"
    )
    if "rosinality" in runners and "ours bf16" in runners:
        print(
            f"ours bf16 vs rosinality: {paired['rosinality'] / paired['ours bf16']:.2f}x faster (paired)"
        )
    if "rosinality" in runners:
        diff = (images["ours"] - images["rosinality"]).abs().max().item()  # type: ignore[operator]
        print(
            f"ours vs rosinality: {paired['rosinality']:.2f}x faster (paired; ratio of medians "
            f"{med['rosinality'] / med['ours']:.2f}x), max|diff| {diff:.1e}"
        )
        print(
            f"the limit itself (the same convolutions as plain F.conv2d, nothing else) is "
            f"{paired['rosinality'] / paired['limit']:.2f}x rosinality's speed (paired): a speed-up "
            f"above that needs ours faster than the limit"
        )


if __name__ == "__main__":
    main()
