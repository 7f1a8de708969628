"""fp32 vs bf16 (``--precision``): speed, image PSNR, label agreement, and the downstream segnet.

    python benchmarks/precision.py [--repeats 3] [--threads 2] [--demo runs/demo --seeds 0 1 2]
                                   [--training --training-repeats 2]

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
Part 3 (``--demo DIR --training``): the training steps' precision (``datasetgan demo --precision``),
one process, alternating: the demo's main interpreter trained again from its 16 annotations (same
settings, 2 threads) in fp32 and bf16, ``--training-repeats`` times each: seconds, and agreement
(mIoU) of each one's labels with the oracle annotator's on 384 held-out generated samples (z seeds
900,000+; fp32 rendering and labelling); then the demo's segnet (1 thread) on (a) its 16 real
renders and (b) its generated dataset, fp32 and bf16, for each --seeds: seconds and mIoU on the
300 real test renders.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from at_rev import load_module  # this folder is on sys.path when a script here runs

from datasetgan.interpreter import FeatureConfig, FusedLabeller, TapGrid
from datasetgan.models.imaging import to_uint8
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


def part_training(demo: Path, seeds: list[int], repeats: int) -> None:
    from datasetgan.demo.comparison import SegJob, run_job
    from datasetgan.demo.config import DemoConfig
    from datasetgan.demo.evaluation import interpreter_vs_oracle
    from datasetgan.interpreter import EnsembleConfig, TrainConfig, train_interpreter
    from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds

    recorded = json.loads((demo / "demo_run.json").read_text())["config"]
    settings = ("n_annotate", "interpreter_members", "interpreter_steps", "interpreter_batch_size",
                "segnet_steps", "truncation", "real_train_first_seed", "test_first_seed", "n_real_test")  # fmt: skip
    cfg = DemoConfig(**{k: v for k, v in recorded.items() if k in settings})
    g = load_generator(recorded["generator"]).eval()
    ws = w_plus_from_seeds(g, list(range(900_000, 900_384)), truncation=cfg.truncation)
    train = TrainConfig(
        ensemble=EnsembleConfig(n_members=cfg.interpreter_members), max_steps=cfg.interpreter_steps,
        batch_size=cfg.interpreter_batch_size, val_fraction=0.0,
    )  # fmt: skip
    annotations = demo / "candidates" / f"annotations-{cfg.n_annotate}"
    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    agreement: dict[str, list[float]] = {"fp32": [], "bf16": []}
    torch.set_num_threads(2)
    for _ in range(repeats):
        for p in seconds:
            t0 = time.perf_counter()
            with torch.enable_grad():
                interp, _ = train_interpreter(g, annotations, demo / "candidates" / "samples",
                                              replace(train, precision=p))  # fmt: skip
            seconds[p].append(time.perf_counter() - t0)
            images, labels, scores = [], [], []
            for s in range(0, len(ws), 32):
                image, result = interp.render_and_label(g, ws[s : s + 32])
                images.append(to_uint8(image))
                labels.append(result.labels.numpy())
                scores.append(result.score.numpy())
            q = interpreter_vs_oracle(np.concatenate(images), np.concatenate(labels),
                                      np.concatenate(scores))  # fmt: skip
            agreement[p].append(q.all.miou)
            print(f"  interpreter {p}: {seconds[p][-1]:.1f} s, oracle agreement "
                  f"{agreement[p][-1]:.4f}", flush=True)  # fmt: skip
    med = {p: statistics.median(t) for p, t in seconds.items()}
    print(f"interpreter training ({cfg.interpreter_steps} steps, {cfg.interpreter_members} members, "
          f"{cfg.interpreter_batch_size} pixels, 2 threads), median of {repeats}: fp32 "
          f"{med['fp32']:.1f} s, bf16 {med['bf16']:.1f} s: bf16 {med['fp32'] / med['bf16']:.2f}x; "
          f"oracle agreement fp32 {statistics.mean(agreement['fp32']):.4f}, bf16 "
          f"{statistics.mean(agreement['bf16']):.4f}")  # fmt: skip
    real_cache = demo / "real"
    for kind in ("real", "generated"):
        runs: dict[str, list[dict[str, float]]] = {"fp32": [], "bf16": []}
        for seed in seeds:
            for p in runs:
                job = SegJob(kind, cfg.n_annotate, seed, cfg.segnet_steps, store=str(demo / "dataset"),
                             real_first_seed=cfg.real_train_first_seed + 10_000 * seed,
                             cache=str(real_cache), precision=p)  # fmt: skip
                with torch.enable_grad():
                    row = run_job(job, cfg.test_first_seed, cfg.n_real_test)
                runs[p].append({"s": row["train_seconds"], "miou": row["test"]["miou"]})
        sec = {p: statistics.median(r["s"] for r in v) for p, v in runs.items()}
        miou = {p: [r["miou"] for r in v] for p, v in runs.items()}
        sd = {p: statistics.stdev(m) if len(m) > 1 else 0.0 for p, m in miou.items()}
        print(f"segnet on {kind}-{cfg.n_annotate} ({cfg.segnet_steps} steps, 1 thread, seeds "
              f"{seeds}): fp32 {sec['fp32']:.1f} s, bf16 {sec['bf16']:.1f} s per run: bf16 "
              f"{sec['fp32'] / sec['bf16']:.2f}x; mIoU fp32 {statistics.mean(miou['fp32']):.3f} +- "
              f"{sd['fp32']:.3f}, bf16 {statistics.mean(miou['bf16']):.3f} +- {sd['bf16']:.3f}")  # fmt: skip


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
    parser.add_argument(
        "--training", action="store_true", help="part 3: training steps fp32 vs bf16 (--demo)"
    )
    parser.add_argument("--training-repeats", type=int, default=2)
    args = parser.parse_args()
    check_precision("bf16", "cpu")
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    tune_cpu_allocator()
    if not args.skip_speed:
        part_speed(args.repeats)
    if args.demo is not None and not args.training:
        part_demo(args.demo, args.seeds)
    if args.training:
        if args.demo is None:
            parser.error("--training needs --demo DIR (a finished `datasetgan demo` folder)")
        part_training(args.demo, args.seeds, args.training_repeats)


if __name__ == "__main__":
    sys.exit(main())
