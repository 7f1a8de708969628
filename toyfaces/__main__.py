"""`python -m datasetgan.toyfaces {grid,classes,errors,oracle,train-oracle,headroom,speed,write,annotate}`:
the measurements behind docs/toyfaces.md, the training of the shipped oracle, and the oracle as an
annotator of a folder of images (e.g. the PNGs `datasetgan sample` writes)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from datasetgan.toyfaces.data import oracle_annotate_folder, write_png_folder
from datasetgan.toyfaces.report import (
    class_table,
    few_real_errors,
    iou_table,
    oracle_benchmark,
    render_speed,
    save_grid,
)
from datasetgan.toyfaces.segnet import SegProgress
from datasetgan.toyfaces.training import headroom, train_oracle


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m datasetgan.toyfaces", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grid", help="PNG grid of faces above their masks")
    g.add_argument("--out", default="docs/img/toyfaces_grid.png")
    g.add_argument("--first-seed", type=int, default=0)
    g.add_argument("--n", type=int, default=16)
    g.add_argument("--columns", type=int, default=8)
    c = sub.add_parser("classes", help="pixel share and presence of each class (markdown rows)")
    c.add_argument("--n", type=int, default=500)
    e = sub.add_parser("errors", help="picture of what a segnet on few real masks gets wrong")
    e.add_argument("--out", default="docs/img/toyfaces_16_errors.png")
    e.add_argument("--train", type=int, default=16)
    o = sub.add_parser("oracle", help="oracle mIoU vs exact masks, clean and degraded")
    o.add_argument("--n", type=int, default=500)
    t = sub.add_parser("train-oracle", help="train the oracle's net (resumes) into toyfaces/oracle")
    t.add_argument("--n", type=int, default=20_000, help="real renders to train on")
    t.add_argument("--threads", type=int, default=0)
    h = sub.add_parser("headroom", help="one segnet trained on n real renders for each n, scored")
    h.add_argument("--train", type=int, nargs="+", default=[16, 2000])
    h.add_argument("--test", type=int, default=300)
    h.add_argument("--threads", type=int, default=0)
    sub.add_parser("speed", help="rendered images per second")
    w = sub.add_parser("write", help="render seeds into images/, labels/, classes.json")
    w.add_argument("out")
    w.add_argument("--first-seed", type=int, default=0)
    w.add_argument("--n", type=int, default=100)
    a = sub.add_parser(
        "annotate", help="label a folder of PNGs with the oracle (an annotation folder)"
    )
    a.add_argument("images", help="folder of RGB PNGs")
    a.add_argument("labels", help="folder to write palette PNGs of the same names and classes.json")
    return p


def _progress(p: SegProgress) -> None:
    print(f"  step {p.step}/{p.total} loss {p.loss:.4f} {p.seconds:.0f}s", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "grid":
        seeds = range(args.first_seed, args.first_seed + args.n)
        print(save_grid(args.out, list(seeds), columns=args.columns))
    elif args.command == "classes":
        print(f"over the renders of seeds 0-{args.n - 1}:\n")
        print("| id | class | pixels | in images |\n|---|---|---:|---:|")
        print(class_table(args.n))
    elif args.command == "errors":
        path, miou = few_real_errors(args.out, n_train=args.train)
        print(f"{path} (mIoU on the 8 shown renders: {miou:.3f})")
    elif args.command == "oracle":
        rows = oracle_benchmark(args.n)
        print(iou_table([(r.name, r.iou) for r in rows]))
        print("ms/image: " + ", ".join(f"{r.name}: {r.ms_per_image:.0f}" for r in rows))
    elif args.command == "train-oracle":
        if args.threads:
            torch.set_num_threads(args.threads)
        print(train_oracle(n_images=args.n, progress=_progress))
    elif args.command == "headroom":
        if args.threads:
            torch.set_num_threads(args.threads)
        measured = headroom(args.train, n_test=args.test, progress=_progress)
        print(iou_table([(f"{r.n_train} real", r.iou) for r in measured]))
        print("train seconds: " + ", ".join(f"{r.n_train}: {r.seconds:.0f}" for r in measured))
    elif args.command == "speed":
        print(f"{render_speed():.0f} images/s")
    elif args.command == "write":
        paths = write_png_folder(args.out, range(args.first_seed, args.first_seed + args.n))
        print(f"{len(paths)} images under {args.out}")
    elif args.command == "annotate":
        try:
            paths = oracle_annotate_folder(args.images, args.labels)
        except (FileNotFoundError, ValueError) as exc:  # a bad folder or image: one line, no trace
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{len(paths)} masks under {args.labels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
