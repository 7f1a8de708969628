"""How much training the interpreter needs: agreement with the oracle annotator against the pixels
per member and step (``--batch-size``), on a finished demo's annotations.

Run (after ``datasetgan demo``):
    .venv/bin/python benchmarks/interpreter_budget.py [--demo runs/demo] [--batch-sizes 64 512]
        [--steps 2000] [--annotations 16] [--n-eval 256] [--threads 2]

For each batch size it trains an interpreter as the demo's step 3 does (``pipeline.interpreting.fit``
with the demo's settings: 10 members, every annotation of ``<demo>/candidates/annotations-N``, no
validation split, ``--steps`` steps) on the demo's generator, into a temporary folder,
labels the first ``--n-eval`` samples of the demo's generated store (their W+ codes; the store's
own labels are not used) and scores the labels against the oracle annotator's labels of the same
images: the demo's (d) on another set. Prints mIoU and per-class IoU, and the training seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", type=Path, default=Path("runs/demo"))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--annotations", type=int, default=16)
    p.add_argument("--n-eval", type=int, default=256)
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    return p


def main() -> None:
    args = _parser().parse_args()
    from datasetgan import toyfaces
    from datasetgan.demo.evaluation import score
    from datasetgan.interpreter import load_interpreter
    from datasetgan.models.stylegan2.checkpoint import load_generator
    from datasetgan.pipeline.interpreting import fit
    from datasetgan.pipeline.params import TrainInterpreterParams
    from datasetgan.storage import sha256_file
    from datasetgan.storage.manifest import read_fields

    torch.set_num_threads(args.threads)
    run = json.loads((args.demo / "demo_run.json").read_text(encoding="utf-8"))
    gen_dir = Path(run["config"]["generator"])
    for path, digest in run["models"].items():  # the demo's annotations were drawn from these
        if Path(path).parent == gen_dir and sha256_file(path) != digest:
            raise SystemExit(f"{path}: changed since the demo in {args.demo} ran; rerun the demo")
    generator = load_generator(gen_dir)
    annotations = args.demo / "candidates" / f"annotations-{args.annotations}"
    if not annotations.is_dir():
        raise SystemExit(f"--annotations {args.annotations}: no folder {annotations}")
    rows = read_fields(args.demo / "dataset", ("image", "w_plus"), stop=args.n_eval)
    oracle = toyfaces.oracle_annotate_batch(rows["image"])
    ws = torch.from_numpy(rows["w_plus"])
    print(f"demo {args.demo}: {args.annotations} annotations, {len(ws)} held-out generated samples")
    print("| pixels per member and step | steps | train s | agreement mIoU | per class |")
    print("|---:|---:|---:|---:|---|")
    for batch in args.batch_sizes:
        with tempfile.TemporaryDirectory(prefix="interpreter-budget-") as tmp:
            params = TrainInterpreterParams.model_validate({
                "generator": gen_dir, "annotations": annotations,
                "samples": args.demo / "candidates" / "samples", "out": Path(tmp),
                "members": args.members, "max_steps": args.steps, "batch_size": batch,
                "val_fraction": 0.0, "threads": args.threads,
            })  # fmt: skip
            t0 = time.perf_counter()
            fit(params)
            seconds = time.perf_counter() - t0
            interp = load_interpreter(tmp)
        labels = [
            interp.render_and_label(generator, ws[i : i + 32])[1].labels.numpy()
            for i in range(0, len(ws), 32)
        ]
        s = score(np.concatenate(labels), oracle)
        per_class = " ".join(
            f"{toyfaces.CLASS_NAMES[k]} {v:.2f}" for k, v in enumerate(s.per_class)
        )
        print(
            f"| {batch} | {args.steps} | {seconds:.0f} | {s.miou:.3f} | {per_class} |", flush=True
        )


if __name__ == "__main__":
    main()
