"""Edit speed: labelling the edit region's bounding box only against labelling every pixel.

    .venv/bin/python benchmarks/edit_box.py GENERATOR INTERPRETER [--steps 30] [--rounds 2]
        [--first-seed 800000] [--threads 2]

The demo's three edits (``demo.edits.RULES``: the first of 64 samples from --first-seed each rule
applies to, truncation 0.7) run with ``editing.edit`` twice per round in one process, alternating:
"full" labels every pixel in the loop (the loss still reads the region only), "box" labels the
region's bounding box (the default). Printed per edit: the box's pixels, seconds, and the oracle's
in-region IoU and outside change of each side (they must agree); then the paired speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

import datasetgan.editing.edit  # noqa: F401  (the module, not the function the package exports)
from datasetgan.demo.edits import RULES, score_edit
from datasetgan.interpreter import load_interpreter
from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds

edit_module = sys.modules["datasetgan.editing.edit"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("generator", type=Path)
    p.add_argument("interpreter", type=Path)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--first-seed", type=int, default=800_000)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = load_generator(args.generator).eval()
    interp = load_interpreter(args.interpreter, generator=g)
    seeds = list(range(args.first_seed, args.first_seed + 64))
    ws = w_plus_from_seeds(g, seeds, truncation=0.7)
    images, labels = edit_module.render(g, interp, ws)
    cases = []
    for rule in RULES:
        k = next((i for i in range(len(seeds)) if rule.applies(labels[i])), None)
        if k is not None:
            cases.append((rule.name, k, rule.target(labels[k])))
    box_of_region = edit_module.region_box
    sides = {"full": lambda region: (0, region.shape[0], 0, region.shape[1]), "box": box_of_region}
    seconds: dict[str, list[float]] = {"full": [], "box": []}
    for r in range(args.rounds):
        for side, box in sides.items():
            edit_module.region_box = box
            for name, k, target in cases:
                config = edit_module.EditConfig(steps=args.steps)
                result = edit_module.edit(g, interp, ws[k : k + 1], target, config=config)
                iou, outside, _ = score_edit(result.image, images[k : k + 1], target, labels[k])
                seconds[side].append(result.seconds)
                y0, y1, x0, x1 = box_of_region(result.region)
                print(f"round {r} {side:<4} {name:<5} box {(y1 - y0) * (x1 - x0):>5} px  "
                      f"{result.seconds:6.1f} s  oracle IoU {iou:.3f}  outside {outside:.4f}")  # fmt: skip
    edit_module.region_box = box_of_region
    ratios = [a / b for a, b in zip(seconds["full"], seconds["box"], strict=True)]
    print(f"paired speed-up per edit (full / box): median {statistics.median(ratios):.2f}, "
          f"range {min(ratios):.2f}-{max(ratios):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
