"""fp32 vs bf16 (``--precision``): speed, image PSNR, label agreement, and the downstream segnet.

    python benchmarks/precision.py [--repeats 3] [--threads 2] [--demo runs/demo --seeds 0 1 2]

Part 1, one process, alternating fp32 / bf16 runs, full-size generator (256 px, channel_multiplier
2, random perturbed weights, as benchmarks/generator.py):
  * the generator alone, batch 8: images/s and PSNR of the bf16 images against fp32 (images in
    [-1, 1] clamped, peak-to-peak 2);
  * render + label of one sample at a time (10 members, 8 classes, random ensemble as in
    benchmarks/interpreter.py), 8 samples: seconds per sample and the share of pixels whose label
    equals fp32's.
Part 2 (``--demo DIR``, after ``datasetgan demo --out DIR``): the demo's generated dataset again,
same recipe (shipped generator, the demo's interpreter, 512 samples), once fp32 and once bf16; label
agreement between the two stores, then the demo's segnet (same steps) trained on each and scored on
the demo's 300 real test renders with exact masks, for each --seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from at_rev import load_module  # this folder is on sys.path when a script here runs

from datasetgan.interpreter import FeatureConfig, FusedLabeller, TapGrid
from datasetgan.models.precision import check_precision, compute_precision
from datasetgan.models.runtime import tune_cpu_allocator

HERE = Path(__file__).resolve().parent


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR [N] of images in [-1, 1] (clamped)."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


def part_speed(repeats: int) -> None:
    gen_bench = load_module("bench_generator", HERE / "generator.py")
    interp_bench = load_module("bench_interpreter", HERE / "interpreter.py")
    g = gen_bench.build_ours(256)
    rng = torch.Generator().manual_seed(2)
    ws = g.mapping(torch.randn(8, g.w_dim, generator=rng), truncation=0.7)
    ws = ws[:, None].expand(-1, g.n_latent, -1).contiguous()

    def render(precision: str) -> torch.Tensor:
        with compute_precision(precision, "cpu"):
            return g.synthesize(ws, taps="none").image

    images = {p: render(p) for p in ("fp32", "bf16")}
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(repeats):
        for p in times:
            t0 = time.perf_counter()
            render(p)
            times[p].append(time.perf_counter() - t0)
    med = {p: statistics.median(t) for p, t in times.items()}
    paired = statistics.median(a / b for a, b in zip(times["fp32"], times["bf16"], strict=True))
    q = psnr(images["fp32"], images["bf16"])
    print(f"generator 256 px, batch 8, {torch.get_num_threads()} threads, median of {repeats}")
    print(
        f"  fp32 {8 / med['fp32']:.2f} img/s, bf16 {8 / med['bf16']:.2f} img/s: bf16 {paired:.2f}x"
    )
    print(f"  PSNR bf16 vs fp32: min {q.min():.1f} dB, median {q.median():.1f} dB")

    grid = TapGrid.build(g.tap_layout, g.resolution, FeatureConfig())
    lab = FusedLabeller(interp_bench.make_ensemble(grid.channels, 8, 10).fold(), grid)

    def render_label(precision: str, i: int) -> torch.Tensor:
        with compute_precision(precision, "cpu"):
            out = g.synthesize(ws[i : i + 1], taps="all")
        return lab.label(out.features).labels

    labels = {p: torch.cat([render_label(p, i) for i in range(8)]) for p in ("fp32", "bf16")}
    per: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(repeats):
        for p in per:
            t0 = time.perf_counter()
            render_label(p, 0)
            per[p].append(time.perf_counter() - t0)
    agree = (labels["fp32"] == labels["bf16"]).double().mean().item()
    pm = {p: statistics.median(t) for p, t in per.items()}
    print("render + label, 1 sample, 10 members, 8 classes (random ensemble)")
    print(f"  fp32 {pm['fp32']:.2f} s, bf16 {pm['bf16']:.2f} s per sample; "
          f"labels equal to fp32's on {100 * agree:.2f} % of pixels (8 samples)")  # fmt: skip


def part_demo(demo: Path, seeds: list[int]) -> None:
    from datasetgan.demo.comparison import SegJob, run_job
    from datasetgan.demo.config import DemoConfig
    from datasetgan.pipeline import runs
    from datasetgan.pipeline.params import GenerateParams

    cfg = DemoConfig()
    store_json = json.loads((demo / "dataset" / "store.json").read_text())
    recipe = json.loads(store_json["provenance"]["config_json"])
    stores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in ("fp32", "bf16"):
            out = Path(tmp) / p
            t0 = time.perf_counter()
            runs.generate(
                GenerateParams.model_validate(
                    {
                        "generator": recipe["generator"],
                        "interpreter": recipe["interpreter"],
                        "out": out,
                        "n": cfg.n_generate,
                        "shard_size": cfg.shard_size,
                        "render": recipe["render"] | {"precision": p, "threads": 2},
                    }
                )
            )
            print(f"demo dataset {p}: {cfg.n_generate} samples in {time.perf_counter() - t0:.0f} s")
            stores[p] = out
        a, b = _arrays(stores["fp32"]), _arrays(stores["bf16"])
        agree = float((a["label"] == b["label"]).mean())
        diff = np.abs(a["image"].astype(int) - b["image"].astype(int)).mean()
        print(f"labels equal on {100 * agree:.2f} % of pixels; mean |image diff| {diff:.2f} / 255")
        scores: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for seed in seeds:
            for p in scores:
                job = SegJob(
                    "generated", cfg.n_annotate, seed, cfg.segnet_steps, store=str(stores[p])
                )
                with torch.enable_grad():
                    row = run_job(job, cfg.test_first_seed, cfg.n_real_test)
                scores[p].append(float(row["test"]["miou"]))
        for p, s in scores.items():
            sd = statistics.stdev(s) if len(s) > 1 else 0.0
            print(f"segnet on the {p} dataset: mIoU {statistics.mean(s):.3f} +- {sd:.3f} "
                  f"({len(s)} seeds, real test renders)")  # fmt: skip


def _arrays(store: Path) -> dict[str, np.ndarray]:
    import h5py

    with h5py.File(store / "data.h5", "r") as f:
        return {"label": f["label"][...], "image": f["image"][...]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--demo", type=Path, default=None, help="a finished `datasetgan demo` folder"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    check_precision("bf16", "cpu")
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    tune_cpu_allocator()
    if not args.skip_speed:
        part_speed(args.repeats)
    if args.demo is not None:
        part_demo(args.demo, args.seeds)


if __name__ == "__main__":
    sys.exit(main())
