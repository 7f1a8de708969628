"""Segmentation-net training of a git revision against the working tree's, in one process,
alternating.

    python benchmarks/segnet_ab.py REV [--steps 100] [--rounds 3] [--threads 1] [--precision fp32]

``REV``'s ``toyfaces/segnet.py`` is loaded beside the current one (the rest of the package is the
working tree's). Each round trains the demo's U-Net (``SegNetConfig()``, ``SegTrainConfig`` but
--steps steps, seed = round) with both, on 16 renders with exact masks (seeds 100-115), one torch
thread as in the demo, at --precision (``SegTrainConfig.precision``; REV must have it for bf16);
each is then scored on 100 test renders (seeds 200,000+). Printed: seconds
and mIoU per round and side, medians, and the paired speed-ups (REV / working tree).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from at_rev import module_at_rev  # this folder is on sys.path when a script here runs
from torch.utils.data import TensorDataset


def _dataset(first_seed: int, n: int) -> TensorDataset:
    from datasetgan.toyfaces import render_batch

    images, masks = render_batch(list(range(first_seed, first_seed + n)))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return TensorDataset(x, torch.from_numpy(masks).long())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rev", help="git revision whose toyfaces/segnet.py is compared")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    from datasetgan.toyfaces import segnet as new

    torch.set_num_threads(args.threads)
    old = module_at_rev(args.rev, "toyfaces/segnet.py")
    train, test = _dataset(100, 16), _dataset(200_000, 100)
    seconds: dict[str, list[float]] = {"rev": [], "tree": []}
    for r in range(args.rounds):
        for side, module in (("rev", old), ("tree", new)):
            t0 = time.perf_counter()
            extra = {"precision": args.precision} if args.precision != "fp32" else {}
            config = module.SegTrainConfig(steps=args.steps, seed=r, **extra)
            net = module.train_segnet(train, config=config)
            seconds[side].append(time.perf_counter() - t0)
            miou = float(module.evaluate_segnet(net, test).miou)
            print(f"round {r} {side:<4} {seconds[side][-1]:6.2f} s  mIoU {miou:.4f}", flush=True)
    ratios = [a / b for a, b in zip(seconds["rev"], seconds["tree"], strict=True)]
    print(f"median s per {args.steps} steps: {args.rev} {statistics.median(seconds['rev']):.2f}, "
          f"working tree {statistics.median(seconds['tree']):.2f}; paired speed-ups "
          f"{', '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
