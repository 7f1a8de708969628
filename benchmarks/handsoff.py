"""HandsOff: how the interpreter's accuracy follows the inversion's reconstruction error.

    .venv/bin/python benchmarks/handsoff.py [--refine-steps 0 10 30 100] [--n-real 16]
        [--max-pixel-error 0.1 0.2] [--n-eval 128] [--interpreter-steps 2000]
        [--generator DIR] [--encoder DIR] [--out runs/bench-handsoff]

For each ``--refine-steps`` value K (0 = the encoder's code alone), ``runs.train_interpreter`` (the
``train-interpreter --real-images`` path) trains an interpreter (10 members, 2000 steps as the demo)
from ``--n-real`` real renders with exact masks (seeds 700,000+, the demo's (a) renders of seed 0)
inverted by the encoder and K MSE refinement steps; with ``--max-pixel-error``, also once per
value E with the mask pixels whose reconstruction differs by more than E left out of training
(``train-interpreter --max-pixel-error``). Then, per run:

  * reconstruction error: the median image MSE (images in [-1, 1]) of those renders' codes, from the
    interpreter's ``report.json``;
  * accuracy: mIoU of the interpreter's labels of ``--n-eval`` held-out generated samples (z seeds
    900,000+, truncation 0.7; the images a HandsOff dataset is made of) against the oracle
    annotator's labels of the same images;
  * the median share of mask pixels left out (with E);
  * seconds for the whole training (inversion included).

Prints one row per run and writes ``--out``/accuracy-vs-mse.png (accuracy against K, one line per
E, with the MSE in the legend). Trained interpreters stay in ``--out`` and a rerun reuses them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from datasetgan import toyfaces
from datasetgan.demo.config import ENCODER_DIR, GENERATOR_DIR
from datasetgan.demo.evaluation import score
from datasetgan.demo.plot import line_chart
from datasetgan.interpreter import load_interpreter
from datasetgan.models.imaging import to_uint8
from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds
from datasetgan.pipeline import runs
from datasetgan.pipeline.params import TrainInterpreterParams

REAL_FIRST_SEED = 700_000  # the demo's (a) renders of seed 0
EVAL_FIRST_SEED = 900_000


def train(
    args: argparse.Namespace, k: int, max_error: float | None, real: Path
) -> tuple[Path, float]:
    """The interpreter for K refinement steps and pixel-error limit E (trained once, reused by a
    rerun) and its seconds."""
    out = args.out / (f"refine-{k}" if max_error is None else f"refine-{k}-error-{max_error:g}")
    if (out / "report.json").is_file():
        return out, json.loads((out / "seconds.json").read_text())["seconds"]
    t0 = time.perf_counter()
    params = {
        "generator": args.generator, "real_images": real / "images", "real_masks": real / "labels",
        "classes": list(toyfaces.CLASS_NAMES), "encoder": args.encoder, "out": out,
        "members": 10, "max_steps": args.interpreter_steps, "threads": args.threads,
    }  # fmt: skip
    if k > 0:
        params |= {"refine": "optimize", "refine_steps": k}
    if max_error is not None:
        params |= {"max_pixel_error": max_error}
    runs.train_interpreter(TrainInterpreterParams.model_validate(params))
    seconds = time.perf_counter() - t0
    (out / "seconds.json").write_text(json.dumps({"seconds": seconds}))
    return out, seconds


def accuracy(generator_dir: Path, interpreter_dir: Path, n_eval: int) -> float:
    """mIoU of the interpreter's labels of n_eval held-out generated samples against the oracle's."""
    g = load_generator(generator_dir).eval()
    interp = load_interpreter(interpreter_dir, generator=g)
    preds, oracle = [], []
    with torch.no_grad():
        for start in range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + n_eval, 16):
            seeds = list(range(start, min(start + 16, EVAL_FIRST_SEED + n_eval)))
            image, result = interp.render_and_label(g, w_plus_from_seeds(g, seeds, truncation=0.7))
            images = to_uint8(image)
            preds.append(result.labels.numpy())
            oracle.append(toyfaces.oracle_annotate_batch(images))
    return score(np.concatenate(preds), np.concatenate(oracle)).miou


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--refine-steps", type=int, nargs="+", default=[0, 10, 30, 100])
    p.add_argument("--n-real", type=int, default=16)
    p.add_argument("--max-pixel-error", type=float, nargs="*", default=[])
    p.add_argument("--n-eval", type=int, default=128)
    p.add_argument("--generator", type=Path, default=GENERATOR_DIR)
    p.add_argument("--encoder", type=Path, default=ENCODER_DIR)
    p.add_argument("--out", type=Path, default=Path("runs/bench-handsoff"))
    p.add_argument("--interpreter-steps", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    real = args.out / "real"
    if len(list((real / "images").glob("*.png"))) != args.n_real:
        toyfaces.write_png_folder(real, range(REAL_FIRST_SEED, REAL_FIRST_SEED + args.n_real))
    rows = []
    for max_error in [None, *args.max_pixel_error]:
        for k in args.refine_steps:
            folder, seconds = train(args, k, max_error, real)
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
            used = [r for r in report["real_images"] if r["id"] is not None]
            mse = float(np.median([r["mse"] for r in used]))
            left = 0.0 if max_error is None else float(np.median([r["left_out"] for r in used]))
            acc = accuracy(args.generator, folder, args.n_eval)
            rows.append((max_error, k, mse, left, acc, seconds))
            print(f"refine {k:>4} steps, max pixel error {max_error}: median MSE {mse:.4f}  "
                  f"left out {left:.3f}  accuracy (mIoU vs oracle) {acc:.3f}  "
                  f"training {seconds:.0f} s", flush=True)  # fmt: skip
    print("\n| refinement steps | max pixel error | median reconstruction MSE | mask pixels left out "
          "| interpreter vs oracle mIoU | seconds |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for max_error, k, mse, left, acc, seconds in rows:
        limit = "-" if max_error is None else f"{max_error:g}"
        print(f"| {k} | {limit} | {mse:.4f} | {left:.3f} | {acc:.3f} | {seconds:.0f} |")
    mses = ", ".join(f"{m:.3f}" for e, _, m, _, _, _ in rows if e is None)
    lines = {}
    for max_error in [None, *args.max_pixel_error]:
        mine = [r for r in rows if r[0] == max_error]
        name = (
            f"all mask pixels; median MSE {mses}"
            if max_error is None
            else f"pixels within {max_error:g}"
        )
        lines[name] = ([r[4] for r in mine], [0.0] * len(mine))
    chart = line_chart(
        args.out / "accuracy-vs-mse.png",
        list(args.refine_steps),
        lines,
        x_label="refinement steps",
        y_label="mIoU vs oracle",
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
