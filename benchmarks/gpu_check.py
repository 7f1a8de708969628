"""The GPU checks of the project, as ONE prepared run (a lent CUDA machine, ~5 minutes).

    python benchmarks/gpu_check.py --rosinality DIR [--out benchmarks/results] [--batch 8]
    python benchmarks/gpu_check.py --device cpu --resolution 64 --batch 2   # a dry run of the logic

Steps, each timed and written to ``OUT/gpu_check.json`` (and printed):
  1. build the optional ninja kernels (``models.stylegan2.kernels``) and run the ``-m gpu`` tests;
  2. render at 512 px with a full-size generator (random perturbed weights), fp32 and bf16: images/s
     (median of --repeats batches) and peak GPU memory, beside rosinality's own ``Generator`` (its
     compiled ops) on the same GPU with the same weights, and max |ours - theirs|;
  3. label one 512x512 sample (10 members, 8 classes): the peak GPU memory of render + fused label,
     against EditGAN's method (upsampled taps in a list, ``torch.cat``, every member on every pixel)
     measured on the same features, and EditGAN's reported 5.9 GB;
  4. train the default (demo) generator for --train-steps steps on the GPU: seconds per step, to
     set beside ``benchmarks/gan_training.py --device cpu`` on the 2-core machine.
The tree needs no install there: the command puts the repository on PYTHONPATH as ``datasetgan``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
EDITGAN_REPORTED_GB = 5.9


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device: str, base: int = 0) -> float:
    if not device.startswith("cuda"):
        return float("nan")
    return (torch.cuda.max_memory_allocated() - base) / 2**30


def _timed(fn: Any, repeats: int, device: str) -> float:
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_kernels(device: str) -> dict[str, Any]:
    from datasetgan.models.stylegan2 import kernels

    t0 = time.perf_counter()
    ext = kernels.load() if device.startswith("cuda") else None
    built = time.perf_counter() - t0
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
         "tests/models/stylegan2", "tests/interpreter"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    tail = (tests.stdout + tests.stderr).strip().splitlines()[-3:]
    return {"built": ext is not None, "build_s": built, "gpu_tests_rc": tests.returncode,
            "gpu_tests": tail}  # fmt: skip


def step_render(args: argparse.Namespace) -> dict[str, Any]:
    from datasetgan.models.precision import compute_precision
    from datasetgan.models.stylegan2 import Generator, GeneratorConfig

    dev = args.device
    g = Generator(GeneratorConfig(resolution=args.resolution), seed=0).eval()
    with torch.no_grad():
        rng = torch.Generator().manual_seed(1)
        for p in g.parameters():
            p.add_(torch.randn(p.shape, generator=rng) * 0.1)
    g.estimate_w_avg(1000)
    g = g.to(dev)
    ws = g.mapping(torch.randn(args.batch, g.w_dim, device=dev), truncation=0.7)
    ws = ws[:, None].expand(-1, g.n_latent, -1).contiguous()
    out: dict[str, Any] = {}
    images = {}
    for precision in ("fp32", "bf16"):

        def render(precision: str = precision) -> torch.Tensor:
            with torch.no_grad(), compute_precision(precision, dev):
                return g.synthesize(ws, taps="none").image

        _peak_reset(dev)
        seconds = _timed(render, args.repeats, dev)
        images[precision] = render().float()
        out[f"ours_{precision}"] = {
            "images_per_s": args.batch / seconds,
            "peak_gb": _peak_gb(dev),
        }
    q = ((images["fp32"].clamp(-1, 1) - images["bf16"].clamp(-1, 1)) / 2).square().flatten(1)
    out["bf16_psnr_min_db"] = float((10 * torch.log10(1 / q.mean(1))).min())
    if args.rosinality:
        try:
            out["rosinality_fp32"] = _render_rosinality(args, g, ws, images["fp32"])
        except Exception as exc:  # their CUDA build can fail; keep our figures
            out["rosinality_fp32"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _render_rosinality(
    args: argparse.Namespace, g: Any, ws: torch.Tensor, ours: torch.Tensor
) -> dict[str, Any]:
    dev = args.device
    if not dev.startswith("cuda"):
        import torch.utils.cpp_extension as cpp

        cpp.load = lambda *a, **k: None  # type: ignore[assignment]  # CPU: their native paths
    sys.path.insert(0, args.rosinality)
    import model  # type: ignore[import-not-found]  # on CUDA their op/ compiles its ops here

    theirs = model.Generator(args.resolution, 512, 8, channel_multiplier=2).eval().to(dev)
    theirs.load_state_dict({k: v for k, v in g.state_dict().items() if k != "w_avg"}, strict=False)

    def render_theirs() -> torch.Tensor:
        with torch.no_grad():
            return theirs([ws], input_is_latent=True, randomize_noise=False)[0]

    _peak_reset(dev)
    seconds = _timed(render_theirs, args.repeats, dev)
    return {
        "images_per_s": args.batch / seconds,
        "peak_gb": _peak_gb(dev),
        "max_abs_diff_vs_ours": float((render_theirs() - ours).abs().max()),
    }


def step_label(args: argparse.Namespace) -> dict[str, Any]:
    from datasetgan.interpreter import (
        EnsembleConfig,
        FeatureConfig,
        FusedLabeller,
        PixelEnsemble,
        TapGrid,
        reference_label,
    )
    from datasetgan.models.precision import compute_precision
    from datasetgan.models.stylegan2 import Generator, GeneratorConfig

    dev = args.device
    g = Generator(GeneratorConfig(resolution=args.resolution), seed=0).eval().to(dev)
    ws = torch.randn(1, g.n_latent, g.w_dim, device=dev) * 0.5
    grid = TapGrid.build(g.tap_layout, g.resolution, FeatureConfig())
    ens = PixelEnsemble(grid.channels, 8, config=EnsembleConfig(n_members=10)).eval().to(dev)
    lab = FusedLabeller(ens.fold(), grid.to(dev))
    out: dict[str, Any] = {}
    with torch.no_grad():
        _peak_reset(dev)
        base = torch.cuda.memory_allocated() if dev.startswith("cuda") else 0
        feats = g.synthesize(ws, taps="all").features
        fused = lab.label(feats)
        _sync(dev)
        out["ours_render_and_fused_label_gb"] = _peak_gb(dev, base)
        _peak_reset(dev)
        base = torch.cuda.memory_allocated() if dev.startswith("cuda") else 0
        ref = reference_label(feats, ens, resolution=g.resolution)
        _sync(dev)
        out["editgan_method_label_gb"] = _peak_gb(dev, base)
    out["labels_equal"] = bool(torch.equal(fused.labels, ref.labels))
    out["labels_agreement"] = float((fused.labels == ref.labels).float().mean())
    out["editgan_reported_gb"] = EDITGAN_REPORTED_GB
    for precision in ("fp32", "bf16"):

        def render_and_label(precision: str = precision) -> torch.Tensor:
            with torch.no_grad(), compute_precision(precision, dev):
                return lab.label(g.synthesize(ws, taps="all").features).labels

        # speed only: with random weights the members nearly tie, so bf16-vs-fp32 label
        # agreement means nothing here (benchmarks/precision.py measures it on trained models)
        out[f"render_and_label_{precision}_images_per_s"] = 1 / _timed(
            render_and_label, args.repeats, dev
        )
    for tile in args.tile_pixels:  # tiles bound memory; on a GPU each one costs launches

        def label_tiled(tile: int = tile) -> torch.Tensor:
            with torch.no_grad():
                return lab.label(feats, tile_pixels=tile).labels

        out[f"label_only_fp32_tile_{tile}_images_per_s"] = 1 / _timed(
            label_tiled, args.repeats, dev
        )
    return out


def step_train(args: argparse.Namespace) -> dict[str, Any]:
    from gan_training import time_training  # this folder is on sys.path when a script here runs

    return time_training(args.device, args.train_steps)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rosinality", default=None, help="rosinality/stylegan2-pytorch checkout")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=512, help="a multiple of 16")
    parser.add_argument("--tile-pixels", type=int, nargs="*", default=[4096, 32768, 262144])
    parser.add_argument("--steps", nargs="+", default=["kernels", "render", "label", "train"],
                        help="which steps to run (default: all)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (use --device cpu for a dry run)")
    report: dict[str, Any] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "resolution": args.resolution,
        "batch": args.batch,
    }
    steps = {"kernels": step_kernels, "render": step_render, "label": step_label,
             "train": step_train}  # fmt: skip
    for name in args.steps:
        step = steps[name]
        t0 = time.perf_counter()
        try:
            report[name] = step(args.device) if name == "kernels" else step(args)
        except Exception as exc:  # one failing step must not hide the others' figures
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        report[name]["seconds"] = time.perf_counter() - t0
        print(name, json.dumps(report[name], indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_check.json"
    path.write_text(json.dumps(report, indent=1))
    if os.environ.get("OUT"):
        (Path(os.environ["OUT"]) / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
