"""HandsOff: how the interpreter's accuracy follows the inversion's reconstruction error.

    .venv/bin/python benchmarks/handsoff.py [--refine-steps 0 10 30 100] [--n-real 16]
        [--n-eval 128] [--interpreter-steps 2000] [--generator DIR] [--encoder DIR]
        [--out runs/bench-handsoff]

For each ``--refine-steps`` value K (0 = the encoder's code alone), ``runs.train_interpreter`` (the
``train-interpreter --real-images`` path) trains an interpreter (10 members, 2000 steps as the demo)
from ``--n-real`` real renders with exact masks (seeds 700,000+, the demo's (a) renders of seed 0)
inverted by the encoder and K MSE refinement steps. Then, per K:

  * reconstruction error: the median image MSE (images in [-1, 1]) of those renders' codes, from the
    interpreter's ``report.json``;
  * accuracy: mIoU of the interpreter's labels of ``--n-eval`` held-out generated samples (z seeds
    900,000+, truncation 0.7; the images a HandsOff dataset is made of) against the oracle
    annotator's labels of the same images;
  * seconds for the whole training (inversion included).

Prints one row per K and writes ``--out``/accuracy-vs-mse.png (accuracy against K, with the MSE
in the legend). Trained interpreters stay in ``--out`` and a rerun reuses them.
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


def train(args: argparse.Namespace, k: int, real: Path) -> tuple[Path, float]:
    """The interpreter for K refinement steps (trained once, reused by a rerun) and its seconds."""
    out = args.out / f"refine-{k}"
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
    for k in args.refine_steps:
        folder, seconds = train(args, k, real)
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        mse = float(np.median([r["mse"] for r in report["real_images"] if r["id"] is not None]))
        rows.append((k, mse, accuracy(args.generator, folder, args.n_eval), seconds))
        print(f"refine {k:>4} steps: median MSE {mse:.4f}  accuracy (mIoU vs oracle) "
              f"{rows[-1][2]:.3f}  training {seconds:.0f} s", flush=True)  # fmt: skip
    print(
        "\n| refinement steps | median reconstruction MSE | interpreter vs oracle mIoU | seconds |"
    )
    print("|---:|---:|---:|---:|")
    for k, mse, acc, seconds in rows:
        print(f"| {k} | {mse:.4f} | {acc:.3f} | {seconds:.0f} |")
    legend = "interpreter vs oracle; median MSE " + ", ".join(f"{m:.3f}" for _, m, _, _ in rows)
    accuracies = [a for _, _, a, _ in rows]
    chart = line_chart(
        args.out / "accuracy-vs-mse.png",
        [k for k, _, _, _ in rows],
        {legend: (accuracies, [0.0] * len(rows))},
        x_label="refinement steps",
        y_label="mIoU vs oracle",
    )
    print(f"chart: {chart}")


if __name__ == "__main__":
    main()
