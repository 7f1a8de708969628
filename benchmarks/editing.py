"""Editing quality in the demo's domain, judged by the oracle (never the interpreter's own labels).

    python benchmarks/editing.py GENERATOR INTERPRETER [--sources 50] [--steps 100] [--refine 10]
                                 [--kinds mouth hat hair] [--first-seed 800000] [--out DIR]

For each edit kind of ``demo.edits.RULES`` (enlarge the mouth, remove the hat, change the hair
outline):
  * direct edits: the first --sources samples (seeds --first-seed, --first-seed + 1, ..., truncation
    0.7) whose interpreter labels the rule applies to; target = the rule's map of those labels;
    ``editing.edit`` with --steps steps (no LPIPS term: no VGG16 file is assumed);
  * transfer: the vector of the first direct edit applied to the next --sources samples the rule
    applies to, with 0 and with --refine refinement steps (``editing.apply_edit``).
Every result is scored on the oracle's labels of the edited image (``toyfaces.oracle_annotate``):
  * IoU with the target inside the edit region (mean over the classes present there), where the
    region is the target's changed pixels dilated by 2 (the direct edits' default region);
  * mean absolute pixel change outside that region (images in [0, 1]);
  * seconds per edit;
  * for direct edits also the interpreter's own IoU with the target in the region (what the edit
    optimises) and the oracle's IoU with the interpreter's labels of the edited image there (how far
    the judge agrees with what the edit reached);
  * and, to read the IoU against: the oracle's IoU with the interpreter's labels of the SOURCE image
    in the region (their agreement before any edit), what an ideal edit would score (the rule applied
    to the oracle's labels of the source, i.e. exactly the intended change of the true layout,
    scored against the target drawn on the interpreter's labels), and the changed-pixel hit rate
    (the share of the pixels the target changes that the oracle labels with the target's class
    after the edit).
Before the edits, the judge itself is checked where it judges: on --judge-renders real renders
(seeds from 900,000) with exact masks, the oracle's IoU with the exact mask inside the region each
rule draws on that mask (its changed pixels dilated by 2): the best score a perfect image can get.
Targets (issue 13): direct IoU >= 0.75, outside change <= 0.03, transferred + refined IoU within
0.1 of direct. A figure with one row per kind (source | edited | oracle labels before | after) goes
to --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasetgan import toyfaces
from datasetgan.demo.edits import RULES, EditRule, region_iou, score_edit
from datasetgan.editing.edit import EditConfig, dilate, edit, render
from datasetgan.editing.vector import EditingVector, apply_edit
from datasetgan.interpreter import load_interpreter
from datasetgan.models.imaging import overlay, to_uint8, write_columns
from datasetgan.models.stylegan2 import load_generator, w_plus_from_seeds
from datasetgan.toyfaces.domain import K


def find_sources(g, interp, rule: EditRule, first_seed: int, n: int, skip: int = 0):  # type: ignore[no-untyped-def]
    """(seed, w [1, L, D], labels [H, W]) of the first ``n`` samples after ``skip`` matches that
    ``rule`` applies to; seeds from ``first_seed`` up (at most 40 n tried)."""
    found, matched, seed = [], 0, first_seed
    while len(found) < n and seed < first_seed + 40 * max(n + skip, 1):
        ws = w_plus_from_seeds(g, list(range(seed, seed + 16)), truncation=0.7)
        _, labels = render(g, interp, ws)
        for k in range(16):
            if rule.applies(labels[k]):
                if matched >= skip and len(found) < n:
                    found.append((seed + k, ws[k : k + 1], labels[k]))
                matched += 1
        seed += 16
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("generator", type=Path)
    parser.add_argument("interpreter", type=Path)
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--refine", type=int, default=10)
    parser.add_argument("--kinds", nargs="+", default=[r.name for r in RULES])
    parser.add_argument("--first-seed", type=int, default=800_000)
    parser.add_argument("--judge-renders", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-editing"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = load_generator(args.generator).eval()
    interp = load_interpreter(args.interpreter, generator=g)
    config = EditConfig(steps=args.steps)
    rules = {r.name: r for r in RULES}
    unknown = sorted(set(args.kinds) - set(rules))
    if unknown:
        raise SystemExit(f"--kinds: got {unknown}, expected some of {sorted(rules)}")
    palette = np.asarray(toyfaces.PALETTE, dtype=np.uint8)
    report: dict[str, Any] = {}
    if args.judge_renders:
        report["judge"] = judge_check([rules[k] for k in args.kinds], args.judge_renders)
    figure_rows: list[list[np.ndarray]] = []
    for name in args.kinds:
        rule = rules[name]
        sources = find_sources(g, interp, rule, args.first_seed, args.sources)
        others = find_sources(g, interp, rule, args.first_seed, args.sources, skip=args.sources)
        if not sources:
            report[name] = {"error": "no sample the rule applies to"}
            continue
        direct, vector = [], None
        reached: list[float] = []
        judged: list[float] = []
        before: list[float] = []
        ideal: list[float] = []
        hits: list[float] = []
        for i, (_, w, labels) in enumerate(sources):
            target = rule.target(labels)
            result = edit(g, interp, w, target, config=config)
            source_image, _ = render(g, interp, w)
            iou, outside, oracle = score_edit(result.image, source_image, target, labels)
            direct.append((iou, outside, result.seconds))
            changed = target != labels
            region = dilate(changed, 2)
            reached.append(region_iou(result.labels, target, region, K))
            judged.append(region_iou(torch.from_numpy(oracle), result.labels, region, K))
            truth = torch.from_numpy(
                toyfaces.oracle_annotate(to_uint8(source_image)[0]).astype(np.int64)
            )
            before.append(region_iou(truth, labels, region, K))
            ideal.append(region_iou(rule.target(truth), target, region, K))
            hits.append(
                float((torch.from_numpy(oracle)[changed] == target[changed]).float().mean())
            )
            if i == 0:
                vector = EditingVector.from_edit(result, labels, target, g, interp)
                src, out = to_uint8(source_image)[0], to_uint8(result.image)[0]
                figure_rows.append(
                    [src, out, overlay(src, truth.numpy(), palette), overlay(out, oracle, palette)]
                )
        assert vector is not None
        transfer: dict[int, list[tuple[float, float, float]]] = {0: [], args.refine: []}
        for _, w, labels in others:
            target = rule.target(labels)
            source_image, _ = render(g, interp, w)
            for steps in transfer:
                t0 = time.perf_counter()
                (result,) = apply_edit(vector, g, interp, w, refine_steps=steps, config=config)
                iou, outside, _ = score_edit(result.image, source_image, target, labels)
                transfer[steps].append((iou, outside, time.perf_counter() - t0))
        report[name] = {
            "title": rule.title,
            "seeds": [s for s, _, _ in sources],
            "transfer_seeds": [s for s, _, _ in others],
            "direct": _summary(direct)
            | {
                "interpreter_iou_in_region": _mean(reached),
                "oracle_vs_interpreter": _mean(judged),
                "oracle_vs_interpreter_on_source": _mean(before),
                "ideal_edit_iou": _mean(ideal),
                "changed_pixel_hit_rate": _mean(hits),
            },
            **{f"transfer_refine_{k}": _summary(v) for k, v in transfer.items()},
        }
        _print(name, rule.title, report[name])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "editing.json").write_text(json.dumps(report, indent=1))
    if figure_rows:
        columns = [np.stack([row[c] for row in figure_rows]) for c in range(4)]
        path = write_columns(args.out / "editing.png", columns)
        print(
            f"figure (rows: {', '.join(args.kinds)}; source | edited | oracle before | after): {path}"
        )


def judge_check(rules: list[EditRule], n: int, first_seed: int = 900_000) -> dict[str, Any]:
    """The oracle's IoU with the exact masks of ``n`` real renders inside the region each rule draws
    on the exact mask (changed pixels dilated by 2): how well the judge itself labels such regions."""
    images, masks = toyfaces.render_batch(range(first_seed, first_seed + n))
    predicted = torch.from_numpy(toyfaces.oracle_annotate_batch(images).astype(np.int64))
    exact = torch.from_numpy(masks.astype(np.int64))
    out: dict[str, Any] = {}
    for rule in rules:
        ious = []
        for p, m in zip(predicted, exact, strict=True):
            if rule.applies(m):
                ious.append(region_iou(p, m, dilate(rule.target(m) != m, 2), K))
        out[rule.name] = {"n": len(ious), "oracle_vs_exact_in_region": _mean(ious)}
        print(f"judge: the oracle vs exact masks in the '{rule.name}' region of {len(ious)} real renders: "
              f"IoU {out[rule.name]['oracle_vs_exact_in_region']:.3f}", flush=True)  # fmt: skip
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v == v]  # NaN when the region held no class
    return statistics.mean(finite) if finite else float("nan")


def _summary(rows: list[tuple[float, float, float]]) -> dict[str, float]:
    if not rows:
        return {"n": 0}
    ious = [r[0] for r in rows if r[0] == r[0]]  # NaN when the region held no class
    return {
        "n": len(rows),
        "iou_in_region": statistics.mean(ious) if ious else float("nan"),
        "change_outside": statistics.mean(r[1] for r in rows),
        "seconds": statistics.median(r[2] for r in rows),
    }


def _print(name: str, title: str, r: dict[str, Any]) -> None:
    print(f"== {name}: {title}")
    for key, row in r.items():
        if isinstance(row, dict) and row.get("n"):
            print(f"  {key:<20} n={row['n']:>3}  oracle IoU in region {row['iou_in_region']:.3f}  "
                  f"outside change {row['change_outside']:.4f}  {row['seconds']:.2f} s/edit", flush=True)  # fmt: skip
            if "interpreter_iou_in_region" in row:
                print(f"  {'':<20} interpreter IoU in region {row['interpreter_iou_in_region']:.3f}  "
                      f"oracle vs interpreter there {row['oracle_vs_interpreter']:.3f} "
                      f"(on the source {row['oracle_vs_interpreter_on_source']:.3f})", flush=True)  # fmt: skip
                print(f"  {'':<20} an ideal edit would score {row['ideal_edit_iou']:.3f}  "
                      f"changed pixels the oracle sees changed {row['changed_pixel_hit_rate']:.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
