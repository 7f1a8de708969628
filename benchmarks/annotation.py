"""Annotation effort in the studio, scripted: strokes to reach 0.95 agreement with the oracle,
painting from nothing vs correcting the interpreter's labels ("Start from interpreter").

Run (after ``datasetgan demo``):
    .venv/bin/python benchmarks/annotation.py [--demo runs/demo] [--n 10]

Samples: the demo's candidates 16.. (never seen by its 16-annotation interpreter). The target of a
sample is the oracle's mask of it (the stand-in for the person). A scripted annotator repeats one
stroke at a time until the mask agrees with the target on >= 95 % of pixels: it takes the largest
connected region of wrong pixels that share a target class and clicks the flood fill there with
the target class (the page's own rule: the connected pixels of the same current label whose colour
is within the tolerance of the clicked one) when that fixes at least as many pixels as a brush
drag would, else drags the brush over up to 32 of the region's pixels (see :func:`annotate`).
At most 400 strokes per mask.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

NOT_ANNOTATED = 255
TOLERANCE = 24
BRUSH = 3
STROKE_PIXELS = 32  # pixels one brush drag paints


def flood_fill(
    labels: np.ndarray, image: np.ndarray, y: int, x: int, k: int, tol: int = TOLERANCE
) -> None:
    """The studio's fill (studio.js floodFill): same label as the seed, colour within ``tol``."""
    seed_label, seed_colour = labels[y, x], image[y, x].astype(np.int32)
    if seed_label == k:
        return
    h, w = labels.shape
    seen = np.zeros_like(labels, dtype=bool)
    todo = deque([(y, x)])
    seen[y, x] = True
    while todo:
        cy, cx = todo.pop()
        labels[cy, cx] = k
        for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
            inside = 0 <= ny < h and 0 <= nx < w and not seen[ny, nx]
            if inside and labels[ny, nx] == seed_label and _close(image[ny, nx], seed_colour, tol):
                seen[ny, nx] = True
                todo.append((ny, nx))


def _close(colour: np.ndarray, seed: np.ndarray, tol: int) -> bool:
    return bool(np.abs(colour.astype(np.int32) - seed).max() <= tol)


def brush(labels: np.ndarray, points: np.ndarray, k: int, size: int = BRUSH) -> None:
    """Stamp a disk of ``size`` px at every point (the studio's brush)."""
    r = size / 2
    h, w = labels.shape
    offsets = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy * dy + dx * dx <= r * r]
    for y, x in points:
        for dy, dx in offsets:
            if 0 <= y + dy < h and 0 <= x + dx < w:
                labels[y + dy, x + dx] = k


def largest_wrong_region(labels: np.ndarray, target: np.ndarray) -> tuple[int, np.ndarray]:
    """(its target class, its pixels [P, 2]) of the largest 4-connected region of wrong pixels that
    share one target class."""
    from datasetgan.interpreter.annotations import connected_components

    wrong = labels != target
    best: tuple[int, np.ndarray] = (0, np.zeros((0, 2), np.int64))
    for k in np.unique(target[wrong]):
        region = wrong & (target == k)
        comp, _ = connected_components(region.astype(np.uint8))  # components of equal values
        ids, counts = np.unique(comp[region], return_counts=True)
        if len(ids) and counts.max() > len(best[1]):
            best = (int(k), np.argwhere(comp == ids[counts.argmax()]))
    return best


def annotate(start: np.ndarray, target: np.ndarray, image: np.ndarray, *, goal: float = 0.95,
             limit: int = 400) -> list[dict[str, Any]]:  # fmt: skip
    """The scripted strokes from ``start`` until agreement >= goal: [{"tool", "class", "points"}].

    Each stroke works on the largest connected region of wrong pixels that share a target class: a
    flood-fill click in its middle when the fill fixes at least as many pixels as a brush stroke
    would (the annotator sees the fill's result and keeps it only then), else one brush drag that
    paints up to ``STROKE_PIXELS`` pixels of the region exactly (a small brush, carefully)."""
    labels, strokes = start.copy(), []
    while (labels == target).mean() < goal and len(strokes) < limit:
        k, pixels = largest_wrong_region(labels, target)
        y, x = (int(v) for v in pixels[len(pixels) // 2])
        trial = labels.copy()
        flood_fill(trial, image, y, x, k)
        gain = int((trial == target).sum()) - int((labels == target).sum())
        if gain >= min(len(pixels), STROKE_PIXELS):
            labels = trial
            strokes.append({"tool": "fill", "class": k, "points": [[y, x]]})
        else:
            drag = pixels[:STROKE_PIXELS]
            brush(labels, drag, k, size=1)
            strokes.append({"tool": "brush", "class": k, "points": drag.tolist()})
    return strokes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", type=Path, default=Path("runs/demo"))
    p.add_argument("--n", type=int, default=10)
    p.add_argument(
        "--first",
        type=int,
        default=16,
        help="first candidate (the interpreter's annotations are before it)",
    )
    args = p.parse_args(argv)
    import torch
    from PIL import Image

    from datasetgan import toyfaces
    from datasetgan.interpreter import latents_from_store, load_interpreter
    from datasetgan.models.stylegan2 import load_generator

    run = json.loads((args.demo / "demo_run.json").read_text())["config"]
    g = load_generator(run["generator"])
    interp = load_interpreter(args.demo / "interpreter", generator=g)
    files = sorted((args.demo / "candidates" / "images").glob("*.png"))[
        args.first : args.first + args.n
    ]
    ids = [int(f.stem) for f in files]
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    targets = toyfaces.oracle_annotate_batch(images)
    codes = latents_from_store(args.demo / "candidates" / "samples", ids)
    with torch.no_grad():
        _, result = interp.render_and_label(g, torch.stack([codes[i] for i in ids]))
    prelabels = result.labels.numpy().astype(np.uint8)
    plans: dict[str, list[list[dict[str, Any]]]] = {
        "from nothing": [],
        "correcting the interpreter": [],
    }
    for image, target, pre in zip(images, targets, prelabels, strict=True):
        blank = np.full(target.shape, NOT_ANNOTATED, np.uint8)
        plans["from nothing"].append(annotate(blank, target, image))
        plans["correcting the interpreter"].append(annotate(pre, target, image))
    print(f"{len(ids)} samples ({ids[0]}..{ids[-1]}), goal: 95 % of pixels agree with the oracle\n")
    print(
        "| start | strokes per mask (median) | mean | fills | brush strokes | agreement at start |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, per_mask in plans.items():
        counts = [len(s) for s in per_mask]
        fills = sum(st["tool"] == "fill" for s in per_mask for st in s)
        start = [
            float((pre == t).mean()) if name != "from nothing" else 0.0
            for pre, t in zip(prelabels, targets, strict=True)
        ]
        print(f"| {name} | {statistics.median(counts):.1f} | {np.mean(counts):.1f} | {fills} | "
              f"{sum(counts) - fills} | {np.mean(start):.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
