"""The fused labeller of a git revision against the working tree's, in one process, alternating.

    python benchmarks/labeller_ab.py REV [--resolution 256] [--repeats 5] [--threads 2]

``REV``'s ``interpreter/fused.py`` is loaded beside the current one (the rest of the package is
the working tree's). Both label the same taps of one render (full-size generator, seed 7, 10
members, 8 classes, random ensemble as in benchmarks/interpreter.py) with the allocator setting
``generate`` uses. Printed: whether labels are identical, the largest probability difference,
median seconds of render and of each labeller, the median paired speed-up and each
(render + label) / render.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from at_rev import REPO, load_module, module_at_rev  # this folder is on sys.path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rev", help="git revision whose interpreter/fused.py is compared")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from datasetgan.interpreter import FeatureConfig, FusedLabeller, TapGrid
    from datasetgan.models.runtime import tune_cpu_allocator
    from datasetgan.models.stylegan2 import w_plus_from_seeds

    tune_cpu_allocator()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    bench = load_module("bench_interpreter", REPO / "benchmarks" / "interpreter.py")
    old_module = module_at_rev(args.rev, "interpreter/fused.py")
    g = bench.generator(args.resolution)
    ws = w_plus_from_seeds(g, [7])
    taps = g.synthesize(ws, taps="all").features
    grid = TapGrid.build(g.tap_layout, args.resolution, FeatureConfig())
    folded = bench.make_ensemble(grid.channels, 8, 10).fold()
    old, new = old_module.FusedLabeller(folded, grid), FusedLabeller(folded, grid)
    a, b = old.label(taps, maps=("probs",)), new.label(taps, maps=("probs",))
    print(f"labels identical: {torch.equal(a.labels, b.labels)}, "
          f"max|dp| {(a.probs - b.probs).abs().max().item():.1e}")  # fmt: skip
    t_render, t_old, t_new = [], [], []
    for _ in range(args.repeats):
        for times, fn in (
            (t_render, lambda: g.synthesize(ws, taps="all")),
            (t_old, lambda: old.label(taps)),
            (t_new, lambda: new.label(taps)),
        ):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    med = statistics.median
    print(f"{args.resolution} px, {args.threads} threads, median of {args.repeats}: render "
          f"{med(t_render):.2f} s, label {args.rev} {med(t_old):.2f} s, working tree {med(t_new):.2f} s "
          f"(paired speed-up {med(o / n for o, n in zip(t_old, t_new, strict=True)):.2f}x)")  # fmt: skip
    for name, times in ((args.rev, t_old), ("working tree", t_new)):
        ratio = med((r + t) / r for r, t in zip(t_render, times, strict=True))
        print(f"(render + label) / render with {name}: {ratio:.2f}")


if __name__ == "__main__":
    main()
