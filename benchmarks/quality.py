"""The demo's comparison with other segmentation nets: does the generated dataset still beat the
same number of real annotated images when the downstream net is not the demo's?

Run (after ``datasetgan demo``):
    .venv/bin/python benchmarks/quality.py [--demo runs/demo] [--nets dilated unet-wide]
        [--seeds 0 1 2] [--steps 2000] [--workers 2]

For each net and seed it trains (a) on the demo's real renders with exact masks (as many as the
demo's main annotation count, the same renders per seed as the demo's (a)) and (b) on the demo's
generated store (``<demo>/dataset``), then scores both on the demo's real test renders. Nets:
``dilated`` (toyfaces.dilated: one downsampling, dilated residual trunk, an independent
architecture), ``unet-wide`` (the headroom U-Net, 16-128 channels) and ``unet`` (the demo's own).
Prints mean +- std over the seeds and the difference (b) - (a).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

NETS = ("dilated", "unet-wide", "unet")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", type=Path, default=Path("runs/demo"))
    p.add_argument("--nets", nargs="+", choices=NETS, default=["dilated", "unet-wide"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    return p


def _net(name: str) -> Any:
    from datasetgan.toyfaces.dilated import DilatedNetConfig
    from datasetgan.toyfaces.segnet import SegNetConfig
    from datasetgan.toyfaces.training import HEADROOM_NET

    return {"dilated": DilatedNetConfig(), "unet-wide": HEADROOM_NET, "unet": SegNetConfig()}[name]


def run(
    net: str, kind: str, seed: int, demo: dict[str, Any], steps: int, batch: int
) -> dict[str, Any]:
    """One training run in a worker process: (net, "real" | "generated", seed) -> scores."""
    import torch

    from datasetgan.demo.evaluation import generated_dataset, tensors_dataset
    from datasetgan.toyfaces.data import render_cached
    from datasetgan.toyfaces.segnet import SegTrainConfig, evaluate_segnet, train_segnet

    torch.set_num_threads(1)
    cache = Path(demo["out"]) / "real"
    test = tensors_dataset(*render_cached(demo["test_first_seed"], demo["n_real_test"], cache))
    if kind == "real":
        first = demo["real_train_first_seed"] + 10_000 * seed
        train = tensors_dataset(*render_cached(first, demo["n_annotate"], cache))
    else:
        train = generated_dataset(Path(demo["out"]) / "dataset")
    start = time.perf_counter()
    model = train_segnet(train, config=SegTrainConfig(steps=steps, batch_size=batch, seed=seed),
                         model_config=_net(net))  # fmt: skip
    iou = evaluate_segnet(model, test)
    return {"net": net, "kind": kind, "seed": seed, "miou": float(iou.miou),
            "n_train": len(train), "seconds": time.perf_counter() - start}  # type: ignore[arg-type]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    args = _parser().parse_args(argv)
    run_file = args.demo / "demo_run.json"
    if not (args.demo / "dataset" / "data.h5").is_file() or not run_file.is_file():
        raise SystemExit(
            f"{args.demo}: no finished demo (dataset/data.h5, demo_run.json); run `datasetgan demo` first"
        )
    demo = json.loads(run_file.read_text())["config"] | {"out": str(args.demo.resolve())}
    jobs = [
        (net, kind, seed)
        for net in args.nets
        for seed in args.seeds
        for kind in ("real", "generated")
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        futures = [pool.submit(run, *job, demo, args.steps, args.batch_size) for job in jobs]
        results = [f.result() for f in futures]
    print(
        f"| net ({args.steps} steps) | (a) {demo['n_annotate']} real, exact masks | (b) generated | (b) - (a) |"
    )
    print("|---|---|---|---|")
    for net in args.nets:
        cells = []
        for kind in ("real", "generated"):
            v = np.array([r["miou"] for r in results if r["net"] == net and r["kind"] == kind])
            cells.append((v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0))
        (a, sa), (b, sb) = cells
        print(f"| {net} | {a:.3f} ± {sa:.3f} | {b:.3f} ± {sb:.3f} | {b - a:+.3f} |")
    print(
        f"\n{len(results)} runs, {sum(r['seconds'] for r in results) / 60:.1f} CPU-minutes of training; "
        f"test: {demo['n_real_test']} real renders from seed {demo['test_first_seed']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
